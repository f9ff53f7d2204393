package env

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/bytecodealliance/wasmtime-go/v25"
	"github.com/wasix-org/wasix-signals-go/internal/fastcall"
	"github.com/wasix-org/wasix-signals-go/wasix"
)

// MainTID is the thread id of a process's main thread, the only thread a
// process has today.
const MainTID int32 = 1

// Errors of the Go-side API.
var (
	// ErrClosed is returned when a signal is sent to an env after Close.
	ErrClosed = errors.New("env: closed")
	// ErrExited is returned when a signal is sent to a process that has
	// already exited: it would never be delivered, so it is refused rather
	// than dropped silently.
	ErrExited = errors.New("env: process has exited")
)

// Config configures a WasiEnv. The zero value is the default policy, pid 1,
// the system clock, no ignored signals and no logging.
type Config struct {
	// Policy chooses POSIX behaviour or the reference runtime's.
	Policy wasix.Policy
	// Pid is the process id proc_id reports; 0 means 1.
	Pid int32
	// Ignore lists the signals the host sets to "ignore" for this guest.
	// They are what proc_signals_get reports, and they are dropped when
	// the guest has no handler registered.
	Ignore []wasix.Signal
	// Logger receives warnings (bad guest input), debug lines (each
	// signal delivered, coalesced or dropped) and trace lines (every
	// registration). Nil discards. Warnings are rate limited per message
	// (see WarnLimit); Close writes what is still held back.
	Logger *slog.Logger
	// WarnLimit sets that rate limit; the zero value is the default.
	WarnLimit WarnLimit
	// Clock drives interval timers and thread_sleep; nil is the real clock.
	Clock Clock
	// MinTimerInterval bounds how often a repeating interval timer fires;
	// 0 means DefaultMinTimerInterval, a negative value no bound (tests on
	// a ManualClock). Timer reports the interval the guest asked for.
	MinTimerInterval time.Duration
	// Memory is the guest's memory when the host provides it (the guest
	// imports it). Nil means the instance's exported "memory".
	Memory *wasmtime.Memory
}

// WasiEnv is one WASIX process: a wasmtime Store running one instance, with
// its signal state. The store, instance and handler cache belong to the
// goroutine that runs the guest; the inner data block is behind a mutex so
// that any goroutine may queue signals.
type WasiEnv struct {
	store    *wasmtime.Store
	key      uintptr
	ctx      unsafe.Pointer // the store's context, for the fast paths
	fast     bool           // internal/fastcall works in this build
	instance *wasmtime.Instance
	memory   *wasmtime.Memory
	// hostMemory says that memory came from Config.Memory.
	hostMemory bool
	fastMem    fastcall.Memory
	// noMemory says why guest memory cannot be reached, once Bind found
	// none; nil otherwise.
	noMemory error
	policy   wasix.Policy
	pid      int32
	log      *slog.Logger
	limit    *limitHandler // under log; nil when nothing is limited
	clock    Clock
	ignored  uint32 // bit per signal: host disposition "ignore"
	created  time.Time
	// minPeriod is the shortest period of a repeating timer.
	minPeriod time.Duration

	// depth counts the handler calls in progress (nested ones included).
	// Guest goroutine only.
	depth int

	// handlers caches export lookups by name for callback_signal; zero
	// values record names that are not a (i32)->() function. Guest
	// goroutine only.
	handlers map[string]handler

	// attention is true when ProcessSignals has work: a deliverable
	// signal, a pending SIGKILL or a recorded exit. It lets safe points
	// cost one atomic load when nothing is pending.
	attention atomic.Bool
	// wake has a token when a signal became deliverable; waits select on it.
	wake chan struct{}
	// notify, when set, is called after a signal becomes deliverable from
	// a goroutine other than the guest's (asynchronous delivery).
	notify atomic.Pointer[func()]
	peers  atomic.Pointer[func(pid int32) (*WasiEnv, bool)]

	mu    sync.Mutex
	inner inner
}

// inner is the data block guarded by WasiEnv.mu.
type inner struct {
	signal    handler // the registered handler; zero when none
	signalSet bool    // a registration happened, found or not
	// signalName is the name last registered, for a forked child to look
	// up in its own instance (see inherit.go).
	signalName string
	threads    map[int32]*thread
	timers     [wasix.NSIG]*timer
	exit       *exitRecord
	closed     bool
	counters   Counters
	// suspended holds handler calls back while the guest's stack is being
	// unwound or rewound; jumping marks a longjmp in flight (see jump.go).
	suspended, jumping bool
}

// thread is one thread's pending queue: each signal at most once, in
// arrival order.
type thread struct {
	queue []wasix.Signal
	mask  uint64
}

// handler is a guest function of type (i32)->(); the zero value is none.
// It is kept by value, so that a lookup allocates no more than
// wasmtime-go's own.
type handler struct {
	fn   *wasmtime.Func
	fast fastcall.Func
}

func (h handler) ok() bool { return h.fn != nil }

type exitRecord struct {
	err error // *wasix.ExitError or *wasix.HandlerTrapError
	// byClose marks the kill that Close records to stop a guest that is
	// still running; it is the outcome only if the guest traps out.
	byClose bool
}

// Counters account for every signal raised in a process: in the end each
// one is delivered to the handler, coalesced into one already pending,
// ignored (by a disposition, a default action or the policy), the cause of
// the exit, or still pending.
type Counters struct {
	Raised    uint64
	Delivered uint64
	// CutShort counts the deliveries whose handler call never returned
	// because the process ended during it (a trap, proc_exit, SIGKILL), at
	// every nesting level: a part of Delivered. A handler that a signal
	// interrupts at its first instruction and that never resumes is
	// delivered and cut short without having run any of its code.
	CutShort  uint64
	Coalesced uint64
	Ignored   uint64
	// Pending is the number of signals queued and not yet acted on.
	Pending int
	// TerminatedBy is the signal that ended the process, or 0.
	TerminatedBy wasix.Signal
}

var (
	registry      sync.Map // context pointer -> *WasiEnv
	attentionEnvs atomic.Int64
)

func contextKey(s wasmtime.Storelike) uintptr { return uintptr(unsafe.Pointer(s.Context())) }

// ErrPolicy is returned by Config.Validate for a Policy that is neither
// wasix.PolicyDefault nor wasix.PolicyWasmer.
var ErrPolicy = errors.New("env: unknown policy")

// Validate reports a configuration New cannot honour: today an unknown
// Policy (one not declared in package wasix).
func (c Config) Validate() error {
	switch c.Policy {
	case wasix.PolicyDefault, wasix.PolicyWasmer:
		return nil
	}
	return fmt.Errorf("%w %v (want default or wasmer)", ErrPolicy, c.Policy)
}

// New creates the process state for store and registers it, so that the
// imports installed on any Linker find it from their *wasmtime.Caller.
// Call Bind once the instance exists, and Close when done, before the
// store is closed (a later store may reuse its address).
//
// New panics when cfg.Validate fails (an unknown Policy is a programming
// error: treating it as either policy would silently run the guest under
// rules nobody chose). Use NewChecked when the configuration comes from
// outside the program.
func New(store *wasmtime.Store, cfg Config) *WasiEnv {
	e, err := NewChecked(store, cfg)
	if err != nil {
		panic(err)
	}
	return e
}

// NewChecked is New returning an error, instead of panicking, for a
// configuration Validate rejects.
func NewChecked(store *wasmtime.Store, cfg Config) (*WasiEnv, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	e := &WasiEnv{
		store:      store,
		key:        contextKey(store),
		ctx:        unsafe.Pointer(store.Context()),
		fast:       fastcall.Supported(),
		memory:     cfg.Memory,
		hostMemory: cfg.Memory != nil,
		policy:     cfg.Policy,
		pid:        cfg.Pid,
		log:        cfg.Logger,
		clock:      cfg.Clock,
		handlers:   make(map[string]handler),
		wake:       make(chan struct{}, 1),
		created:    time.Now(),
	}
	switch {
	case cfg.MinTimerInterval == 0:
		e.minPeriod = DefaultMinTimerInterval
	case cfg.MinTimerInterval > 0:
		e.minPeriod = cfg.MinTimerInterval
	}
	if e.pid == 0 {
		e.pid = 1
	}
	if e.log == nil {
		e.log = slog.New(slog.DiscardHandler)
	} else if cfg.WarnLimit.Burst >= 0 {
		e.limit = newLimitHandler(e.log.Handler(), cfg.WarnLimit)
		e.log = slog.New(e.limit)
	}
	if e.clock == nil {
		e.clock = SystemClock{}
	}
	for _, s := range cfg.Ignore {
		if s.Valid() && s != wasix.SIGKILL && s != wasix.SIGSTOP {
			e.ignored |= 1 << s
		}
	}
	e.inner.threads = map[int32]*thread{MainTID: {}}
	e.bindMemory()
	registry.Store(e.key, e)
	return e, nil
}

// bindMemory prepares the fast path to the guest memory, once known.
func (e *WasiEnv) bindMemory() {
	if e.memory != nil && e.fast {
		e.fastMem = fastcall.MemoryOf(e.memory)
	}
}

// Lookup finds the WasiEnv of the store s belongs to (a *wasmtime.Store or
// the *wasmtime.Caller of a host function), or nil.
func Lookup(s wasmtime.Storelike) *WasiEnv {
	return lookup(contextKey(s))
}

// LookupContext is Lookup by the store's context pointer
// (Storelike.Context()), for host functions that already have it.
func LookupContext(ctx unsafe.Pointer) *WasiEnv { return lookup(uintptr(ctx)) }

func lookup(key uintptr) *WasiEnv {
	v, ok := registry.Load(key)
	if !ok {
		return nil
	}
	return v.(*WasiEnv)
}

// Bind attaches the instantiated guest. Without a host-provided memory it
// takes the instance's "memory" export. Before Bind (for example while a
// start function runs) lookups go through the calling instance's exports.
// When there is no such memory, MemoryError says why. A nil instance (the
// result of an Instantiate that failed) is refused with ErrNoInstance.
func (e *WasiEnv) Bind(instance *wasmtime.Instance) error { return e.BindModule(instance, nil) }

// ErrNoInstance is Bind's answer to a nil instance.
var ErrNoInstance = errors.New("env: Bind: no instance (did Instantiate fail?)")

// BindModule is Bind for an instance of module: knowing the export names,
// MemoryError can name a memory exported under another name than
// "memory". module may be nil.
func (e *WasiEnv) BindModule(instance *wasmtime.Instance, module *wasmtime.Module) error {
	if instance == nil {
		return ErrNoInstance
	}
	e.instance = instance
	e.noMemory = nil
	if e.memory == nil {
		if ex := instance.GetExport(e.store, "memory"); ex != nil {
			e.memory = ex.Memory()
		}
	}
	if e.memory == nil {
		e.noMemory = e.whyNoMemory(instance, module)
	}
	e.bindMemory()
	clear(e.handlers)
	return nil
}

// Errors MemoryError returns, for errors.Is.
var (
	// ErrNoMemory: the guest exports no memory at all.
	ErrNoMemory = errors.New("guest memory not reachable: the guest exports no memory")
	// ErrMemoryName: the guest exports a memory, but not as "memory".
	ErrMemoryName = errors.New("guest memory not reachable: not exported as \"memory\"")
	// ErrSharedMemory: the memory is shared, and wasmtime-go gives no
	// handle to a shared memory.
	ErrSharedMemory = errors.New("guest memory not reachable: shared memory has no Go handle in wasmtime-go")
)

func (e *WasiEnv) whyNoMemory(instance *wasmtime.Instance, module *wasmtime.Module) error {
	if ex := instance.GetExport(e.store, "memory"); ex != nil {
		if ty := ex.Type(e.store); ty != nil && ty.MemoryType() != nil {
			return ErrSharedMemory
		}
	}
	if module != nil {
		for _, x := range module.Exports() {
			if x.Type().MemoryType() != nil {
				return fmt.Errorf("%w: exported as %q", ErrMemoryName, x.Name())
			}
		}
	}
	for _, ex := range instance.Exports(e.store) {
		if ex.Memory() != nil {
			return ErrMemoryName
		}
		if ty := ex.Type(e.store); ty != nil && ty.MemoryType() != nil {
			return ErrSharedMemory
		}
	}
	return ErrNoMemory
}

// MemoryError says why the guest memory cannot be reached after Bind
// found none (ErrNoMemory, ErrMemoryName, ErrSharedMemory, wrapped with
// details), or nil when there is a memory or Bind has not run. Every
// access to guest memory then fails, and imports answer EFAULT: this is
// what to log beside that errno.
func (e *WasiEnv) MemoryError() error { return e.noMemory }

// Memory returns the guest memory, or nil when there is none (or before
// Bind, when the guest exports it).
func (e *WasiEnv) Memory() *wasmtime.Memory { return e.memory }

// Store returns the wasmtime store of this process.
func (e *WasiEnv) Store() *wasmtime.Store { return e.store }

// Instance returns the bound instance, or nil before Bind.
func (e *WasiEnv) Instance() *wasmtime.Instance { return e.instance }

// Policy returns the compatibility policy of this process.
func (e *WasiEnv) Policy() wasix.Policy { return e.policy }

// Pid returns the process id.
func (e *WasiEnv) Pid() int32 { return e.pid }

// Logger returns the logger (never nil). Every warning about this process
// should go through it: it rate limits repeated warnings per message.
func (e *WasiEnv) Logger() *slog.Logger { return e.log }

// Clock returns the clock timers and sleeps use.
func (e *WasiEnv) Clock() Clock { return e.clock }

// Ignored returns the host-configured ignore dispositions in signal order.
func (e *WasiEnv) Ignored() []wasix.Signal {
	var out []wasix.Signal
	for s := wasix.Signal(1); s < wasix.NSIG; s++ {
		if e.ignored&(1<<s) != 0 {
			out = append(out, s)
		}
	}
	return out
}

// SetNotify installs f to be called, on the sending goroutine, each time a
// signal queued from outside the guest becomes deliverable. The host uses
// it to interrupt a guest that is running wasm (epoch interruption).
func (e *WasiEnv) SetNotify(f func()) {
	if f == nil {
		e.notify.Store(nil)
		return
	}
	e.notify.Store(&f)
}

// SetPeers installs the lookup proc_signal uses for pids other than this
// process's own. Without it, every other pid is unknown (ESRCH).
func (e *WasiEnv) SetPeers(lookup func(pid int32) (*WasiEnv, bool)) {
	if lookup == nil {
		e.peers.Store(nil)
		return
	}
	e.peers.Store(&lookup)
}

// Peer resolves pid for proc_signal: this process for its own pid, a peer
// through the lookup of SetPeers, or false.
func (e *WasiEnv) Peer(pid int32) (*WasiEnv, bool) {
	if pid == e.pid {
		return e, true
	}
	if p := e.peers.Load(); p != nil {
		return (*p)(pid)
	}
	return nil, false
}

// Counters returns a snapshot of the signal accounting.
func (e *WasiEnv) Counters() Counters {
	e.mu.Lock()
	defer e.mu.Unlock()
	c := e.inner.counters
	for _, t := range e.inner.threads {
		c.Pending += len(t.queue)
	}
	return c
}

// Handler reports the registration state: whether callback_signal was
// called (signal_set) and whether it found a handler.
func (e *WasiEnv) Handler() (set, found bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.inner.signalSet, e.inner.signal.ok()
}

// Exited returns the recorded exit (an *wasix.ExitError or
// *wasix.HandlerTrapError), or nil while the process runs.
func (e *WasiEnv) Exited() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.inner.exit == nil || e.inner.exit.byClose {
		return nil
	}
	return e.inner.exit.err
}

// Alive reports whether the process can still receive signals: not
// exited and not closed.
func (e *WasiEnv) Alive() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return !e.inner.closed && e.inner.exit == nil
}

// Close stops the timers and unregisters the env, and logs the warnings
// the rate limit still holds back. Signals sent afterwards get ErrClosed.
// Close does not close the store.
//
// Closing the env of a guest that is still running stops the guest as
// SIGKILL would: its next safe point, wait or epoch check ends it, and
// Resolve then reports exit status 137. A guest that returns by itself
// before reaching one keeps its own outcome. See docs/BEHAVIOUR.md.
func (e *WasiEnv) Close() {
	e.mu.Lock()
	if e.inner.closed {
		e.mu.Unlock()
		return
	}
	e.stopTimers()
	if e.inner.exit == nil {
		e.inner.exit = &exitRecord{err: killed(e.policy), byClose: true}
	}
	// Attention stays on for good, so that a guest still running finds
	// the exit at its next check; a closed env is no longer registered,
	// so it leaves the count AnyAttention reads.
	e.setAttention(false)
	e.inner.closed = true
	e.attention.Store(true)
	e.mu.Unlock()
	registry.CompareAndDelete(e.key, e)
	if e.limit != nil {
		e.limit.flush()
	}
	e.wakeUp()
}

// Closed reports whether Close was called.
func (e *WasiEnv) Closed() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.inner.closed
}

// stopTimers cancels every interval timer. e.mu held.
func (e *WasiEnv) stopTimers() {
	for i, t := range e.inner.timers {
		if t != nil {
			t.stop.Stop()
			e.inner.timers[i] = nil
		}
	}
}

// wakeUp ends a wait in progress and interrupts a guest running wasm, so
// that it looks at its signals.
func (e *WasiEnv) wakeUp() {
	select {
	case e.wake <- struct{}{}:
	default:
	}
	if f := e.notify.Load(); f != nil {
		(*f)()
	}
}

// AnyAttention reports, with one atomic load, whether any process in this
// Go program may have signal work to do. Safe points use it to skip the
// store lookup when nothing is pending anywhere.
func AnyAttention() bool { return attentionEnvs.Load() != 0 }

// Attention reports whether ProcessSignals has work to do in this process.
func (e *WasiEnv) Attention() bool { return e.attention.Load() }

// Wake returns a channel that receives a token when a signal becomes
// deliverable. Waits in host functions select on it.
func (e *WasiEnv) Wake() <-chan struct{} { return e.wake }

// setAttention updates the attention flag and the global count. e.mu held.
func (e *WasiEnv) setAttention(on bool) {
	if e.inner.closed || e.attention.Load() == on {
		return
	}
	e.attention.Store(on)
	if on {
		attentionEnvs.Add(1)
	} else {
		attentionEnvs.Add(-1)
	}
}

// refreshAttention recomputes the attention flag from the inner state and
// reports whether it is on. e.mu held.
func (e *WasiEnv) refreshAttention() bool {
	on := false
	switch {
	case e.inner.closed:
		return true
	case e.inner.exit != nil:
		on = true
	default:
		t := e.inner.threads[MainTID]
		blocked := e.inner.signalSet && (!e.inner.signal.ok() || e.inner.suspended)
		on = len(t.queue) > 0 && (!blocked || t.mask&(1<<wasix.SIGKILL) != 0 ||
			e.policy == wasix.PolicyDefault && t.mask&(1<<wasix.SIGSTOP) != 0)
	}
	e.setAttention(on)
	return on
}

func (e *WasiEnv) logEnabled(l slog.Level) bool { return e.log.Enabled(context.Background(), l) }

// Created returns when the env was made, close to when wasmtime's WASI
// monotonic clock started counting for its store.
func (e *WasiEnv) Created() time.Time { return e.created }
