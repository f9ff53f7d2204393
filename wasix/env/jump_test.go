package env_test

import (
	"errors"
	"testing"

	"github.com/bytecodealliance/wasmtime-go/v25"
	"github.com/google/go-cmp/cmp"
	"github.com/wasix-org/wasix-signals-go/wasix"
	"github.com/wasix-org/wasix-signals-go/wasix/env"
)

// handlerGuest has a handler "h" that records the signal in global "got"
// and, for SIGUSR2, calls the import test.leave, which traps after calling
// BeginJump when jump is set (as stack_restore does).
func handlerGuest(t *testing.T, jump bool) (*wasmtime.Store, *env.WasiEnv, *wasmtime.Instance) {
	t.Helper()
	engine := wasmtime.NewEngine()
	wasm, err := wasmtime.Wat2Wasm(`(module (import "test" "leave" (func $leave))
	  (memory (export "memory") 1)
	  (global (export "got") (mut i32) (i32.const 0))
	  (func (export "h") (param i32)
	    (global.set 0 (local.get 0))
	    (if (i32.eq (local.get 0) (i32.const 12)) (then (call $leave)))))`)
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
	leave := wasmtime.NewFunc(store, wasmtime.NewFuncType(nil, nil),
		func(*wasmtime.Caller, []wasmtime.Val) ([]wasmtime.Val, *wasmtime.Trap) {
			if jump {
				e.BeginJump()
			}
			return nil, wasmtime.NewTrap("leaving")
		})
	inst, err := wasmtime.NewInstance(store, module, []wasmtime.AsExtern{leave})
	if err != nil {
		t.Fatal(err)
	}
	e.Bind(inst)
	if found, err := e.Register(store, []byte("h")); !found || err != nil {
		t.Fatalf("Register: %v %v", found, err)
	}
	return store, e, inst
}

// TestSuspendDelivery: while suspended no handler runs and the process
// needs no attention; SIGKILL still ends it; resuming delivers what waited.
func TestSuspendDelivery(t *testing.T) {
	store, e, inst := handlerGuest(t, false)
	got := func() int32 { return inst.GetExport(store, "got").Global().Get(store).I32() }
	e.SuspendDelivery()
	if err := e.Signal(wasix.SIGUSR1); err != nil {
		t.Fatal(err)
	}
	if err := e.ProcessSignals(store); err != nil || got() != 0 || e.Attention() || !e.DeliverySuspended() {
		t.Fatalf("suspended: err %v, handler got %d, attention %v, suspended %v; want nil, 0, false, true",
			err, got(), e.Attention(), e.DeliverySuspended())
	}
	e.ResumeDelivery()
	if err := e.ProcessSignals(store); err != nil || got() != int32(wasix.SIGUSR1) {
		t.Fatalf("resumed: err %v, handler got %d; want nil, 10", err, got())
	}

	e.SuspendDelivery()
	if err := e.Signal(wasix.SIGKILL); err != nil {
		t.Fatal(err)
	}
	err := e.ProcessSignals(store)
	if status, ok := wasix.ExitStatus(err); !ok || status != 137 {
		t.Fatalf("SIGKILL while suspended: %v, want exit status 137", err)
	}
}

// TestJumpPassesThrough: an error out of a handler that began a jump
// passes through ProcessSignals unchanged, with nothing recorded, and
// delivery stays suspended until ResumeDelivery; without a jump the same
// trap is a handler trap that ends the process.
func TestJumpPassesThrough(t *testing.T) {
	for _, jump := range []bool{true, false} {
		store, e, inst := handlerGuest(t, jump)
		if err := e.Signal(wasix.SIGUSR2); err != nil {
			t.Fatal(err)
		}
		err := e.ProcessSignals(store)
		var hte *wasix.HandlerTrapError
		got := []bool{err != nil, errors.As(err, &hte), e.Exited() != nil, e.DeliverySuspended()}
		want := []bool{true, !jump, !jump, jump}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("jump %v: error, handler trap, exit recorded, suspended (-want +got):\n%s\nerror: %v", jump, diff, err)
		}
		if !jump {
			continue
		}
		e.ResumeDelivery()
		if err := e.Signal(wasix.SIGUSR1); err != nil {
			t.Fatal(err)
		}
		if err := e.ProcessSignals(store); err != nil || inst.GetExport(store, "got").Global().Get(store).I32() != 10 {
			t.Errorf("after the jump: %v, handler not called with 10", err)
		}
	}
}
