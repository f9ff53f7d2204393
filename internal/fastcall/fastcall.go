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
//   - Global.Get and Global.Set read and write an integer global in one
//     cgo call, without wasmtime-go's Val (two more cgo calls and an
//     allocation each).
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

// handle mirrors wasmtime_func_t, wasmtime_memory_t and wasmtime_global_t.
type handle struct {
	storeID uint64
	private uintptr
}

// Func is a guest function handle, valid as long as its store.
type Func struct{ h handle }

// Memory is a guest memory handle, valid as long as its store.
type Memory struct{ h handle }

// Global is a handle of a guest global of type i32 or i64, valid as long
// as its store.
type Global struct{ h handle }

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

// The registry maps the id a C trampoline carries to its Handler. The
// table only grows by doubling, and a released slot is reused; an id holds
// the slot's generation, so that a stale id (a function of a released
// Linker still held by a store) finds no Handler instead of another one.
var (
	registryMu sync.Mutex
	table      atomic.Pointer[[]*slot]
	free       []uint32                         // released slots, under registryMu
	byLinker   = map[unsafe.Pointer][]uintptr{} // ids defined in each Linker, under registryMu
)

type slot struct {
	entry atomic.Pointer[entry]
	gen   uint32 // generation of the next entry, under registryMu
}

type entry struct {
	h   Handler
	gen uint32
}

// slotBits is the part of an id that is the slot index; the rest is the
// generation.
const (
	slotBits = 24
	genBits  = min(32, 8*unsafe.Sizeof(uintptr(0))-slotBits)
	genMask  = uint64(1)<<genBits - 1
)

func splitID(id uintptr) (index uint32, gen uint32) {
	return uint32(id & (1<<slotBits - 1)), uint32(uint64(id>>slotBits) & genMask)
}

// register stores h in a free slot and returns its id.
func register(l unsafe.Pointer, h Handler) (uintptr, error) {
	registryMu.Lock()
	defer registryMu.Unlock()
	var t []*slot
	if p := table.Load(); p != nil {
		t = *p
	}
	var index uint32
	if n := len(free); n > 0 {
		index, free = free[n-1], free[:n-1]
	} else {
		if len(t) >= 1<<slotBits {
			return 0, errors.New("fastcall: too many host functions defined")
		}
		index = uint32(len(t))
		// append copies the slot pointers only when it reallocates, so
		// the table doubles rather than being copied on every definition.
		t = append(t, new(slot))
		table.Store(&t)
	}
	s := t[index]
	gen := uint32(uint64(s.gen) & genMask)
	s.entry.Store(&entry{h: h, gen: gen})
	id := uintptr(index) | uintptr(gen)<<slotBits
	byLinker[l] = append(byLinker[l], id)
	return id, nil
}

// release empties the slot of id and makes it reusable.
func release(id uintptr) {
	index, _ := splitID(id)
	t := *table.Load()
	s := t[index]
	s.entry.Store(nil)
	s.gen++
	free = append(free, index)
}

// Release frees the registry entries of every function Define put in l.
// Call it when l is closed and no store that instantiated with l will run
// again: a call to such a function afterwards traps ("unknown host
// function") rather than reaching its Handler.
func Release(l *wasmtime.Linker) {
	key := linkerPtr(l)
	registryMu.Lock()
	defer registryMu.Unlock()
	for _, id := range byLinker[key] {
		release(id)
	}
	delete(byLinker, key)
}

// Registered returns how many Handlers the registry holds, for tests and
// leak checks.
func Registered() int {
	registryMu.Lock()
	defer registryMu.Unlock()
	n := 0
	for _, ids := range byLinker {
		n += len(ids)
	}
	return n
}

// Define defines module.name in l as a host function with the given
// parameter kinds (I32 or I64 only, at most 4) and an optional i32 result.
// The definition is store-independent, like Linker.FuncNew. Each
// definition holds a small registry entry until Release(l).
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
	h := lookup(id)
	if h == nil {
		return 0, cTrap("fastcall: unknown host function (its Linker was released)")
	}
	r, err := h((*wasmtime.Caller)(unsafe.Pointer(c)), ctx, a)
	if err != nil {
		return 0, cTrap(err.Error())
	}
	return r, nil
}

func lookup(id uintptr) Handler {
	index, gen := splitID(id)
	t := table.Load()
	if t == nil || index >= uint32(len(*t)) {
		return nil
	}
	e := (*t)[index].entry.Load()
	if e == nil || e.gen != gen {
		return nil
	}
	return e.h
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

// GlobalOf copies g's handle. g must be of type i32 or i64 (the caller
// checks it once, with Global.Type).
func GlobalOf(g *wasmtime.Global) Global { return Global{*(*handle)(unsafe.Pointer(g))} }

// Get returns the global's value in the store whose context pointer is
// ctx: an i32 zero-extended, an i64 as its bits.
func (g Global) Get(ctx unsafe.Pointer) uint64 { return cGlobalGet(ctx, g.h) }

// Set sets the global to v, truncated to 32 bits unless wide (an i64
// global). It fails for an immutable global or a wrong width.
func (g Global) Set(ctx unsafe.Pointer, wide bool, v uint64) error {
	if msg, failed := cGlobalSet(ctx, g.h, wide, v); failed {
		return fmt.Errorf("fastcall: set global: %s", msg)
	}
	return nil
}

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
		reflect.TypeFor[wasmtime.Memory]().Size() == unsafe.Sizeof(handle{}) &&
		field0(reflect.TypeFor[wasmtime.Global](), "val", reflect.Struct, unsafe.Sizeof(handle{})) &&
		reflect.TypeFor[wasmtime.Global]().Size() == unsafe.Sizeof(handle{})
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
	defer func() {
		Release(l)
		l.Close()
	}()
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
	  (global (export "g64") (mut i64) (i64.const 0))
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
	g := GlobalOf(inst.GetExport(store, "g").Global())
	if got := g.Get(ctx); got != 78 {
		return fmt.Errorf("fastcall: probe of Global.Get failed: %d", got)
	}
	if err := g.Set(ctx, false, 0xfffffffe); err != nil || g.Get(ctx) != 0xfffffffe ||
		inst.GetExport(store, "g").Global().Get(store).I32() != -2 {
		return fmt.Errorf("fastcall: probe of Global.Set failed: %v", err)
	}
	g64 := GlobalOf(inst.GetExport(store, "g64").Global())
	if err := g64.Set(ctx, true, 1<<40|3); err != nil || g64.Get(ctx) != 1<<40|3 ||
		inst.GetExport(store, "g64").Global().Get(store).I64() != 1<<40|3 {
		return fmt.Errorf("fastcall: probe of an i64 Global failed: %v", err)
	}
	if g.Set(ctx, true, 1) == nil {
		return fmt.Errorf("fastcall: probe: an i64 value was stored into an i32 global")
	}
	var ce *CallError
	if err := FuncOf(inst.GetFunc(store, "trap")).CallI32(ctx, 1); !errors.As(err, &ce) {
		return fmt.Errorf("fastcall: probe of a trap failed: %v", err)
	}
	return nil
}

// defineUnchecked is Define without the Supported check, for the probe.
func defineUnchecked(l *wasmtime.Linker, module, name string, kinds []byte, hasResult bool, h Handler) error {
	id, err := register(linkerPtr(l), h)
	if err != nil {
		return err
	}
	if msg, failed := cDefine(linkerPtr(l), module, name, kinds, hasResult, id); failed {
		registryMu.Lock()
		release(id)
		ids := byLinker[linkerPtr(l)]
		byLinker[linkerPtr(l)] = ids[:len(ids)-1]
		registryMu.Unlock()
		return fmt.Errorf("fastcall: define %s.%s: %s", module, name, msg)
	}
	return nil
}
