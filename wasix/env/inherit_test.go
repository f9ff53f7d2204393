package env_test

import (
	"testing"

	"github.com/bytecodealliance/wasmtime-go/v25"
	"github.com/google/go-cmp/cmp"
	"github.com/wasix-org/wasix-signals-go/wasix"
	"github.com/wasix-org/wasix-signals-go/wasix/env"
)

// boundGuest instantiates a module exporting the handler "h" (it records
// the signal in global "got") in a new store with a bound env.
func boundGuest(t *testing.T, engine *wasmtime.Engine, module *wasmtime.Module) (*wasmtime.Store, *env.WasiEnv, *wasmtime.Instance) {
	t.Helper()
	store := wasmtime.NewStore(engine)
	e := env.New(store, env.Config{})
	t.Cleanup(func() { e.Close(); store.Close() })
	inst, err := wasmtime.NewInstance(store, module, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Bind(inst); err != nil {
		t.Fatal(err)
	}
	return store, e, inst
}

func handlerModule(t *testing.T, engine *wasmtime.Engine) *wasmtime.Module {
	t.Helper()
	wasm, err := wasmtime.Wat2Wasm(`(module (memory (export "memory") 1)
	  (global (export "got") (mut i32) (i32.const 0))
	  (func (export "h") (param i32) (global.set 0 (local.get 0))))`)
	if err != nil {
		t.Fatal(err)
	}
	m, err := wasmtime.NewModule(engine, wasm)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TestInherit: a forked child's env gets the parent's registration, looked
// up in its own instance: the handler that runs is the child's.
func TestInherit(t *testing.T) {
	engine := wasmtime.NewEngine()
	m := handlerModule(t, engine)
	ps, parent, _ := boundGuest(t, engine, m)
	if _, err := parent.Register(ps, []byte("h")); err != nil {
		t.Fatal(err)
	}
	cs, child, ci := boundGuest(t, engine, m)
	child.Inherit(parent.Registration())
	if set, found := child.Handler(); !set || !found {
		t.Fatalf("child: set %v found %v, want both", set, found)
	}
	if err := child.Raise(cs, wasix.SIGUSR2); err != nil {
		t.Fatal(err)
	}
	if got := ci.GetExport(cs, "got").Global().Get(cs).I32(); got != int32(wasix.SIGUSR2) {
		t.Errorf("child's handler saw %d, want %d", got, wasix.SIGUSR2)
	}
	// Blocked in the parent (a name that is no handler): blocked in the child.
	if _, err := parent.Register(ps, []byte("__blocked")); err != nil {
		t.Fatal(err)
	}
	_, child2, _ := boundGuest(t, engine, m)
	child2.Inherit(parent.Registration())
	set, found := child2.Handler()
	if diff := cmp.Diff([2]bool{true, false}, [2]bool{set, found}); diff != "" {
		t.Errorf("blocked child (-want +got):\n%s", diff)
	}
}

// TestExec: exec rebinds the env to the new instance and resets handled
// signals to their default, keeps a blocked delivery blocked, and keeps
// pending signals pending.
func TestExec(t *testing.T) {
	engine := wasmtime.NewEngine()
	m := handlerModule(t, engine)
	for _, blocked := range []bool{false, true} {
		store, e, _ := boundGuest(t, engine, m)
		if _, err := e.Register(store, []byte("h")); err != nil {
			t.Fatal(err)
		}
		if blocked {
			if _, err := e.Register(store, []byte("__blocked")); err != nil {
				t.Fatal(err)
			}
			if err := e.Raise(store, wasix.SIGUSR1); err != nil {
				t.Fatal(err)
			}
		}
		inst, err := wasmtime.NewInstance(store, m, nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := e.Exec(inst, m); err != nil {
			t.Fatal(err)
		}
		set, found := e.Handler()
		if diff := cmp.Diff([2]bool{blocked, false}, [2]bool{set, found}); diff != "" {
			t.Errorf("blocked %v: registration after exec (-want +got):\n%s", blocked, diff)
		}
		if got := e.Pending(wasix.SIGUSR1); got != blocked {
			t.Errorf("blocked %v: SIGUSR1 pending %v", blocked, got)
		}
		if e.Instance() != inst {
			t.Errorf("blocked %v: env not bound to the new instance", blocked)
		}
		inst.GetExport(store, "memory").Memory().UnsafeData(store)[0] = 42
		if b, ok := e.Read(store, 0, 1); !ok || b[0] != 42 {
			t.Errorf("blocked %v: env reads %v, not the new instance's memory", blocked, b)
		}
		if blocked {
			// The new program registers its handler: the pending signal
			// reaches the new instance's handler.
			if _, err := e.Register(store, []byte("h")); err != nil {
				t.Fatal(err)
			}
			if got := inst.GetExport(store, "got").Global().Get(store).I32(); got != int32(wasix.SIGUSR1) {
				t.Errorf("new program's handler saw %d, want %d", got, wasix.SIGUSR1)
			}
		}
	}
}
