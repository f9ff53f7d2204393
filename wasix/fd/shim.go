package fd

import (
	"errors"
	"fmt"
	"sync"

	"github.com/bytecodealliance/wasmtime-go/v25"
	"github.com/wasix-org/wasix-signals-go/wasix"
	"github.com/wasix-org/wasix-signals-go/wasix/env"
)

// shimWat forwards calls to wasmtime's own WASI. A Go host function cannot
// call wasmtime's WASI functions directly (they find memory only through
// the calling instance's "memory" export), so this tiny module imports
// the guest's memory, exports it again, and calls WASI for it.
const shimWat = `(module
  (import "env" "memory" (memory 0))
  (import "wasi_snapshot_preview1" "fd_read" (func $read (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write" (func $write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "poll_oneoff" (func $poll (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_close" (func $close (param i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_renumber" (func $renumber (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_fdstat_get" (func $fdstat (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_fdstat_set_flags" (func $setflags (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "path_open"
    (func $open (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))
  (export "memory" (memory 0))
  (func (export "fd_read") (param i32 i32 i32 i32) (result i32)
    (call $read (local.get 0) (local.get 1) (local.get 2) (local.get 3)))
  (func (export "fd_write") (param i32 i32 i32 i32) (result i32)
    (call $write (local.get 0) (local.get 1) (local.get 2) (local.get 3)))
  (func (export "poll_oneoff") (param i32 i32 i32 i32) (result i32)
    (call $poll (local.get 0) (local.get 1) (local.get 2) (local.get 3)))
  (func (export "fd_close") (param i32) (result i32) (call $close (local.get 0)))
  (func (export "fd_renumber") (param i32 i32) (result i32)
    (call $renumber (local.get 0) (local.get 1)))
  (func (export "fd_fdstat_get") (param i32 i32) (result i32)
    (call $fdstat (local.get 0) (local.get 1)))
  (func (export "fd_fdstat_set_flags") (param i32 i32) (result i32)
    (call $setflags (local.get 0) (local.get 1)))
  (func (export "path_open") (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)
    (call $open (local.get 0) (local.get 1) (local.get 2) (local.get 3) (local.get 4)
      (local.get 5) (local.get 6) (local.get 7) (local.get 8))))`

// shimModules holds the compiled shim per engine (a module cannot be used
// with another engine).
var shimModules sync.Map // *wasmtime.Engine -> *shimModule

type shimModule struct {
	once sync.Once
	m    *wasmtime.Module
	err  error
}

// shims holds each process's shim instance.
var shims sync.Map // *env.WasiEnv -> *shim

type shim struct {
	funcs map[string]*wasmtime.Func
}

// forward calls wasmtime's WASI function name for process e.
func forward(c *wasmtime.Caller, e *env.WasiEnv, engine *wasmtime.Engine, name string, args ...any) (wasix.Errno, error) {
	s, err := shimFor(e, engine)
	if err != nil {
		e.Logger().Warn("wasmtime's WASI is unreachable for this call", "call", name, "error", err)
		return wasix.ENOTSUP, nil
	}
	res, err := s.funcs[name].Call(c, args...)
	if err != nil {
		return 0, err
	}
	return wasix.Errno(res.(int32)), nil
}

func shimFor(e *env.WasiEnv, engine *wasmtime.Engine) (*shim, error) {
	if s, ok := shims.Load(e); ok {
		return s.(*shim), nil
	}
	mem := e.Memory()
	if mem == nil {
		return nil, errors.New("fd: the guest has no memory bound yet")
	}
	v, _ := shimModules.LoadOrStore(engine, &shimModule{})
	sm := v.(*shimModule)
	sm.once.Do(func() {
		wasm, err := wasmtime.Wat2Wasm(shimWat)
		if err == nil {
			sm.m, err = wasmtime.NewModule(engine, wasm)
		}
		sm.err = err
	})
	if sm.err != nil {
		return nil, fmt.Errorf("fd: compile the WASI shim: %w", sm.err)
	}
	// A Linker of its own: defining this store's memory binds it to the store.
	l := wasmtime.NewLinker(engine)
	defer l.Close()
	if err := l.DefineWasi(); err != nil {
		return nil, err
	}
	store := e.Store()
	if err := l.Define(store, "env", "memory", mem); err != nil {
		return nil, err
	}
	inst, err := l.Instantiate(store, sm.m)
	if err != nil {
		return nil, err
	}
	s := &shim{funcs: make(map[string]*wasmtime.Func)}
	for _, name := range []string{"fd_read", "fd_write", "poll_oneoff", "fd_close", "fd_renumber", "fd_fdstat_get", "fd_fdstat_set_flags", "path_open"} {
		s.funcs[name] = inst.GetFunc(store, name)
	}
	shims.Store(e, s)
	return s, nil
}

// Release frees what this package keeps for engine (the compiled shim);
// call it when no Store of that engine runs any more.
func Release(engine *wasmtime.Engine) {
	if v, ok := shimModules.LoadAndDelete(engine); ok {
		sm := v.(*shimModule)
		sm.once.Do(func() {}) // a compile in flight has finished
		if sm.m != nil {
			sm.m.Close()
		}
	}
}

// Forget drops what this package keeps for process e: its shim, and its
// Table if it still has one, which it closes (a process that called
// fd_pipe without having been given a Table got one). Call it when the
// process has ended.
func Forget(e *env.WasiEnv) {
	shims.Delete(e)
	if t := Lookup(e); t != nil {
		t.Close()
	}
}
