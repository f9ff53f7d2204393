package wasmbin_test

import (
	"testing"

	"github.com/bytecodealliance/wasmtime-go/v25"

	"github.com/wasix-org/wasix-signals-go/internal/wasmbin"
)

// wat compiles a module written in the text format.
func wat(tb testing.TB, src string) []byte {
	tb.Helper()
	b, err := wasmtime.Wat2Wasm(src)
	if err != nil {
		tb.Fatalf("Wat2Wasm: %v", err)
	}
	return b
}

// Builders for hand-made (often malformed) binaries.

func leb(v uint64) []byte {
	var b []byte
	for v >= 0x80 {
		b = append(b, byte(v)|0x80)
		v >>= 7
	}
	return append(b, byte(v))
}

func cat(parts ...[]byte) []byte {
	var b []byte
	for _, p := range parts {
		b = append(b, p...)
	}
	return b
}

func str(s string) []byte { return cat(leb(uint64(len(s))), []byte(s)) }

// vec is a vector of the given encoded entries.
func vec(entries ...[]byte) []byte { return cat(leb(uint64(len(entries))), cat(entries...)) }

// sec is a section with a correct size.
func sec(id byte, content ...[]byte) []byte {
	c := cat(content...)
	return cat([]byte{id}, leb(uint64(len(c))), c)
}

// module is the header followed by the given sections.
func module(sections ...[]byte) []byte {
	return cat([]byte("\x00asm\x01\x00\x00\x00"), cat(sections...))
}

var (
	i32 = []byte{0x7f}
	// memImport imports env.memory, shared, 1 to 65536 pages.
	memImport = cat(str("env"), str("memory"), []byte{2, 3}, leb(1), leb(65536))
	// typeSec has one type, (func (param i32) (result i32)).
	typeSec = sec(1, vec(cat([]byte{0x60}, vec(i32), vec(i32))))
)

func funcImport(mod, name string, typeIndex uint64) []byte {
	return cat(str(mod), str(name), []byte{0}, leb(typeIndex))
}

// preview1 is a small stand-in for the caller's policy: these names with
// these signatures are renamed.
var preview1 = map[string]string{
	"fd_write":       "i32 i32 i32 i32 -> i32",
	"proc_exit":      "i32 ->",
	"poll_oneoff":    "i32 i32 i32 i32 -> i32",
	"clock_time_get": "i32 i64 i32 -> i32",
	"args_get":       "i32 i32 -> i32",
	"args_sizes_get": "i32 i32 -> i32",
	"environ_get":    "i32 i32 -> i32",
	"fd_close":       "i32 -> i32",
	"fd_seek":        "i32 i64 i32 i32 -> i32",
	"random_get":     "i32 i32 -> i32",
}

func signature(params, results []wasmbin.ValType) string {
	s := ""
	for _, p := range params {
		s += p.String() + " "
	}
	s += "->"
	for _, r := range results {
		s += " " + r.String()
	}
	return s
}

func renamePreview1(name string, params, results []wasmbin.ValType) bool {
	sig, ok := preview1[name]
	return ok && sig == signature(params, results)
}
