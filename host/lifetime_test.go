package host_test

import (
	"context"
	"os"
	goruntime "runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/wasix-org/wasix-signals-go/host"
)

// lifetimeGuest uses the fast-path imports, a Go-defined one (proc_exit)
// and an import the host lacks, so that every kind of definition a
// Runtime makes is exercised.
const lifetimeGuest = `(module
  (import "wasix_32v1" "proc_raise" (func $raise (param i32) (result i32)))
  (import "wasix_32v1" "sock_frobnicate" (func $nosys (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
  (memory (export "memory") 1)
  (func (export "_start")
    (drop (call $raise (i32.const 0)))
    (call $exit (call $nosys))))`

// TestManyRunsDoNotLeak runs host.Run (a Runtime per call) thousands of
// times in one process: the Go heap and the RSS must not keep growing
// from the first half of the runs to the second. Set WASIX_RUNS to change
// the count; -v prints the figures.
func TestManyRunsDoNotLeak(t *testing.T) {
	runs := 1500
	if s := os.Getenv("WASIX_RUNS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 2 {
			t.Fatalf("WASIX_RUNS=%q", s)
		}
		runs = n
	}
	half := func() (time.Duration, uint64, uint64) {
		start := time.Now()
		for i := 0; i < runs/2; i++ {
			err := host.Run(context.Background(), []byte(lifetimeGuest), host.Config{})
			if got := describe(err); got != "exit 52" {
				t.Fatalf("run %d: %s, want exit 52", i, got)
			}
		}
		took := time.Since(start)
		return took, heapInuse(), rss(t)
	}
	heap0, rss0 := heapInuse(), rss(t)
	took1, heap1, rss1 := half()
	took2, heap2, rss2 := half()
	per := func(d time.Duration) string {
		return strconv.FormatFloat(float64(d)/float64(time.Millisecond)/float64(runs/2), 'f', 2, 64)
	}
	t.Logf("FIGURE %d runs of host.Run: %s ms per call in the first half, %s in the second; "+
		"heap in use %.1f -> %.1f -> %.1f MiB; RSS %.1f -> %.1f -> %.1f MiB",
		runs, per(took1), per(took2), mib(heap0), mib(heap1), mib(heap2), mib(rss0), mib(rss1), mib(rss2))
	// Bounds generous enough for allocator noise, far below a leak: before
	// Runtime.Close existed the second half of 1500 runs added about
	// 4 MiB of heap and 60 MiB of RSS.
	if heap2 > heap1+heap1/4+2<<20 {
		t.Errorf("Go heap grew from %.1f to %.1f MiB over the second half", mib(heap1), mib(heap2))
	}
	if rss2 > rss1+rss1/8+16<<20 {
		t.Errorf("RSS grew from %.1f to %.1f MiB over the second half", mib(rss1), mib(rss2))
	}
}

func mib(n uint64) float64 { return float64(n) / (1 << 20) }

// heapInuse returns HeapInuse after collecting twice, so that finalizers
// queued by the first collection have run.
func heapInuse() uint64 {
	goruntime.GC()
	goruntime.GC()
	var ms goruntime.MemStats
	goruntime.ReadMemStats(&ms)
	return ms.HeapInuse
}

// rss returns the resident set size, which includes wasmtime's memory
// (outside the Go heap).
func rss(t testing.TB) uint64 {
	t.Helper()
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		t.Skipf("no /proc/self/statm: %v", err)
	}
	f := strings.Fields(string(b))
	if len(f) < 2 {
		t.Fatalf("/proc/self/statm: %q", b)
	}
	pages, err := strconv.ParseUint(f[1], 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	return pages * uint64(os.Getpagesize())
}
