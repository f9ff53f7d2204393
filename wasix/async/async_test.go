package async_test

import (
	"testing"
	"time"

	"github.com/bytecodealliance/wasmtime-go/v25"
	"github.com/wasix-org/wasix-signals-go/wasix"
	"github.com/wasix-org/wasix-signals-go/wasix/async"
	"github.com/wasix-org/wasix-signals-go/wasix/env"
	wasixsignal "github.com/wasix-org/wasix-signals-go/wasix/signal"
)

// spinner registers a handler that sets a flag, then spins in wasm with no
// host call until the flag is set.
const spinner = `(module
  (import "wasix_32v1" "callback_signal" (func $cb (param i32 i32)))
  (memory (export "memory") 1)
  (data (i32.const 0) "__wasm_signal")
  (global $got (mut i32) (i32.const 0))
  (func (export "__wasm_signal") (param i32) (global.set $got (local.get 0)))
  (func (export "_start")
    (call $cb (i32.const 0) (i32.const 13))
    (loop (br_if 0 (i32.eqz (global.get $got))))))`

func setup(t *testing.T) (*wasmtime.Engine, *wasmtime.Store, *env.WasiEnv, *wasmtime.Func) {
	t.Helper()
	cfg := wasmtime.NewConfig()
	cfg.SetEpochInterruption(true)
	engine := wasmtime.NewEngineWithConfig(cfg)
	linker := wasmtime.NewLinker(engine)
	if err := wasixsignal.Install(linker); err != nil {
		t.Fatal(err)
	}
	wasm, err := wasmtime.Wat2Wasm(spinner)
	if err != nil {
		t.Fatal(err)
	}
	module, err := wasmtime.NewModule(engine, wasm)
	if err != nil {
		t.Fatal(err)
	}
	store := wasmtime.NewStore(engine)
	e := env.New(store, env.Config{})
	t.Cleanup(func() { e.Close(); store.Close() })
	store.SetEpochDeadline(1 << 62)
	inst, err := linker.Instantiate(store, module)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Bind(inst); err != nil {
		t.Fatal(err)
	}
	return engine, store, e, inst.GetFunc(store, "_start")
}

// A signal sent from another goroutine reaches a guest spinning in wasm:
// its handler runs and the guest carries on to its normal end.
func TestSpinningGuestGetsSignal(t *testing.T) {
	engine, store, e, start := setup(t)
	d, err := async.Enable(engine, store, e)
	if err != nil {
		t.Skipf("asynchronous delivery unavailable here: %v", err)
	}
	defer d.Close()
	go func() {
		for {
			if _, found := e.Handler(); found {
				break
			}
			time.Sleep(time.Millisecond)
		}
		_ = e.Signal(wasix.SIGUSR2)
	}()
	done := make(chan error, 1)
	go func() { _, err := start.Call(store); done <- err }()
	select {
	case err := <-done:
		if err := e.Resolve(err); err != nil {
			t.Fatalf("outcome %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the spinning guest never got its signal")
	}
	if c := e.Counters(); c.Delivered != 1 {
		t.Errorf("counters %+v", c)
	}
	if d.Calls() == 0 {
		t.Error("the epoch callback never entered Go")
	}
}

// SIGKILL ends a spinning guest whose handler ignores everything.
func TestSpinningGuestKilled(t *testing.T) {
	engine, store, e, start := setup(t)
	d, err := async.Enable(engine, store, e)
	if err != nil {
		t.Skipf("asynchronous delivery unavailable here: %v", err)
	}
	defer d.Close()
	go func() {
		time.Sleep(20 * time.Millisecond)
		_ = e.Signal(wasix.SIGKILL)
	}()
	_, err = start.Call(store)
	if status, ok := wasix.ExitStatus(e.Resolve(err)); !ok || status != 137 {
		t.Fatalf("outcome %v, want exit 137", e.Resolve(err))
	}
}

// Close on a nil Delivery (Enable failed) is a no-op, and Close twice is
// harmless.
func TestCloseNil(t *testing.T) {
	var d *async.Delivery
	d.Close()
	engine, store, e, _ := setup(t)
	d, err := async.Enable(engine, store, e)
	if err != nil {
		t.Skip(err)
	}
	d.Close()
	d.Close()
}
