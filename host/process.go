package host

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bytecodealliance/wasmtime-go/v25"
	"github.com/wasix-org/wasix-signals-go/wasix"
	"github.com/wasix-org/wasix-signals-go/wasix/async"
	"github.com/wasix-org/wasix-signals-go/wasix/env"
	"github.com/wasix-org/wasix-signals-go/wasix/fd"
	"github.com/wasix-org/wasix-signals-go/wasix/proc"
	"github.com/wasix-org/wasix-signals-go/wasix/stack"
)

// DefaultGrace is how long a cancelled run has between SIGTERM and SIGKILL
// when Config.Grace is zero.
const DefaultGrace = 5 * time.Second

// Dir is a preopened directory: Host on the host, seen as Guest.
type Dir struct {
	Host, Guest string
}

// Config configures one program run.
type Config struct {
	// Args is argv, program name first.
	Args []string
	// Env holds NAME=VALUE entries.
	Env []string
	// Dirs are preopened for the guest.
	Dirs []Dir
	// Stdin, Stdout and Stderr name files for the guest's standard
	// streams; empty inherits the host process's own (unbuffered). The
	// host reads and writes inherited streams itself (wasix/fd), so that a
	// signal interrupts a guest waiting on a terminal or a pipe, and named
	// files too (created, or truncated, first), so that forked children
	// share them with their parent as fork(2) shares descriptors.
	Stdin, Stdout, Stderr string
	// Stdio, where an entry is set, gives descriptor 0, 1 or 2 an open
	// file (a pipe, a terminal, a file) that the host reads and writes
	// itself, like an inherited stream; it takes precedence over Stdin,
	// Stdout and Stderr. The files stay the caller's to close.
	Stdio [3]*os.File
	// Policy, Ignore, Logger and Clock configure the process's signal
	// state (see env.Config).
	Policy wasix.Policy
	Ignore []wasix.Signal
	Logger *slog.Logger
	Clock  env.Clock
	// Grace is the time between SIGTERM and SIGKILL when the run's
	// context is cancelled; zero means DefaultGrace, negative sends
	// SIGKILL at once.
	Grace time.Duration
	// Group, when set, puts the process in a group whose members may
	// signal each other with proc_signal. Without one a process can
	// signal only itself.
	Group *Group
	// Signals, when set, is relayed to the guest (by name, as
	// Process.Forward does) from before the guest starts until it ends.
	// Create it and call os/signal.Notify on it yourself, as early as you
	// like: signals that arrive before Start wait in the channel, so none
	// is lost in the window before the guest runs.
	Signals <-chan os.Signal
}

// Process is a running program.
type Process struct {
	rt    *Runtime
	pid   int32
	env   *env.WasiEnv
	store *wasmtime.Store
	inst  *wasmtime.Instance
	group *Group
	done  chan struct{}
	err   error // the outcome, set before done is closed

	table *fd.Table // the descriptors the host owns; nil when none
	// concluded makes the outcome final once: the guest's return, or the
	// kill bound giving up on a guest stuck in a host call.
	concluded sync.Once
	// guestDone is closed when the guest's goroutine has returned.
	guestDone chan struct{}
	goid      atomic.Int64 // the guest goroutine's id, for a stuck report
	// stubs stand in for the imports nobody defines, in this store.
	stubs stubSet

	// async delivers signals to the guest while it runs wasm; nil on an
	// engine without epochs.
	async *async.Delivery

	// The process layer (host/proc.go): the configuration and program a
	// fork copies, the process's place in the Runtime's tree, and files
	// the host opened for it (its named standard streams; finish closes
	// them).
	cfg   Config
	mod   *Module
	proc  *proc.Proc
	owned []*os.File
}

// Run compiles and runs a program to its end and returns its outcome (see
// Process.Wait). It uses a Runtime of its own, closed before it returns.
func Run(ctx context.Context, wasm []byte, cfg Config) error {
	rt, err := NewRuntime(Options{Logger: cfg.Logger})
	if err != nil {
		return err
	}
	defer rt.Close()
	m, err := rt.Compile(wasm)
	if err != nil {
		return err
	}
	p, err := rt.Start(ctx, m, cfg)
	if err != nil {
		return err
	}
	return p.Wait()
}

// Start instantiates m in a new Store with its own process state and runs
// its _start on a new goroutine. Cancelling ctx sends SIGTERM, then SIGKILL
// after the grace period.
func (r *Runtime) Start(ctx context.Context, m *Module, cfg Config) (*Process, error) {
	envCfg := env.Config{Policy: cfg.Policy, Ignore: cfg.Ignore, Logger: cfg.Logger, Clock: cfg.Clock}
	if err := envCfg.Validate(); err != nil {
		return nil, fmt.Errorf("host: %w", err)
	}
	if cfg.Group == nil {
		cfg.Group = NewGroup() // its own, for the children it forks
	}
	if err := cfg.Group.bind(r); err != nil {
		return nil, err
	}
	store := wasmtime.NewStore(r.engine)
	wasi, err := wasiConfig(cfg, false)
	if err != nil {
		store.Close()
		return nil, err
	}
	store.SetWasi(wasi)
	named, err := openNamed(cfg)
	if err != nil {
		store.Close()
		return nil, err
	}
	p := &Process{rt: r, store: store, group: cfg.Group, cfg: cfg, mod: m, owned: named,
		done: make(chan struct{}), guestDone: make(chan struct{})}
	if p.pid, err = r.register(p); err != nil {
		store.Close()
		closeFiles(named)
		return nil, err
	}
	envCfg.Pid = p.pid
	p.env = env.New(store, envCfg)
	p.env.SetPeers(p.peer)
	p.proc = r.tree.Root(p.env, p.pid, p)
	p.proc.SetArgs(cfg.Args)
	r.starting.Done()
	if files := stdio(cfg, named); len(files) > 0 {
		if p.table, err = fd.New(p.env, fd.Config{Files: files}); err != nil {
			p.finish(nil)
			return nil, fmt.Errorf("host: standard streams: %w", err)
		}
	}
	if cfg.Signals != nil {
		go p.relay(cfg.Signals, nil)
	}
	if r.epochs {
		p.enableAsync(cfg.Logger)
	}
	if cfg.Group != nil {
		cfg.Group.add(p)
	}
	// A start function runs inside Instantiate: cancellation covers it too.
	go p.watch(ctx, cfg.Grace)
	p.stubs.log, p.stubs.pid = r.log, p.pid
	p.inst, err = r.instantiate(store, m, &p.stubs)
	if err != nil {
		if out := p.env.Resolve(err); out != err {
			// The start function ended the process.
			p.finish(p.explain(out))
			return p, nil
		}
		p.finish(nil)
		return nil, fmt.Errorf("host: instantiate: %w", p.explain(err))
	}
	if err := p.env.BindModule(p.inst, m.module); err != nil {
		p.finish(nil)
		return nil, fmt.Errorf("host: %w", err)
	}
	if p.inst.GetFunc(store, "_start") == nil {
		p.finish(nil)
		return nil, errors.New("host: module has no _start export (not a WASI command)")
	}
	go func() {
		p.goid.Store(goroutineID())
		// stack.Run drives setjmp/longjmp on asyncify binaries and is a
		// plain call of _start otherwise.
		err := p.run(func() error { return stack.Run(store, p.inst, "_start") })
		p.finish(p.explain(p.env.Resolve(err)))
	}()
	return p, nil
}

// stdio returns the standard streams the host owns: the files of
// Config.Stdio, the named files (opened by openNamed, in the order of
// Stdin, Stdout, Stderr), and the host's own streams where the guest
// inherits them (and they are open).
func stdio(cfg Config, named []*os.File) map[int32]*os.File {
	files := make(map[int32]*os.File)
	for i, name := range []string{cfg.Stdin, cfg.Stdout, cfg.Stderr} {
		switch {
		case cfg.Stdio[i] != nil:
			files[int32(i)] = cfg.Stdio[i]
		case name != "":
			if len(named) > 0 {
				files[int32(i)] = named[0]
				named = named[1:]
			}
		default:
			f := []*os.File{os.Stdin, os.Stdout, os.Stderr}[i]
			if _, err := f.Stat(); err == nil {
				files[int32(i)] = f
			}
		}
	}
	return files
}

// openNamed opens the files named for the standard streams (where
// Config.Stdio does not give one), after wasiConfig had wasmtime create
// and truncate them: the host reads and writes them itself, so that a
// forked child shares each one's open description, and its offset, with
// its parent, as fork(2) shares them (children get duplicates, not the
// file opened again). The files are the process's to close.
func openNamed(cfg Config) ([]*os.File, error) {
	var files []*os.File
	for i, name := range []string{cfg.Stdin, cfg.Stdout, cfg.Stderr} {
		if name == "" || cfg.Stdio[i] != nil {
			continue
		}
		flag := os.O_WRONLY
		if i == 0 {
			flag = os.O_RDONLY
		}
		f, err := os.OpenFile(name, flag, 0)
		if err != nil {
			closeFiles(files)
			return nil, fmt.Errorf("host: %s: %w", []string{"stdin", "stdout", "stderr"}[i], err)
		}
		files = append(files, f)
	}
	return files, nil
}

// wasiConfig is the WASI configuration of a process. A forked child
// (child) has the standard streams its parent's Table gives it: a named
// one is neither created again (which would truncate it) nor inherited
// from the host, and wasmtime's side of it stays empty.
func wasiConfig(cfg Config, child bool) (*wasmtime.WasiConfig, error) {
	w := wasmtime.NewWasiConfig()
	w.SetArgv(cfg.Args)
	var keys, values []string
	for _, kv := range cfg.Env {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("host: environment entry %q is not NAME=VALUE", kv)
		}
		keys, values = append(keys, k), append(values, v)
	}
	w.SetEnv(keys, values)
	for _, d := range cfg.Dirs {
		guest := d.Guest
		if guest == "" {
			guest = d.Host
		}
		if err := w.PreopenDir(d.Host, guest); err != nil {
			return nil, fmt.Errorf("host: preopen %s as %s: %w", d.Host, guest, err)
		}
	}
	switch {
	case cfg.Stdin == "":
		w.InheritStdin()
	case child:
	default:
		if err := w.SetStdinFile(cfg.Stdin); err != nil {
			return nil, fmt.Errorf("host: stdin: %w", err)
		}
	}
	switch {
	case cfg.Stdout == "":
		w.InheritStdout()
	case child:
	default:
		if err := w.SetStdoutFile(cfg.Stdout); err != nil {
			return nil, fmt.Errorf("host: stdout: %w", err)
		}
	}
	switch {
	case cfg.Stderr == "":
		w.InheritStderr()
	case child:
	default:
		if err := w.SetStderrFile(cfg.Stderr); err != nil {
			return nil, fmt.Errorf("host: stderr: %w", err)
		}
	}
	return w, nil
}

// enableAsync installs asynchronous delivery (wasix/async) so that a
// guest running wasm gets its signals. If the store layout check fails,
// the process falls back to delivery at safe points only.
func (p *Process) enableAsync(log *slog.Logger) {
	d, err := async.Enable(p.rt.engine, p.store, p.env)
	if err != nil {
		if log != nil {
			log.Warn("asynchronous signal delivery unavailable; signals arrive at host calls only", "error", err)
		}
		return
	}
	p.async = d
}

func (p *Process) watch(ctx context.Context, grace time.Duration) {
	select {
	case <-p.done:
		return
	case <-ctx.Done():
	}
	if grace == 0 {
		grace = DefaultGrace
	}
	if grace > 0 {
		_ = p.env.Signal(wasix.SIGTERM)
		t := time.NewTimer(grace)
		defer t.Stop()
		select {
		case <-p.done:
			return
		case <-t.C:
		}
	}
	_ = p.Signal(wasix.SIGKILL)
}

// KillBound is how long a SIGKILL (or a cancelled context, after its
// grace) waits for the guest to end before Wait returns anyway.
const KillBound = time.Second

// bound makes a SIGKILL end the process within KillBound whatever the
// guest is in. A guest stuck in a host call that nothing interrupts (an
// embedder's function that never returns, a wait inside wasmtime's own
// WASI) is given up on: Wait returns a *StuckError naming the call, and
// the guest's goroutine is left to finish on its own; the SIGKILL stays
// pending and ends the guest at its first safe point if the call returns.
func (p *Process) bound() {
	t := time.NewTimer(KillBound)
	defer t.Stop()
	select {
	case <-p.done:
		return
	case <-t.C:
	}
	call := p.stuckIn()
	p.conclude(&StuckError{Call: call, Err: &wasix.ExitError{Status: 128 + int32(wasix.SIGKILL), Signal: wasix.SIGKILL}})
	// The SIGKILL stays pending: the Delivery keeps kicking until the
	// guest takes it at its first epoch check, if the call ever returns.
}

// conclude makes outcome final and releases Wait; the first call wins.
func (p *Process) conclude(outcome error) {
	p.concluded.Do(func() {
		p.err = outcome
		if p.proc != nil {
			p.proc.End(outcome)
		}
		if p.group != nil {
			p.group.remove(p)
		}
		p.rt.unregister(p)
		close(p.done)
	})
}

// finish runs when the guest has returned: it frees what the process held
// and concludes it (unless a kill bound already did).
func (p *Process) finish(outcome error) {
	close(p.guestDone)
	if p.table != nil {
		p.table.Close()
	}
	fd.Forget(p.env)
	p.closeOwned()
	p.rt.unstable.Forget(p.env)
	p.env.Close()
	p.async.Close()
	// The guest's memory and code go now rather than at some later GC:
	// a host running many programs would otherwise hold them all.
	p.store.Close()
	p.conclude(outcome)
}

// Pid returns the process id.
func (p *Process) Pid() int32 { return p.pid }

// Env returns the process's signal state, for counters and timers. Its
// store is closed once the program has ended.
func (p *Process) Env() *env.WasiEnv { return p.env }

// Signal queues sig for the guest from any goroutine; it reaches the guest
// at its next safe point, during a wait, or, on an engine with epoch
// interruption, while it runs wasm. SIGKILL ends the process within
// KillBound whatever the guest is doing.
func (p *Process) Signal(sig wasix.Signal) error {
	err := p.env.Signal(sig)
	if sig == wasix.SIGKILL && err == nil {
		go p.bound()
	}
	return err
}

// Done is closed when the program has ended.
func (p *Process) Done() <-chan struct{} { return p.done }

// Wait waits for the end of the program and returns its outcome: nil for
// a normal end with status 0, *wasix.ExitError for an exit (by proc_exit
// or by a signal), *wasix.HandlerTrapError for a trap in a signal handler,
// a *StuckError (wrapping the SIGKILL exit) when a kill gave up on a guest
// stuck in a host call, a *stack.JumpError for a longjmp to a bad jmp_buf,
// or the trap that ended it otherwise (an *UnimplementedImportError when it
// followed an ENOSYS from a stub). ExitCode maps
// it to a status.
func (p *Process) Wait() error {
	<-p.done
	return p.err
}

// ExitCode is the exit status of an outcome, as a shell sees it: 0 for
// nil, the status of an *wasix.ExitError (taken modulo 256), and 134 (as
// for SIGABRT) for a trap.
func ExitCode(outcome error) int {
	if outcome == nil {
		return 0
	}
	if status, ok := wasix.ExitStatus(outcome); ok {
		return int(uint32(status) & 0xFF)
	}
	return 134
}

// register gives p a pid in the runtime's table, or ErrClosed. On
// success the caller owes r.starting a Done once p has its env.
func (r *Runtime) register(p *Process) (int32, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return 0, ErrClosed
	}
	r.starting.Add(1)
	for r.procs[r.nextPid] != nil || r.nextPid <= 0 {
		r.nextPid++
		if r.nextPid <= 0 {
			r.nextPid = 1
		}
	}
	pid := r.nextPid
	r.nextPid++
	r.procs[pid] = p
	return pid, nil
}

func (r *Runtime) unregister(p *Process) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.procs[p.pid] == p {
		delete(r.procs, p.pid)
	}
}

// peer resolves pids for proc_signal: members of p's group only, so that
// any pid outside it answers ESRCH exactly like a pid that does not exist.
func (p *Process) peer(pid int32) (*env.WasiEnv, bool) {
	if p.group == nil {
		return nil, false
	}
	q := p.group.lookup(pid)
	if q == nil {
		return nil, false
	}
	return q.env, true
}

// Group is a set of processes that may signal each other by pid, like a
// session of cooperating programs. Processes outside a group, or in
// another, cannot see its members. Pids are per Runtime, so a Group
// belongs to the first Runtime that starts a process in it; Start on
// another Runtime with the same Group fails with ErrGroupRuntime.
type Group struct {
	mu      sync.Mutex
	rt      *Runtime
	members map[int32]*Process
}

// ErrGroupRuntime is returned by Start for a Group already used by
// another Runtime: two Runtimes hand out the same pids.
var ErrGroupRuntime = errors.New("host: the group belongs to another Runtime (pids are per Runtime)")

// bind ties g to r on first use.
func (g *Group) bind(r *Runtime) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.rt == nil {
		g.rt = r
	}
	if g.rt != r {
		return ErrGroupRuntime
	}
	return nil
}

// NewGroup returns an empty group; pass it in Config.Group.
func NewGroup() *Group { return &Group{members: make(map[int32]*Process)} }

func (g *Group) add(p *Process) {
	g.mu.Lock()
	g.members[p.pid] = p
	g.mu.Unlock()
}

func (g *Group) remove(p *Process) {
	g.mu.Lock()
	if g.members[p.pid] == p {
		delete(g.members, p.pid)
	}
	g.mu.Unlock()
}

func (g *Group) lookup(pid int32) *Process {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.members[pid]
}
