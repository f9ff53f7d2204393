package env_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/bytecodealliance/wasmtime-go/v25"
	"github.com/wasix-org/wasix-signals-go/wasix"
	"github.com/wasix-org/wasix-signals-go/wasix/env"
)

// An unknown Policy is refused, not run as one of the two: NewChecked
// returns ErrPolicy, New panics with it.
func TestUnknownPolicy(t *testing.T) {
	store := wasmtime.NewStore(wasmtime.NewEngine())
	defer store.Close()
	for _, p := range []wasix.Policy{wasix.PolicyDefault, wasix.PolicyWasmer} {
		e, err := env.NewChecked(store, env.Config{Policy: p})
		if err != nil {
			t.Fatalf("%v: %v", p, err)
		}
		e.Close()
	}
	if _, err := env.NewChecked(store, env.Config{Policy: 2}); !errors.Is(err, env.ErrPolicy) ||
		!strings.Contains(err.Error(), "Policy(2)") {
		t.Errorf("NewChecked with Policy(2): %v", err)
	}
	if env.Lookup(store) != nil {
		t.Error("a refused env was registered")
	}
	defer func() {
		if r := recover(); r == nil {
			t.Error("New accepted Policy(2)")
		} else if err, ok := r.(error); !ok || !errors.Is(err, env.ErrPolicy) {
			t.Errorf("New panicked with %v, want ErrPolicy", r)
		}
	}()
	env.New(store, env.Config{Policy: 2})
}

// Without any memory, even an empty range is not readable; with an empty
// memory it is.
func TestReadWithoutMemory(t *testing.T) {
	engine := wasmtime.NewEngine()
	for _, tc := range []struct {
		wat  string
		want bool
	}{
		{`(module)`, false},
		{`(module (memory (export "memory") 0))`, true},
		{`(module (memory (export "mem") 1))`, false},
	} {
		wasm, err := wasmtime.Wat2Wasm(tc.wat)
		if err != nil {
			t.Fatal(err)
		}
		module, err := wasmtime.NewModule(engine, wasm)
		if err != nil {
			t.Fatal(err)
		}
		store := wasmtime.NewStore(engine)
		inst, err := wasmtime.NewInstance(store, module, nil)
		if err != nil {
			t.Fatal(err)
		}
		e := env.New(store, env.Config{})
		e.BindModule(inst, module)
		if _, ok := e.Read(store, 0, 0); ok != tc.want {
			t.Errorf("%s: Read(0, 0) ok = %v, want %v (MemoryError %v)", tc.wat, ok, tc.want, e.MemoryError())
		}
		if (e.MemoryError() == nil) != tc.want {
			t.Errorf("%s: MemoryError %v", tc.wat, e.MemoryError())
		}
		e.Close()
		store.Close()
	}
}
