package host

import (
	"fmt"
	"log/slog"
	"sync"

	"github.com/bytecodealliance/wasmtime-go/v25"
	"github.com/wasix-org/wasix-signals-go/internal/epoch"
	"github.com/wasix-org/wasix-signals-go/internal/modcache"
	"github.com/wasix-org/wasix-signals-go/internal/wasmbin"
	"github.com/wasix-org/wasix-signals-go/wasix"
	"github.com/wasix-org/wasix-signals-go/wasix/fd"
	"github.com/wasix-org/wasix-signals-go/wasix/signal"
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
}

// Runtime runs WASIX programs: one engine, one Linker holding WASI preview1,
// the WASIX signal imports and the host's other WASIX imports, and a process
// table. It is safe for concurrent use; each program runs in its own Store.
type Runtime struct {
	engine *wasmtime.Engine
	linker *wasmtime.Linker
	epochs bool
	kicker *epoch.Kicker
	log    *slog.Logger
	cache  *modcache.Cache // nil: compile every time

	mu      sync.Mutex
	defined map[string]bool // "module\x00name" of every function the Linker has
	nextPid int32
	procs   map[int32]*Process
}

// NewEngineConfig returns the engine configuration the Runtime uses when it
// makes its own engine: epoch interruption on, WebAssembly threads on
// (wasix-libc binaries use atomic instructions).
func NewEngineConfig() *wasmtime.Config {
	cfg := wasmtime.NewConfig()
	cfg.SetEpochInterruption(true)
	cfg.SetWasmThreads(true)
	return cfg
}

// NewRuntime builds the Linker once; every program started on the Runtime
// shares it.
func NewRuntime(opts Options) (*Runtime, error) {
	r := &Runtime{
		engine:  opts.Engine,
		epochs:  opts.EpochInterruption,
		log:     opts.Logger,
		defined: make(map[string]bool),
		nextPid: opts.FirstPid,
		procs:   make(map[int32]*Process),
	}
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
	if r.epochs {
		r.kicker = epoch.NewKicker(r.engine)
	}
	r.linker = wasmtime.NewLinker(r.engine)
	if err := r.linker.DefineWasi(); err != nil {
		return nil, fmt.Errorf("host: define WASI: %w", err)
	}
	for name := range preview1 {
		r.defined[signal.Preview1+"\x00"+name] = true
		r.defined[signal.Unstable+"\x00"+name] = true
	}
	if err := signal.Install(r.linker); err != nil {
		return nil, err
	}
	for _, ns := range []string{signal.Wasix32, signal.Wasix64} {
		for _, name := range signal.Names() {
			r.defined[ns+"\x00"+name] = true
		}
	}
	if err := fd.Install(r.linker, r.engine); err != nil {
		return nil, err
	}
	for _, ns := range []string{signal.Wasix32, signal.Preview1} {
		for _, name := range fd.Names() {
			r.defined[ns+"\x00"+name] = true
		}
	}
	if err := r.defineWasixImports(); err != nil {
		return nil, err
	}
	return r, nil
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
	Report *wasmbin.Report
}

// Compile adapts a WASIX binary and compiles it (SPEC section 7): an
// imported memory becomes a defined, exported one; preview1 functions that
// wasix-libc imports under wasix_32v1 move to wasi_snapshot_preview1,
// except the ones this host implements itself so that signals interrupt
// them (the descriptor calls of wasix/fd, the futexes, thread_sleep); and every import the host
// does not implement gets a stub: NOSYS when its only result is an i32
// errno, a trap naming it otherwise, each logged once at warn level when
// first called. With Options.CacheDir the compiled code of the adapted
// binary comes from, or goes to, the compile cache.
func (r *Runtime) Compile(wasm []byte) (*Module, error) {
	if len(wasm) >= 4 && string(wasm[:4]) != "\x00asm" {
		var err error
		if wasm, err = wasmtime.Wat2Wasm(string(wasm)); err != nil {
			return nil, fmt.Errorf("host: module is neither wasm nor valid text format: %w", err)
		}
	}
	out, report, err := wasmbin.Rewrite(wasm, wasmbin.Options{RenameToPreview1: r.renameToPreview1})
	if err != nil {
		return nil, fmt.Errorf("host: %w", err)
	}
	m, _, err := r.cache.Compile(r.engine, out)
	if err != nil {
		return nil, fmt.Errorf("host: compile: %w", err)
	}
	if err := r.defineMissing(m); err != nil {
		return nil, err
	}
	return &Module{module: m, Report: report}, nil
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
	if r.isDefined(signal.Wasix32, name) {
		return false // ours: signal imports, poll_oneoff, futexes
	}
	want, ok := preview1[name]
	return ok && want == binSignature(params, results)
}

func (r *Runtime) isDefined(module, name string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.defined[module+"\x00"+name]
}

// defineMissing gives every function import the Linker lacks a stub. An
// embedder's own definitions (added through Linker()) are found with
// Linker.Get on a scratch store and left alone.
func (r *Runtime) defineMissing(m *wasmtime.Module) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	var scratch *wasmtime.Store
	defer func() {
		if scratch != nil {
			scratch.Close()
		}
	}()
	for _, imp := range m.Imports() {
		if imp.Name() == nil || imp.Type().FuncType() == nil {
			continue
		}
		module, name := imp.Module(), *imp.Name()
		key := module + "\x00" + name
		if r.defined[key] {
			continue
		}
		if scratch == nil {
			scratch = wasmtime.NewStore(r.engine)
		}
		if r.linker.Get(scratch, module, name) != nil {
			r.defined[key] = true
			continue
		}
		ft := imp.Type().FuncType()
		if err := r.linker.FuncNew(module, name, ft, r.stub(module, name, ft)); err != nil {
			return fmt.Errorf("host: stub for %s.%s: %w", module, name, err)
		}
		r.defined[key] = true
	}
	return nil
}

func (r *Runtime) stub(module, name string, ft *wasmtime.FuncType) func(*wasmtime.Caller, []wasmtime.Val) ([]wasmtime.Val, *wasmtime.Trap) {
	results := ft.Results()
	errnoOnly := len(results) == 1 && results[0].Kind() == wasmtime.KindI32
	var once sync.Once
	return func(*wasmtime.Caller, []wasmtime.Val) ([]wasmtime.Val, *wasmtime.Trap) {
		once.Do(func() {
			r.log.Warn("guest called an import this host does not implement", "module", module, "name", name, "errno_only", errnoOnly)
		})
		if errnoOnly {
			return []wasmtime.Val{wasmtime.ValI32(int32(wasix.ENOSYS))}, nil
		}
		return nil, wasmtime.NewTrap(fmt.Sprintf("wasix: %s.%s is not implemented by this host", module, name))
	}
}
