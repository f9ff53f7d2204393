package bench

import (
	"context"
	"encoding/binary"
	"os"
	"path/filepath"
	"testing"

	"github.com/wasix-org/wasix-signals-go/host"
	"github.com/wasix-org/wasix-signals-go/internal/modcache"
	"github.com/wasix-org/wasix-signals-go/internal/wasmbin"
)

// largeFixture is the real program of the start-up benchmarks: a Go guest
// of 2.6 MB (fixtures/goguest).
const largeFixture = "../fixtures/goguest.wasm"

// BenchmarkStart runs a 2.6 MB program to its end as a new process of
// wasix-run would, minus the process itself: a new Runtime, Compile, Start,
// Wait. nocache is the runtime without a cache (every run compiles), cold a
// run with an empty cache (compile, then store), warm a run with the entry
// stored; store is the part of cold that the cache adds (serialize, write,
// trim).
func BenchmarkStart(b *testing.B) {
	wasm, err := os.ReadFile(largeFixture)
	if err != nil {
		b.Fatal(err)
	}
	run := func(b *testing.B, dir string) {
		b.Helper()
		rt, err := host.NewRuntime(host.Options{CacheDir: dir})
		if err != nil {
			b.Fatal(err)
		}
		m, err := rt.Compile(wasm)
		if err != nil {
			b.Fatal(err)
		}
		p, err := rt.Start(context.Background(), m, host.Config{Stdout: os.DevNull})
		if err != nil {
			b.Fatal(err)
		}
		if err := p.Wait(); host.ExitCode(err) != 0 {
			b.Fatal(err)
		}
	}
	b.Run("nocache", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			run(b, "")
		}
	})
	b.Run("cold", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			b.StopTimer()
			dir := b.TempDir()
			b.StartTimer()
			run(b, dir)
		}
	})
	b.Run("warm", func(b *testing.B) {
		dir := b.TempDir()
		run(b, dir)
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			run(b, dir)
		}
	})
	b.Run("store", func(b *testing.B) {
		rt, err := host.NewRuntime(host.Options{})
		if err != nil {
			b.Fatal(err)
		}
		c := modcache.New(b.TempDir(), modcache.Options{Salt: "bench"})
		m, _, err := c.Compile(rt.Engine(), wasm)
		if err != nil {
			b.Fatal(err)
		}
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			if err := c.Store(c.Key(wasm), m); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkRewrite is the load-time rewrite alone on a generated 2 MB
// module shaped as a wasix-libc binary (imported shared memory, preview1
// calls under wasix_32v1), so that it really rewrites. It reports ns per MB
// of input.
func BenchmarkRewrite(b *testing.B) {
	wasm := wasixShaped(2 << 20)
	opts := wasmbin.Options{RenameToPreview1: func(name string, _, _ []wasmbin.ValType) bool { return name == "fd_write" }}
	out, rep, err := wasmbin.Rewrite(wasm, opts)
	if err != nil || !rep.MemoryImported || len(rep.Renamed) != 1 || len(out) < len(wasm) {
		b.Fatalf("rewrite did not rewrite: %+v, %v", rep, err)
	}
	b.SetBytes(int64(len(wasm)))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, _, err := wasmbin.Rewrite(wasm, opts); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/(float64(len(wasm))/(1<<20)), "ns/MB")
}

// TestWasixShaped checks the generated module: the host compiles and runs
// it (exit 0), after the rewrite turned its memory import into a memory.
func TestWasixShaped(t *testing.T) {
	wasm := wasixShaped(64 << 10)
	if len(wasm) < 64<<10 {
		t.Fatalf("%d bytes", len(wasm))
	}
	rt, err := host.NewRuntime(host.Options{})
	if err != nil {
		t.Fatal(err)
	}
	m, err := rt.Compile(wasm)
	if err != nil {
		t.Fatal(err)
	}
	if !m.Report.MemoryImported {
		t.Errorf("report: %+v", m.Report)
	}
	p, err := rt.Start(context.Background(), m, host.Config{Stdout: filepath.Join(t.TempDir(), "out")})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Wait(); host.ExitCode(err) != 7 {
		t.Errorf("outcome %v, want exit 7", err)
	}
}

// wasixShaped generates, deterministically, a module of at least size bytes
// with the shape of a wasix-libc binary: it imports env.memory (shared, max
// 65536 pages), wasix_32v1.fd_write and wasix_32v1.proc_exit, and exports
// _start, which calls every generated function and exits with status 7.
// The functions are straight-line i32 arithmetic of about 4 KB each.
func wasixShaped(size int) []byte {
	const bodyOps = 600 // 7 bytes each: $0 = $0 (add|xor) k
	var body []byte
	body = append(body, 0) // no locals besides the parameter
	for k := 0; k < bodyOps; k++ {
		op := byte(0x6a) // i32.add
		if k%2 == 1 {
			op = 0x73 // i32.xor
		}
		body = append(body, 0x20, 0, 0x41, byte(k%64), op, 0x21, 0) // local.set 0
	}
	body = append(body, 0x20, 0, 0x0b) // local.get 0, end
	n := size/(len(body)+3) + 1

	uleb := func(b []byte, v uint64) []byte { return binary.AppendUvarint(b, v) }
	name := func(b []byte, s string) []byte { return append(uleb(b, uint64(len(s))), s...) }
	section := func(out []byte, id byte, content []byte) []byte {
		return append(uleb(append(out, id), uint64(len(content))), content...)
	}

	out := []byte("\x00asm\x01\x00\x00\x00")
	// Types: 0 fd_write (i32 i32 i32 i32)->i32, 1 proc_exit (i32)->(),
	// 2 _start ()->(), 3 filler (i32)->i32.
	types := []byte{4,
		0x60, 4, 0x7f, 0x7f, 0x7f, 0x7f, 1, 0x7f,
		0x60, 1, 0x7f, 0,
		0x60, 0, 0,
		0x60, 1, 0x7f, 1, 0x7f}
	out = section(out, 1, types)
	imports := []byte{3}
	imports = name(name(imports, "wasix_32v1"), "fd_write")
	imports = append(imports, 0, 0)
	imports = name(name(imports, "wasix_32v1"), "proc_exit")
	imports = append(imports, 0, 1)
	imports = name(name(imports, "env"), "memory")
	imports = append(imports, 2, 0x03, 1, 0x80, 0x80, 0x04) // shared, min 1, max 65536
	out = section(out, 2, imports)
	funcs := uleb(nil, uint64(n+1))
	funcs = append(funcs, 2)
	for i := 0; i < n; i++ {
		funcs = append(funcs, 3)
	}
	out = section(out, 3, funcs)
	exports := name([]byte{1}, "_start")
	exports = append(exports, 0, 2) // function 2: the first defined one
	out = section(out, 7, exports)
	// _start calls each filler with 1, drops the result, then exits.
	var start []byte
	start = append(start, 0)
	for i := 0; i < n; i++ {
		start = append(start, 0x41, 1, 0x10)
		start = uleb(start, uint64(3+i))
		start = append(start, 0x1a) // drop
	}
	start = append(start, 0x41, 7, 0x10, 1, 0x0b) // proc_exit(7)
	code := uleb(nil, uint64(n+1))
	code = append(uleb(code, uint64(len(start))), start...)
	for i := 0; i < n; i++ {
		code = append(uleb(code, uint64(len(body))), body...)
	}
	return section(out, 10, code)
}
