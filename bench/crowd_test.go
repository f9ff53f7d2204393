package bench

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"

	"github.com/bytecodealliance/wasmtime-go/v25"
	"github.com/wasix-org/wasix-signals-go/host"
	"github.com/wasix-org/wasix-signals-go/wasix"
)

// crowdGuest spins in wasm, counting; every 2^16 iterations it calls tick
// (so the host can read its throughput), and when the word at 128 is set
// (by the floor's sender) it clears it and calls stamp. It returns when the
// word at 132 is set. Its handler "h" calls stamp.
func crowdGuest(tick string) string {
	return `(module
	  (import "wasix_32v1" "callback_signal" (func $cb (param i32 i32)))
	  (import "bench" "stamp" (func $stamp))
	  (import "bench" "` + tick + `" (func $tick))
	  (memory (export "memory") 1)
	  (data (i32.const 0) "h")
	  (func (export "h") (param i32) (call $stamp))
	  (func (export "_start") (local $n i32)
	    (call $cb (i32.const 0) (i32.const 1))
	    (loop $l
	      (local.set $n (i32.add (local.get $n) (i32.const 1)))
	      (if (i32.eqz (i32.and (local.get $n) (i32.const 0xffff))) (then (call $tick)))
	      (if (i32.load (i32.const 128))
	        (then (i32.store (i32.const 128) (i32.const 0)) (call $stamp)))
	      (br_if $l (i32.eqz (i32.load (i32.const 132)))))))`
}

// crowdImports defines bench.stamp (sends the time to stamps, never
// blocks), bench.tick (counts into others) and bench.tick_target (counts
// nothing) on l.
func crowdImports(b *testing.B, l *wasmtime.Linker, stamps chan time.Time, others *atomic.Int64) {
	b.Helper()
	none := wasmtime.NewFuncType(nil, nil)
	defs := map[string]func(){
		"stamp": func() {
			select {
			case stamps <- time.Now():
			default:
			}
		},
		"tick":        func() { others.Add(1) },
		"tick_target": func() {},
	}
	for name, f := range defs {
		err := l.FuncNew("bench", name, none, func(*wasmtime.Caller, []wasmtime.Val) ([]wasmtime.Val, *wasmtime.Trap) {
			f()
			return nil, nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
}

// crowd is K spinning guests, the first of which is the target of the
// signals.
type crowd struct {
	stamps chan time.Time
	others atomic.Int64 // ticks of the guests other than the target
	send   func()       // one signal to the target
	stop   func()
}

// ourCrowd runs K guests on one host.Runtime; send is Process.Signal.
func ourCrowd(b *testing.B, k int) *crowd {
	b.Helper()
	c := &crowd{stamps: make(chan time.Time, 1)}
	rt, err := host.NewRuntime(host.Options{})
	if err != nil {
		b.Fatal(err)
	}
	crowdImports(b, rt.Linker(), c.stamps, &c.others)
	modules := map[string]*host.Module{}
	for _, tick := range []string{"tick", "tick_target"} {
		if modules[tick], err = rt.Compile([]byte(crowdGuest(tick))); err != nil {
			b.Fatal(err)
		}
	}
	var procs []*host.Process
	for i := 0; i < k; i++ {
		m := modules["tick"]
		if i == 0 {
			m = modules["tick_target"]
		}
		p, err := rt.Start(context.Background(), m, host.Config{})
		if err != nil {
			b.Fatal(err)
		}
		procs = append(procs, p)
		for {
			if _, found := p.Env().Handler(); found {
				break
			}
			time.Sleep(time.Millisecond)
		}
	}
	target := procs[0]
	c.send = func() {
		if err := target.Signal(wasix.SIGUSR1); err != nil {
			b.Fatal(err)
		}
	}
	c.stop = func() {
		got := target.Env().Counters()
		for _, p := range procs {
			_ = p.Signal(wasix.SIGKILL)
		}
		for _, p := range procs {
			<-p.Done()
		}
		if got.Raised != got.Delivered+got.Coalesced+got.Ignored+uint64(got.Pending) {
			b.Fatalf("signals unaccounted for: %+v", got)
		}
	}
	return c
}

// floorCrowd runs the same K guests on raw wasmtime-go, with no epoch
// interruption and no signal machinery: send sets a word in the target's
// memory, which its loop polls. Its delay is what the OS and the Go
// scheduler alone cost a spinning thread among K to notice something and
// run Go code.
func floorCrowd(b *testing.B, k int) *crowd {
	b.Helper()
	c := &crowd{stamps: make(chan time.Time, 1)}
	engine := wasmtime.NewEngineWithConfig(wasmtime.NewConfig())
	l := wasmtime.NewLinker(engine)
	noop := func(*wasmtime.Caller, []wasmtime.Val) ([]wasmtime.Val, *wasmtime.Trap) { return nil, nil }
	if err := l.FuncNew("wasix_32v1", "callback_signal", noop2Type(), noop); err != nil {
		b.Fatal(err)
	}
	crowdImports(b, l, c.stamps, &c.others)
	modules := map[string]*wasmtime.Module{}
	for _, tick := range []string{"tick", "tick_target"} {
		wasm, err := wasmtime.Wat2Wasm(crowdGuest(tick))
		if err != nil {
			b.Fatal(err)
		}
		if modules[tick], err = wasmtime.NewModule(engine, wasm); err != nil {
			b.Fatal(err)
		}
	}
	var wg sync.WaitGroup
	var flag *int32
	var stops []*int32
	for i := 0; i < k; i++ {
		m := modules["tick"]
		if i == 0 {
			m = modules["tick_target"]
		}
		store := wasmtime.NewStore(engine)
		inst, err := l.Instantiate(store, m)
		if err != nil {
			b.Fatal(err)
		}
		data := inst.GetExport(store, "memory").Memory().Data(store)
		if i == 0 {
			flag = (*int32)(unsafe.Add(data, 128))
		}
		stops = append(stops, (*int32)(unsafe.Add(data, 132)))
		start := inst.GetFunc(store, "_start")
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer store.Close()
			if _, err := start.Call(store); err != nil {
				b.Error(err)
			}
		}()
	}
	c.send = func() { atomic.StoreInt32(flag, 1) }
	c.stop = func() {
		for _, s := range stops {
			atomic.StoreInt32(s, 1)
		}
		wg.Wait()
	}
	return c
}

// benchCrowd measures, among k spinning guests, the delay from one signal
// to the target's handler (ns/op: the median; p99-ns), with the floor
// measured just before on the same crowd without any signal machinery
// (floor-ns, floor-p99-ns).
func benchCrowd(b *testing.B, k int) {
	b.ReportAllocs()
	measure := func(c *crowd) []time.Duration {
		samples := make([]time.Duration, 0, b.N)
		for i := 0; i < b.N; i++ {
			select {
			case <-c.stamps:
			default:
			}
			sent := time.Now()
			c.send()
			select {
			case at := <-c.stamps:
				samples = append(samples, at.Sub(sent))
			case <-time.After(20 * time.Second):
				b.Fatal("the target never noticed")
			}
		}
		sort.Slice(samples, func(i, j int) bool { return samples[i] < samples[j] })
		return samples
	}
	b.StopTimer()
	floor := floorCrowd(b, k)
	b.StartTimer()
	fs := measure(floor)
	b.StopTimer()
	floor.stop()
	ours := ourCrowd(b, k)
	b.StartTimer()
	os := measure(ours)
	b.StopTimer()
	ours.stop()
	b.ReportMetric(float64(os[len(os)/2].Nanoseconds()), "ns/op")
	b.ReportMetric(float64(os[len(os)*99/100].Nanoseconds()), "p99-ns")
	b.ReportMetric(float64(fs[len(fs)/2].Nanoseconds()), "floor-ns")
	b.ReportMetric(float64(fs[len(fs)*99/100].Nanoseconds()), "floor-p99-ns")
}

// BenchmarkCrowdCompute: k guests spin on one host.Runtime; in 20 ms
// slices the target gets a signal every millisecond (1000/s), alternating
// with slices of as long in which it gets none (b.N counts pairs of
// slices). others-x is the compute throughput of the other k-1 guests with
// the signals over without. The benchmark fails if a signal is
// unaccounted for.
func BenchmarkCrowdCompute(b *testing.B) {
	for _, k := range []int{10, 100} {
		b.Run(fmt.Sprintf("crowd_%d", k), func(b *testing.B) {
			c := ourCrowd(b, k)
			defer c.stop()
			const slice = 20 // ms
			// Ticks per second of wall time in each phase: the sender's
			// phase may overrun when it waits for a processor.
			var quiet, loaded float64
			tick := time.NewTicker(time.Millisecond)
			defer tick.Stop()
			rate := func(phase func(until time.Time)) float64 {
				before, began := c.others.Load(), time.Now()
				phase(began.Add(slice * time.Millisecond))
				return float64(c.others.Load()-before) / time.Since(began).Seconds()
			}
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				quiet += rate(func(until time.Time) { time.Sleep(time.Until(until)) })
				loaded += rate(func(until time.Time) {
					tick.Reset(time.Millisecond)
					for time.Now().Before(until) {
						<-tick.C
						c.send()
					}
				})
			}
			b.StopTimer()
			if quiet > 0 {
				b.ReportMetric(float64(loaded)/float64(quiet), "others-x")
			}
		})
	}
}
