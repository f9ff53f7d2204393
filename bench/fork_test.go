package bench

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/wasix-org/wasix-signals-go/host"
)

// BenchmarkFork measures a fork/exit/join cycle of fixtures/fork.wasm
// (mode bench) with a guest memory of 1 MiB and of 64 MiB, next to the
// physical limit of a fork that copies memory: a memcpy of that memory,
// into a buffer reused each time and into fresh pages (as a child's memory
// is). The guest's start-up (instantiation, growing its memory) is
// measured with 0 cycles and subtracted; ns/fork and ns/MB are per cycle.
func BenchmarkFork(b *testing.B) {
	wasm, err := os.ReadFile("../fixtures/fork.wasm")
	if err != nil {
		b.Fatal(err)
	}
	for _, mb := range []int{1, 64} {
		b.Run(fmt.Sprintf("fork_join/%dMB", mb), func(b *testing.B) {
			rt, err := host.NewRuntime(host.Options{})
			if err != nil {
				b.Fatal(err)
			}
			defer rt.Close()
			m, err := rt.Compile(wasm)
			if err != nil {
				b.Fatal(err)
			}
			run := func(n int) time.Duration {
				start := time.Now()
				p, err := rt.Start(context.Background(), m, host.Config{
					Args: []string{"fork.wasm", "bench", fmt.Sprint(mb), fmt.Sprint(n)},
					// No standard streams of the host's: /dev/null.
					Stdin: os.DevNull, Stdout: os.DevNull, Stderr: os.DevNull,
				})
				if err != nil {
					b.Fatal(err)
				}
				if err := p.Wait(); err != nil {
					b.Fatal(err)
				}
				return time.Since(start)
			}
			startup := run(0)
			b.ResetTimer()
			total := run(b.N)
			b.StopTimer()
			per := float64(total-startup) / float64(b.N)
			b.ReportMetric(per, "ns/fork")
			b.ReportMetric(per/float64(mb), "ns/MB")
		})
		b.Run(fmt.Sprintf("memcpy/%dMB", mb), func(b *testing.B) {
			src, dst := make([]byte, mb<<20), make([]byte, mb<<20)
			for i := range src {
				src[i] = byte(i)
			}
			b.SetBytes(int64(len(src)))
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				copy(dst, src)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(mb), "ns/MB")
		})
		b.Run(fmt.Sprintf("memcpy_fresh/%dMB", mb), func(b *testing.B) {
			src := make([]byte, mb<<20)
			for i := range src {
				src[i] = byte(i)
			}
			b.SetBytes(int64(len(src)))
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				dst := make([]byte, len(src))
				copy(dst, src)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(mb), "ns/MB")
		})
	}
}
