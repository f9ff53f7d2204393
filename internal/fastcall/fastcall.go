// Package fastcall crosses between Go and wasm through wasmtime's C API
// directly, where wasmtime-go's general paths cost microseconds:
//
//   - Define puts a host function in a Linker whose calls reach Go in one
//     cgo callback, with the integer arguments unpacked in C, instead of
//     wasmtime-go's trampoline (a global lock, a map lookup, one cgo call
//     per argument and result, and two allocations per call).
//   - Func.CallI32 and Func.Call0 call a cached guest function with wasmtime_func_call,
//     instead of Func.Call, which rebuilds the function type and takes
//     global locks on every call.
//   - Memory.Data returns guest memory in one cgo call instead of two.
//
// It relies on the layout of a few wasmtime-go v25 types (a Linker's and a
// Caller's C pointer, a Func's and a Memory's C handle). [Supported]
// checks those layouts with reflection and then exercises every path once
// on a scratch engine; when anything differs it reports false and callers
// use wasmtime-go's own API instead.
package fastcall

import (
	"errors"
	"fmt"
	"os"
	"reflect"
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/bytecodealliance/wasmtime-go/v25"
)

// handle mirrors wasmtime_func_t and wasmtime_memory_t.
type handle struct {
	storeID uint64
	private uintptr
}

// Func is a guest function handle, valid as long as its store.
type Func struct{ h handle }

// Memory is a guest memory handle, valid as long as its store.
type Memory struct{ h handle }

// Args are a host function's integer arguments: i32 values sign-extended.
type Args [4]int64

// Handler is the Go body of a host function defined with Define. c is
// valid only during the call; ctx is the store's context pointer
// (Storelike.Context()). It returns the i32 result (ignored for functions
// without one) or a non-nil error, which traps with its message.
type Handler func(c *wasmtime.Caller, ctx unsafe.Pointer, a Args) (int32, error)

// CallError is a call into the guest that did not return normally.
type CallError struct {
	Message string
	status  int32
	exited  bool
}

func (e *CallError) Error() string { return e.Message }

// ExitStatus reports a WASI exit (as *wasmtime.Error does).
func (e *CallError) ExitStatus() (int32, bool) { return e.status, e.exited }

var (
	registryMu sync.Mutex
	handlers   atomic.Pointer[[]Handler]
)

// Define defines module.name in l as a host function with the given
// parameter kinds (I32 or I64 only, at most 4) and an optional i32 result.
// The definition is store-independent, like Linker.FuncNew. Each
// definition holds a small registry entry for the life of the program, so
// define once per Linker and reuse Linkers.
func Define(l *wasmtime.Linker, module, name string, params []wasmtime.ValKind, hasResult bool, h Handler) error {
	if !Supported() {
		return errors.ErrUnsupported
	}
	if len(params) > len(Args{}) {
		return fmt.Errorf("fastcall: %s.%s: more than %d parameters", module, name, len(Args{}))
	}
	kinds := make([]byte, len(params))
	for i, k := range params {
		switch k {
		case wasmtime.KindI32:
			kinds[i] = 0
		case wasmtime.KindI64:
			kinds[i] = 1
		default:
			return fmt.Errorf("fastcall: %s.%s: parameter %d is not an integer", module, name, i)
		}
	}
	return defineUnchecked(l, module, name, kinds, hasResult, h)
}

// callerLayout is the layout of wasmtime.Caller.
type callerLayout struct{ ptr unsafe.Pointer }

// callers recycles Callers: a call would otherwise allocate one.
var callers = sync.Pool{New: func() any { return new(callerLayout) }}

func dispatch(id uintptr, caller, ctx unsafe.Pointer, a Args) (result int32, trap unsafe.Pointer) {
	c := callers.Get().(*callerLayout)
	c.ptr = caller
	defer func() {
		// Like wasmtime-go: the Caller is dead once the call returns.
		c.ptr = nil
		callers.Put(c)
		if r := recover(); r != nil {
			result, trap = 0, cTrap(fmt.Sprintf("fastcall: host function panicked: %v", r))
		}
	}()
	hs := handlers.Load()
	if hs == nil || id >= uintptr(len(*hs)) {
		return 0, cTrap("fastcall: unknown host function")
	}
	r, err := (*hs)[id]((*wasmtime.Caller)(unsafe.Pointer(c)), ctx, a)
	if err != nil {
		return 0, cTrap(err.Error())
	}
	return r, nil
}

// FuncOf copies f's handle.
func FuncOf(f *wasmtime.Func) Func { return Func{*(*handle)(unsafe.Pointer(f))} }

// CallI32 calls a guest function of type (i32)->() in the store whose
// context pointer is ctx. A trap or exit comes back as *CallError.
func (f Func) CallI32(ctx unsafe.Pointer, arg int32) error {
	ok, msg, exited, status := cCallI32(ctx, f.h, arg)
	if ok {
		return nil
	}
	return &CallError{Message: msg, exited: exited, status: status}
}

// Call0 calls a guest function of type ()->(), as CallI32.
func (f Func) Call0(ctx unsafe.Pointer) error {
	ok, msg, exited, status := cCall0(ctx, f.h)
	if ok {
		return nil
	}
	return &CallError{Message: msg, exited: exited, status: status}
}

// MemoryOf copies m's handle.
func MemoryOf(m *wasmtime.Memory) Memory { return Memory{*(*handle)(unsafe.Pointer(m))} }

// Data returns the memory's bytes in the store whose context pointer is
// ctx; the slice is valid until the memory grows.
func (m Memory) Data(ctx unsafe.Pointer) []byte { return cMemory(ctx, m.h) }

// linkerPtr returns the wasmtime_linker_t* of l.
func linkerPtr(l *wasmtime.Linker) unsafe.Pointer { return *(*unsafe.Pointer)(unsafe.Pointer(l)) }

// Supported reports whether the fast paths work with this build of
// wasmtime-go: the type layouts match and a probe of every path succeeds.
// Setting the environment variable WASIX_NO_FASTCALL (to anything) turns
// them off, so that the fallback to wasmtime-go's own API can be tested.
var Supported = sync.OnceValue(func() bool {
	return os.Getenv("WASIX_NO_FASTCALL") == "" && layoutsMatch() && probe() == nil
})

func layoutsMatch() bool {
	field0 := func(t reflect.Type, name string, kind reflect.Kind, size uintptr) bool {
		if t.NumField() < 1 {
			return false
		}
		f := t.Field(0)
		return f.Name == name && f.Offset == 0 && f.Type.Kind() == kind && f.Type.Size() == size
	}
	ptr := unsafe.Sizeof(uintptr(0))
	return field0(reflect.TypeFor[wasmtime.Linker](), "_ptr", reflect.Pointer, ptr) &&
		field0(reflect.TypeFor[wasmtime.Caller](), "ptr", reflect.Pointer, ptr) &&
		reflect.TypeFor[wasmtime.Caller]().NumField() == 1 &&
		field0(reflect.TypeFor[wasmtime.Func](), "val", reflect.Struct, unsafe.Sizeof(handle{})) &&
		reflect.TypeFor[wasmtime.Func]().Size() == unsafe.Sizeof(handle{}) &&
		field0(reflect.TypeFor[wasmtime.Memory](), "val", reflect.Struct, unsafe.Sizeof(handle{})) &&
		reflect.TypeFor[wasmtime.Memory]().Size() == unsafe.Sizeof(handle{})
}

// probe runs every path once on a scratch engine and checks the results
// against wasmtime-go's own API.
func probe() (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("fastcall: probe panicked: %v", r)
		}
	}()
	engine := wasmtime.NewEngine()
	l := wasmtime.NewLinker(engine)
	var seen Args
	var seenCaller bool
	h := func(c *wasmtime.Caller, ctx unsafe.Pointer, a Args) (int32, error) {
		seen = a
		seenCaller = unsafe.Pointer(c.Context()) == ctx && c.GetExport("memory") != nil
		return 42, nil
	}
	if err := defineUnchecked(l, "probe", "f", []byte{0, 1, 0}, true, h); err != nil {
		return err
	}
	wasm, err := wasmtime.Wat2Wasm(`(module
	  (import "probe" "f" (func $f (param i32 i64 i32) (result i32)))
	  (memory (export "memory") 1)
	  (global $g (export "g") (mut i32) (i32.const 0))
	  (func (export "run") (result i32) (call $f (i32.const -5) (i64.const 0x10000000000) (i32.const 7)))
	  (func (export "set") (param i32) (global.set $g (local.get 0)) (i32.store8 (i32.const 9) (local.get 0)))
	  (func (export "trap") (param i32) unreachable)
	  (func (export "bump") (global.set $g (i32.add (global.get $g) (i32.const 1)))))`)
	if err != nil {
		return err
	}
	module, err := wasmtime.NewModule(engine, wasm)
	if err != nil {
		return err
	}
	store := wasmtime.NewStore(engine)
	defer store.Close()
	inst, err := l.Instantiate(store, module)
	if err != nil {
		return err
	}
	out, err := inst.GetFunc(store, "run").Call(store)
	if err != nil || out.(int32) != 42 || seen != (Args{-5, 1 << 40, 7, 0}) || !seenCaller {
		return fmt.Errorf("fastcall: probe of Define failed: %v %v %v", out, err, seen)
	}
	ctx := unsafe.Pointer(store.Context())
	if err := FuncOf(inst.GetFunc(store, "set")).CallI32(ctx, 77); err != nil {
		return err
	}
	mem := inst.GetExport(store, "memory").Memory()
	data := MemoryOf(mem).Data(ctx)
	if got := inst.GetExport(store, "g").Global().Get(store).I32(); got != 77 ||
		len(data) != len(mem.UnsafeData(store)) || data[9] != 77 {
		return fmt.Errorf("fastcall: probe of CallI32 or Data failed")
	}
	if err := FuncOf(inst.GetFunc(store, "bump")).Call0(ctx); err != nil ||
		inst.GetExport(store, "g").Global().Get(store).I32() != 78 {
		return fmt.Errorf("fastcall: probe of Call0 failed: %v", err)
	}
	var ce *CallError
	if err := FuncOf(inst.GetFunc(store, "trap")).CallI32(ctx, 1); !errors.As(err, &ce) {
		return fmt.Errorf("fastcall: probe of a trap failed: %v", err)
	}
	return nil
}

// defineUnchecked is Define without the Supported check, for the probe.
func defineUnchecked(l *wasmtime.Linker, module, name string, kinds []byte, hasResult bool, h Handler) error {
	registryMu.Lock()
	old := handlers.Load()
	var next []Handler
	if old != nil {
		next = append(next, *old...)
	}
	id := uintptr(len(next))
	next = append(next, h)
	handlers.Store(&next)
	registryMu.Unlock()
	if msg, failed := cDefine(linkerPtr(l), module, name, kinds, hasResult, id); failed {
		return fmt.Errorf("fastcall: define %s.%s: %s", module, name, msg)
	}
	return nil
}
