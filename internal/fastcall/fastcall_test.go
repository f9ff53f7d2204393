package fastcall_test

import (
	"errors"
	"strings"
	"testing"
	"unsafe"

	"github.com/bytecodealliance/wasmtime-go/v25"
	"github.com/google/go-cmp/cmp"
	"github.com/wasix-org/wasix-signals-go/internal/fastcall"
)

func TestSupported(t *testing.T) {
	if !fastcall.Supported() {
		t.Fatal("the fast paths should work with wasmtime-go v25.0.0")
	}
}

func TestDefineCallAndTrap(t *testing.T) {
	engine := wasmtime.NewEngine()
	l := wasmtime.NewLinker(engine)
	var got []fastcall.Args
	err := fastcall.Define(l, "x", "f", []wasmtime.ValKind{wasmtime.KindI64, wasmtime.KindI32}, true,
		func(c *wasmtime.Caller, ctx unsafe.Pointer, a fastcall.Args) (int32, error) {
			got = append(got, a)
			if a[1] < 0 {
				return 0, errors.New("negative")
			}
			if a[1] == 99 {
				panic("boom")
			}
			return int32(a[1]) * 2, nil
		})
	if err != nil {
		t.Fatal(err)
	}
	if err := fastcall.Define(l, "x", "bad", []wasmtime.ValKind{wasmtime.KindF32}, false, nil); err == nil {
		t.Error("a float parameter was accepted")
	}
	wasm, _ := wasmtime.Wat2Wasm(`(module
	  (import "x" "f" (func $f (param i64 i32) (result i32)))
	  (func (export "call") (param i64 i32) (result i32) (call $f (local.get 0) (local.get 1))))`)
	module, err := wasmtime.NewModule(engine, wasm)
	if err != nil {
		t.Fatal(err)
	}
	store := wasmtime.NewStore(engine)
	inst, err := l.Instantiate(store, module)
	if err != nil {
		t.Fatal(err)
	}
	call := inst.GetFunc(store, "call")
	v, err := call.Call(store, int64(-1), int32(21))
	if err != nil || v.(int32) != 42 {
		t.Fatalf("got %v %v", v, err)
	}
	if got[0] != (fastcall.Args{-1, 21}) {
		t.Errorf("args %v", got[0])
	}
	if _, err := call.Call(store, int64(0), int32(-1)); err == nil || !strings.Contains(err.Error(), "negative") {
		t.Errorf("error did not trap with its message: %v", err)
	}
	if _, err := call.Call(store, int64(0), int32(99)); err == nil || !strings.Contains(err.Error(), "panicked: boom") {
		t.Errorf("panic did not become a trap: %v", err)
	}
}

func TestCallI32ExitStatus(t *testing.T) {
	engine := wasmtime.NewEngine()
	l := wasmtime.NewLinker(engine)
	if err := l.DefineWasi(); err != nil {
		t.Fatal(err)
	}
	wasm, _ := wasmtime.Wat2Wasm(`(module
	  (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
	  (memory (export "memory") 1)
	  (func (export "exit") (param i32) (call $exit (local.get 0))))`)
	module, _ := wasmtime.NewModule(engine, wasm)
	store := wasmtime.NewStore(engine)
	store.SetWasi(wasmtime.NewWasiConfig())
	inst, err := l.Instantiate(store, module)
	if err != nil {
		t.Fatal(err)
	}
	err = fastcall.FuncOf(inst.GetFunc(store, "exit")).CallI32(unsafe.Pointer(store.Context()), 7)
	var ce *fastcall.CallError
	if !errors.As(err, &ce) {
		t.Fatalf("got %v", err)
	}
	if st, ok := ce.ExitStatus(); !ok || st != 7 {
		t.Errorf("exit status %d %v", st, ok)
	}
}

// A trap's message through CallI32 is exactly the one wasmtime-go's
// Func.Call gives: wasm_trap_message counts a terminating NUL, which must
// not reach the message.
func TestCallI32TrapMessage(t *testing.T) {
	engine := wasmtime.NewEngine()
	wasm, _ := wasmtime.Wat2Wasm(`(module
	  (func (export "trap") (param i32) unreachable)
	  (func (export "div") (param i32) (drop (i32.div_u (i32.const 1) (local.get 0)))))`)
	module, err := wasmtime.NewModule(engine, wasm)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"trap", "div"} {
		store := wasmtime.NewStore(engine)
		inst, err := wasmtime.NewInstance(store, module, nil)
		if err != nil {
			t.Fatal(err)
		}
		f := inst.GetFunc(store, name)
		_, want := f.Call(store, int32(0))
		got := fastcall.FuncOf(f).CallI32(unsafe.Pointer(store.Context()), 0)
		if want == nil || got == nil {
			t.Fatalf("%s: no trap: %v %v", name, want, got)
		}
		if diff := cmp.Diff(want.Error(), got.Error()); diff != "" {
			t.Errorf("%s: message (-Func.Call +CallI32):\n%s", name, diff)
		}
		store.Close()
	}
}

// Release frees a Linker's registry entries; a store that still holds one
// of its functions then traps instead of reaching the Handler, and the
// slot's reuse by a later definition does not revive it.
func TestReleaseFreesEntries(t *testing.T) {
	engine := wasmtime.NewEngine()
	wasm, _ := wasmtime.Wat2Wasm(`(module
	  (import "x" "f" (func $f (result i32)))
	  (func (export "call") (result i32) (call $f)))`)
	module, err := wasmtime.NewModule(engine, wasm)
	if err != nil {
		t.Fatal(err)
	}
	base := fastcall.Registered()
	define := func(answer int32) *wasmtime.Linker {
		l := wasmtime.NewLinker(engine)
		err := fastcall.Define(l, "x", "f", nil, true, func(*wasmtime.Caller, unsafe.Pointer, fastcall.Args) (int32, error) {
			return answer, nil
		})
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	for i := 0; i < 100; i++ {
		l := define(1)
		fastcall.Release(l)
		l.Close()
	}
	if got := fastcall.Registered(); got != base {
		t.Errorf("after 100 Define/Release: %d entries, want %d", got, base)
	}
	old := define(1)
	store := wasmtime.NewStore(engine)
	defer store.Close()
	inst, err := old.Instantiate(store, module)
	if err != nil {
		t.Fatal(err)
	}
	fastcall.Release(old)
	old.Close()
	fresh := define(2)
	defer fastcall.Release(fresh)
	if _, err := inst.GetFunc(store, "call").Call(store); err == nil || !strings.Contains(err.Error(), "unknown host function") {
		t.Errorf("a released function was called: %v", err)
	}
}

// Global.Get and Global.Set agree with wasmtime-go's own Global API, for
// i32 (zero-extended on Get, truncated on Set) and i64 globals; a wrong
// width or an immutable global is an error, not a crash.
func TestGlobal(t *testing.T) {
	engine := wasmtime.NewEngine()
	wasm, err := wasmtime.Wat2Wasm(`(module
	  (global (export "g32") (mut i32) (i32.const -1))
	  (global (export "g64") (mut i64) (i64.const 0x123456789))
	  (global (export "c32") i32 (i32.const 5)))`)
	if err != nil {
		t.Fatal(err)
	}
	module, err := wasmtime.NewModule(engine, wasm)
	if err != nil {
		t.Fatal(err)
	}
	store := wasmtime.NewStore(engine)
	defer store.Close()
	inst, err := wasmtime.NewInstance(store, module, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := unsafe.Pointer(store.Context())
	get := func(name string) int64 {
		v := inst.GetExport(store, name).Global().Get(store)
		if v.Kind() == wasmtime.KindI64 {
			return v.I64()
		}
		return int64(v.I32())
	}
	type row struct {
		Name         string
		Wide         bool
		Set          uint64
		Before       uint64 // Get before the Set
		After        uint64 // Get after it
		WasmtimeSees int64  // wasmtime-go's Get after it
		Fails        bool
	}
	rows := []row{
		{Name: "g32", Set: 0x1_0000_0007, Before: 0xffffffff, After: 7, WasmtimeSees: 7},
		{Name: "g32", Set: 0x80000000, Before: 7, After: 0x80000000, WasmtimeSees: -1 << 31},
		{Name: "g64", Wide: true, Set: 1<<63 | 9, Before: 0x123456789, After: 1<<63 | 9, WasmtimeSees: -1<<63 | 9},
		{Name: "g32", Wide: true, Set: 1, Before: 0x80000000, After: 0x80000000, WasmtimeSees: -1 << 31, Fails: true},
		{Name: "c32", Set: 6, Before: 5, After: 5, WasmtimeSees: 5, Fails: true},
	}
	var got []row
	for _, r := range rows {
		g := fastcall.GlobalOf(inst.GetExport(store, r.Name).Global())
		out := r
		out.Before = g.Get(ctx)
		out.Fails = g.Set(ctx, r.Wide, r.Set) != nil
		out.After = g.Get(ctx)
		out.WasmtimeSees = get(r.Name)
		got = append(got, out)
	}
	if diff := cmp.Diff(rows, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}
