package host

import (
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"

	"github.com/bytecodealliance/wasmtime-go/v25"
	"github.com/wasix-org/wasix-signals-go/internal/functype"
	"github.com/wasix-org/wasix-signals-go/internal/modcache"
	"github.com/wasix-org/wasix-signals-go/internal/preview0"
	"github.com/wasix-org/wasix-signals-go/internal/wasmbin"
	"github.com/wasix-org/wasix-signals-go/wasix"
	"github.com/wasix-org/wasix-signals-go/wasix/env"
	"github.com/wasix-org/wasix-signals-go/wasix/fd"
	"github.com/wasix-org/wasix-signals-go/wasix/proc"
	"github.com/wasix-org/wasix-signals-go/wasix/signal"
	"github.com/wasix-org/wasix-signals-go/wasix/stack"
)

// Options configure a Runtime.
type Options struct {
	// Engine compiles and runs the guests. Nil creates one with epoch
	// interruption enabled, which asynchronous delivery needs.
	Engine *wasmtime.Engine
	// EpochInterruption must say whether Engine has epoch interruption
	// enabled (Config.SetEpochInterruption); it is ignored when Engine is
	// nil. Without it, signals reach a guest only at safe points (host
	// calls) and a guest spinning in wasm cannot be stopped.
	EpochInterruption bool
	// FirstPid is the pid of the first process; 0 means 1.
	FirstPid int32
	// Logger receives the runtime's own messages (unknown imports). Nil
	// discards.
	Logger *slog.Logger
	// CacheDir, if not empty, keeps compiled programs in that directory so
	// that compiling the same program again loads it instead; a damaged or
	// foreign entry is rebuilt. Empty means no cache. The directory must be
	// writable by this user only: see docs/PERFORMANCE.md.
	CacheDir string
	// Linker, when set, is the embedder's own Linker (the plugin path):
	// NewRuntime defines WASI and every WASIX import in it instead of in
	// a Linker of its own, with shadowing on, so that the embedder's other
	// imports stay. It must belong to Engine. Start programs with Start,
	// or run them in your own Stores with Instantiate. Close releases the
	// host's functions but leaves the Linker to its owner.
	Linker *wasmtime.Linker
	// MaxProcs bounds the forked processes that may exist at once,
	// running or ended and not yet joined; proc_fork answers EAGAIN
	// beyond it. 0 means proc.DefaultLimit (256), negative no limit.
	MaxProcs int
}

// Runtime runs WASIX programs: one engine, one Linker holding WASI preview1,
// the WASIX signal imports and the host's other WASIX imports, and a process
// table. It is safe for concurrent use; each program runs in its own Store.
type Runtime struct {
	engine *wasmtime.Engine
	linker *wasmtime.Linker
	// ownLinker is false when the Linker is the embedder's (Options.Linker).
	ownLinker bool
	epochs    bool
	log       *slog.Logger
	cache     *modcache.Cache // nil: compile every time

	// defined holds every function the host itself puts in the Linker.
	// It is written only by NewRuntime: Compile and Start read it without
	// a lock, and nothing a program imports changes it.
	defined map[importName]bool

	mu       sync.Mutex
	nextPid  int32
	procs    map[int32]*Process
	closed   bool
	starting sync.WaitGroup // Starts between register and their env existing

	// linkerMu keeps Close from freeing the Linker under a Compile.
	linkerMu     sync.RWMutex
	linkerClosed bool

	unstable *preview0.Imports // the wasi_unstable functions preview1 cannot serve as they are

	tree *proc.Tree // who forked whom (host/proc.go)
	execCache
}

// importName is an import's module and name. A struct, not a joined
// string: both may contain any byte, NUL included.
type importName struct{ module, name string }

// ErrClosed is returned by Start (and Compile) on a Runtime after Close.
var ErrClosed = errors.New("host: runtime closed")

// NewEngineConfig returns the engine configuration the Runtime uses when it
// makes its own engine: epoch interruption on, WebAssembly threads on
// (wasix-libc binaries use atomic instructions), 64-bit memories on
// (wasix_64v1 programs use them).
func NewEngineConfig() *wasmtime.Config {
	cfg := wasmtime.NewConfig()
	cfg.SetEpochInterruption(true)
	cfg.SetWasmThreads(true)
	cfg.SetWasmMemory64(true)
	return cfg
}

// NewRuntime builds the Linker once; every program started on the Runtime
// shares it. Close the Runtime when done with it: its Linker holds Go
// functions that otherwise stay in memory for the life of the process.
func NewRuntime(opts Options) (*Runtime, error) {
	r := &Runtime{
		engine:  opts.Engine,
		epochs:  opts.EpochInterruption,
		log:     opts.Logger,
		defined: make(map[importName]bool),
		nextPid: opts.FirstPid,
		procs:   make(map[int32]*Process),
		tree:    proc.NewTree(opts.MaxProcs),
	}
	r.execs = make(map[string]loaded)
	if r.engine == nil {
		r.engine = wasmtime.NewEngineWithConfig(NewEngineConfig())
		r.epochs = true
	}
	if r.log == nil {
		r.log = slog.New(slog.DiscardHandler)
	}
	r.cache = modcache.New(opts.CacheDir, modcache.Options{Salt: engineSalt(opts), Logger: r.log})
	if r.nextPid <= 0 {
		r.nextPid = 1
	}
	r.linker, r.ownLinker = opts.Linker, opts.Linker == nil
	if r.ownLinker {
		r.linker = wasmtime.NewLinker(r.engine)
	}
	r.linker.AllowShadowing(true)
	if err := r.linker.DefineWasi(); err != nil {
		return nil, fmt.Errorf("host: define WASI: %w", err)
	}
	for name := range preview1 {
		r.defined[importName{signal.Preview1, name}] = true
	}
	if err := signal.Install(r.linker); err != nil {
		return nil, err
	}
	for _, ns := range []string{signal.Wasix32, signal.Wasix64} {
		for _, name := range signal.Names() {
			r.defined[importName{ns, name}] = true
		}
	}
	if err := fd.Install(r.linker, r.engine); err != nil {
		return nil, err
	}
	for _, ns := range []string{signal.Wasix32, signal.Preview1} {
		for _, name := range fd.Names() {
			r.defined[importName{ns, name}] = true
		}
	}
	for _, name := range fd.WasixNames() {
		r.defined[importName{signal.Wasix32, name}] = true
	}
	if err := r.defineWasixImports(); err != nil {
		return nil, err
	}
	// wasi_unstable: Compile renames the functions preview1 serves as they
	// are; these four are translated (see docs/WASI-UNSTABLE.md).
	r.unstable = preview0.New(r.engine, fd.Poll)
	if err := r.unstable.Define(r.linker); err != nil {
		return nil, fmt.Errorf("host: %w", err)
	}
	for _, name := range preview0.Translated {
		r.defined[importName{preview0.TranslatedModule, name}] = true
	}
	if err := stack.Install(r.linker); err != nil {
		return nil, err
	}
	if err := proc.Install(r.linker); err != nil {
		return nil, err
	}
	for _, ns := range []string{stack.Wasix32, stack.Wasix64} {
		for _, name := range append(stack.Names(), proc.Names()...) {
			r.defined[importName{ns, name}] = true
		}
	}
	if err := proc.InstallArgs(r.linker); err != nil {
		return nil, err
	}
	return r, nil
}

// Close ends every program still running on the Runtime with SIGKILL,
// waits for them to end, and frees the Linker with the host functions it
// holds. Start and Compile fail with ErrClosed afterwards, and the Linker
// that Linker returned must not be used again. Close is idempotent and
// safe to call from any goroutine. It returns when the last program has
// ended, so a program blocked in a call that SIGKILL does not interrupt
// holds it until that call returns. See docs/RELIABILITY.md (Runtime
// lifetime).
func (r *Runtime) Close() error {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return nil
	}
	r.closed = true
	r.mu.Unlock()
	r.starting.Wait() // every registered process now has its env
	r.mu.Lock()
	procs := make([]*Process, 0, len(r.procs))
	for _, p := range r.procs {
		procs = append(procs, p)
	}
	r.mu.Unlock()
	for _, p := range procs {
		_ = p.Signal(wasix.SIGKILL)
	}
	for _, p := range procs {
		<-p.Done()
	}
	r.linkerMu.Lock()
	r.linkerClosed = true
	signal.Release(r.linker)
	if r.ownLinker {
		r.linker.Close()
	}
	r.linkerMu.Unlock()
	fd.Release(r.engine)
	return nil
}

// Engine returns the engine programs run on.
func (r *Runtime) Engine() *wasmtime.Engine { return r.engine }

// Linker returns the shared Linker, for embedders that add their own
// imports before starting programs. Wrap those with signal.SafePoint to
// make them safe points.
func (r *Runtime) Linker() *wasmtime.Linker { return r.linker }

// Module is a compiled program, ready to start any number of times.
type Module struct {
	module *wasmtime.Module
	// Report says how the binary was adapted at load time.
	Report *Report
	// unknown says that some function imports are not the host's own:
	// Start then resolves imports per store and stubs those the Linker
	// lacks.
	unknown bool
}

// Compile adapts a WASIX binary and compiles it (docs/BEHAVIOUR.md section 7): an
// imported memory becomes a defined, exported one; preview1 functions that
// wasix-libc imports under wasix_32v1 move to wasi_snapshot_preview1,
// except the ones this host implements itself so that signals interrupt
// them (the descriptor calls of wasix/fd, the futexes, thread_sleep); and every import neither
// the host nor the embedder (through Linker) defines gets a stub when the
// program starts: NOSYS when its only result is an i32 errno, a trap
// naming it otherwise, each logged once per process at warn level when
// first called. Stubs live in the program's own Store: Compile never
// changes the shared Linker, so one program's imports cannot change how
// another links. wasi_unstable functions whose ABI preview1 kept move to
// preview1 too; the others are translated (docs/WASI-UNSTABLE.md).
// A module built for the exception-handling proposal fails with an error
// that says so (errors.Is wasmbin.ErrExceptionHandling); the offsets in
// other compile errors are those of wasm as given.
// With Options.CacheDir the compiled code of the adapted binary comes
// from, or goes to, the compile cache.
func (r *Runtime) Compile(wasm []byte) (*Module, error) {
	if len(wasm) >= 4 && string(wasm[:4]) != "\x00asm" {
		var err error
		if wasm, err = wasmtime.Wat2Wasm(string(wasm)); err != nil {
			return nil, fmt.Errorf("host: module is neither wasm nor valid text format: %w", err)
		}
	}
	if err := wasmbin.Unsupported(wasm); err != nil {
		return nil, fmt.Errorf("host: %w", err)
	}
	out, report, err := wasmbin.Rewrite(wasm, wasmbin.Options{
		RenameToPreview1: r.renameToPreview1,
		RenameUnstable:   renameUnstable,
	})
	if err != nil {
		return nil, fmt.Errorf("host: %w", err)
	}
	m, _, err := r.cache.Compile(r.engine, out)
	if err != nil {
		// Offsets in the user's file, not in the rewritten bytes.
		return nil, fmt.Errorf("host: compile: %w", report.CompileError(err))
	}
	// setjmp/longjmp need the asyncify exports: say so now, not at the
	// first setjmp.
	if _, err := stack.Uses(m); err != nil {
		return nil, fmt.Errorf("host: %w", err)
	}
	mod := &Module{module: m, Report: newReport(report)}
	r.linkerMu.RLock()
	defer r.linkerMu.RUnlock()
	if r.linkerClosed {
		return nil, ErrClosed
	}
	// Every function import must be defined with its own type, by the
	// host or the embedder (through Linker); a definition is found on a
	// scratch store, which does not bind the Linker to it.
	scratch := wasmtime.NewStore(r.engine)
	defer scratch.Close()
	for _, imp := range m.Imports() {
		ft := imp.Type().FuncType()
		if imp.Name() == nil || ft == nil {
			continue
		}
		if !defines(r.linker.Get(scratch, imp.Module(), *imp.Name()), scratch, ft) {
			mod.unknown = true
			break
		}
	}
	return mod, nil
}

// engineSalt describes the engine configuration for the compile cache's
// key. An embedder's engine is opaque: wasmtime refuses an entry compiled
// with settings that change the code, and the cache rebuilds it.
func engineSalt(opts Options) string {
	if opts.Engine == nil {
		return "host.NewEngineConfig"
	}
	return fmt.Sprintf("embedder engine, epochs %v", opts.EpochInterruption)
}

func (r *Runtime) renameToPreview1(name string, params, results []wasmbin.ValType) bool {
	if r.defined[importName{signal.Wasix32, name}] {
		return false // ours: signal imports, poll_oneoff, futexes
	}
	want, ok := preview1[name]
	return ok && want == binSignature(params, results)
}

// renameUnstable moves a wasi_unstable import to wasi_snapshot_preview1
// when its ABI is the same in both snapshots, to the host's translation
// otherwise; one with a wrong signature stays and gets a stub.
func renameUnstable(name string, params, results []wasmbin.ValType) string {
	return preview0.Target(name, binSignature(params, results))
}

// instantiate instantiates m in p's store. A module whose imports are all
// the host's own goes through the shared Linker. Otherwise each import is
// resolved for this store alone: from the Linker when it has it (the
// host's or the embedder's definition), else from a stub made in the
// store, so that the stub goes with the store and the Linker stays as it
// was. Linker.Get does not bind the Linker to the store.
func (r *Runtime) instantiate(store *wasmtime.Store, m *Module, stubs *stubSet) (*wasmtime.Instance, error) {
	if !m.unknown {
		return r.linker.Instantiate(store, m.module)
	}
	imports := m.module.Imports()
	externs := make([]wasmtime.AsExtern, len(imports))
	for i, imp := range imports {
		module, name := imp.Module(), ""
		if imp.Name() != nil {
			name = *imp.Name()
		}
		ft := imp.Type().FuncType()
		if ext := r.linker.Get(store, module, name); ext != nil && (ft == nil || defines(ext, store, ft)) {
			externs[i] = ext
			continue
		}
		if ft != nil {
			if f := proc.LegacyFunc(store, module, name, ft); f != nil {
				externs[i] = f
				continue
			}
		}
		if ft == nil {
			return nil, fmt.Errorf("host: import %s.%s is not a function and nothing defines it", module, name)
		}
		externs[i] = wasmtime.NewFunc(store, ft, stubs.stub(module, name, ft))
	}
	return wasmtime.NewInstance(store, m.module, externs)
}

// Wasmtime returns the compiled wasmtime module, for an embedder that
// instantiates it itself; Instantiate does it with stubs for imports
// nobody defines.
func (m *Module) Wasmtime() *wasmtime.Module { return m.module }

// Report says how Compile adapted a binary at load time (see
// docs/BEHAVIOUR.md section 7).
type Report struct {
	// MemoryImported: the binary imported its memory (wasix-libc does),
	// which became a defined memory with the same limits (Min, Max and
	// HasMax, in pages); Shared says the import was shared (the defined
	// memory is not: wasmtime-go has no handle for shared memories).
	MemoryImported bool
	Shared         bool
	Min, Max       uint64
	HasMax         bool
	// MemoryExported: an export named "memory" was added, which
	// wasmtime's WASI needs.
	MemoryExported bool
	// Renamed are the imports moved from wasix_32v1 to
	// wasi_snapshot_preview1, RenamedUnstable the ones moved out of
	// wasi_unstable, in import order.
	Renamed, RenamedUnstable []string

	offsets wasmbin.OffsetMap
}

func newReport(r *wasmbin.Report) *Report {
	return &Report{
		MemoryImported: r.MemoryImported, Shared: r.Shared, Min: r.Min, Max: r.Max, HasMax: r.HasMax,
		MemoryExported: r.MemoryExported, Renamed: r.Renamed, RenamedUnstable: r.RenamedUnstable,
		offsets: r.Offsets,
	}
}

// Adapted reports whether the binary was changed at all.
func (r *Report) Adapted() bool { return r.offsets != nil }

// Original maps an offset in the adapted binary (as wasmtime's errors and
// backtraces give them) to the same place in the binary as given; false
// when it falls in bytes the adaptation made.
func (r *Report) Original(off int) (int, bool) { return r.offsets.Original(off) }

// Instantiate instantiates m in an embedder's own store (the plugin path:
// a Runtime made with Options.Linker). Imports that neither the host nor
// the embedder defines get stubs made in that store, as for Start. The
// store needs its WASI configuration (Store.SetWasi) and a WasiEnv
// (env.New) first; then Bind the instance and run its _start with
// stack.Run. See the Runtime example.
func (r *Runtime) Instantiate(store *wasmtime.Store, m *Module) (*wasmtime.Instance, error) {
	r.linkerMu.RLock()
	defer r.linkerMu.RUnlock()
	if r.linkerClosed {
		return nil, ErrClosed
	}
	stubs := &stubSet{log: r.log}
	if e := env.Lookup(store); e != nil {
		stubs.log, stubs.pid = e.Logger(), e.Pid()
	}
	inst, err := r.instantiate(store, m, stubs)
	if err != nil {
		return nil, fmt.Errorf("host: instantiate: %w", err)
	}
	return inst, nil
}

// defines reports whether ext is a function of type ft: a definition of
// the same name with another type does not serve the import (it gets a
// stub, like a missing one).
func defines(ext *wasmtime.Extern, s wasmtime.Storelike, ft *wasmtime.FuncType) bool {
	if ext == nil || ext.Func() == nil {
		return false
	}
	return functype.Same(ext.Func().Type(s), ft)
}

// unimplemented is a call to a stub.
type unimplemented struct {
	module, name string
	errnoOnly    bool
}

// UnimplementedImportError is a trap that ended a program after it called
// an import this host does not implement and the stub answered ENOSYS:
// the trap is often the program's reaction to that answer (wasix-libc's
// setjmp reaches `unreachable` when stack_checkpoint is missing), so the
// error names the call. Err is the trap.
type UnimplementedImportError struct {
	Module, Name string
	Err          error
}

func (e *UnimplementedImportError) Error() string {
	return fmt.Sprintf("host: after a call to unimplemented import %s.%s (answered ENOSYS): %v", e.Module, e.Name, e.Err)
}

func (e *UnimplementedImportError) Unwrap() error { return e.Err }

// explain wraps an outcome that is a trap in an UnimplementedImportError
// when the last stub the process called answered ENOSYS.
func (p *Process) explain(outcome error) error {
	if _, exited := wasix.ExitStatus(outcome); exited {
		return outcome
	}
	u := p.stubs.last.Load()
	if u == nil || !u.errnoOnly {
		return outcome // none called, or the trap is the stub's own, which names it
	}
	return &UnimplementedImportError{Module: u.module, Name: u.name, Err: outcome}
}

// stub is the body of an import the host does not implement, for one
// process: it answers ENOSYS when its only result is an i32 errno and
// traps naming the import otherwise. It records itself as the process's
// last unimplemented call and logs its first call.
// stubSet makes the stubs of one store and remembers the last one the
// guest called, to name it when the program ends in a trap.
type stubSet struct {
	log  *slog.Logger
	pid  int32
	last atomic.Pointer[unimplemented]
}

func (s *stubSet) stub(module, name string, ft *wasmtime.FuncType) func(*wasmtime.Caller, []wasmtime.Val) ([]wasmtime.Val, *wasmtime.Trap) {
	results := ft.Results()
	errnoOnly := len(results) == 1 && results[0].Kind() == wasmtime.KindI32
	call := &unimplemented{module: module, name: name, errnoOnly: errnoOnly}
	logged := false // the guest's goroutine only
	return func(*wasmtime.Caller, []wasmtime.Val) ([]wasmtime.Val, *wasmtime.Trap) {
		s.last.Store(call)
		if !logged {
			logged = true
			s.log.Warn("guest called an import this host does not implement", "module", module, "name", name, "errno_only", errnoOnly, "pid", s.pid)
		}
		if errnoOnly {
			return []wasmtime.Val{wasmtime.ValI32(int32(wasix.ENOSYS))}, nil
		}
		return nil, wasmtime.NewTrap(fmt.Sprintf("wasix: %s.%s is not implemented by this host", module, name))
	}
}
