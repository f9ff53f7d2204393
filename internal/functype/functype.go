// Package functype compares wasmtime function types, which wasmtime-go
// cannot compare itself (two FuncTypes with the same signature are
// distinct objects).
package functype

import "github.com/bytecodealliance/wasmtime-go/v25"

// Same reports whether a and b have the same parameter and result kinds.
func Same(a, b *wasmtime.FuncType) bool {
	return sameKinds(a.Params(), b.Params()) && sameKinds(a.Results(), b.Results())
}

func sameKinds(a, b []*wasmtime.ValType) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].Kind() != b[i].Kind() {
			return false
		}
	}
	return true
}
