package stack_test

import (
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/bytecodealliance/wasmtime-go/v25"
	"github.com/google/go-cmp/cmp"
	"github.com/wasix-org/wasix-signals-go/internal/asyncify"
	"github.com/wasix-org/wasix-signals-go/wasix/env"
	"github.com/wasix-org/wasix-signals-go/wasix/stack"
)

// guest is testdata/jumps.wasm instantiated in a store of its own.
type guest struct {
	store *wasmtime.Store
	inst  *wasmtime.Instance
	env   *env.WasiEnv
}

func newGuest(t *testing.T, globals map[string]int32) *guest {
	t.Helper()
	wasm, err := os.ReadFile("testdata/jumps.wasm")
	if err != nil {
		t.Fatal(err)
	}
	engine := wasmtime.NewEngine()
	l := wasmtime.NewLinker(engine)
	if err := stack.Install(l); err != nil {
		t.Fatal(err)
	}
	m, err := wasmtime.NewModule(engine, wasm)
	if err != nil {
		t.Fatal(err)
	}
	g := &guest{store: wasmtime.NewStore(engine)}
	g.env = env.New(g.store, env.Config{})
	t.Cleanup(func() {
		g.env.Close()
		g.store.Close()
	})
	if g.inst, err = l.Instantiate(g.store, m); err != nil {
		t.Fatal(err)
	}
	g.env.Bind(g.inst)
	for name, v := range globals {
		if err := g.global(name).Set(g.store, wasmtime.ValI32(v)); err != nil {
			t.Fatal(err)
		}
	}
	return g
}

func (g *guest) global(name string) *wasmtime.Global {
	return g.inst.GetExport(g.store, name).Global()
}

func (g *guest) get(name string) int32 { return g.global(name).Get(g.store).I32() }

func TestJumps(t *testing.T) {
	tests := []struct {
		name         string
		limit, depth int32
		extra        int32
		step         int32
		count, last  int32
	}{
		{name: "setjmp only", limit: 0, step: 1, count: 1, last: 0},
		{name: "three longjmps", limit: 3, step: 1, count: 4, last: 3},
		{name: "from a 2000-deep recursion", limit: 3, depth: 2000, step: 1, count: 4, last: 3},
		{name: "many setjmps in between", limit: 2, extra: 5000, step: 1, count: 3, last: 2},
		// longjmp(buf, 0) makes setjmp return 1, as POSIX says.
		{name: "longjmp with 0", limit: 1, step: 0, count: 2, last: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := newGuest(t, map[string]int32{"limit": tt.limit, "depth": tt.depth, "extra": tt.extra, "step": tt.step})
			d, err := stack.NewDriver(g.env, g.inst, stack.Options{Limits: asyncify.Limits{Count: 8, Bytes: 1 << 20}})
			if err != nil {
				t.Fatal(err)
			}
			defer d.Close()
			if err := d.Call("_start"); err != nil {
				t.Fatal(err)
			}
			got := []int32{g.get("count"), g.get("last")}
			if diff := cmp.Diff([]int32{tt.count, tt.last}, got); diff != "" {
				t.Errorf("count, last (-want +got):\n%s", diff)
			}
			if n, _ := d.Snapshots(); n > 8 {
				t.Errorf("%d snapshots kept, limit 8", n)
			}
			if sp := g.get("__stack_pointer"); sp != 131072 {
				t.Errorf("__stack_pointer %d after the run, want 131072", sp)
			}
		})
	}
}

func TestRun(t *testing.T) {
	g := newGuest(t, nil)
	if err := stack.Run(g.store, g.inst, "_start"); err != nil {
		t.Fatal(err)
	}
	if got := g.get("count"); got != 4 {
		t.Errorf("count %d, want 4", got)
	}
}

func TestBadJmpBuf(t *testing.T) {
	g := newGuest(t, map[string]int32{"bad": 0x5a})
	err := stack.Run(g.store, g.inst, "_start")
	var je *stack.JumpError
	if !errors.As(err, &je) || !errors.Is(err, stack.ErrForged) || je.Addr != 16 {
		t.Fatalf("got %v, want a JumpError for a forged jmp_buf at 0x10", err)
	}
	if want := "stack: longjmp to the jmp_buf at 0x10: forged"; !strings.HasPrefix(err.Error(), want) {
		t.Errorf("message %q, want it to start with %q", err, want)
	}
}

func TestOverflow(t *testing.T) {
	tests := []struct {
		name string
		sp   int32
	}{
		// 8 bytes free above the header once setjmp took its 16: the
		// frames do not fit.
		{"frames overrun the free stack", 1024 + 8 + 8 + 16},
		// The stack below __data_end, as wasm-ld --stack-first lays it
		// out: the data goes at 0, and 16 bytes are too few.
		{"stack below the data", 40},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := newGuest(t, map[string]int32{"__stack_pointer": tt.sp, "depth": 100})
			err := stack.Run(g.store, g.inst, "_start")
			if !errors.Is(err, stack.ErrOverflow) {
				t.Fatalf("got %v, want an error wrapping stack.ErrOverflow", err)
			}
			if !strings.Contains(err.Error(), "setjmp") {
				t.Errorf("%q does not say it was setjmp", err)
			}
		})
	}
}

func TestNoDriver(t *testing.T) {
	g := newGuest(t, nil)
	_, err := g.inst.GetFunc(g.store, "_start").Call(g.store)
	if err == nil || !strings.Contains(err.Error(), "no stack driver runs this program") {
		t.Fatalf("got %v, want the trap that says no driver runs it", err)
	}
}

func TestOneDriverPerProcess(t *testing.T) {
	g := newGuest(t, nil)
	d, err := stack.NewDriver(g.env, g.inst, stack.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if _, err := stack.NewDriver(g.env, g.inst, stack.Options{}); err == nil {
		t.Fatal("a second driver for the same process was accepted")
	}
}

func TestUses(t *testing.T) {
	jumps, err := os.ReadFile("testdata/jumps.wasm")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		wat     string
		wasm    []byte
		uses    bool
		wantErr string
	}{
		{name: "no stack imports", wat: `(module (func (export "_start")))`},
		{name: "asyncify binary", wasm: jumps, uses: true},
		{
			name: "stack_checkpoint without asyncify",
			wat: `(module (import "wasix_32v1" "stack_checkpoint" (func (param i32 i32) (result i32)))
			  (memory (export "memory") 1) (func (export "_start")))`,
			uses:    true,
			wantErr: "stack: the module imports stack_checkpoint but lacks the asyncify export(s) [asyncify_start_unwind asyncify_stop_unwind asyncify_start_rewind asyncify_stop_rewind __stack_pointer __data_end]: build it with wasm-opt --asyncify and export __stack_pointer and __data_end",
		},
		{
			name: "stack_restore in wasix_64v1, no __data_end",
			wat: `(module (import "wasix_64v1" "stack_restore" (func (param i64 i64)))
			  (global (export "__stack_pointer") (mut i32) (i32.const 0))
			  (func (export "asyncify_start_unwind") (param i32)) (func (export "asyncify_stop_unwind"))
			  (func (export "asyncify_start_rewind") (param i32)) (func (export "asyncify_stop_rewind")))`,
			uses:    true,
			wantErr: "stack: the module imports stack_restore but lacks the asyncify export(s) [__data_end]: build it with wasm-opt --asyncify and export __stack_pointer and __data_end",
		},
		{
			name: "__stack_low instead of __data_end",
			wat: `(module (import "wasix_32v1" "stack_checkpoint" (func (param i32 i32) (result i32)))
			  (global (export "__stack_pointer") (mut i32) (i32.const 0))
			  (global (export "__stack_low") i32 (i32.const 0))
			  (func (export "asyncify_start_unwind") (param i32)) (func (export "asyncify_stop_unwind"))
			  (func (export "asyncify_start_rewind") (param i32)) (func (export "asyncify_stop_rewind")))`,
			uses: true,
		},
	}
	engine := wasmtime.NewEngine()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wasm := tt.wasm
			if wasm == nil {
				var err error
				if wasm, err = wasmtime.Wat2Wasm(tt.wat); err != nil {
					t.Fatal(err)
				}
			}
			m, err := wasmtime.NewModule(engine, wasm)
			if err != nil {
				t.Fatal(err)
			}
			uses, err := stack.Uses(m)
			gotErr := ""
			if err != nil {
				gotErr = err.Error()
			}
			if uses != tt.uses || gotErr != tt.wantErr {
				t.Errorf("Uses = %v, %q; want %v, %q", uses, gotErr, tt.uses, tt.wantErr)
			}
		})
	}
}

// TestWasix64Signatures checks that the wasix_64v1 imports take i64
// pointers: a module declaring them so links.
func TestWasix64Signatures(t *testing.T) {
	engine := wasmtime.NewEngine()
	l := wasmtime.NewLinker(engine)
	if err := stack.Install(l); err != nil {
		t.Fatal(err)
	}
	wasm, err := wasmtime.Wat2Wasm(`(module
	  (import "wasix_64v1" "stack_checkpoint" (func (param i64 i64) (result i32)))
	  (import "wasix_64v1" "stack_restore" (func (param i64 i64)))
	  (import "wasix_32v1" "stack_checkpoint" (func (param i32 i32) (result i32)))
	  (import "wasix_32v1" "stack_restore" (func (param i32 i64))))`)
	if err != nil {
		t.Fatal(err)
	}
	m, err := wasmtime.NewModule(engine, wasm)
	if err != nil {
		t.Fatal(err)
	}
	store := wasmtime.NewStore(engine)
	defer store.Close()
	if _, err := l.Instantiate(store, m); err != nil {
		t.Fatal(err)
	}
}
