package signal_test

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bytecodealliance/wasmtime-go/v25"
	"github.com/wasix-org/wasix-signals-go/wasix"
	"github.com/wasix-org/wasix-signals-go/wasix/env"
	"github.com/wasix-org/wasix-signals-go/wasix/signal"
)

// One engine and one Linker serve every guest of these tests: the imports
// must find each Store's WasiEnv from the Caller.
var (
	sharedOnce   sync.Once
	sharedEngine *wasmtime.Engine
	sharedLinker *wasmtime.Linker
	guests       sync.Map // *env.WasiEnv -> *guest
)

func linker(t testing.TB) (*wasmtime.Engine, *wasmtime.Linker) {
	sharedOnce.Do(func() {
		sharedEngine = wasmtime.NewEngine()
		l := wasmtime.NewLinker(sharedEngine)
		if err := l.DefineWasi(); err != nil {
			panic(err)
		}
		if err := signal.Install(l); err != nil {
			panic(err)
		}
		logTy := wasmtime.NewFuncType([]*wasmtime.ValType{wasmtime.NewValType(wasmtime.KindI32)}, nil)
		err := l.FuncNew("test", "log", logTy, func(c *wasmtime.Caller, a []wasmtime.Val) ([]wasmtime.Val, *wasmtime.Trap) {
			g, _ := guests.Load(env.Lookup(c))
			g.(*guest).record(a[0].I32())
			return nil, nil
		})
		if err != nil {
			panic(err)
		}
		// test.safepoint is an embedder function made a safe point.
		err = l.FuncNew("test", "safepoint", wasmtime.NewFuncType(nil, nil), signal.SafePoint(
			func(*wasmtime.Caller, []wasmtime.Val) ([]wasmtime.Val, *wasmtime.Trap) { return nil, nil }))
		if err != nil {
			panic(err)
		}
		sharedLinker = l
	})
	return sharedEngine, sharedLinker
}

// prelude declares every import and the fixed data the guests use:
//
//	0   "__wasm_signal" (13)        32  "__wasm_signal_blocked" (21)
//	64  "other_handler" (13)        96  "wrong_type" (10)
//	112 "memory" (6)                128 "\ff\fe" (invalid UTF-8, 2)
//	144 "a_global" (8)              160 "" (empty)
//	176 "__wasm_signal\00x" (15)    200 "no_params" (9)
const prelude = `
  (import "wasix_32v1" "callback_signal" (func $cb (param i32 i32)))
  (import "wasix_32v1" "proc_raise" (func $raise (param i32) (result i32)))
  (import "wasix_32v1" "thread_signal" (func $tsig (param i32 i32) (result i32)))
  (import "wasix_32v1" "proc_signal" (func $psig (param i32 i32) (result i32)))
  (import "wasix_32v1" "proc_raise_interval" (func $interval (param i32 i64 i32) (result i32)))
  (import "wasix_32v1" "proc_raise_interval2" (func $itimer (param i32 i32 i32) (result i32)))
  (import "wasix_32v1" "proc_signals_sizes_get" (func $sizes (param i32) (result i32)))
  (import "wasix_32v1" "proc_signals_get" (func $sigget (param i32) (result i32)))
  (import "wasix_32v1" "thread_id" (func $tid (param i32) (result i32)))
  (import "wasix_32v1" "proc_id" (func $pid (param i32) (result i32)))
  (import "wasix_32v1" "thread_sleep" (func $sleep (param i64) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
  (import "wasi_snapshot_preview1" "proc_raise" (func $p1raise (param i32) (result i32)))
  (import "test" "log" (func $log (param i32)))
  (import "test" "safepoint" (func $safepoint))
  (memory (export "memory") 1)
  (data (i32.const 0) "__wasm_signal")
  (data (i32.const 32) "__wasm_signal_blocked")
  (data (i32.const 64) "other_handler")
  (data (i32.const 96) "wrong_type")
  (data (i32.const 112) "memory")
  (data (i32.const 128) "\ff\fe")
  (data (i32.const 144) "a_global")
  (data (i32.const 176) "__wasm_signal\00x")
  (data (i32.const 200) "no_params")
  (global (export "a_global") i32 (i32.const 0))
  (global $depth (mut i32) (i32.const 0))
  (func (export "other_handler") (param i32) (call $log (i32.add (local.get 0) (i32.const 100))))
  (func (export "wrong_type") (param i32) (result i32) (local.get 0))
  (func (export "no_params"))
  (func $reg (call $cb (i32.const 0) (i32.const 13)))
  (func $block (call $cb (i32.const 32) (i32.const 21)))
  (func $other (call $cb (i32.const 64) (i32.const 13)))
  (func (export "reg") (param i32 i32) (call $cb (local.get 0) (local.get 1)))
  (func (export "safe") (call $safepoint))
`

// logHandler is the default __wasm_signal body: it logs the signal.
const logHandler = `(call $log (local.get 0))`

type guest struct {
	t     testing.TB
	env   *env.WasiEnv
	store *wasmtime.Store
	inst  *wasmtime.Instance
	logs  *logRecorder

	mu     sync.Mutex
	events []int32
	cond   *sync.Cond
}

func (g *guest) record(v int32) {
	g.mu.Lock()
	g.events = append(g.events, v)
	g.cond.Broadcast()
	g.mu.Unlock()
}

// Events returns what the guest logged so far.
func (g *guest) Events() []int32 {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]int32(nil), g.events...)
}

// waitEvent waits until the guest has logged v.
func (g *guest) waitEvent(v int32) {
	g.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	g.mu.Lock()
	defer g.mu.Unlock()
	for {
		for _, e := range g.events {
			if e == v {
				return
			}
		}
		if time.Now().After(deadline) {
			g.t.Fatalf("guest never logged %d; events %v", v, g.events)
		}
		g.mu.Unlock()
		time.Sleep(time.Millisecond)
		g.mu.Lock()
	}
}

type guestOpts struct {
	cfg     env.Config
	handler string // body of __wasm_signal (param i32); logHandler if empty
	body    string // body of the exported "run" function
	extra   string // more module fields
}

// newGuest compiles the prelude plus opts into a module, instantiates it in
// a new Store with a WasiEnv, and binds it.
func newGuest(t testing.TB, o guestOpts) *guest {
	t.Helper()
	engine, l := linker(t)
	if o.handler == "" {
		o.handler = logHandler
	}
	wat := "(module " + prelude +
		"\n(func (export \"__wasm_signal\") (param i32) " + o.handler + ")" +
		"\n(func (export \"run\") " + o.body + ")\n" + o.extra + ")"
	wasm, err := wasmtime.Wat2Wasm(wat)
	if err != nil {
		t.Fatalf("wat: %v\n%s", err, wat)
	}
	module, err := wasmtime.NewModule(engine, wasm)
	if err != nil {
		t.Fatal(err)
	}
	store := wasmtime.NewStore(engine)
	store.SetWasi(wasmtime.NewWasiConfig())
	logs := &logRecorder{}
	if o.cfg.Logger == nil {
		o.cfg.Logger = slog.New(logs)
	}
	g := &guest{t: t, store: store, logs: logs}
	g.cond = sync.NewCond(&g.mu)
	g.env = env.New(store, o.cfg)
	guests.Store(g.env, g)
	t.Cleanup(func() {
		g.env.Close()
		guests.Delete(g.env)
	})
	g.inst, err = l.Instantiate(store, module)
	if err != nil {
		t.Fatal(err)
	}
	g.env.Bind(g.inst)
	return g
}

// call runs an export and returns the process outcome (env.Resolve).
// It does not touch g.t, so fuzz targets may use it.
func (g *guest) call(name string, args ...interface{}) error {
	f := g.inst.GetFunc(g.store, name)
	if f == nil {
		return fmt.Errorf("no export %q", name)
	}
	_, err := f.Call(g.store, args...)
	return g.env.Resolve(err)
}

func (g *guest) run() error { return g.call("run") }

// exitStatus describes an outcome for comparisons: "ok", "exit N",
// "exit N by SIG", "trap in SIG: ...".
func outcome(err error) string {
	switch e := err.(type) {
	case nil:
		return "ok"
	case *wasix.ExitError:
		if e.Signal != 0 {
			return fmt.Sprintf("exit %d by %v", e.Status, e.Signal)
		}
		return fmt.Sprintf("exit %d", e.Status)
	case *wasix.HandlerTrapError:
		return fmt.Sprintf("trap in %v", e.Signal)
	}
	return "error: " + err.Error()
}

// logRecorder is a slog.Handler that keeps every record at every level.
type logRecorder struct {
	mu      sync.Mutex
	records []logLine
}

type logLine struct {
	Level slog.Level
	Msg   string
	Attrs map[string]string
}

func (r *logRecorder) Enabled(context.Context, slog.Level) bool { return true }
func (r *logRecorder) Handle(_ context.Context, rec slog.Record) error {
	l := logLine{Level: rec.Level, Msg: rec.Message, Attrs: map[string]string{}}
	rec.Attrs(func(a slog.Attr) bool {
		l.Attrs[a.Key] = a.Value.String()
		return true
	})
	r.mu.Lock()
	r.records = append(r.records, l)
	r.mu.Unlock()
	return nil
}
func (r *logRecorder) WithAttrs([]slog.Attr) slog.Handler { return r }
func (r *logRecorder) WithGroup(string) slog.Handler      { return r }

func (l logLine) String() string { return fmt.Sprintf("%v %q %v", l.Level, l.Msg, l.Attrs) }

func (r *logRecorder) reset() {
	r.mu.Lock()
	r.records = nil
	r.mu.Unlock()
}

// all returns every record so far.
func (r *logRecorder) all() []logLine {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]logLine(nil), r.records...)
}

// find returns the records whose message contains substr.
func (r *logRecorder) find(substr string) []logLine {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []logLine
	for _, l := range r.records {
		if strings.Contains(l.Msg, substr) {
			out = append(out, l)
		}
	}
	return out
}
