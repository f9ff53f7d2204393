package functype_test

import (
	"testing"

	"github.com/bytecodealliance/wasmtime-go/v25"
	"github.com/wasix-org/wasix-signals-go/internal/functype"
)

func ty(params, results string) *wasmtime.FuncType {
	kinds := func(s string) []*wasmtime.ValType {
		var vs []*wasmtime.ValType
		for _, c := range s {
			k := wasmtime.KindI32
			if c == 'I' {
				k = wasmtime.KindI64
			}
			vs = append(vs, wasmtime.NewValType(k))
		}
		return vs
	}
	return wasmtime.NewFuncType(kinds(params), kinds(results))
}

func TestSame(t *testing.T) {
	cases := []struct {
		a, b [2]string
		want bool
	}{
		{[2]string{"ii", "i"}, [2]string{"ii", "i"}, true},
		{[2]string{"", ""}, [2]string{"", ""}, true},
		{[2]string{"ii", "i"}, [2]string{"iI", "i"}, false},
		{[2]string{"ii", "i"}, [2]string{"i", "i"}, false},
		{[2]string{"ii", "i"}, [2]string{"ii", ""}, false},
		{[2]string{"ii", "i"}, [2]string{"ii", "I"}, false},
	}
	for _, c := range cases {
		if got := functype.Same(ty(c.a[0], c.a[1]), ty(c.b[0], c.b[1])); got != c.want {
			t.Errorf("Same(%v, %v) = %v, want %v", c.a, c.b, got, c.want)
		}
	}
}
