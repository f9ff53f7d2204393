package wasmbin_test

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/wasix-org/wasix-signals-go/internal/wasmbin"
)

// FuzzRewrite checks that Rewrite never panics and that what it produces is
// a module it accepts again and leaves unchanged.
//
//	go test -run '^$' -fuzz FuzzRewrite -fuzztime 3m ./internal/wasmbin/
func FuzzRewrite(f *testing.F) {
	seeds := [][]byte{
		wat(f, wasixWAT),
		wat(f, `(module (import "env" "memory" (memory 1 65536 shared))
			(func $start (i32.atomic.store (i32.const 0) (i32.const 1))
				(drop (memory.atomic.notify (i32.const 0) (i32.const 1))))
			(start $start))`),
		wat(f, `(module (import "env" "memory" (memory 1))
			(data (i32.const 8) "data") (data "passive")
			(func (export "f") (memory.init 1 (i32.const 0) (i32.const 0) (i32.const 1))))`),
		wat(f, `(module (func (export "g") (result i32) (i32.const 7)))`),
		wat(f, `(module (import "a" "m" (memory i64 1 10)) (tag (param i32)) (global i32 (i32.const 0)))`),
		wat(f, `(module (rec (type (struct (field i8))) (type (array (mut i16))))
			(type $f (func (param i32) (result i32)))
			(import "wasix_32v1" "fd_close" (func (type $f)))
			(import "wasix_32v1" "g" (global (ref null 0)))
			(import "t" "t" (table 1 funcref)))`),
		module(sec(0, str("first")), typeSec, sec(2, vec(memImport, funcImport("wasix_32v1", "fd_close", 0))),
			sec(0, str("name"))),
		module(sec(2, vec(memImport)), sec(5, vec())),
		module(sec(2, vec(memImport, memImport))),
		nil,
		[]byte("\x00asm"),
		cat(module(), []byte{1, 0xff, 0xff, 0xff, 0xff, 0x0f}),
		module(sec(2, leb(1<<32-1))),
		module(sec(1, leb(1<<32-1), []byte{0x60, 0, 0})),
		module(sec(7, vec()), sec(2, vec())),
	}
	if b, err := os.ReadFile(filepath.Join("..", "..", "fixtures", "wasixlike.wasm")); err == nil {
		seeds = append(seeds, b)
	}
	for _, s := range seeds {
		f.Add(s)
	}
	opts := wasmbin.Options{
		RenameToPreview1: func(name string, params, results []wasmbin.ValType) bool {
			return name == "fd_close" || len(params)%2 == 1
		},
		RenameUnstable: func(name string, params, results []wasmbin.ValType) string {
			switch {
			case name == "fd_write":
				return "wasi_snapshot_preview1"
			case len(results) == 1:
				return "elsewhere"
			}
			return ""
		},
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		orig := bytes.Clone(in)
		out, rep, err := wasmbin.Rewrite(in, opts)
		if !bytes.Equal(in, orig) {
			t.Fatal("Rewrite modified its input")
		}
		if err != nil {
			if out != nil || rep != nil {
				t.Fatalf("error %v with output or report", err)
			}
			return
		}
		if cmp.Equal(rep, &wasmbin.Report{}) != bytes.Equal(out, in) {
			t.Fatalf("report %+v does not match the change (output unchanged: %v)", rep, bytes.Equal(out, in))
		}
		again, rep2, err := wasmbin.Rewrite(out, opts)
		if err != nil {
			t.Fatalf("Rewrite(output): %v", err)
		}
		if !bytes.Equal(again, out) || !cmp.Equal(rep2, &wasmbin.Report{}) {
			t.Fatalf("second Rewrite changed the output: report %+v", rep2)
		}
		if imports, err := wasmbin.Imports(out); err == nil && rep.MemoryImported {
			for _, im := range imports {
				if im.Kind == wasmbin.KindMemory {
					t.Fatalf("memory import %s.%s left", im.Module, im.Name)
				}
			}
		}
	})
}
