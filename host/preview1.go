package host

import (
	"github.com/wasix-org/wasix-signals-go/internal/preview0"
	"github.com/wasix-org/wasix-signals-go/internal/wasmbin"
)

// preview1 lists the functions wasmtime's WASI preview1 defines, with
// their signatures. wasix-libc imports these under wasix_32v1; the ones
// with the same signature are renamed to wasi_snapshot_preview1 at load
// time.
var preview1 = preview0.Preview1

// binSignature renders a function type in the notation of preview1.
func binSignature(params, results []wasmbin.ValType) string {
	b := make([]byte, 0, len(params)+len(results)+1)
	enc := func(ts []wasmbin.ValType) {
		for _, t := range ts {
			switch t {
			case wasmbin.I32:
				b = append(b, 'i')
			case wasmbin.I64:
				b = append(b, 'I')
			default:
				b = append(b, '?')
			}
		}
	}
	enc(params)
	b = append(b, ':')
	enc(results)
	return string(b)
}
