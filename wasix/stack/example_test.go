package stack_test

import (
	"fmt"
	"log"

	"github.com/bytecodealliance/wasmtime-go/v25"
	"github.com/wasix-org/wasix-signals-go/wasix/env"
	"github.com/wasix-org/wasix-signals-go/wasix/stack"
)

// An embedder that calls _start itself runs it through stack.Run, so that
// the guest's setjmp and longjmp work. testdata/jumps.wasm (from
// jumps.wat, through wasm-opt --asyncify) calls setjmp once, then longjmps
// back to it three times with 1, 2 and 3; each return of setjmp counts.
func ExampleRun() {
	engine := wasmtime.NewEngine()
	linker := wasmtime.NewLinker(engine)
	if err := stack.Install(linker); err != nil {
		log.Fatal(err)
	}
	module, err := wasmtime.NewModuleFromFile(engine, "testdata/jumps.wasm")
	if err != nil {
		log.Fatal(err)
	}
	store := wasmtime.NewStore(engine)
	defer store.Close()
	e := env.New(store, env.Config{})
	defer e.Close()
	inst, err := linker.Instantiate(store, module)
	if err != nil {
		log.Fatal(err)
	}
	e.Bind(inst)

	err = stack.Run(store, inst, "_start")
	fmt.Println("outcome:", e.Resolve(err))

	count := inst.GetExport(store, "count").Global().Get(store).I32()
	last := inst.GetExport(store, "last").Global().Get(store).I32()
	fmt.Printf("setjmp returned %d times, last with %d\n", count, last)
	// Output:
	// outcome: <nil>
	// setjmp returned 4 times, last with 3
}
