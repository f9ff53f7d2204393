package signal_test

import (
	"fmt"

	"github.com/bytecodealliance/wasmtime-go/v25"
	"github.com/wasix-org/wasix-signals-go/wasix"
	"github.com/wasix-org/wasix-signals-go/wasix/env"
	wasixsignal "github.com/wasix-org/wasix-signals-go/wasix/signal" // not to clash with os/signal
)

// A guest that registers its handler, raises SIGUSR1 (the handler runs
// before proc_raise returns), then raises SIGTERM with the handler blocked
// and reports what it saw through the host function "host.print".
const exampleGuest = `(module
  (import "wasix_32v1" "callback_signal" (func $callback_signal (param i32 i32)))
  (import "wasix_32v1" "proc_raise" (func $proc_raise (param i32) (result i32)))
  (import "host" "print" (func $print (param i32)))
  (memory (export "memory") 1)
  (data (i32.const 0) "on_signal")
  (func (export "on_signal") (param $sig i32) (call $print (local.get $sig)))
  (func (export "_start")
    (call $callback_signal (i32.const 0) (i32.const 9))
    (drop (call $proc_raise (i32.const 10)))
    (drop (call $proc_raise (i32.const 15)))))`

// Install the signal imports into a Linker once; every Store gets an
// env.WasiEnv before it runs.
func Example() {
	engine := wasmtime.NewEngine()
	linker := wasmtime.NewLinker(engine)
	if err := linker.DefineWasi(); err != nil {
		panic(err)
	}
	if err := wasixsignal.Install(linker); err != nil {
		panic(err)
	}
	printTy := wasmtime.NewFuncType([]*wasmtime.ValType{wasmtime.NewValType(wasmtime.KindI32)}, nil)
	err := linker.FuncNew("host", "print", printTy, func(c *wasmtime.Caller, a []wasmtime.Val) ([]wasmtime.Val, *wasmtime.Trap) {
		fmt.Println("handler got", wasix.Signal(a[0].I32()))
		return nil, nil
	})
	if err != nil {
		panic(err)
	}

	wasm, _ := wasmtime.Wat2Wasm(exampleGuest)
	module, _ := wasmtime.NewModule(engine, wasm)
	store := wasmtime.NewStore(engine)
	store.SetWasi(wasmtime.NewWasiConfig())
	proc := env.New(store, env.Config{})
	defer proc.Close()
	inst, err := linker.Instantiate(store, module)
	if err != nil {
		panic(err)
	}
	proc.Bind(inst)

	_, err = inst.GetFunc(store, "_start").Call(store)
	err = proc.Resolve(err)
	fmt.Println("outcome:", err)
	c := proc.Counters()
	fmt.Printf("raised %d, delivered %d\n", c.Raised, c.Delivered)
	// Output:
	// handler got SIGUSR1
	// handler got SIGTERM
	// outcome: <nil>
	// raised 2, delivered 2
}
