package wasmbin_test

import (
	"fmt"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/wasix-org/wasix-signals-go/internal/wasmbin"
)

func TestImports(t *testing.T) {
	in := wat(t, `(module
		(type $s (struct))
		(import "wasix_32v1" "fd_seek" (func (param i32 i64 i32 i32) (result i32)))
		(import "t" "refs" (func (param funcref externref (ref null $s) (ref func)) (result f32 f64 v128)))
		(import "t" "table" (table 1 funcref))
		(import "env" "memory" (memory 1 65536 shared))
		(import "t" "global" (global (mut i64)))
		(import "t" "tag" (tag (param i32))))`)
	imports, err := wasmbin.Imports(in)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, im := range imports {
		s := fmt.Sprintf("%s %s.%s", im.Kind, im.Module, im.Name)
		if im.Func != nil {
			s += fmt.Sprintf(" %v -> %v", im.Func.Params, im.Func.Results)
		}
		got = append(got, s)
	}
	want := []string{
		"func wasix_32v1.fd_seek [i32 i64 i32 i32] -> [i32]",
		"func t.refs [funcref externref ref null ref] -> [f32 f64 v128]",
		"table t.table",
		"memory env.memory",
		"global t.global",
		"tag t.tag",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("imports (-want +got):\n%s", diff)
	}
	if s := fmt.Sprint(wasmbin.ValType(0x6e), wasmbin.ExternKind(9)); s != "valtype(0x6e) kind(0x9)" {
		t.Errorf("unnamed ValType and ExternKind print as %q", s)
	}
}
