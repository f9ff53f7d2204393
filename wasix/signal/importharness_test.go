package signal_test

// A harness of its own for badinput_test.go and fuzzimports_test.go, kept
// apart from helpers_test.go: its own engine and Linker, a module that
// re-exports every signal import of every namespace under the name
// "<namespace>.<import>" so that Go can call any import with any
// arguments, a log recorder that can be reset, and guest memory helpers.

import (
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"github.com/bytecodealliance/wasmtime-go/v25"
	"github.com/wasix-org/wasix-signals-go/wasix"
	"github.com/wasix-org/wasix-signals-go/wasix/env"
	"github.com/wasix-org/wasix-signals-go/wasix/signal"
)

type ihParam uint8

const (
	ihI32 ihParam = iota
	ihI64
	ihPtr // i32 in wasix_32v1 and the preview1 namespaces, i64 in wasix_64v1
)

type ihImport struct {
	name   string
	params []ihParam
	void   bool
}

// ihImports is docs/BEHAVIOUR.md section 2, independently of the package's own table.
var ihImports = []ihImport{
	{signal.CallbackSignalName, []ihParam{ihPtr, ihPtr}, true},
	{signal.ProcRaiseName, []ihParam{ihI32}, false},
	{signal.ThreadSignalName, []ihParam{ihI32, ihI32}, false},
	{signal.ProcSignalName, []ihParam{ihI32, ihI32}, false},
	{signal.ProcRaiseIntervalName, []ihParam{ihI32, ihI64, ihI32}, false},
	{signal.ProcSignalsSizesGetName, []ihParam{ihPtr}, false},
	{signal.ProcSignalsGetName, []ihParam{ihPtr}, false},
	{signal.ThreadIDName, []ihParam{ihPtr}, false},
	{signal.ProcIDName, []ihParam{ihPtr}, false},
	{signal.ThreadSleepName, []ihParam{ihI64}, false},
}

func ihLookupImport(name string) ihImport {
	for _, im := range ihImports {
		if im.name == name {
			return im
		}
	}
	panic("unknown import " + name)
}

var (
	ihOnce    sync.Once
	ihEngine  *wasmtime.Engine
	ihLink    *wasmtime.Linker
	ihErr     error
	ihModules sync.Map // wat -> *wasmtime.Module
	ihGuests  sync.Map // *env.WasiEnv -> *ihGuest
)

func ihLinker(tb testing.TB) (*wasmtime.Engine, *wasmtime.Linker) {
	tb.Helper()
	ihOnce.Do(func() {
		ihEngine = wasmtime.NewEngine()
		l := wasmtime.NewLinker(ihEngine)
		if ihErr = l.DefineWasi(); ihErr != nil {
			return
		}
		if ihErr = signal.Install(l); ihErr != nil {
			return
		}
		logTy := wasmtime.NewFuncType([]*wasmtime.ValType{wasmtime.NewValType(wasmtime.KindI32)}, nil)
		ihErr = l.FuncNew("t", "log", logTy, func(c *wasmtime.Caller, a []wasmtime.Val) ([]wasmtime.Val, *wasmtime.Trap) {
			if g, ok := ihGuests.Load(env.Lookup(c)); ok {
				g.(*ihGuest).record(a[0].I32())
			}
			return nil, nil
		})
		if ihErr != nil {
			return
		}
		ihErr = l.FuncNew("t", "safepoint", wasmtime.NewFuncType(nil, nil), signal.SafePoint(
			func(*wasmtime.Caller, []wasmtime.Val) ([]wasmtime.Val, *wasmtime.Trap) { return nil, nil }))
		ihLink = l
	})
	if ihErr != nil {
		tb.Fatal(ihErr)
	}
	return ihEngine, ihLink
}

// ihNamespaces are the namespaces the module imports from; proc_raise is
// also imported from the two preview1 namespaces.
var ihNamespaces = []string{signal.Wasix32, signal.Wasix64}

func ihWatType(p ihParam, ns string) string {
	switch {
	case p == ihI64, p == ihPtr && ns == signal.Wasix64:
		return "i64"
	}
	return "i32"
}

// ihImportsWat declares every import and re-exports each as "<ns>.<name>".
func ihImportsWat() string {
	var b, funcs strings.Builder
	emit := func(ns string, im ihImport) {
		var params, locals []string
		for i, p := range im.params {
			params = append(params, ihWatType(p, ns))
			locals = append(locals, fmt.Sprintf("(local.get %d)", i))
		}
		sig := "(param " + strings.Join(params, " ") + ")"
		if !im.void {
			sig += " (result i32)"
		}
		id := "$" + ns + "." + im.name
		fmt.Fprintf(&b, "  (import %q %q (func %s %s))\n", ns, im.name, id, sig)
		fmt.Fprintf(&funcs, "  (func (export %q) %s (call %s %s))\n", ns+"."+im.name, sig, id, strings.Join(locals, " "))
	}
	for _, ns := range ihNamespaces {
		for _, im := range ihImports {
			emit(ns, im)
		}
	}
	for _, ns := range []string{signal.Preview1, signal.Unstable} {
		emit(ns, ihLookupImport(signal.ProcRaiseName))
	}
	b.WriteString(`  (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
  (import "t" "log" (func $log (param i32)))
  (import "t" "safepoint" (func $safepoint))
  (func (export "safe") (call $safepoint))
`)
	return b.String() + funcs.String()
}

// ihMatrixModule is the bad-input module: every import, a handler that
// logs, and exports of every kind that are not handlers.
func ihMatrixModule(withMemory bool) string {
	mem := `(memory (export "memory") 1)`
	if !withMemory {
		mem = ""
	}
	return "(module\n" + ihImportsWat() + mem + `
  (table (export "a_table") 1 funcref)
  (global (export "a_global") i32 (i32.const 0))
  (func (export "__wasm_signal") (param i32) (call $log (local.get 0)))
  (func (export "wrong_result") (param i32) (result i32) (local.get 0))
  (func (export "no_params"))
  (func (export "i64_param") (param i64))
  (func (export "two_params") (param i32 i32))
)`
}

type ihGuest struct {
	env   *env.WasiEnv
	store *wasmtime.Store
	inst  *wasmtime.Instance
	logs  *logRecorder

	mu     sync.Mutex
	events []int32
}

func (g *ihGuest) record(v int32) {
	g.mu.Lock()
	g.events = append(g.events, v)
	g.mu.Unlock()
}

func (g *ihGuest) Events() []int32 {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]int32(nil), g.events...)
}

func (g *ihGuest) resetEvents() {
	g.mu.Lock()
	g.events = nil
	g.mu.Unlock()
}

func ihCompile(tb testing.TB, wat string) *wasmtime.Module {
	tb.Helper()
	if m, ok := ihModules.Load(wat); ok {
		return m.(*wasmtime.Module)
	}
	engine, _ := ihLinker(tb)
	wasm, err := wasmtime.Wat2Wasm(wat)
	if err != nil {
		tb.Fatalf("wat: %v\n%s", err, wat)
	}
	m, err := wasmtime.NewModule(engine, wasm)
	if err != nil {
		tb.Fatal(err)
	}
	ihModules.Store(wat, m)
	return m
}

// ihNew instantiates wat in a new Store with a WasiEnv configured by cfg
// (its Logger replaced by a recorder) and binds it. The env is closed by
// g.close, which tests register with Cleanup and fuzz targets call.
func ihNew(tb testing.TB, wat string, cfg env.Config) (*ihGuest, error) {
	_, l := ihLinker(tb)
	module := ihCompile(tb, wat)
	store := wasmtime.NewStore(ihEngine)
	store.SetWasi(wasmtime.NewWasiConfig())
	logs := &logRecorder{}
	cfg.Logger = slog.New(logs)
	if cfg.WarnLimit == (env.WarnLimit{}) {
		// Guests are reused across calls, and each call's warning is checked.
		cfg.WarnLimit.Burst = -1
	}
	g := &ihGuest{store: store, logs: logs}
	g.env = env.New(store, cfg)
	ihGuests.Store(g.env, g)
	inst, err := l.Instantiate(store, module)
	if err != nil {
		g.close()
		return nil, err
	}
	g.inst = inst
	g.env.Bind(inst)
	return g, nil
}

func ihNewT(t *testing.T, wat string, cfg env.Config) *ihGuest {
	t.Helper()
	g, err := ihNew(t, wat, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(g.close)
	return g
}

func (g *ihGuest) close() {
	g.env.Close()
	ihGuests.Delete(g.env)
}

// call calls the export "<ns>.<name>" (or any export) with raw argument
// bits, converted to the export's parameter types, and returns the errno
// (0 for a function without result) and the process outcome
// (env.Resolve), nil when the guest may carry on.
func (g *ihGuest) call(export string, args ...uint64) (wasix.Errno, error) {
	f := g.inst.GetFunc(g.store, export)
	if f == nil {
		return 0, fmt.Errorf("no export %q", export)
	}
	params := f.Type(g.store).Params()
	if len(params) != len(args) {
		return 0, fmt.Errorf("%s takes %d arguments, got %d", export, len(params), len(args))
	}
	vals := make([]interface{}, len(args))
	for i, p := range params {
		if p.Kind() == wasmtime.KindI64 {
			vals[i] = int64(args[i])
		} else {
			vals[i] = int32(uint32(args[i]))
		}
	}
	out, err := f.Call(g.store, vals...)
	if err = g.env.Resolve(err); err != nil {
		return 0, err
	}
	if v, ok := out.(int32); ok {
		return wasix.Errno(uint32(v)), nil
	}
	return 0, nil
}

// memory returns the guest's memory bytes, nil without a memory.
func (g *ihGuest) memory() []byte {
	ex := g.inst.GetExport(g.store, "memory")
	if ex == nil || ex.Memory() == nil {
		return nil
	}
	return ex.Memory().UnsafeData(g.store)
}

// fill sets every byte of guest memory to the mask and then writes the
// given strings at their offsets.
func (g *ihGuest) fill(mask byte, at map[uint64]string) {
	mem := g.memory()
	for i := range mem {
		mem[i] = mask
	}
	for off, s := range at {
		copy(mem[off:], s)
	}
}
