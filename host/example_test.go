package host_test

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/bytecodealliance/wasmtime-go/v25"
	"github.com/wasix-org/wasix-signals-go/host"
	"github.com/wasix-org/wasix-signals-go/wasix"
	"github.com/wasix-org/wasix-signals-go/wasix/async"
	"github.com/wasix-org/wasix-signals-go/wasix/env"
	"github.com/wasix-org/wasix-signals-go/wasix/fd"
	"github.com/wasix-org/wasix-signals-go/wasix/stack"
)

// sleeper says hello, then sleeps for a minute in thread_sleep.
const sleeper = `(module
  (import "wasix_32v1" "fd_write" (func $write (param i32 i32 i32 i32) (result i32)))
  (import "wasix_32v1" "thread_sleep" (func $sleep (param i64) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 32) "hello\n")
  (func (export "_start")
    (i32.store (i32.const 16) (i32.const 32)) (i32.store (i32.const 20) (i32.const 6))
    (drop (call $write (i32.const 1) (i32.const 16) (i32.const 1) (i32.const 24)))
    (drop (call $sleep (i64.const 60000000000)))))`

// Run a program on a Runtime: cancelling its context sends SIGTERM, whose
// default action ends the sleeping guest with status 143.
func Example() {
	rt, err := host.NewRuntime(host.Options{})
	if err != nil {
		panic(err)
	}
	defer rt.Close()
	m, err := rt.Compile([]byte(sleeper)) // wasm or text; wasix-libc binaries are adapted
	if err != nil {
		panic(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	p, err := rt.Start(ctx, m, host.Config{Args: []string{"sleeper"}})
	if err != nil {
		panic(err)
	}
	time.Sleep(50 * time.Millisecond)
	cancel()
	err = p.Wait()
	fmt.Println(err)
	fmt.Println("exit status", host.ExitCode(err))
	// Output:
	// hello
	// wasix: terminated by SIGTERM (exit status 143)
	// exit status 143
}

// libcLike is shaped like a wasix-libc binary: it imports its memory, calls
// preview1 functions under wasix_32v1, registers __wasm_signal, and imports
// a function nobody defines. It spins in wasm until a signal arrives, then
// exits with what the unknown import answered (52, ENOSYS).
const libcLike = `(module
  (import "env" "memory" (memory 1 65536 shared))
  (import "wasix_32v1" "callback_signal" (func $cb (param i32 i32)))
  (import "wasix_32v1" "fd_write" (func $write (param i32 i32 i32 i32) (result i32)))
  (import "wasix_32v1" "proc_exit" (func $exit (param i32)))
  (import "wasix_32v1" "sock_frobnicate" (func $unknown (result i32)))
  (data (i32.const 0) "__wasm_signal")
  (data (i32.const 32) "got a signal\n")
  (global $got (mut i32) (i32.const 0))
  (func (export "__wasm_signal") (param i32)
    (i32.store (i32.const 16) (i32.const 32)) (i32.store (i32.const 20) (i32.const 13))
    (drop (call $write (i32.const 1) (i32.const 16) (i32.const 1) (i32.const 24)))
    (global.set $got (i32.const 1)))
  (func (export "_start")
    (call $cb (i32.const 0) (i32.const 13))
    (loop (br_if 0 (i32.eqz (global.get $got))))
    (call $exit (call $unknown))))`

// The plugin path: every WASIX import installed into your own Linker, the
// program run in your own Store by your own call of _start. A guest
// spinning in pure wasm still gets its signal (async.Enable).
func Example_plugin() {
	engine := wasmtime.NewEngineWithConfig(host.NewEngineConfig()) // epochs and threads on
	linker := wasmtime.NewLinker(engine)                           // yours, with your own imports
	rt, err := host.NewRuntime(host.Options{Engine: engine, EpochInterruption: true, Linker: linker})
	if err != nil {
		panic(err)
	}
	defer rt.Close()
	m, err := rt.Compile([]byte(libcLike)) // bytes in, adapted module out
	if err != nil {
		panic(err)
	}
	fmt.Println("imported memory made exported:", m.Report.MemoryImported && m.Report.MemoryExported)

	store := wasmtime.NewStore(engine)
	defer store.Close()
	store.SetWasi(wasmtime.NewWasiConfig()) // without it the first WASI call aborts the process
	proc := env.New(store, env.Config{})    // per Store, before it runs
	defer proc.Close()
	streams, err := fd.New(proc, fd.Config{Files: map[int32]*os.File{1: os.Stdout}}) // waits a signal interrupts
	if err != nil {
		panic(err)
	}
	defer streams.Close()
	delivery, err := async.Enable(engine, store, proc) // signals reach a guest spinning in wasm
	if err != nil {
		panic(err)
	}
	defer delivery.Close()
	inst, err := rt.Instantiate(store, m) // stubs for imports nobody defines
	if err != nil {
		panic(err)
	}
	if err := proc.Bind(inst); err != nil {
		panic(err)
	}
	go func() {
		time.Sleep(20 * time.Millisecond)
		proc.Signal(wasix.SIGUSR1) // from any goroutine
	}()
	err = proc.Resolve(stack.Run(store, inst, "_start")) // _start, with the setjmp/longjmp driver
	fmt.Println(err)
	// Output:
	// imported memory made exported: true
	// got a signal
	// wasix: exit status 52
}
