package bench

import (
	"os"
	"testing"

	"github.com/bytecodealliance/wasmtime-go/v25"
	"github.com/wasix-org/wasix-signals-go/wasix/env"
	"github.com/wasix-org/wasix-signals-go/wasix/stack"
)

// BenchmarkSetjmp measures setjmp and longjmp on an asyncify guest
// (testdata/setjmp.wat) next to the raw costs they are made of: a guest's
// call of a no-op host function, a call of an empty export from Go with
// Func.Call (each setjmp and each longjmp calls _start again), and a trap
// out of a host function back to Go (longjmp leaves that way).
func BenchmarkSetjmp(b *testing.B) {
	b.Run("host_call", benchHostCall)
	b.Run("call_from_go", func(b *testing.B) {
		engine := wasmtime.NewEngine()
		store, inst, _ := instance(b, engine, wasmtime.NewLinker(engine), `(module (func (export "_start")))`)
		f := inst.GetFunc(store, "_start")
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			if _, err := f.Call(store); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("trap_from_host", func(b *testing.B) {
		engine := wasmtime.NewEngine()
		l := wasmtime.NewLinker(engine)
		err := l.FuncNew("bench", "trap", wasmtime.NewFuncType(nil, nil),
			func(*wasmtime.Caller, []wasmtime.Val) ([]wasmtime.Val, *wasmtime.Trap) {
				return nil, wasmtime.NewTrap("leave")
			})
		if err != nil {
			b.Fatal(err)
		}
		store, inst, _ := instance(b, engine, l, `(module (import "bench" "trap" (func $trap))
		  (func (export "_start") (call $trap)))`)
		f := inst.GetFunc(store, "_start")
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			if _, err := f.Call(store); err == nil {
				b.Fatal("no trap")
			}
		}
	})
	for _, m := range []struct {
		name string
		mode int32
	}{{"pair", 0}, {"setjmp", 1}, {"longjmp", 2}} {
		b.Run(m.name, func(b *testing.B) {
			store, inst, e := setjmpGuest(b)
			d, err := stack.NewDriver(e, inst, stack.Options{})
			if err != nil {
				b.Fatal(err)
			}
			defer d.Close()
			for name, v := range map[string]int32{"n": int32(b.N), "mode": m.mode} {
				if err := inst.GetExport(store, name).Global().Set(store, wasmtime.ValI32(v)); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportAllocs()
			b.ResetTimer()
			if err := d.Call("_start"); err != nil {
				b.Fatal(err)
			}
		})
	}
}

func setjmpGuest(b *testing.B) (*wasmtime.Store, *wasmtime.Instance, *env.WasiEnv) {
	b.Helper()
	wasm, err := os.ReadFile("testdata/setjmp.wasm")
	if err != nil {
		b.Fatal(err)
	}
	engine := wasmtime.NewEngine()
	l := wasmtime.NewLinker(engine)
	if err := stack.Install(l); err != nil {
		b.Fatal(err)
	}
	module, err := wasmtime.NewModule(engine, wasm)
	if err != nil {
		b.Fatal(err)
	}
	store := wasmtime.NewStore(engine)
	b.Cleanup(store.Close)
	e := env.New(store, env.Config{})
	b.Cleanup(e.Close)
	inst, err := l.Instantiate(store, module)
	if err != nil {
		b.Fatal(err)
	}
	e.Bind(inst)
	return store, inst, e
}
