package fd

import (
	"errors"
	"fmt"
	"math"
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

// auxWat reaches wasmtime's table without touching the guest's memory: it
// has a memory of its own, where wasmtime's WASI writes what it answers.
// has(n) is fd_fdstat_get(n), which tells whether wasmtime's table holds n;
// preopen(n) is fd_prestat_get(n); opendot(n) opens "." relative to the
// directory n and returns the new descriptor, or minus the errno.
const auxWat = `(module
  (import "wasi_snapshot_preview1" "fd_fdstat_get" (func $stat (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_prestat_get" (func $prestat (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "path_open"
    (func $open (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 64) ".")
  (func (export "has") (param i32) (result i32) (call $stat (local.get 0) (i32.const 0)))
  (func (export "preopen") (param i32) (result i32) (call $prestat (local.get 0) (i32.const 32)))
  (func (export "opendot") (param i32) (result i32) (local $r i32)
    (local.set $r (call $open (local.get 0) (i32.const 0) (i32.const 64) (i32.const 1) (i32.const 2)
      (i64.const 0) (i64.const 0) (i32.const 0) (i32.const 96)))
    (if (result i32) (local.get $r)
      (then (i32.sub (i32.const 0) (local.get $r)))
      (else (i32.load (i32.const 96))))))`

// shimModules holds the compiled shim per engine (a module cannot be used
// with another engine).
var shimModules sync.Map // *wasmtime.Engine -> *shimModule

type shimModule struct {
	once   sync.Once
	m, aux *wasmtime.Module
	err    error
}

// shims holds each process's shim instance.
var shims sync.Map // *env.WasiEnv -> *shim

type shim struct {
	funcs map[string]*wasmtime.Func
	// has, preopen and opendot are auxWat's, auxMem its memory.
	has, preopen, opendot *wasmtime.Func
	auxMem                *wasmtime.Memory
	// placeholder says wasmtime's table holds the hidden directory
	// descriptor parked at the number parking (see allocate).
	placeholder bool
}

// parking is the number where the hidden placeholder descriptor waits in
// wasmtime's table; the guest cannot use it.
const parking = math.MaxInt32

// fdArg lists the forwarded calls whose first argument is a descriptor.
var fdArg = map[string]bool{"fd_read": true, "fd_write": true, "fd_close": true, "fd_renumber": true,
	"fd_fdstat_get": true, "fd_fdstat_set_flags": true, "path_open": true}

// forward calls wasmtime's WASI function name for process e. The number
// parking is not the guest's (EBADF), and fd_renumber(n, n), which would
// corrupt wasmtime's table, is answered here.
func forward(c wasmtime.Storelike, e *env.WasiEnv, engine *wasmtime.Engine, name string, args ...any) (wasix.Errno, error) {
	s, err := shimFor(c, e, engine)
	if err != nil {
		e.Logger().Warn("wasmtime's WASI is unreachable for this call", "call", name, "error", err)
		return wasix.ENOTSUP, nil
	}
	if fdArg[name] && args[0].(int32) == parking {
		return wasix.EBADF, nil
	}
	if name == "fd_renumber" {
		if args[1].(int32) == parking {
			return wasix.EBADF, nil
		}
		if args[0].(int32) == args[1].(int32) {
			return s.call(c, s.has, args[0])
		}
	}
	return s.call(c, s.funcs[name], args...)
}

func (s *shim) call(c wasmtime.Storelike, f *wasmtime.Func, args ...any) (wasix.Errno, error) {
	res, err := f.Call(c, args...)
	if err != nil {
		return 0, err
	}
	return wasix.Errno(res.(int32)), nil
}

// wasmtimeHas answers whether wasmtime's table holds descriptor n:
// ESUCCESS when it does, EBADF when not.
func wasmtimeHas(c wasmtime.Storelike, e *env.WasiEnv, engine *wasmtime.Engine, n int32) (wasix.Errno, error) {
	s, err := shimFor(c, e, engine)
	if err != nil {
		return wasix.ENOTSUP, nil
	}
	if n == parking {
		return wasix.ESUCCESS, nil
	}
	return s.call(c, s.has, n)
}

// wasmtimeFiletype returns the WASI file type of wasmtime's descriptor n
// (fd_fdstat_get's fs_filetype), or the errno (EBADF when wasmtime's table
// does not hold n).
func wasmtimeFiletype(c wasmtime.Storelike, e *env.WasiEnv, n int32) (uint8, wasix.Errno, error) {
	s, err := shimFor(c, e, e.Store().Engine)
	if err != nil {
		return 0, wasix.ENOTSUP, nil
	}
	if n == parking {
		return 0, wasix.EBADF, nil
	}
	errno, err := s.call(c, s.has, n)
	if err != nil || errno != wasix.ESUCCESS {
		return 0, errno, err
	}
	return s.auxMem.UnsafeData(c)[0], wasix.ESUCCESS, nil
}

// allocate makes n, which neither table uses, the number wasmtime's next
// path_open gives. wasmtime 25 takes a new descriptor's number from the
// top of a stack of the numbers it freed, and fd_renumber pushes both its
// numbers there, the target although it is in use: a later allocation
// would hand out a number in use, and wasmtime then aborts the host
// process. So before each path_open the placeholder moves from parking to
// n and back: the second move leaves n, free, on top of the stack, above
// whatever fd_renumber left there, which is never popped. See
// docs/BEHAVIOUR.md (descriptor numbers).
func allocate(c wasmtime.Storelike, e *env.WasiEnv, engine *wasmtime.Engine, n int32) error {
	s, err := shimFor(c, e, engine)
	if err != nil || !s.placeholder {
		return err
	}
	for _, mv := range [][2]int32{{parking, n}, {n, parking}} {
		errno, err := s.call(c, s.funcs["fd_renumber"], mv[0], mv[1])
		if err != nil {
			return err
		}
		if errno != wasix.ESUCCESS {
			s.placeholder = false
			e.Logger().Warn("fd: wasmtime's descriptor numbering is no longer steered", "errno", errno.Name())
			return nil
		}
	}
	return nil
}

func shimFor(c wasmtime.Storelike, e *env.WasiEnv, engine *wasmtime.Engine) (*shim, error) {
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
		compile := func(src string) (*wasmtime.Module, error) {
			wasm, err := wasmtime.Wat2Wasm(src)
			if err != nil {
				return nil, err
			}
			return wasmtime.NewModule(engine, wasm)
		}
		if sm.m, sm.err = compile(shimWat); sm.err == nil {
			sm.aux, sm.err = compile(auxWat)
		}
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
	aux, err := l.Instantiate(store, sm.aux)
	if err != nil {
		return nil, err
	}
	if err := l.Define(store, "env", "memory", mem); err != nil {
		return nil, err
	}
	inst, err := l.Instantiate(store, sm.m)
	if err != nil {
		return nil, err
	}
	s := &shim{funcs: make(map[string]*wasmtime.Func),
		has: aux.GetFunc(store, "has"), preopen: aux.GetFunc(store, "preopen"), opendot: aux.GetFunc(store, "opendot"),
		auxMem: aux.GetExport(store, "memory").Memory()}
	for _, name := range []string{"fd_read", "fd_write", "poll_oneoff", "fd_close", "fd_renumber", "fd_fdstat_get", "fd_fdstat_set_flags", "path_open"} {
		s.funcs[name] = inst.GetFunc(store, name)
	}
	if err := s.park(c); err != nil {
		return nil, err
	}
	shims.Store(e, s)
	return s, nil
}

// park opens the placeholder that allocate moves: "." of the first
// preopened directory, parked at parking. Every change to wasmtime's table
// goes through forward, which made the shim first: wasmtime has freed no
// number yet, and the open takes a new one. Without a preopened directory
// no path_open can succeed, and nothing needs steering.
func (s *shim) park(c wasmtime.Storelike) error {
	for n := int32(3); n < 3+maxPreopens; n++ {
		errno, err := s.call(c, s.preopen, n)
		if err != nil {
			return err
		}
		if errno != wasix.ESUCCESS {
			return nil
		}
		res, err := s.opendot.Call(c, n)
		if err != nil {
			return err
		}
		k := res.(int32)
		if k < 0 {
			continue
		}
		errno, err = s.call(c, s.funcs["fd_renumber"], k, int32(parking))
		if err != nil {
			return err
		}
		s.placeholder = errno == wasix.ESUCCESS
		return nil
	}
	return nil
}

// maxPreopens bounds the search for a preopened directory.
const maxPreopens = 64

// Release frees what this package keeps for engine (the compiled shim);
// call it when no Store of that engine runs any more.
func Release(engine *wasmtime.Engine) {
	if v, ok := shimModules.LoadAndDelete(engine); ok {
		sm := v.(*shimModule)
		sm.once.Do(func() {}) // a compile in flight has finished
		if sm.m != nil {
			sm.m.Close()
		}
		if sm.aux != nil {
			sm.aux.Close()
		}
	}
}

// Exec prepares the descriptors of process e, whose store is store, for
// the program it is about to exec (proc_exec), before that program is
// instantiated: the close-on-exec descriptors are closed, owned and
// wasmtime's, and the link to wasmtime's WASI, which goes through the old
// program's memory, is dropped (the next call makes it again). Every other
// descriptor stays open under its number: pipes, duplicates and the
// standard streams reach the new program as they were.
func Exec(store wasmtime.Storelike, e *env.WasiEnv) error {
	var err error
	if t := Lookup(e); t != nil {
		for _, n := range t.takeCloseOnExec() {
			if _, cerr := forward(store, e, e.Store().Engine, "fd_close", n); cerr != nil {
				err = errors.Join(err, fmt.Errorf("fd: exec: close descriptor %d: %w", n, cerr))
			}
		}
	}
	shims.Delete(e)
	return err
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
