package bench

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/wasix-org/wasix-signals-go/host"
)

// BenchmarkUnstable compares a wasi_unstable call that the host translates
// (through its per-process shim) with the same call in preview1, which
// wasmtime serves directly; docs/WASI-UNSTABLE.md has the figures.
func BenchmarkUnstable(b *testing.B) {
	dir := b.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "f"), []byte("0123456789"), 0o644); err != nil {
		b.Fatal(err)
	}
	rt, err := host.NewRuntime(host.Options{})
	if err != nil {
		b.Fatal(err)
	}
	calls := []struct {
		name, sig, body string
		whenceSet       map[string]int
	}{
		{"fd_seek", "(param i32 i64 i32 i32) (result i32)", "(call $f (local.get $fd) (i64.const 1) (i32.const WHENCE) (i32.const 208))",
			map[string]int{"wasi_unstable": 2, "wasi_snapshot_preview1": 0}},
		{"fd_filestat_get", "(param i32 i32) (result i32)", "(call $f (local.get $fd) (i32.const 256))", nil},
	}
	for _, c := range calls {
		for _, ns := range []string{"wasi_unstable", "wasi_snapshot_preview1"} {
			b.Run(c.name+"/"+ns, func(b *testing.B) {
				body := c.body
				if c.whenceSet != nil {
					body = strings.ReplaceAll(body, "WHENCE", strconv.Itoa(c.whenceSet[ns]))
				}
				m, err := rt.Compile([]byte(`(module
				  (import "wasi_snapshot_preview1" "path_open" (func $open (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))
				  (import "` + ns + `" "` + c.name + `" (func $f ` + c.sig + `))
				  (memory (export "memory") 1)
				  (data (i32.const 100) "f")
				  (func (export "_start") (local $fd i32) (local $i i32)
				    (if (call $open (i32.const 3) (i32.const 0) (i32.const 100) (i32.const 1)
				        (i32.const 0) (i64.const 0x1FFFFFFF) (i64.const 0x1FFFFFFF) (i32.const 0) (i32.const 200))
				      (then unreachable))
				    (local.set $fd (i32.load (i32.const 200)))
				    (local.set $i (i32.const ` + strconv.Itoa(b.N) + `))
				    (block $done (loop $l
				      (br_if $done (i32.eqz (local.get $i)))
				      (if ` + body + ` (then unreachable))
				      (local.set $i (i32.sub (local.get $i) (i32.const 1)))
				      (br $l)))))`))
				if err != nil {
					b.Fatal(err)
				}
				b.ResetTimer()
				p, err := rt.Start(context.Background(), m, host.Config{Dirs: []host.Dir{{Host: dir, Guest: "/"}}})
				if err != nil {
					b.Fatal(err)
				}
				if err := p.Wait(); err != nil {
					b.Fatal(err)
				}
			})
		}
	}
}
