package env_test

import (
	"errors"
	"fmt"

	"github.com/bytecodealliance/wasmtime-go/v25"
	"github.com/wasix-org/wasix-signals-go/wasix"
	"github.com/wasix-org/wasix-signals-go/wasix/env"
	wasixsignal "github.com/wasix-org/wasix-signals-go/wasix/signal" // not to clash with os/signal
)

// Signals sent from Go, from any goroutine, wait for the guest's next safe
// point; with no handler registered the default action applies.
func ExampleWasiEnv_Signal() {
	engine := wasmtime.NewEngine()
	linker := wasmtime.NewLinker(engine)
	if err := wasixsignal.Install(linker); err != nil {
		panic(err)
	}
	wasm, _ := wasmtime.Wat2Wasm(`(module
	  (import "wasix_32v1" "thread_sleep" (func $sleep (param i64) (result i32)))
	  (func (export "_start") (drop (call $sleep (i64.const 60000000000)))))`)
	module, _ := wasmtime.NewModule(engine, wasm)
	store := wasmtime.NewStore(engine)
	proc := env.New(store, env.Config{})
	defer proc.Close()
	inst, _ := linker.Instantiate(store, module)
	proc.Bind(inst)

	go func() {
		if err := proc.Signal(wasix.SIGTERM); err != nil {
			panic(err)
		}
	}()
	_, err := inst.GetFunc(store, "_start").Call(store)
	err = proc.Resolve(err)
	var exit *wasix.ExitError
	if errors.As(err, &exit) {
		fmt.Println("exit status", exit.Status, "signal", exit.Signal)
	}
	// Output:
	// exit status 143 signal SIGTERM
}
