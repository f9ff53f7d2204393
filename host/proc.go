package host

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"

	"github.com/bytecodealliance/wasmtime-go/v25"
	"github.com/wasix-org/wasix-signals-go/wasix"
	"github.com/wasix-org/wasix-signals-go/wasix/env"
	"github.com/wasix-org/wasix-signals-go/wasix/fd"
	"github.com/wasix-org/wasix-signals-go/wasix/proc"
	"github.com/wasix-org/wasix-signals-go/wasix/stack"
)

// The host side of the process layer (package wasix/proc, described in
// docs/PROCESSES.md): a Process makes its forked children and finds the
// programs it execs.

// run runs the program (first) and then every program it execs, in the
// same process, until one ends without exec'ing.
func (p *Process) run(first func() error) error {
	err := first()
	for {
		x := p.proc.TakeExec()
		if x == nil || p.env.Exited() != nil {
			return err
		}
		if err := p.exec(x); err != nil {
			p.rt.log.Warn("proc_exec: the new program cannot start", "pid", p.pid, "path", x.Path, "error", err.Error())
			return p.env.Exit(proc.StatusNotExecutable)
		}
		p.proc.Execed()
		err = stack.Run(p.store, p.inst, "_start")
	}
}

// exec replaces the program with x's in the same store: the WASI state
// (descriptors less the close-on-exec ones, preopens, environment) stays,
// the arguments change
// (args_get is served by wasix/proc), and the signal state is reset as
// execve does (env.WasiEnv.Exec). The old instance's memory is freed with
// the store, when the process ends.
func (p *Process) exec(x *proc.Exec) error {
	m, ok := x.Program.(*Module)
	if !ok {
		return errors.New("host: exec: not a program of this runtime")
	}
	if err := fd.Exec(p.store, p.env); err != nil {
		return err
	}
	p.rt.unstable.Forget(p.env)
	inst, err := p.rt.instantiate(p.store, m, &p.stubs)
	if err != nil {
		return fmt.Errorf("host: exec: instantiate: %w", err)
	}
	if inst.GetFunc(p.store, "_start") == nil {
		return errors.New("host: exec: module has no _start export (not a WASI command)")
	}
	if err := p.env.Exec(inst, m.module); err != nil {
		return err
	}
	p.inst, p.mod = inst, m
	p.cfg.Args = x.Args
	p.proc.SetArgs(x.Args)
	return nil
}

// Fork makes a forked child of p (proc.Host): see proc.Host.Fork.
func (p *Process) Fork(parent *proc.Proc, f *proc.Fork) (*proc.Proc, error) {
	r := p.rt
	cfg := p.cfg
	cfg.Signals = nil // the parent relays the host's signals, not its children
	store := wasmtime.NewStore(r.engine)
	wasi, err := wasiConfig(cfg, true)
	if err != nil {
		store.Close()
		return nil, err
	}
	store.SetWasi(wasi)
	c := &Process{rt: r, store: store, group: p.group, cfg: cfg, mod: p.mod,
		done: make(chan struct{}), guestDone: make(chan struct{})}
	if c.pid, err = r.register(c); err != nil {
		store.Close()
		return nil, err
	}
	c.env = env.New(store, env.Config{Policy: p.env.Policy(), Ignore: p.env.Ignored(),
		Logger: cfg.Logger, Clock: cfg.Clock, Pid: c.pid})
	c.env.SetPeers(c.peer)
	r.starting.Done()
	if c.proc, err = r.tree.Child(parent, c.env, c.pid, c); err != nil {
		c.finish(nil)
		return nil, err
	}
	c.proc.SetArgs(cfg.Args)
	fail := func(err error) (*proc.Proc, error) {
		c.proc.Abandon()
		c.finish(nil)
		return nil, err
	}
	if c.table, err = forkTable(p.env, c.env, cfg); err != nil {
		return fail(fmt.Errorf("host: fork: standard streams: %w", err))
	}
	if r.epochs {
		c.enableAsync(cfg.Logger)
	}
	c.group.add(c)
	c.stubs.log, c.stubs.pid = r.log, c.pid
	if c.inst, err = r.instantiate(c.store, c.mod, &c.stubs); err != nil {
		return fail(fmt.Errorf("host: fork: instantiate: %w", err))
	}
	if err := c.env.BindModule(c.inst, c.mod.module); err != nil {
		return fail(err)
	}
	if err := f.Copy(c.env, c.mod.module); err != nil {
		return fail(err)
	}
	go func() {
		c.goid.Store(goroutineID())
		err := c.run(func() error { return f.Run(c.env, "_start") })
		outcome := c.explain(c.env.Resolve(err))
		if r.log.Enabled(context.Background(), slog.LevelDebug) {
			r.log.Debug("forked process ended", "pid", c.pid, "parent", p.pid, "outcome", fmt.Sprint(outcome))
		}
		c.finish(outcome)
	}()
	return c.proc, nil
}

// forkTable gives a forked child its descriptors: a duplicate of every
// descriptor the parent's Table owns (its standard streams, named files
// included, the pipes it made, its duplicates), sharing each open
// description with the parent. A parent without a Table (none of its
// streams could be owned) gives the child the streams it inherits.
func forkTable(parent, child *env.WasiEnv, cfg Config) (*fd.Table, error) {
	if t := fd.Lookup(parent); t != nil {
		return t.Fork(child)
	}
	if files := stdio(cfg, nil); len(files) > 0 {
		return fd.New(child, fd.Config{Files: files})
	}
	return nil, nil
}

func closeFiles(fs []*os.File) {
	for _, f := range fs {
		f.Close()
	}
}

// closeOwned closes the files the host opened for the process (its named
// standard streams), once its Table, which uses them, is closed.
func (p *Process) closeOwned() {
	closeFiles(p.owned)
	p.owned = nil
}

// Load finds the program a proc_exec names (proc.Host): path is a guest
// path, resolved through the preopened directories (an absolute one
// through the directory whose guest path is its longest prefix, a relative
// one through "."); the file must be a WebAssembly binary (or text) that
// Compile accepts; a path without it is tried with ".wasm" appended.
// Compiled programs are cached per Runtime by host path, size and time.
func (p *Process) Load(_ *proc.Proc, guest string) (any, error) {
	for _, try := range []string{guest, guest + ".wasm"} {
		host, ok := p.resolve(try)
		if !ok {
			continue
		}
		st, err := os.Stat(host)
		if err != nil || !st.Mode().IsRegular() {
			continue
		}
		return p.rt.load(host, st)
	}
	return nil, fmt.Errorf("%w: %s", proc.ErrNotFound, guest)
}

// resolve maps a guest path to a host path through the preopened
// directories, refusing paths that climb out of them.
func (p *Process) resolve(guest string) (string, bool) {
	if guest == "" {
		return "", false
	}
	clean := path.Clean(guest)
	best, bestLen := "", -1
	for _, d := range p.cfg.Dirs {
		g := d.Guest
		if g == "" {
			g = d.Host
		}
		g = path.Clean(g)
		var rest string
		switch {
		case !path.IsAbs(clean) && g == ".":
			rest = clean
		case g == "/" && path.IsAbs(clean):
			rest = strings.TrimPrefix(clean, "/")
		case clean == g:
			rest = "."
		case strings.HasPrefix(clean, g+"/"):
			rest = strings.TrimPrefix(clean, g+"/")
		default:
			continue
		}
		if rest == ".." || strings.HasPrefix(rest, "../") {
			continue
		}
		if len(g) > bestLen {
			best, bestLen = filepath.Join(d.Host, filepath.FromSlash(rest)), len(g)
		}
	}
	return best, bestLen >= 0
}

type loaded struct {
	size  int64
	mtime int64
	mod   *Module
}

// load compiles the program at host, through the Runtime's cache.
func (r *Runtime) load(host string, st os.FileInfo) (*Module, error) {
	r.execMu.Lock()
	if l, ok := r.execs[host]; ok && l.size == st.Size() && l.mtime == st.ModTime().UnixNano() {
		r.execMu.Unlock()
		return l.mod, nil
	}
	r.execMu.Unlock()
	wasm, err := os.ReadFile(host)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", proc.ErrNotFound, err)
	}
	m, err := r.Compile(wasm)
	if err != nil {
		return nil, err
	}
	r.execMu.Lock()
	if len(r.execs) >= maxExecCache {
		clear(r.execs)
	}
	r.execs[host] = loaded{size: st.Size(), mtime: st.ModTime().UnixNano(), mod: m}
	r.execMu.Unlock()
	return m, nil
}

// maxExecCache bounds the compiled programs a Runtime keeps for exec.
const maxExecCache = 32

// execCache is the Runtime's cache of programs compiled for exec.
type execCache struct {
	execMu sync.Mutex
	execs  map[string]loaded
}

// Signal sends sig to every member of the group, as kill() to a process
// group does; SIGKILL ends them all (each within KillBound, as
// Process.Signal). It returns the first error, having tried every member.
func (g *Group) Signal(sig wasix.Signal) error {
	g.mu.Lock()
	members := make([]*Process, 0, len(g.members))
	for _, p := range g.members {
		members = append(members, p)
	}
	g.mu.Unlock()
	var first error
	for _, p := range members {
		if err := p.Signal(sig); err != nil && first == nil && !errors.Is(err, env.ErrExited) && !errors.Is(err, env.ErrClosed) {
			first = err
		}
	}
	return first
}

// Pids returns the pids of the group's live members, in no order.
func (g *Group) Pids() []int32 {
	g.mu.Lock()
	defer g.mu.Unlock()
	pids := make([]int32, 0, len(g.members))
	for pid := range g.members {
		pids = append(pids, pid)
	}
	return pids
}

// Group returns the process's group: Config.Group, or the group the
// Runtime made for it (and the children it forks) when that was nil.
func (p *Process) Group() *Group { return p.group }

// NumProcesses returns the number of processes of the Runtime that have
// not ended, forked ones included, and the number of forked processes
// that have ended and wait to be joined (zombies).
func (r *Runtime) NumProcesses() (live, zombies int) {
	r.mu.Lock()
	live = len(r.procs)
	r.mu.Unlock()
	return live, r.tree.Zombies()
}
