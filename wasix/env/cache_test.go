package env

import (
	"fmt"
	"testing"

	"github.com/bytecodealliance/wasmtime-go/v25"
)

// A guest registering ever-new names must not grow the handler cache
// without bound; real handlers stay cached.
func TestHandlerCacheIsBounded(t *testing.T) {
	engine := wasmtime.NewEngine()
	wasm, err := wasmtime.Wat2Wasm(`(module (memory (export "memory") 1)
	  (func (export "h") (param i32)) (func (export "g") (param i32)))`)
	if err != nil {
		t.Fatal(err)
	}
	module, err := wasmtime.NewModule(engine, wasm)
	if err != nil {
		t.Fatal(err)
	}
	store := wasmtime.NewStore(engine)
	e := New(store, Config{})
	defer e.Close()
	inst, err := wasmtime.NewInstance(store, module, nil)
	if err != nil {
		t.Fatal(err)
	}
	e.Bind(inst)
	for i := 0; i < 10*maxCachedMisses; i++ {
		if found, err := e.Register(store, []byte(fmt.Sprintf("missing%d", i))); found || err != nil {
			t.Fatalf("missing%d: found=%v err=%v", i, found, err)
		}
	}
	for _, name := range []string{"h", "g", "h"} {
		if found, err := e.Register(store, []byte(name)); !found || err != nil {
			t.Fatalf("%s: found=%v err=%v", name, found, err)
		}
	}
	if n := len(e.handlers); n > maxCachedMisses+2 {
		t.Errorf("cache holds %d entries", n)
	}
	if !e.handlers["h"].ok() || !e.handlers["g"].ok() {
		t.Error("handlers must stay cached")
	}
}
