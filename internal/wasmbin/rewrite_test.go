package wasmbin_test

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/bytecodealliance/wasmtime-go/v25"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/wasix-org/wasix-signals-go/internal/wasmbin"
)

// wasixWAT has the shape of a wasix-libc program (docs/BEHAVIOUR.md section 7): a shared
// env.memory import, preview1 calls under wasix_32v1, atomics, data
// segments, a start function that writes to memory, no memory export.
const wasixWAT = `
(module
  (import "wasix_32v1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (import "env" "memory" (memory 1 65536 shared))
  (import "wasix_32v1" "callback_signal" (func (param i32 i32)))
  (func $start
    (i32.atomic.store (i32.const 100) (i32.const 42)))
  (start $start)
  ;; Writes "hello\n" to stdout with fd_write; returns its errno.
  (func (export "hello") (result i32)
    (drop (i32.atomic.rmw.add (i32.const 100) (i32.const 1)))
    (i32.store (i32.const 0) (i32.const 16)) ;; iovec: buf
    (i32.store (i32.const 4) (i32.const 6))  ;; iovec: len
    (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))
  (data (i32.const 16) "hello\n")
  (data "passive"))
`

func newEngine() *wasmtime.Engine {
	cfg := wasmtime.NewConfig()
	cfg.SetWasmThreads(true)
	cfg.SetWasmMemory64(true)
	return wasmtime.NewEngineWithConfig(cfg)
}

// exportsOf compiles wasm and lists its exports as name:kind, memories with
// their limits as wasmtime sees them.
func exportsOf(t *testing.T, engine *wasmtime.Engine, wasm []byte) []string {
	t.Helper()
	m, err := wasmtime.NewModule(engine, wasm)
	if err != nil {
		t.Fatalf("rewritten module does not compile: %v", err)
	}
	var exps []string
	for _, e := range m.Exports() {
		s := e.Name() + ":"
		switch ty := e.Type(); {
		case ty.FuncType() != nil:
			s += "func"
		case ty.MemoryType() != nil:
			mt := ty.MemoryType()
			hasMax, max := mt.Maximum()
			s += fmt.Sprintf("memory[%d,%d,%v,64=%v]", mt.Minimum(), max, hasMax, mt.Is64())
		default:
			s += "other"
		}
		exps = append(exps, s)
	}
	return exps
}

func TestRewrite(t *testing.T) {
	engine := newEngine()
	rename := wasmbin.Options{RenameToPreview1: renamePreview1}
	fdWrite := &wasmbin.FuncType{
		Params:  []wasmbin.ValType{wasmbin.I32, wasmbin.I32, wasmbin.I32, wasmbin.I32},
		Results: []wasmbin.ValType{wasmbin.I32},
	}
	tests := []struct {
		name     string
		in       []byte
		opts     wasmbin.Options
		want     wasmbin.Report
		sections []string         // of the output
		imports  []wasmbin.Import // of the output
		exports  []string         // of the compiled output; nil: do not compile
	}{
		{
			name: "wasix-libc shape",
			in:   wat(t, wasixWAT),
			opts: rename,
			want: wasmbin.Report{
				MemoryImported: true, Shared: true, Min: 1, Max: 65536, HasMax: true,
				Renamed: []string{"fd_write"}, MemoryExported: true,
			},
			sections: []string{"type", "import", "function", "memory", "export", "start", "code", "data", "custom:name"},
			imports: []wasmbin.Import{
				{Module: "wasi_snapshot_preview1", Name: "fd_write", Kind: wasmbin.KindFunc, Func: fdWrite},
				{Module: "wasix_32v1", Name: "callback_signal", Kind: wasmbin.KindFunc,
					Func: &wasmbin.FuncType{Params: []wasmbin.ValType{wasmbin.I32, wasmbin.I32}}},
			},
			exports: []string{"hello:func", "memory:memory[1,65536,true,64=false]"},
		},
		{
			name:     "without options only the memory moves",
			in:       wat(t, wasixWAT),
			want:     wasmbin.Report{MemoryImported: true, Shared: true, Min: 1, Max: 65536, HasMax: true, MemoryExported: true},
			sections: []string{"type", "import", "function", "memory", "export", "start", "code", "data", "custom:name"},
			imports: []wasmbin.Import{
				{Module: "wasix_32v1", Name: "fd_write", Kind: wasmbin.KindFunc, Func: fdWrite},
				{Module: "wasix_32v1", Name: "callback_signal", Kind: wasmbin.KindFunc,
					Func: &wasmbin.FuncType{Params: []wasmbin.ValType{wasmbin.I32, wasmbin.I32}}},
			},
			exports: []string{"hello:func", "memory:memory[1,65536,true,64=false]"},
		},
		{
			name:     "unshared memory without maximum",
			in:       wat(t, `(module (import "env" "memory" (memory 2)) (func (export "f")))`),
			want:     wasmbin.Report{MemoryImported: true, Min: 2, MemoryExported: true},
			sections: []string{"type", "function", "memory", "export", "code"},
			exports:  []string{"f:func", "memory:memory[2,0,false,64=false]"},
		},
		{
			name:     "memory64 keeps its flag",
			in:       wat(t, `(module (import "a" "m" (memory i64 1 10)))`),
			want:     wasmbin.Report{MemoryImported: true, Min: 1, Max: 10, HasMax: true, MemoryExported: true},
			sections: []string{"memory", "export"},
			exports:  []string{"memory:memory[1,10,true,64=true]"},
		},
		{
			name: "memory already exported as memory",
			in: wat(t, `(module (import "env" "memory" (memory 1 2 shared))
				(export "memory" (memory 0)) (func (export "f")))`),
			want:     wasmbin.Report{MemoryImported: true, Shared: true, Min: 1, Max: 2, HasMax: true},
			sections: []string{"type", "function", "memory", "export", "code"},
			exports:  []string{"memory:memory[1,2,true,64=false]", "f:func"},
		},
		{
			name:     "memory exported under another name",
			in:       wat(t, `(module (import "env" "memory" (memory 1 2)) (export "mem" (memory 0)))`),
			want:     wasmbin.Report{MemoryImported: true, Min: 1, Max: 2, HasMax: true, MemoryExported: true},
			sections: []string{"memory", "export"},
			exports:  []string{"mem:memory[1,2,true,64=false]", "memory:memory[1,2,true,64=false]"},
		},
		{
			name:     "another export named memory is left alone",
			in:       wat(t, `(module (import "env" "memory" (memory 1)) (func (export "memory")))`),
			want:     wasmbin.Report{MemoryImported: true, Min: 1},
			sections: []string{"type", "function", "memory", "export", "code"},
			exports:  []string{"memory:func"},
		},
		{
			name: "no memory or export section: both inserted in order",
			in: wat(t, `(module
				(import "wasix_32v1" "proc_exit" (func $exit (param i32)))
				(import "env" "memory" (memory 1 65536 shared))
				(global $g (mut i32) (i32.const 0))
				(func $start (global.set $g (i32.load (i32.const 0))))
				(start $start)
				(data (i32.const 0) "\2a"))`),
			opts: rename,
			want: wasmbin.Report{
				MemoryImported: true, Shared: true, Min: 1, Max: 65536, HasMax: true,
				Renamed: []string{"proc_exit"}, MemoryExported: true,
			},
			sections: []string{"type", "import", "function", "memory", "global", "export", "start", "code", "data", "custom:name"},
			imports: []wasmbin.Import{{Module: "wasi_snapshot_preview1", Name: "proc_exit", Kind: wasmbin.KindFunc,
				Func: &wasmbin.FuncType{Params: []wasmbin.ValType{wasmbin.I32}}}},
			exports: []string{"memory:memory[1,65536,true,64=false]"},
		},
		{
			name: "memory section goes before the tag section",
			in: wat(t, `(module (import "env" "memory" (memory 1 2 shared)) (tag (param i32))
				(global i32 (i32.const 0)))`),
			want:     wasmbin.Report{MemoryImported: true, Shared: true, Min: 1, Max: 2, HasMax: true, MemoryExported: true},
			sections: []string{"type", "memory", "tag", "global", "export"},
		},
		{
			name: "custom sections stay in place",
			in: module(
				sec(0, str("first")),
				typeSec,
				sec(0, str("after-type"), []byte{1, 2, 3}),
				sec(2, vec(memImport, funcImport("wasix_32v1", "fd_close", 0))),
				sec(0, str("after-import")),
				sec(3, vec(leb(0))),
				sec(0, str("after-function")),
				sec(10, vec(cat(leb(4), []byte{0, 0x20, 0, 0x0b}))),
				sec(0, str("name"), []byte{9, 9}),
			),
			opts: rename,
			want: wasmbin.Report{
				MemoryImported: true, Shared: true, Min: 1, Max: 65536, HasMax: true,
				Renamed: []string{"fd_close"}, MemoryExported: true,
			},
			sections: []string{"custom:first", "type", "custom:after-type", "import", "custom:after-import",
				"function", "memory", "export", "custom:after-function", "code", "custom:name"},
			imports: []wasmbin.Import{{Module: "wasi_snapshot_preview1", Name: "fd_close", Kind: wasmbin.KindFunc,
				Func: &wasmbin.FuncType{Params: []wasmbin.ValType{wasmbin.I32}, Results: []wasmbin.ValType{wasmbin.I32}}}},
			exports: []string{"memory:memory[1,65536,true,64=false]"},
		},
		{
			name: "empty memory section is filled",
			in: module(
				sec(2, vec(memImport)),
				sec(5, vec()),
				sec(7, vec(cat(str("x"), []byte{2, 0}))),
			),
			want:     wasmbin.Report{MemoryImported: true, Shared: true, Min: 1, Max: 65536, HasMax: true, MemoryExported: true},
			sections: []string{"memory", "export"},
			exports:  []string{"x:memory[1,65536,true,64=false]", "memory:memory[1,65536,true,64=false]"},
		},
		{
			name: "renames follow the signature and the module",
			in: wat(t, `(module
				(import "wasix_32v1" "fd_write" (func (param i32) (result i32)))
				(import "wasix_32v1" "clock_time_get" (func (param i32 i64 i32) (result i32)))
				(import "env" "fd_write" (func (param i32 i32 i32 i32) (result i32)))
				(import "wasix_32v1" "proc_exit" (global i32))
				(import "wasix_32v1" "random_get" (func (param i32 i32) (result i32))))`),
			opts:     rename,
			want:     wasmbin.Report{Renamed: []string{"clock_time_get", "random_get"}},
			sections: []string{"type", "import"},
			imports: []wasmbin.Import{
				{Module: "wasix_32v1", Name: "fd_write", Kind: wasmbin.KindFunc,
					Func: &wasmbin.FuncType{Params: []wasmbin.ValType{wasmbin.I32}, Results: []wasmbin.ValType{wasmbin.I32}}},
				{Module: "wasi_snapshot_preview1", Name: "clock_time_get", Kind: wasmbin.KindFunc,
					Func: &wasmbin.FuncType{Params: []wasmbin.ValType{wasmbin.I32, wasmbin.I64, wasmbin.I32}, Results: []wasmbin.ValType{wasmbin.I32}}},
				{Module: "env", Name: "fd_write", Kind: wasmbin.KindFunc, Func: fdWrite},
				{Module: "wasix_32v1", Name: "proc_exit", Kind: wasmbin.KindGlobal},
				{Module: "wasi_snapshot_preview1", Name: "random_get", Kind: wasmbin.KindFunc,
					Func: &wasmbin.FuncType{Params: []wasmbin.ValType{wasmbin.I32, wasmbin.I32}, Results: []wasmbin.ValType{wasmbin.I32}}},
			},
			exports: []string{},
		},
		{
			name: "wasi_unstable imports move where the caller says",
			in: wat(t, `(module
				(import "wasi_unstable" "fd_write" (func (param i32 i32 i32 i32) (result i32)))
				(import "wasix_32v1" "fd_close" (func (param i32) (result i32)))
				(import "wasi_unstable" "fd_seek" (func (param i32 i64 i32 i32) (result i32)))
				(import "wasi_unstable" "fd_close" (func (param i32) (result i32))))`),
			opts: wasmbin.Options{
				RenameToPreview1: renamePreview1,
				RenameUnstable: func(name string, params, results []wasmbin.ValType) string {
					switch {
					case name == "fd_seek":
						return "translated"
					case renamePreview1(name, params, results):
						return "wasi_snapshot_preview1"
					}
					return ""
				},
			},
			want:     wasmbin.Report{Renamed: []string{"fd_close"}, RenamedUnstable: []string{"fd_write", "fd_seek", "fd_close"}},
			sections: []string{"type", "import"},
			imports: []wasmbin.Import{
				{Module: "wasi_snapshot_preview1", Name: "fd_write", Kind: wasmbin.KindFunc, Func: fdWrite},
				{Module: "wasi_snapshot_preview1", Name: "fd_close", Kind: wasmbin.KindFunc,
					Func: &wasmbin.FuncType{Params: []wasmbin.ValType{wasmbin.I32}, Results: []wasmbin.ValType{wasmbin.I32}}},
				{Module: "translated", Name: "fd_seek", Kind: wasmbin.KindFunc,
					Func: &wasmbin.FuncType{Params: []wasmbin.ValType{wasmbin.I32, wasmbin.I64, wasmbin.I32, wasmbin.I32}, Results: []wasmbin.ValType{wasmbin.I32}}},
				{Module: "wasi_snapshot_preview1", Name: "fd_close", Kind: wasmbin.KindFunc,
					Func: &wasmbin.FuncType{Params: []wasmbin.ValType{wasmbin.I32}, Results: []wasmbin.ValType{wasmbin.I32}}},
			},
			exports: []string{},
		},
		{
			name:     "wasi_unstable imports stay without the option",
			in:       wat(t, `(module (import "wasi_unstable" "fd_close" (func (param i32) (result i32))))`),
			opts:     rename,
			want:     wasmbin.Report{},
			sections: []string{"type", "import"},
			imports: []wasmbin.Import{
				{Module: "wasi_unstable", Name: "fd_close", Kind: wasmbin.KindFunc,
					Func: &wasmbin.FuncType{Params: []wasmbin.ValType{wasmbin.I32}, Results: []wasmbin.ValType{wasmbin.I32}}},
			},
		},
		{
			name: "type indices count every type of a recursion group",
			in: wat(t, `(module
				(rec (type (struct (field i8))) (type (array (mut i16))))
				(type (sub (func (param (ref null 0)))))
				(type $fd_close (func (param i32) (result i32)))
				(import "wasix_32v1" "fd_close" (func (type $fd_close)))
				(import "wasix_32v1" "sched_yield" (func (type 2))))`),
			opts:     rename,
			want:     wasmbin.Report{Renamed: []string{"fd_close"}},
			sections: []string{"type", "import", "custom:name"},
			imports: []wasmbin.Import{
				{Module: "wasi_snapshot_preview1", Name: "fd_close", Kind: wasmbin.KindFunc,
					Func: &wasmbin.FuncType{Params: []wasmbin.ValType{wasmbin.I32}, Results: []wasmbin.ValType{wasmbin.I32}}},
				{Module: "wasix_32v1", Name: "sched_yield", Kind: wasmbin.KindFunc,
					Func: &wasmbin.FuncType{Params: []wasmbin.ValType{wasmbin.RefNull}}},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := bytes.Clone(tt.in)
			out, rep, err := wasmbin.Rewrite(in, tt.opts)
			if err != nil {
				t.Fatalf("Rewrite: %v", err)
			}
			if !bytes.Equal(in, tt.in) {
				t.Error("Rewrite modified its input")
			}
			// Offsets: TestRewriteOffsets.
			if diff := cmp.Diff(&tt.want, rep, cmpopts.IgnoreFields(wasmbin.Report{}, "Offsets")); diff != "" {
				t.Errorf("report (-want +got):\n%s", diff)
			}
			secs, err := wasmbin.SectionNames(out)
			if err != nil {
				t.Fatalf("output: %v", err)
			}
			if diff := cmp.Diff(tt.sections, secs); diff != "" {
				t.Errorf("sections (-want +got):\n%s", diff)
			}
			imports, err := wasmbin.Imports(out)
			if err != nil {
				t.Fatalf("Imports(output): %v", err)
			}
			if diff := cmp.Diff(tt.imports, imports); diff != "" {
				t.Errorf("imports (-want +got):\n%s", diff)
			}
			if tt.exports != nil {
				if diff := cmp.Diff(tt.exports, exportsOf(t, engine, out), cmpopts.EquateEmpty()); diff != "" {
					t.Errorf("exports (-want +got):\n%s", diff)
				}
			}
			again, rep2, err := wasmbin.Rewrite(out, tt.opts)
			if err != nil || !bytes.Equal(again, out) || !cmp.Equal(rep2, &wasmbin.Report{}) {
				t.Errorf("second Rewrite changed something: err %v, report %+v, same bytes %v", err, rep2, bytes.Equal(again, out))
			}
		})
	}
}

func TestRewriteUnchanged(t *testing.T) {
	opts := wasmbin.Options{RenameToPreview1: renamePreview1}
	tests := []struct {
		name string
		in   []byte
	}{
		{"header only", module()},
		{"no memory", wat(t, `(module (import "env" "f" (func)) (func (export "g")))`)},
		{"defined memory", wat(t, `(module (memory 1) (data (i32.const 0) "x"))`)},
		{"two defined memories", wat(t, `(module (memory 1) (memory 2))`)},
		{"nothing to rename", wat(t, `(module (import "wasix_32v1" "thread_signal" (func (param i32 i32) (result i32))))`)},
		{"custom sections only", module(sec(0, str("a")), sec(0, str("b"), []byte{0xff}))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, rep, err := wasmbin.Rewrite(tt.in, opts)
			if err != nil {
				t.Fatalf("Rewrite: %v", err)
			}
			if len(out) != len(tt.in) || &out[0] != &tt.in[0] {
				t.Error("Rewrite did not return its input")
			}
			if diff := cmp.Diff(&wasmbin.Report{}, rep); diff != "" {
				t.Errorf("report (-want +got):\n%s", diff)
			}
		})
	}
}

// TestRewriteRuns runs a rewritten wasix-shaped module in wasmtime with no
// memory provided and wasmtime's own WASI behind the renamed fd_write.
func TestRewriteRuns(t *testing.T) {
	engine := newEngine()
	in := wat(t, wasixWAT)
	out, _, err := wasmbin.Rewrite(in, wasmbin.Options{RenameToPreview1: renamePreview1})
	if err != nil {
		t.Fatalf("Rewrite: %v", err)
	}

	stdout := filepath.Join(t.TempDir(), "stdout")
	wasi := wasmtime.NewWasiConfig()
	if err := wasi.SetStdoutFile(stdout); err != nil {
		t.Fatal(err)
	}
	store := wasmtime.NewStore(engine)
	store.SetWasi(wasi)
	linker := wasmtime.NewLinker(engine)
	if err := linker.DefineWasi(); err != nil {
		t.Fatal(err)
	}
	// callback_signal stays under wasix_32v1: the host implements it.
	if err := linker.FuncNew("wasix_32v1", "callback_signal",
		wasmtime.NewFuncType([]*wasmtime.ValType{wasmtime.NewValType(wasmtime.KindI32), wasmtime.NewValType(wasmtime.KindI32)}, nil),
		func(*wasmtime.Caller, []wasmtime.Val) ([]wasmtime.Val, *wasmtime.Trap) { return nil, nil }); err != nil {
		t.Fatal(err)
	}

	// The original cannot be instantiated that way: nothing provides env.memory.
	orig, err := wasmtime.NewModule(engine, in)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := linker.Instantiate(store, orig); err == nil {
		t.Fatal("the original module instantiated without a memory")
	}

	mod, err := wasmtime.NewModule(engine, out)
	if err != nil {
		t.Fatal(err)
	}
	inst, err := linker.Instantiate(store, mod)
	if err != nil {
		t.Fatalf("Instantiate: %v", err)
	}
	exp := inst.GetExport(store, "memory")
	if exp == nil || exp.Memory() == nil {
		t.Fatalf("export memory = %v, want a *wasmtime.Memory", exp)
	}
	mem := exp.Memory()
	hasMax, max := mem.Type(store).Maximum()
	if got := fmt.Sprint(mem.Type(store).Minimum(), hasMax, max); got != "1 true 65536" {
		t.Errorf("memory limits (min, has max, max) = %s, want 1 true 65536", got)
	}
	data := mem.UnsafeData(store)
	if got := string(data[16:22]); got != "hello\n" {
		t.Errorf("data segment: memory[16:22] = %q, want %q", got, "hello\n")
	}
	if data[100] != 42 {
		t.Errorf("start function: memory[100] = %d, want 42", data[100])
	}

	errno, err := inst.GetFunc(store, "hello").Call(store)
	if err != nil {
		t.Fatalf("hello: %v", err)
	}
	if errno != int32(0) {
		t.Errorf("fd_write errno = %v, want 0", errno)
	}
	data = mem.UnsafeData(store)
	if data[100] != 43 || data[8] != 6 {
		t.Errorf("memory[100] = %d (want 43), nwritten = %d (want 6)", data[100], data[8])
	}
	got, err := os.ReadFile(stdout)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != "hello\n" {
		t.Errorf("stdout = %q, want %q", got, "hello\n")
	}
}

// TestRewriteFixtures rewrites the project's real wasix-libc binaries.
func TestRewriteFixtures(t *testing.T) {
	paths, err := filepath.Glob("../../fixtures/*.wasm")
	if err != nil {
		t.Fatal(err)
	}
	if len(paths) == 0 {
		t.Skip("no fixtures")
	}
	engine := newEngine()
	opts := wasmbin.Options{RenameToPreview1: renamePreview1}
	for _, path := range paths {
		t.Run(filepath.Base(path), func(t *testing.T) {
			in, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			before, err := wasmbin.Imports(in)
			if err != nil {
				t.Fatalf("Imports: %v", err)
			}
			var memories int
			var renamable []string
			for _, im := range before {
				if im.Kind == wasmbin.KindMemory {
					memories++
				}
				if im.Module == wasmbin.WASIXModule && im.Kind == wasmbin.KindFunc && renamePreview1(im.Name, im.Func.Params, im.Func.Results) {
					renamable = append(renamable, im.Name)
				}
			}
			out, rep, err := wasmbin.Rewrite(in, opts)
			if err != nil {
				t.Fatalf("Rewrite: %v", err)
			}
			if rep.MemoryImported != (memories == 1) {
				t.Errorf("MemoryImported = %v with %d memory imports", rep.MemoryImported, memories)
			}
			if diff := cmp.Diff(renamable, rep.Renamed); diff != "" {
				t.Errorf("renamed (-want +got):\n%s", diff)
			}
			after, err := wasmbin.Imports(out)
			if err != nil {
				t.Fatalf("Imports(output): %v", err)
			}
			if want := len(before) - memories; len(after) != want {
				t.Errorf("%d imports after, want %d", len(after), want)
			}
			for _, im := range after {
				if im.Kind == wasmbin.KindMemory {
					t.Errorf("memory import %s.%s left", im.Module, im.Name)
				}
			}
			if cmp.Equal(rep, &wasmbin.Report{}) {
				if !bytes.Equal(out, in) {
					t.Error("output differs from input with an empty report")
				}
				return
			}
			exps := exportsOf(t, engine, out)
			if rep.MemoryImported {
				want := fmt.Sprintf("memory:memory[%d,%d,%v,64=false]", rep.Min, rep.Max, rep.HasMax)
				found := false
				for _, e := range exps {
					found = found || e == want
				}
				if !found {
					t.Errorf("exports %v lack %s", exps, want)
				}
			}
		})
	}
}

func TestRewriteErrors(t *testing.T) {
	rename := wasmbin.Options{RenameToPreview1: func(string, []wasmbin.ValType, []wasmbin.ValType) bool { return true }}
	sharedMem := cat([]byte{3}, leb(1), leb(2))
	tests := []struct {
		name string
		in   []byte
		opts wasmbin.Options
		want string // the error's text
	}{
		{"empty", nil, rename,
			`wasmbin: malformed binary at offset 0x0: not a wasm binary (no \0asm header)`},
		{"short header", []byte("\x00asm\x01\x00"), rename,
			`wasmbin: malformed binary at offset 0x0: not a wasm binary (no \0asm header)`},
		{"bad magic", []byte("\x00wasm\x01\x00\x00\x00"), rename,
			`wasmbin: malformed binary at offset 0x0: not a wasm binary (no \0asm header)`},
		{"component", []byte("\x00asm\x0d\x00\x01\x00"), rename,
			`wasmbin: malformed binary at offset 0x4: unsupported binary version 0d 00 01 00 (a component?)`},
		{"section size past the end", cat(module(), []byte{1, 5, 0}), rename,
			`wasmbin: malformed binary at offset 0xa: section of 5 bytes runs past the end (1 bytes left)`},
		{"section size truncated", cat(module(), []byte{1, 0x80}), rename,
			`wasmbin: malformed binary at offset 0x9: unexpected end of input in LEB128 number`},
		{"section size too long", cat(module(), []byte{1, 0x80, 0x80, 0x80, 0x80, 0x80, 0}), rename,
			`wasmbin: malformed binary at offset 0x9: LEB128 number too long or overflows u32`},
		{"section size overflows u32", cat(module(), []byte{1, 0xff, 0xff, 0xff, 0xff, 0x1f}), rename,
			`wasmbin: malformed binary at offset 0x9: LEB128 number too long or overflows u32`},
		{"section size 4 GiB - 1", cat(module(), []byte{1, 0xff, 0xff, 0xff, 0xff, 0x0f}), rename,
			`wasmbin: malformed binary at offset 0xe: section of 4294967295 bytes runs past the end (0 bytes left)`},
		{"unknown section", module(sec(14)), rename,
			`wasmbin: malformed binary at offset 0x8: unknown section id 14`},
		{"sections out of order", module(sec(7, vec()), sec(2, vec())), rename,
			`wasmbin: malformed binary at offset 0xb: section id 2 repeated or out of order`},
		{"section repeated", module(sec(2, vec()), sec(2, vec())), rename,
			`wasmbin: malformed binary at offset 0xb: section id 2 repeated or out of order`},
		{"datacount after code", module(sec(10, vec()), sec(12, leb(0))), rename,
			`wasmbin: malformed binary at offset 0xb: section id 12 repeated or out of order`},
		{"custom section without name", module(sec(0)), rename,
			`wasmbin: malformed binary at offset 0xa: unexpected end of input in LEB128 number`},
		{"custom section name not UTF-8", module(sec(0, str("\xff"))), rename,
			`wasmbin: malformed binary at offset 0xa: name is not valid UTF-8`},
		{"import count larger than entries", module(sec(2, leb(2), memImport)), rename,
			`wasmbin: malformed binary at offset 0x1c: unexpected end of input in LEB128 number`},
		{"import count huge", module(sec(2, leb(1<<32-1))), rename,
			`wasmbin: malformed binary at offset 0xf: unexpected end of input in LEB128 number`},
		{"import name past the end", module(sec(2, vec(cat(str("env"), leb(100))))), rename,
			`wasmbin: malformed binary at offset 0x10: name of 100 bytes runs past the end (0 bytes left)`},
		{"import name not UTF-8", module(sec(2, vec(cat(str("env"), str("\xc3"), []byte{0}, leb(0))))), rename,
			`wasmbin: malformed binary at offset 0xf: name is not valid UTF-8`},
		{"unknown import kind", module(sec(2, vec(cat(str("a"), str("b"), []byte{5})))), rename,
			`wasmbin: malformed binary at offset 0xf: import "a" "b": unknown kind 0x5`},
		{"import section size larger than its entries", module(sec(2, vec(memImport), []byte{0})), rename,
			`wasmbin: malformed binary at offset 0x1c: import section: 1 bytes left over after the last entry`},
		{"import section size smaller than its entries", module(cat([]byte{2, 10}, vec(memImport)[:10])), rename,
			`wasmbin: malformed binary at offset 0x10: name of 6 bytes runs past the end (4 bytes left)`},
		{"unknown limits flags", module(sec(2, vec(cat(str("a"), str("m"), []byte{2, 0x10}, leb(1))))), rename,
			`wasmbin: malformed binary at offset 0x10: unknown limits flags 0x10`},
		{"memory minimum overflows u32", module(sec(2, vec(cat(str("a"), str("m"), []byte{2, 0}, leb(1<<32))))), rename,
			`wasmbin: malformed binary at offset 0x11: LEB128 number too long or overflows u32`},
		{"memory64 maximum overflows u64", module(sec(2, vec(cat(str("a"), str("m"), []byte{2, 5, 0},
			[]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f})))), rename,
			`wasmbin: malformed binary at offset 0x12: LEB128 number too long or overflows u64`},
		{"table of an unknown type", module(sec(2, vec(cat(str("a"), str("t"), []byte{1, 0x40, 0, 1})))), rename,
			`wasmbin: malformed binary at offset 0x10: unknown value type 0x40`},
		{"table heap type overflows s33", module(sec(2, vec(cat(str("a"), str("t"), []byte{1, 0x63, 0x80, 0x80, 0x80, 0x80, 0x10, 0, 1})))), rename,
			`wasmbin: malformed binary at offset 0x11: LEB128 number too long or overflows s33`},
		{"global mutability", module(sec(2, vec(cat(str("a"), str("g"), []byte{3, 0x7f, 2})))), rename,
			`wasmbin: malformed binary at offset 0x11: unknown global mutability 0x2`},
		{"tag attribute", module(sec(2, vec(cat(str("a"), str("e"), []byte{4, 1, 0})))), rename,
			`wasmbin: malformed binary at offset 0x10: unknown tag attribute 0x1`},
		{"memory section truncated", module(sec(5, leb(1), []byte{1, 1})), rename,
			`wasmbin: malformed binary at offset 0xd: unexpected end of input in LEB128 number`},
		{"export section truncated", module(sec(7, leb(1), str("x"), []byte{0})), rename,
			`wasmbin: malformed binary at offset 0xe: unexpected end of input in LEB128 number`},
		{"export name not UTF-8", module(sec(7, vec(cat(str("\xed\xa0\x80"), []byte{0, 0})))), rename,
			`wasmbin: malformed binary at offset 0xb: name is not valid UTF-8`},
		{"type index out of range", module(typeSec, sec(2, vec(funcImport("wasix_32v1", "fd_close", 1)))), rename,
			`wasmbin: malformed binary at offset 0x13: import "wasix_32v1" "fd_close": type index out of range`},
		{"no type section", module(sec(2, vec(funcImport("wasix_32v1", "fd_close", 0)))), rename,
			`wasmbin: malformed binary at offset 0xb: import "wasix_32v1" "fd_close": type index out of range`},
		{"type is not a function", module(sec(1, vec([]byte{0x5e, 0x7f, 0})), sec(2, vec(funcImport("wasix_32v1", "fd_close", 0)))), rename,
			`wasmbin: malformed binary at offset 0x11: import "wasix_32v1" "fd_close": type is not a function type`},
		{"unknown composite type", module(sec(1, vec([]byte{0x5d, 0})), sec(2, vec(funcImport("wasix_32v1", "f", 0)))), rename,
			`wasmbin: malformed binary at offset 0xb: unknown composite type 0x5d`},
		{"type count huge", module(sec(1, leb(1<<32-1), []byte{0x60, 0, 0}), sec(2, vec(funcImport("wasix_32v1", "f", 0)))), rename,
			`wasmbin: malformed binary at offset 0x12: unexpected end of input`},
		{"param count huge", module(sec(1, vec(cat([]byte{0x60}, leb(1<<32-1), i32))), sec(2, vec(funcImport("wasix_32v1", "f", 0)))), rename,
			`wasmbin: malformed binary at offset 0x12: unexpected end of input`},
		{"memory import and a defined memory", module(sec(2, vec(memImport)), sec(5, vec(sharedMem))), rename,
			`wasmbin: module imports a memory and has more than one memory (1 imported, 1 defined)`},
		{"two memory imports", module(sec(2, vec(memImport, memImport))), rename,
			`wasmbin: module imports a memory and has more than one memory (2 imported, 0 defined)`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, rep, err := wasmbin.Rewrite(tt.in, tt.opts)
			if err == nil {
				t.Fatalf("Rewrite succeeded (%d bytes, %+v), want error %q", len(out), rep, tt.want)
			}
			if out != nil || rep != nil {
				t.Errorf("Rewrite returned output or report with error")
			}
			if got := err.Error(); got != tt.want {
				t.Errorf("error:\n got %s\nwant %s", got, tt.want)
			}
			var fe *wasmbin.FormatError
			if errors.As(err, &fe) == errors.Is(err, wasmbin.ErrMultipleMemories) {
				t.Errorf("error %v is neither a *FormatError nor ErrMultipleMemories", err)
			}
		})
	}
}

// TestRewriteBytes checks the encoding of the sections Rewrite builds.
func TestRewriteBytes(t *testing.T) {
	tests := []struct {
		name    string
		in, out []byte
	}{
		{
			name: "custom page size",
			in:   wat(t, `(module (import "a" "m" (memory 1 (pagesize 1))))`),
			out: module(
				sec(5, vec([]byte{0x08, 1, 0})),
				sec(7, vec(cat(str("memory"), []byte{2, 0}))),
			),
		},
		{
			name: "overlong LEB128 numbers in copied parts are kept",
			in: module(
				sec(1, []byte{0x81, 0x00}, []byte{0x60, 0x80, 0x00, 0}),
				sec(2, vec(
					cat(str("wasix_32v1"), str("sched_yield"), []byte{0, 0x80, 0x80, 0}),
					cat(str("env"), str("memory"), []byte{2, 3, 0x81, 0x80, 0x80, 0x80, 0, 0x80, 0x80, 4}),
				)),
				cat([]byte{7, 0x81, 0x80, 0x80, 0x80, 0}, []byte{0}),
			),
			out: module(
				sec(1, []byte{0x81, 0x00}, []byte{0x60, 0x80, 0x00, 0}),
				sec(2, vec(cat(str("wasi_snapshot_preview1"), str("sched_yield"), []byte{0, 0x80, 0x80, 0}))),
				sec(5, vec([]byte{1, 0x81, 0x80, 0x80, 0x80, 0, 0x80, 0x80, 4})),
				sec(7, vec(cat(str("memory"), []byte{2, 0}))),
			),
		},
	}
	opts := wasmbin.Options{RenameToPreview1: func(string, []wasmbin.ValType, []wasmbin.ValType) bool { return true }}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, _, err := wasmbin.Rewrite(tt.in, opts)
			if err != nil {
				t.Fatalf("Rewrite: %v", err)
			}
			if diff := cmp.Diff(tt.out, out); diff != "" {
				t.Errorf("output (-want +got):\n%s", diff)
			}
		})
	}
}
