package fd_test

import (
	"fmt"
	"os"
	"time"

	"github.com/bytecodealliance/wasmtime-go/v25"
	"github.com/wasix-org/wasix-signals-go/wasix"
	"github.com/wasix-org/wasix-signals-go/wasix/env"
	"github.com/wasix-org/wasix-signals-go/wasix/fd"
	wasixsignal "github.com/wasix-org/wasix-signals-go/wasix/signal"
)

// reader reads its standard input once, as a program blocked at a prompt.
const reader = `(module
  (import "wasix_32v1" "fd_read" (func $read (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (func (export "_start")
    (i32.store (i32.const 0) (i32.const 1024))
    (i32.store (i32.const 4) (i32.const 100))
    (drop (call $read (i32.const 0) (i32.const 0) (i32.const 1) (i32.const 8)))))`

// On an embedder's own Linker: install the descriptor layer after WASI and
// the signal imports, and give each Store's env a Table owning its
// standard input. A guest waiting for input then ends on SIGINT, which
// wasmtime's own fd_read would never let happen.
func Example() {
	engine := wasmtime.NewEngine()
	linker := wasmtime.NewLinker(engine)
	if err := linker.DefineWasi(); err != nil {
		panic(err)
	}
	if err := wasixsignal.Install(linker); err != nil {
		panic(err)
	}
	if err := fd.Install(linker, engine); err != nil {
		panic(err)
	}

	wasm, _ := wasmtime.Wat2Wasm(reader)
	module, _ := wasmtime.NewModule(engine, wasm)
	store := wasmtime.NewStore(engine)
	defer store.Close()
	store.SetWasi(wasmtime.NewWasiConfig())
	proc := env.New(store, env.Config{})
	defer proc.Close()

	stdin, w, _ := os.Pipe() // nobody writes: the read waits
	defer stdin.Close()
	defer w.Close()
	table, err := fd.New(proc, fd.Config{Files: map[int32]*os.File{0: stdin}})
	if err != nil {
		panic(err)
	}
	defer table.Close()

	inst, err := linker.Instantiate(store, module)
	if err != nil {
		panic(err)
	}
	proc.Bind(inst)
	go func() {
		time.Sleep(50 * time.Millisecond)
		proc.Signal(wasix.SIGINT) // from any goroutine
	}()
	_, err = inst.GetFunc(store, "_start").Call(store)
	fmt.Println(proc.Resolve(err))
	// Output:
	// wasix: terminated by SIGINT (exit status 130)
}
