package fastcall_test

import (
	"errors"
	"strings"
	"testing"
	"unsafe"

	"github.com/bytecodealliance/wasmtime-go/v25"
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

// A trap's message comes without the NUL the C API ends it with.
func TestCallI32TrapMessage(t *testing.T) {
	engine := wasmtime.NewEngine()
	wasm, _ := wasmtime.Wat2Wasm(`(module (func (export "trap") (param i32) unreachable))`)
	module, _ := wasmtime.NewModule(engine, wasm)
	store := wasmtime.NewStore(engine)
	inst, err := wasmtime.NewInstance(store, module, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = fastcall.FuncOf(inst.GetFunc(store, "trap")).CallI32(unsafe.Pointer(store.Context()), 1)
	if err == nil || !strings.Contains(err.Error(), "unreachable") || strings.ContainsRune(err.Error(), 0) {
		t.Errorf("trap message %q: want it to name the trap, with no NUL", err)
	}
}
