package wasmbin_test

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/bytecodealliance/wasmtime-go/v25"
	"github.com/google/go-cmp/cmp"

	"github.com/wasix-org/wasix-signals-go/internal/wasmbin"
)

const ehFix = "which wasmtime v25 cannot run; rebuild it with the asyncify (non-EH) wasix-libc sysroot"

func TestUnsupported(t *testing.T) {
	tests := []struct {
		name string
		in   []byte
		want string // the error, "" for none
	}{
		{"plain module", wat(t, `(module (import "env" "memory" (memory 1)) (func (export "_start")))`), ""},
		{"threads and atomics are fine", wat(t, `(module (memory 1 1 shared)
		  (func (drop (i32.atomic.load (i32.const 0)))))`), ""},
		{"defined tag", wat(t, `(module (tag $e (param i32)) (func (export "_start") (throw $e (i32.const 1))))`),
			"wasmbin: module is built for the WebAssembly exception-handling proposal (a tag section at offset 0x16), " + ehFix},
		{"imported tag", wat(t, `(module (import "env" "__c_longjmp" (tag (param i32))))`),
			"wasmbin: module is built for the WebAssembly exception-handling proposal (it imports the tag env.__c_longjmp), " + ehFix},
		{"malformed", []byte("\x00asm\x01\x00\x00\x00\x02\x05"),
			"wasmbin: malformed binary at offset 0xa: section of 5 bytes runs past the end (0 bytes left)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := wasmbin.Unsupported(tt.in)
			got := ""
			if err != nil {
				got = err.Error()
			}
			if got != tt.want {
				t.Errorf("Unsupported:\n got %s\nwant %s", got, tt.want)
			}
			if strings.Contains(tt.want, "exception-handling") && !errors.Is(err, wasmbin.ErrExceptionHandling) {
				t.Errorf("errors.Is(%v, ErrExceptionHandling) = false", err)
			}
		})
	}
}

// wasmtime's error for compiling the rewritten module, translated, is the
// error it gives for the input itself: offsets in the user's file.
func TestCompileErrorOffsetsAreTheInput(t *testing.T) {
	engine := newEngine()
	tests := []struct{ name, wat string }{
		{"function body after an inserted memory and export", `(module
		  (import "env" "memory" (memory 1 2))
		  (import "wasix_32v1" "clock_time_get" (func (param i32 i64 i32) (result i32)))
		  (func (export "f") (result i32) (i32.add (i32.const 1))))`},
		{"data segment after a rebuilt import section", `(module
		  (import "wasix_32v1" "random_get" (func (param i32 i32) (result i32)))
		  (import "env" "memory" (memory 1 2))
		  (func (export "f"))
		  (data (i32.const 0) "x") (data (i64.const 0) "y"))`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := wat(t, tt.wat)
			out, rep, err := wasmbin.Rewrite(in, wasmbin.Options{RenameToPreview1: renamePreview1})
			if err != nil {
				t.Fatal(err)
			}
			if len(out) == len(in) {
				t.Fatalf("the rewrite moved nothing: %d bytes", len(in))
			}
			_, direct := wasmtime.NewModule(engine, in)
			_, rewritten := wasmtime.NewModule(engine, out)
			if direct == nil || rewritten == nil {
				t.Fatalf("want both to fail: %v / %v", direct, rewritten)
			}
			if direct.Error() == rewritten.Error() {
				t.Fatalf("the offsets did not move: %v", direct)
			}
			got := rep.CompileError(rewritten)
			if d := cmp.Diff(direct.Error(), got.Error()); d != "" {
				t.Errorf("translated error (-direct +got):\n%s", d)
			}
			if !errors.Is(got, rewritten) {
				t.Errorf("the translated error does not wrap wasmtime's")
			}
		})
	}
}

func TestCompileErrorText(t *testing.T) {
	// Sections as Rewrite makes them: a 10-byte import section rebuilt
	// as 6 bytes, then the rest copied.
	rep := &wasmbin.Report{Offsets: wasmbin.OffsetMap{
		{Out: 8, In: 8, Len: 6},
		{Out: 14, In: 18, Len: 100, Copied: true},
	}}
	tests := []struct {
		name string
		rep  *wasmbin.Report
		in   string
		want string
	}{
		{"decimal", rep, "Invalid input WebAssembly code at offset 23: type mismatch",
			"Invalid input WebAssembly code at offset 27: type mismatch"},
		{"hex, twice", rep, "bad (at offset 0x10)\nworse (at offset 0x11)",
			"bad (at offset 0x14)\nworse (at offset 0x15)"},
		{"in a rebuilt section", rep, "bad import (at offset 0xb)",
			"bad import (at offset 0x8 (in a section rewritten at load time))"},
		{"header and past the end stay", rep, "at offset 3, at offset 500", "at offset 3, at offset 500"},
		{"nothing rewritten", &wasmbin.Report{}, "at offset 23", "at offset 23"},
		{"nil report", nil, "at offset 23", "at offset 23"},
		{"legacy exception instructions", &wasmbin.Report{},
			"WebAssembly translation error\n\nCaused by:\n    Invalid input WebAssembly code at offset 23: legacy exceptions support is not enabled",
			"wasmbin: module is built for the WebAssembly exception-handling proposal (wasmtime: Invalid input WebAssembly code at offset 23: legacy exceptions support is not enabled), " + ehFix},
		{"exception proposal", rep,
			"failed to parse WebAssembly module\n\nCaused by:\n    exceptions proposal not enabled (at offset 0x10)",
			"wasmbin: module is built for the WebAssembly exception-handling proposal (wasmtime: exceptions proposal not enabled (at offset 0x14)), " + ehFix},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			orig := errors.New(tt.in)
			got := tt.rep.CompileError(orig)
			if d := cmp.Diff(tt.want, got.Error()); d != "" {
				t.Errorf("(-want +got):\n%s", d)
			}
			if !errors.Is(got, orig) {
				t.Error("does not wrap the original")
			}
			if eh := strings.Contains(tt.want, "exception-handling"); errors.Is(got, wasmbin.ErrExceptionHandling) != eh {
				t.Errorf("errors.Is(ErrExceptionHandling) = %v, want %v", !eh, eh)
			}
		})
	}
	if (&wasmbin.Report{}).CompileError(nil) != nil {
		t.Error("CompileError(nil) != nil")
	}
}

// Modules with the proposal's instructions or types and no tag: wasmtime's
// error becomes the one line.
func TestCompileErrorExceptionInstructions(t *testing.T) {
	// try (0x06) with an empty block type, catch_all (0x19), end, end: the
	// legacy instructions, which the text format no longer writes.
	legacy := []byte("\x00asm\x01\x00\x00\x00\x01\x04\x01\x60\x00\x00\x03\x02\x01\x00\x0a\x08\x01\x06\x00\x06\x40\x19\x0b\x0b")
	for _, c := range []struct {
		name string
		in   []byte
	}{
		{"legacy try/catch_all", legacy},
		{"try_table", wat(t, `(module (import "env" "memory" (memory 1)) (func (block $l (try_table (catch_all $l)))))`)},
		{"exnref", wat(t, `(module (func (param exnref)))`)},
	} {
		t.Run(c.name, func(t *testing.T) {
			if err := wasmbin.Unsupported(c.in); err != nil {
				t.Fatalf("Unsupported: %v (it has no tag)", err)
			}
			out, rep, err := wasmbin.Rewrite(c.in, wasmbin.Options{})
			if err != nil {
				t.Fatal(err)
			}
			_, err = wasmtime.NewModule(newEngine(), out)
			if err == nil {
				t.Fatal("wasmtime compiled it")
			}
			got := rep.CompileError(err)
			if !errors.Is(got, wasmbin.ErrExceptionHandling) || strings.Contains(got.Error(), "\n") {
				t.Errorf("got %q, want the exception-handling error on one line", got)
			}
		})
	}
}

// Every span of the map covers the output once, in order, and a copied one
// holds the same bytes as the input at its offset.
func TestRewriteOffsets(t *testing.T) {
	for _, src := range []string{
		`(module (import "env" "memory" (memory 1 2)) (func (export "f")) (data (i32.const 0) "x"))`,
		`(module (import "env" "memory" (memory 1 2 shared)))`,
		`(module (import "env" "memory" (memory 1)) (import "wasix_32v1" "random_get" (func (param i32 i32) (result i32))))`,
		`(module (import "wasix_32v1" "random_get" (func (param i32 i32) (result i32))) (memory (export "memory") 1) (func))`,
	} {
		in := wat(t, src)
		out, rep, err := wasmbin.Rewrite(in, wasmbin.Options{RenameToPreview1: renamePreview1})
		if err != nil {
			t.Fatal(err)
		}
		at := 8
		for _, s := range rep.Offsets {
			if s.Out != at || s.In < 8 || s.In > len(in) {
				t.Fatalf("%s: span %+v, want it at %d and inside the input", src, s, at)
			}
			if s.Copied && !bytes.Equal(out[s.Out:s.Out+s.Len], in[s.In:s.In+s.Len]) {
				t.Errorf("%s: copied span %+v differs from the input", src, s)
			}
			at += s.Len
		}
		if at != len(out) {
			t.Errorf("%s: spans end at %d, output at %d", src, at, len(out))
		}
		for off := range out {
			orig, exact := rep.Offsets.Original(off)
			if exact && out[off] != in[orig] {
				t.Fatalf("%s: output byte %d maps to input byte %d, which differs", src, off, orig)
			}
		}
	}
}
