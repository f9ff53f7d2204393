// Package bench measures the signal machinery next to raw wasmtime-go doing
// the same work in the same run. Run:
//
//	go test -run '^$' -bench . -count 5 ./bench/
//
// docs/PERFORMANCE.md has the figures and how to read them.
package bench

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bytecodealliance/wasmtime-go/v25"
	"github.com/wasix-org/wasix-signals-go/host"
	"github.com/wasix-org/wasix-signals-go/internal/epoch"
	"github.com/wasix-org/wasix-signals-go/wasix"
	"github.com/wasix-org/wasix-signals-go/wasix/env"
	"github.com/wasix-org/wasix-signals-go/wasix/signal"
)

// noop2 is the (i32,i32)->() no-op host function of the baselines.
func noop2(*wasmtime.Caller, []wasmtime.Val) ([]wasmtime.Val, *wasmtime.Trap) { return nil, nil }

// noop2Type is its type. A FuncType must not be shared between engines:
// wasmtime aborts the process when one engine's type reaches another.
func noop2Type() *wasmtime.FuncType {
	i32 := wasmtime.NewValType(wasmtime.KindI32)
	return wasmtime.NewFuncType([]*wasmtime.ValType{i32, i32}, nil)
}

// instance compiles wat on engine, instantiates it with l in a new store
// with a WasiEnv, and returns the pieces.
func instance(b *testing.B, engine *wasmtime.Engine, l *wasmtime.Linker, wat string) (*wasmtime.Store, *wasmtime.Instance, *env.WasiEnv) {
	b.Helper()
	wasm, err := wasmtime.Wat2Wasm(wat)
	if err != nil {
		b.Fatal(err)
	}
	module, err := wasmtime.NewModule(engine, wasm)
	if err != nil {
		b.Fatal(err)
	}
	store := wasmtime.NewStore(engine)
	e := env.New(store, env.Config{})
	b.Cleanup(e.Close)
	inst, err := l.Instantiate(store, module)
	if err != nil {
		b.Fatal(err)
	}
	e.Bind(inst)
	return store, inst, e
}

// loop runs the guest's export "loop" with b.N as its count.
func loop(b *testing.B, store *wasmtime.Store, inst *wasmtime.Instance) {
	b.Helper()
	f := inst.GetFunc(store, "loop")
	b.ReportAllocs()
	b.ResetTimer()
	if _, err := f.Call(store, int32(b.N)); err != nil {
		b.Fatal(err)
	}
}

// loopOf is a guest whose "loop" export calls body n times; body may use
// $i, the remaining count.
func loopOf(imports, body, extra string) string {
	return `(module ` + imports + `
	  (memory (export "memory") 1)
	  (data (i32.const 0) "__wasm_signal")
	  (data (i32.const 32) "__wasm_signal_blocked")
	  ` + extra + `
	  (func (export "loop") (param $i i32)
	    (block $done (loop $l
	      (br_if $done (i32.eqz (local.get $i)))
	      ` + body + `
	      (local.set $i (i32.sub (local.get $i) (i32.const 1)))
	      (br $l)))))`
}

// benchHostCall is the baseline of a guest calling a no-op host function
// (two i32 arguments) defined with Linker.FuncNew, in a loop.
func benchHostCall(b *testing.B) {
	engine := wasmtime.NewEngine()
	l := wasmtime.NewLinker(engine)
	if err := l.FuncNew("bench", "noop", noop2Type(), noop2); err != nil {
		b.Fatal(err)
	}
	store, inst, _ := instance(b, engine, l, loopOf(`(import "bench" "noop" (func $noop (param i32 i32)))`,
		`(call $noop (i32.const 0) (i32.const 13))`, ""))
	loop(b, store, inst)
}

func BenchmarkBaseline(b *testing.B) {
	b.Run("host_call", benchHostCall)
	b.Run("host_to_guest", func(b *testing.B) {
		engine := wasmtime.NewEngine()
		l := wasmtime.NewLinker(engine)
		var target *wasmtime.Func
		err := l.FuncNew("bench", "call", wasmtime.NewFuncType([]*wasmtime.ValType{wasmtime.NewValType(wasmtime.KindI32)}, nil),
			func(c *wasmtime.Caller, a []wasmtime.Val) ([]wasmtime.Val, *wasmtime.Trap) {
				if _, err := target.Call(c, a[0].I32()); err != nil {
					return nil, wasmtime.NewTrap(err.Error())
				}
				return nil, nil
			})
		if err != nil {
			b.Fatal(err)
		}
		store, inst, _ := instance(b, engine, l, loopOf(`(import "bench" "call" (func $call (param i32)))`,
			`(call $call (i32.const 10))`, `(func (export "handler") (param i32))`))
		target = inst.GetFunc(store, "handler")
		loop(b, store, inst)
	})
	b.Run("lookup", func(b *testing.B) {
		engine := wasmtime.NewEngine()
		store, inst, _ := instance(b, engine, wasmtime.NewLinker(engine), `(module (func (export "handler") (param i32)))`)
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			f := inst.GetFunc(store, "handler")
			ty := f.Type(store)
			if p, r := ty.Params(), ty.Results(); len(p) != 1 || p[0].Kind() != wasmtime.KindI32 || len(r) != 0 {
				b.Fatal("wrong type")
			}
		}
	})
	b.Run("epoch_interrupt", func(b *testing.B) {
		cfg := wasmtime.NewConfig()
		cfg.SetEpochInterruption(true)
		engine := wasmtime.NewEngineWithConfig(cfg)
		store, inst, _ := instance(b, engine, wasmtime.NewLinker(engine), `(module
		  (global $started (export "started") (mut i32) (i32.const 0))
		  (func (export "spin") (global.set $started (i32.const 1)) (loop (br 0))))`)
		spin := inst.GetFunc(store, "spin")
		b.ReportAllocs()
		reportLatency(b, measureLatency(b, func(kick func()) {
			store.SetEpochDeadline(1)
			go kick()
			if _, err := spin.Call(store); err == nil {
				b.Fatal("spin returned")
			}
		}, func() { engine.IncrementEpoch() }))
	})
	b.Run("compute", func(b *testing.B) {
		engine := wasmtime.NewEngine()
		store, inst, _ := instance(b, engine, wasmtime.NewLinker(engine), fib)
		runFib(b, store, inst)
	})
}

// measureLatency times, b.N times, from send (on another goroutine, after
// the guest had a moment to start spinning) to the end of run, and returns
// the samples.
func measureLatency(b *testing.B, run func(kick func()), send func()) []time.Duration {
	b.Helper()
	samples := make([]time.Duration, 0, b.N)
	for i := 0; i < b.N; i++ {
		var sent time.Time
		var wg sync.WaitGroup
		wg.Add(1)
		run(func() {
			defer wg.Done()
			time.Sleep(200 * time.Microsecond)
			sent = time.Now()
			send()
		})
		done := time.Now()
		wg.Wait()
		samples = append(samples, done.Sub(sent))
	}
	return samples
}

// reportLatency reports latency samples as their median (ns/op: a mean
// would be ruled by the rare Go scheduling stalls of either side) and
// their 99th percentile.
func reportLatency(b *testing.B, samples []time.Duration) {
	sort.Slice(samples, func(i, j int) bool { return samples[i] < samples[j] })
	b.ReportMetric(float64(samples[len(samples)/2].Nanoseconds()), "ns/op")
	b.ReportMetric(float64(samples[len(samples)*99/100].Nanoseconds()), "p99-ns")
}

// fib is a compute-bound guest: recursive Fibonacci.
const fib = `(module
  (func $fib (export "fib") (param $n i32) (result i32)
    (if (result i32) (i32.lt_u (local.get $n) (i32.const 2))
      (then (local.get $n))
      (else (i32.add (call $fib (i32.sub (local.get $n) (i32.const 1)))
                     (call $fib (i32.sub (local.get $n) (i32.const 2))))))))`

func runFib(b *testing.B, store *wasmtime.Store, inst *wasmtime.Instance) {
	b.Helper()
	f := inst.GetFunc(store, "fib")
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		v, err := f.Call(store, int32(25))
		if err != nil || v.(int32) != 75025 {
			b.Fatal(v, err)
		}
	}
}

// signalLinker is a Linker with the signal imports, as an application has.
func signalLinker(b *testing.B, engine *wasmtime.Engine) *wasmtime.Linker {
	l := wasmtime.NewLinker(engine)
	if err := signal.Install(l); err != nil {
		b.Fatal(err)
	}
	return l
}

const cbImport = `(import "wasix_32v1" "callback_signal" (func $cb (param i32 i32)))
	(import "wasix_32v1" "proc_raise" (func $raise (param i32) (result i32)))`

func BenchmarkCallbackSignal(b *testing.B) {
	handler := `(func (export "__wasm_signal") (param i32))`
	b.Run("same_name", func(b *testing.B) {
		engine := wasmtime.NewEngine()
		store, inst, e := instance(b, engine, signalLinker(b, engine), loopOf(cbImport,
			`(call $cb (i32.const 0) (i32.const 13))`, handler))
		loop(b, store, inst)
		if _, found := e.Handler(); !found {
			b.Fatal("not registered")
		}
	})
	b.Run("block_unblock", func(b *testing.B) {
		engine := wasmtime.NewEngine()
		// One op is one registration: blocked on odd counts, unblocked on even.
		store, inst, _ := instance(b, engine, signalLinker(b, engine), loopOf(cbImport,
			`(if (i32.and (local.get $i) (i32.const 1))
			   (then (call $cb (i32.const 32) (i32.const 21)))
			   (else (call $cb (i32.const 0) (i32.const 13))))`, handler))
		loop(b, store, inst)
	})
	b.Run("first_lookup", func(b *testing.B) {
		// 256 distinct handlers; each instance registers each name once, so
		// no registration can hit the cache. Instantiation is not timed.
		const names = 256
		engine := wasmtime.NewEngine()
		l := signalLinker(b, engine)
		var exports, data strings.Builder
		for i := 0; i < names; i++ {
			fmt.Fprintf(&exports, `(func (export "h%03d") (param i32))`, i)
			fmt.Fprintf(&data, "h%03d", i)
		}
		wat := `(module ` + cbImport + `(memory (export "memory") 1)
		  (data (i32.const 0) "` + data.String() + `")` + exports.String() + `
		  (func (export "loop") (param $i i32)
		    (block $done (loop $l
		      (br_if $done (i32.eqz (local.get $i)))
		      (local.set $i (i32.sub (local.get $i) (i32.const 1)))
		      (call $cb (i32.mul (local.get $i) (i32.const 4)) (i32.const 4))
		      (br $l)))))`
		wasm, err := wasmtime.Wat2Wasm(wat)
		if err != nil {
			b.Fatal(err)
		}
		module, err := wasmtime.NewModule(engine, wasm)
		if err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		b.ResetTimer()
		for done := 0; done < b.N; done += names {
			b.StopTimer()
			store := wasmtime.NewStore(engine)
			e := env.New(store, env.Config{})
			inst, err := l.Instantiate(store, module)
			if err != nil {
				b.Fatal(err)
			}
			e.Bind(inst)
			f := inst.GetFunc(store, "loop")
			b.StartTimer()
			if _, err := f.Call(store, int32(min(names, b.N-done))); err != nil {
				b.Fatal(err)
			}
			b.StopTimer()
			e.Close()
			store.Close()
			b.StartTimer()
		}
	})
}

func BenchmarkRaise(b *testing.B) {
	b.Run("handler", func(b *testing.B) {
		engine := wasmtime.NewEngine()
		store, inst, e := instance(b, engine, signalLinker(b, engine), loopOf(cbImport,
			`(drop (call $raise (i32.const 10)))`,
			`(func (export "__wasm_signal") (param i32))
			 (start $init) (func $init (call $cb (i32.const 0) (i32.const 13)))`))
		loop(b, store, inst)
		if c := e.Counters(); c.Delivered != uint64(b.N) {
			b.Fatalf("delivered %d of %d", c.Delivered, b.N)
		}
	})
}

func BenchmarkSafePoint(b *testing.B) {
	b.Run("idle", func(b *testing.B) {
		engine := wasmtime.NewEngine()
		l := signalLinker(b, engine)
		if err := l.FuncNew("bench", "noop", noop2Type(), signal.SafePoint(noop2)); err != nil {
			b.Fatal(err)
		}
		store, inst, _ := instance(b, engine, l, loopOf(`(import "bench" "noop" (func $noop (param i32 i32)))`,
			`(call $noop (i32.const 0) (i32.const 13))`, ""))
		loop(b, store, inst)
	})
}

func BenchmarkAsync(b *testing.B) {
	b.Run("spinning", func(b *testing.B) {
		rt, err := host.NewRuntime(host.Options{})
		if err != nil {
			b.Fatal(err)
		}
		// The handler stamps the time it ran and wakes the sender, which
		// waits blocked (a polling sender would compete with the guest's
		// callback for a processor).
		handled := make(chan time.Time, 1)
		err = rt.Linker().FuncNew("bench", "stamp", wasmtime.NewFuncType(nil, nil),
			func(*wasmtime.Caller, []wasmtime.Val) ([]wasmtime.Val, *wasmtime.Trap) {
				handled <- time.Now()
				return nil, nil
			})
		if err != nil {
			b.Fatal(err)
		}
		// The guest spins forever with no host calls; its handler stamps
		// the time it ran.
		m, err := rt.Compile([]byte(`(module
		  (import "wasix_32v1" "callback_signal" (func $cb (param i32 i32)))
		  (import "bench" "stamp" (func $stamp))
		  (memory (export "memory") 1)
		  (data (i32.const 0) "h")
		  (global $seen (mut i32) (i32.const 0))
		  (func (export "h") (param i32)
		    (call $stamp) (global.set $seen (i32.add (global.get $seen) (i32.const 1))))
		  (func (export "_start")
		    (call $cb (i32.const 0) (i32.const 1))
		    (loop (br_if 0 (i32.ne (global.get $seen) (i32.const -1))))))`))
		if err != nil {
			b.Fatal(err)
		}
		p, err := rt.Start(context.Background(), m, host.Config{})
		if err != nil {
			b.Fatal(err)
		}
		defer func() { _ = p.Signal(wasix.SIGKILL); <-p.Done() }()
		for {
			if _, found := p.Env().Handler(); found {
				break
			}
			time.Sleep(time.Millisecond)
		}
		samples := make([]time.Duration, 0, b.N)
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			sent := time.Now()
			if err := p.Signal(wasix.SIGUSR1); err != nil {
				b.Fatal(err)
			}
			select {
			case at := <-handled:
				samples = append(samples, at.Sub(sent))
			case <-time.After(10 * time.Second):
				b.Fatal("the handler never ran")
			}
		}
		reportLatency(b, samples)
	})
	b.Run("compute", func(b *testing.B) {
		// The engine and store set up as host.Runtime sets them up for
		// asynchronous delivery: epoch checks compiled in, the deadline
		// callback installed, deadline 1.
		engine := wasmtime.NewEngineWithConfig(host.NewEngineConfig())
		store, inst, e := instance(b, engine, wasmtime.NewLinker(engine), fib)
		h, err := epoch.Install(store, func() (uint64, error) {
			if !e.Attention() {
				return 1, nil
			}
			store.SetEpochDeadline(epoch.Far)
			return 1, e.ProcessSignals(store)
		})
		if err != nil {
			b.Fatal(err)
		}
		defer h.Close()
		store.SetEpochDeadline(1)
		runFib(b, store, inst)
	})
	// One guest among k spinning ones gets the signals: see crowd_test.go.
	for _, k := range []int{1, 10, 100} {
		b.Run(fmt.Sprintf("crowd_%d", k), func(b *testing.B) { benchCrowd(b, k) })
	}
}

// BenchmarkThroughput: 8 goroutines queue signals while the guest loops over
// a safe point. One op is one signal queued; it reports deliveries per
// second and fails if any signal is unaccounted for.
func BenchmarkThroughput(b *testing.B) {
	const senders = 8
	engine := wasmtime.NewEngine()
	l := signalLinker(b, engine)
	if err := l.FuncNew("bench", "noop", noop2Type(), signal.SafePoint(noop2)); err != nil {
		b.Fatal(err)
	}
	store, inst, e := instance(b, engine, l, `(module
	  (import "wasix_32v1" "callback_signal" (func $cb (param i32 i32)))
	  (import "bench" "noop" (func $noop (param i32 i32)))
	  (memory (export "memory") 1)
	  (data (i32.const 0) "__wasm_signal")
	  (global $stop (mut i32) (i32.const 0))
	  (func (export "__wasm_signal") (param i32)
	    (if (i32.eq (local.get 0) (i32.const 15)) (then (global.set $stop (i32.const 1)))))
	  (func (export "loop") (call $cb (i32.const 0) (i32.const 13))
	    (loop (call $noop (i32.const 0) (i32.const 0)) (br_if 0 (i32.eqz (global.get $stop))))))`)
	done := make(chan error, 1)
	b.ReportAllocs()
	b.ResetTimer()
	began := time.Now()
	go func() {
		_, err := inst.GetFunc(store, "loop").Call(store)
		done <- err
	}()
	sigs := []wasix.Signal{wasix.SIGUSR1, wasix.SIGUSR2, wasix.SIGALRM, wasix.SIGHUP, wasix.SIGWINCH, wasix.SIGCHLD}
	var wg sync.WaitGroup
	for i := 0; i < senders; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			for j := i; j < b.N; j += senders {
				if err := e.Signal(sigs[j%len(sigs)]); err != nil {
					b.Error(err)
					return
				}
			}
		}(i)
	}
	wg.Wait()
	if err := e.Signal(wasix.SIGTERM); err != nil {
		b.Fatal(err)
	}
	if err := <-done; err != nil {
		b.Fatal(err)
	}
	elapsed := time.Since(began)
	b.StopTimer()
	c := e.Counters()
	if c.Raised != uint64(b.N)+1 || c.Raised != c.Delivered+c.Coalesced+c.Ignored+uint64(c.Pending) {
		b.Fatalf("signals unaccounted for: %+v", c)
	}
	b.ReportMetric(float64(c.Delivered)/elapsed.Seconds(), "deliveries/s")
	b.ReportMetric(float64(c.Raised)/elapsed.Seconds(), "signals/s")
}
