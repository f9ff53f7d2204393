package reliability_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bytecodealliance/wasmtime-go/v25"
	"github.com/wasix-org/wasix-signals-go/host"
	"github.com/wasix-org/wasix-signals-go/wasix"
	"github.com/wasix-org/wasix-signals-go/wasix/env"
)

// signalImports are the WASIX imports the guests of this file use.
const signalImports = setImport + `
  (import "wasix_32v1" "callback_signal" (func $cb (param i32 i32)))
  (import "wasix_32v1" "proc_raise" (func $raise (param i32) (result i32)))
  (import "wasix_32v1" "thread_signal" (func $tsig (param i32 i32) (result i32)))
  (import "wasix_32v1" "proc_signal" (func $psig (param i32 i32) (result i32)))
  (import "wasix_32v1" "proc_raise_interval" (func $interval (param i32 i64 i32) (result i32)))
  (import "wasix_32v1" "thread_sleep" (func $sleep (param i64) (result i32)))
  (import "wasix_32v1" "proc_id" (func $pid (param i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
  (memory (export "memory") 1)
  (data (i32.const 0) "h")
  (data (i32.const 16) "__wasm_signal_blocked")
  (global $count (export "count") (mut i32) (i32.const 0))`

// gate is an import of the embedder's that blocks until the test releases
// it. It is not a safe point, so signals queued meanwhile pile up and
// arrive as one batch once the guest runs wasm again.
type gate struct{ entered, release chan struct{} }

var (
	gates     sync.Map // pid -> *gate
	gateSetup sync.Once
)

const gateImport = `(import "reliability" "gate" (func $gate))`

// gateRuntime returns the shared Runtime with reliability.gate defined and
// src compiled.
func gateRuntime(t *testing.T, src string) (*host.Runtime, *host.Module) {
	t.Helper()
	rt := sharedRuntime(t)
	define := func() error {
		return rt.Linker().FuncNew("reliability", "gate", wasmtime.NewFuncType(nil, nil),
			func(c *wasmtime.Caller, _ []wasmtime.Val) ([]wasmtime.Val, *wasmtime.Trap) {
				e := env.Lookup(c)
				if e == nil {
					return nil, wasmtime.NewTrap("reliability.gate: no WasiEnv")
				}
				// The test stores the gate once Start has returned the
				// pid, which may be after the guest got here.
				var v any
				if !eventually(10*time.Second, func() (ok bool) { v, ok = gates.Load(e.Pid()); return ok }) {
					return nil, wasmtime.NewTrap("reliability.gate: no gate for this pid")
				}
				g := v.(*gate)
				close(g.entered)
				<-g.release
				return nil, nil
			})
	}
	var err error
	gateSetup.Do(func() { err = define() })
	if err != nil {
		t.Fatal(err)
	}
	return rt, compile(t, rt, src)
}

// TestEmbedderImportSurvivesCompile: Runtime.Linker is documented as the
// place where an embedder adds its own imports before starting programs.
// Compile must not replace them with its "not implemented" stubs.
func TestEmbedderImportSurvivesCompile(t *testing.T) {
	watchdog(t, 30*time.Second)
	rt, err := host.NewRuntime(host.Options{})
	if err != nil {
		t.Fatal(err)
	}
	i32 := wasmtime.NewValType(wasmtime.KindI32)
	err = rt.Linker().FuncNew("embedder", "answer", wasmtime.NewFuncType(nil, []*wasmtime.ValType{i32}),
		func(*wasmtime.Caller, []wasmtime.Val) ([]wasmtime.Val, *wasmtime.Trap) {
			return []wasmtime.Val{wasmtime.ValI32(42)}, nil
		})
	if err != nil {
		t.Fatal(err)
	}
	p := start(t, context.Background(), rt, wat(
		`(import "embedder" "answer" (func $answer (result i32)))`,
		`(import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))`,
		`(memory (export "memory") 1)`,
		`(func (export "_start") (call $exit (call $answer)))`), host.Config{})
	out, _ := waitDone(t, p, 10*time.Second)
	if got := describe(out); got != "exit 42" {
		t.Errorf("got %s, want exit 42: the embedder's import was replaced by a stub (52 is NOSYS)", got)
	}
}

// TestHandlerTrapMidBatch: the handler traps on the second signal of a
// batch of three. The outcome is a *wasix.HandlerTrapError naming that
// signal and wrapping the trap; the third stays pending; nothing is lost.
func TestHandlerTrapMidBatch(t *testing.T) {
	watchdog(t, 60*time.Second)
	handler := `(func (export "h") (param $sig i32)
	    (global.set $count (i32.add (global.get $count) (i32.const 1)))
	    ` + setCount + `
	    (if (i32.eq (local.get $sig) (i32.const 12)) (then unreachable)))`
	check := func(t *testing.T, p *host.Process, policy wasix.Policy) {
		t.Helper()
		out, ok := waitDone(t, p, 10*time.Second)
		if !ok {
			return
		}
		var ht *wasix.HandlerTrapError
		var exit *wasix.ExitError
		switch policy {
		case wasix.PolicyDefault:
			if !errors.As(out, &ht) || ht.Signal != wasix.SIGUSR2 {
				t.Fatalf("got %s, want a handler trap on SIGUSR2", describe(out))
			}
			// wasmtime-go hands the trap of a call made from inside a
			// host function back as a *wasmtime.Error, without a code:
			// the wrapped error names the trap in its text only.
			if ht.Err == nil || !strings.Contains(ht.Err.Error(), "unreachable") {
				t.Errorf("the error does not wrap the unreachable trap: %v", out)
			}
			if host.ExitCode(out) != 134 {
				t.Errorf("ExitCode = %d, want 134", host.ExitCode(out))
			}
		case wasix.PolicyWasmer:
			if !errors.As(out, &exit) || exit.Status != 27 {
				t.Fatalf("got %s, want exit 27", describe(out))
			}
		}
		c := p.Env().Counters()
		checkAccounted(t, "batch", c)
		if c.Raised != 3 || c.Delivered != 2 || c.Pending != 1 || !p.Env().Pending(wasix.SIGHUP) {
			t.Errorf("counters %+v, HUP pending %v; want 3 raised, 2 delivered, SIGHUP still pending", c, p.Env().Pending(wasix.SIGHUP))
		}
		if n := reported(p, keyCount); n != 2 {
			t.Errorf("the handler ran %d times, want 2", n)
		}
	}
	for _, policy := range []wasix.Policy{wasix.PolicyDefault, wasix.PolicyWasmer} {
		t.Run(fmt.Sprintf("raised while blocked/%v", policy), func(t *testing.T) {
			// Blocked (a name that is not exported), three raises queue,
			// registering the handler delivers them in order.
			p := start(t, context.Background(), sharedRuntime(t), wat(signalImports, handler,
				`(func (export "_start")
				  (call $cb (i32.const 16) (i32.const 21))
				  (drop (call $raise (i32.const 10)))
				  (drop (call $raise (i32.const 12)))
				  (drop (call $raise (i32.const 1)))
				  (call $cb (i32.const 0) (i32.const 1))
				  (call $exit (i32.const 99)))`), host.Config{Policy: policy})
			check(t, p, policy)
		})
		t.Run(fmt.Sprintf("queued from Go, delivered by epoch/%v", policy), func(t *testing.T) {
			// The guest sits in an import that is no safe point while Go
			// queues three signals; back in wasm it spins, and the epoch
			// callback delivers the batch.
			src := wat(gateImport, signalImports, handler,
				`(func (export "_start") (call $cb (i32.const 0) (i32.const 1)) (call $gate) (loop (br 0)))`)
			rt, m := gateRuntime(t, src)
			g := &gate{entered: make(chan struct{}), release: make(chan struct{})}
			p, err := rt.Start(context.Background(), m, host.Config{Policy: policy})
			if err != nil {
				t.Fatal(err)
			}
			gates.Store(p.Pid(), g)
			defer gates.Delete(p.Pid())
			t.Cleanup(func() {
				if p.Signal(wasix.SIGKILL) == nil {
					<-p.Done()
				}
			})
			select {
			case <-g.entered:
			case <-time.After(10 * time.Second):
				t.Fatal("the guest never reached the gate")
			}
			for _, sig := range []wasix.Signal{wasix.SIGUSR1, wasix.SIGUSR2, wasix.SIGHUP} {
				if err := p.Signal(sig); err != nil {
					t.Fatal(err)
				}
			}
			if c := p.Env().Counters(); c.Pending != 3 || c.Delivered != 0 {
				t.Fatalf("before release: %+v, want 3 pending", c)
			}
			close(g.release)
			check(t, p, policy)
		})
	}
}

// TestSignalAfterExit: once the exit is recorded, signals and timers from
// Go are refused with ErrExited, and after Close with ErrClosed, without
// touching the counters; the guest's timers are stopped by the exit.
func TestSignalAfterExit(t *testing.T) {
	watchdog(t, 30*time.Second)
	rt := sharedRuntime(t)
	wasm, err := wasmtime.Wat2Wasm(wat(signalImports,
		`(func (export "h") (param i32) (call $exit (i32.const 7)))`,
		`(func (export "_start")
		  (call $cb (i32.const 0) (i32.const 1))
		  (drop (call $interval (i32.const 14) (i64.const 1000000000) (i32.const 1)))
		  (drop (call $raise (i32.const 10)))
		  unreachable)`))
	if err != nil {
		t.Fatal(err)
	}
	module, err := wasmtime.NewModule(rt.Engine(), wasm)
	if err != nil {
		t.Fatal(err)
	}
	// Driven by hand, not by host.Process, to stand in the window between
	// the exit and Close.
	store := wasmtime.NewStore(rt.Engine())
	defer store.Close()
	store.SetEpochDeadline(1 << 62)
	store.SetWasi(wasmtime.NewWasiConfig())
	e := env.New(store, env.Config{Pid: 1 << 30})
	defer e.Close()
	inst, err := rt.Linker().Instantiate(store, module)
	if err != nil {
		t.Fatal(err)
	}
	e.Bind(inst)
	_, err = inst.GetFunc(store, "_start").Call(store)
	out := e.Resolve(err)
	var exit *wasix.ExitError
	if !errors.As(out, &exit) || exit.Status != 7 || e.Exited() != out {
		t.Fatalf("outcome %s, Exited %v; want exit 7 from the handler", describe(out), e.Exited())
	}
	if _, _, armed := e.Timer(wasix.SIGALRM); armed {
		t.Error("the guest's interval timer survived its exit")
	}
	before := e.Counters()
	checkAccounted(t, "exited", before)
	for sig := wasix.Signal(1); sig < wasix.NSIG; sig++ {
		if err := e.Signal(sig); !errors.Is(err, env.ErrExited) {
			t.Errorf("Signal(%v) after the exit = %v, want ErrExited", sig, err)
		}
	}
	if err := e.SetTimer(wasix.SIGALRM, time.Millisecond, true); !errors.Is(err, env.ErrExited) {
		t.Errorf("SetTimer after the exit = %v, want ErrExited", err)
	}
	if after := e.Counters(); after != before {
		t.Errorf("refused signals were counted: %+v -> %+v", before, after)
	}
	e.Close()
	e.Close() // idempotent
	if err := e.Signal(wasix.SIGUSR1); !errors.Is(err, env.ErrClosed) {
		t.Errorf("Signal after Close = %v, want ErrClosed", err)
	}
	if err := e.SetTimer(wasix.SIGALRM, time.Millisecond, true); !errors.Is(err, env.ErrClosed) {
		t.Errorf("SetTimer after Close = %v, want ErrClosed", err)
	}
	if after := e.Counters(); after != before {
		t.Errorf("refused signals were counted: %+v -> %+v", before, after)
	}
	if env.Lookup(store) != nil {
		t.Error("Close did not unregister the env")
	}
}

// TestRecursiveRaiseOverflow: a handler that raises again before returning
// recurses, with no host-level masking, until the wasm stack overflows.
// The run must end with an error (default policy: a handler trap wrapping
// the stack overflow, status 134; wasmer policy: exit 27), never crash the
// Go process, and leave the Runtime usable.
func TestRecursiveRaiseOverflow(t *testing.T) {
	watchdog(t, 120*time.Second)
	rt := sharedRuntime(t)
	variants := []struct {
		name, handler string
		async         bool
	}{
		{"proc_raise", `(drop (call $raise (local.get $sig)))`, false},
		{"thread_signal", `(drop (call $tsig (i32.const 1) (local.get $sig)))`, false},
		{"proc_signal own pid", `(drop (call $psig (i32.load (i32.const 64)) (local.get $sig)))`, false},
		{"ping-pong USR1 USR2", `(drop (call $raise (i32.sub (i32.const 22) (local.get $sig))))`, false},
		{"re-register then raise", `(call $cb (i32.const 0) (i32.const 1)) (drop (call $raise (local.get $sig)))`, false},
		{"started by Go while spinning", `(drop (call $raise (local.get $sig)))`, true},
	}
	for _, policy := range []wasix.Policy{wasix.PolicyDefault, wasix.PolicyWasmer} {
		for _, v := range variants {
			t.Run(fmt.Sprintf("%s/%v", v.name, policy), func(t *testing.T) {
				main := `(drop (call $pid (i32.const 64))) (call $cb (i32.const 0) (i32.const 1)) (drop (call $raise (i32.const 10))) (call $exit (i32.const 99))`
				if v.async {
					main = `(call $cb (i32.const 0) (i32.const 1)) (loop (br 0))`
				}
				src := wat(signalImports,
					`(func (export "h") (param $sig i32)
					  (global.set $count (i32.add (global.get $count) (i32.const 1)))`, setCount, v.handler, `)`,
					`(func (export "_start")`, main, `)`)
				// Several at once: overflowing stacks on several threads.
				procs := make([]*host.Process, 3)
				for i := range procs {
					procs[i] = start(t, context.Background(), rt, src, host.Config{Policy: policy})
				}
				if v.async {
					for _, p := range procs {
						waitHandler(t, p)
						if err := p.Signal(wasix.SIGUSR1); err != nil {
							t.Fatal(err)
						}
					}
				}
				for _, p := range procs {
					out, ok := waitDone(t, p, 30*time.Second)
					if !ok {
						continue
					}
					checkOverflow(t, p, out, policy)
				}
			})
		}
	}
	// Still usable.
	p := start(t, context.Background(), rt, wat(signalImports, `(func (export "_start") (call $exit (i32.const 5)))`), host.Config{})
	if out, _ := waitDone(t, p, 10*time.Second); describe(out) != "exit 5" {
		t.Errorf("after the overflows, a plain guest got %s", describe(out))
	}
}

func checkOverflow(t *testing.T, p *host.Process, out error, policy wasix.Policy) {
	t.Helper()
	depth := reported(p, keyCount)
	what := fmt.Sprintf("pid %d (%s after %d nested handler calls)", p.Pid(), describe(out), depth)
	if depth < 10 {
		t.Errorf("%s: the recursion stopped early", what)
	}
	checkAccounted(t, what, p.Env().Counters())
	switch policy {
	case wasix.PolicyDefault:
		var ht *wasix.HandlerTrapError
		if !errors.As(out, &ht) || !ht.Signal.Valid() || host.ExitCode(out) != 134 {
			t.Errorf("%s: want a handler trap (status 134)", what)
			return
		}
		if ht.Err == nil || !strings.Contains(ht.Err.Error(), "call stack exhausted") {
			t.Errorf("%s: the handler trap does not wrap a stack overflow: %v", what, ht.Err)
		}
	case wasix.PolicyWasmer:
		var exit *wasix.ExitError
		if !errors.As(out, &exit) || exit.Status != 27 {
			t.Errorf("%s: want exit 27", what)
		}
	}
}

// raceGuests end on their own within a few milliseconds, whatever is sent
// to them, so that Close (which makes later signals, SIGKILL included,
// refused) cannot leave one running.
var raceGuests = []string{
	// No handler; returns at once.
	wat(signalImports, `(func (export "_start"))`),
	// Handler; a few short sleeps; returns.
	wat(signalImports, `(func (export "h") (param i32) (global.set $count (i32.add (global.get $count) (i32.const 1))))`,
		`(func (export "_start") (local $i i32) (call $cb (i32.const 0) (i32.const 1))
		  (loop (drop (call $sleep (i64.const 100000))) (local.set $i (i32.add (local.get $i) (i32.const 1)))
		    (br_if 0 (i32.lt_u (local.get $i) (i32.const 10)))))`),
	// Handler; spins in wasm for a moment; proc_exit(5).
	wat(signalImports, `(func (export "h") (param i32) (global.set $count (i32.add (global.get $count) (i32.const 1))))`,
		`(func (export "_start") (local $i i32) (call $cb (i32.const 0) (i32.const 1))
		  (loop (local.set $i (i32.add (local.get $i) (i32.const 1))) (br_if 0 (i32.lt_u (local.get $i) (i32.const 2000000))))
		  (call $exit (i32.const 5)))`),
	// Handler that exits with 6 on SIGTERM; an interval timer; short sleeps.
	wat(signalImports, `(func (export "h") (param $sig i32)
		  (global.set $count (i32.add (global.get $count) (i32.const 1)))
		  (if (i32.eq (local.get $sig) (i32.const 15)) (then (call $exit (i32.const 6)))))`,
		`(func (export "_start") (local $i i32) (call $cb (i32.const 0) (i32.const 1))
		  (drop (call $interval (i32.const 14) (i64.const 50000) (i32.const 1)))
		  (loop (drop (call $sleep (i64.const 200000))) (local.set $i (i32.add (local.get $i) (i32.const 1)))
		    (br_if 0 (i32.lt_u (local.get $i) (i32.const 10)))))`),
	// No handler; sleeps: most signals end it by their default action.
	wat(signalImports, `(func (export "_start") (local $i i32)
		  (loop (drop (call $sleep (i64.const 100000))) (local.set $i (i32.add (local.get $i) (i32.const 1)))
		    (br_if 0 (i32.lt_u (local.get $i) (i32.const 20)))))`),
}

// TestCloseAndCancelRacingDelivery: many short-lived guests, each hit at
// once by senders, a context cancel, an env Close, timer arming and
// readers, all racing with delivery and with the guest's own exit. No
// panic, no hang, no race (run it with -race), only documented outcomes
// and errors, and the counters account for every signal at every moment.
func TestCloseAndCancelRacingDelivery(t *testing.T) {
	iterations := pick(1000, 10000)
	watchdog(t, 120*time.Second)
	rt := sharedRuntime(t)
	for _, src := range raceGuests {
		compile(t, rt, src)
	}
	goroutinesBefore := goroutines()
	began := time.Now()
	var closed, cancelled, signals, refusedN atomic.Uint64
	outcomes := map[string]int{}
	var mu sync.Mutex
	sem := make(chan struct{}, 8)
	var wg sync.WaitGroup
	for it := range iterations {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			r := rand.New(rand.NewPCG(uint64(it), 7))
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			grace := []time.Duration{-1, time.Millisecond, 5 * time.Second}[r.IntN(3)]
			p, err := rt.Start(ctx, compile(t, rt, raceGuests[it%len(raceGuests)]), host.Config{Grace: grace})
			if err != nil {
				t.Errorf("start: %v", err)
				return
			}
			var doClose bool
			var inner sync.WaitGroup
			run := func(f func()) { inner.Add(1); go func() { defer inner.Done(); f() }() }
			delay := func() { time.Sleep(time.Duration(r.IntN(2000)) * time.Microsecond) }
			for s := range 2 {
				rs := rand.New(rand.NewPCG(uint64(it), uint64(s)))
				run(func() {
					for i := 1; ; i++ {
						if i%32 == 0 {
							time.Sleep(50 * time.Microsecond)
						}
						sig := []wasix.Signal{wasix.SIGUSR1, wasix.SIGUSR2, wasix.SIGHUP, wasix.SIGTERM, wasix.SIGWINCH, wasix.SIGSTOP}[rs.IntN(6)]
						err := p.Signal(sig)
						signals.Add(1)
						if err != nil && !refused(err) {
							t.Errorf("Signal: %v", err)
						}
						if err != nil {
							refusedN.Add(1)
							return
						}
					}
				})
			}
			run(func() {
				for {
					c := p.Env().Counters()
					if !accounted(c) {
						t.Errorf("pid %d: a snapshot does not add up: %+v", p.Pid(), c)
						return
					}
					select {
					case <-p.Done():
						return
					case <-time.After(20 * time.Microsecond):
					}
				}
			})
			if r.IntN(2) == 0 {
				d := time.Duration(r.IntN(2000)) * time.Microsecond
				run(func() { time.Sleep(d); cancel(); cancelled.Add(1) })
			}
			if r.IntN(4) == 0 {
				doClose = true
				d := time.Duration(r.IntN(3000)) * time.Microsecond
				run(func() { time.Sleep(d); p.Env().Close(); closed.Add(1) })
			}
			if r.IntN(4) == 0 {
				run(func() {
					delay()
					if err := p.Env().SetTimer(wasix.SIGUSR1, 100*time.Microsecond, true); err != nil && !refused(err) {
						t.Errorf("SetTimer: %v", err)
					}
				})
			}
			select {
			case <-p.Done():
			case <-time.After(30 * time.Second):
				t.Errorf("pid %d did not end", p.Pid())
				return
			}
			inner.Wait()
			out := p.Wait()
			switch cl := outcomeClass(out); {
			case doClose && out != nil && strings.Contains(out.Error(), "no WasiEnv"):
				// Closed under the running guest: its next import traps,
				// in _start or in a handler.
			case cl == "other", cl == "trap", cl == "handler-trap":
				t.Errorf("pid %d: unexpected outcome %s", p.Pid(), describe(out))
			}
			c := p.Env().Counters()
			checkAccounted(t, fmt.Sprintf("pid %d", p.Pid()), c)
			if err := p.Signal(wasix.SIGUSR1); !errors.Is(err, env.ErrClosed) {
				t.Errorf("pid %d: Signal after the end = %v", p.Pid(), err)
			}
			mu.Lock()
			outcomes[outcomeClass(out)]++
			mu.Unlock()
		}()
	}
	wg.Wait()
	after := settleGoroutines(t, goroutinesBefore)
	figure(t, "%d guests in %v (8 at a time): %d Signal calls (%d refused after the end), %d cancels, %d env Closes; outcomes %v; goroutines %d before, %d after",
		iterations, time.Since(began).Round(time.Millisecond), signals.Load(), refusedN.Load(), cancelled.Load(), closed.Load(), outcomes, goroutinesBefore, after)
}

// TestSignalRacingEnd: Process.Signal from several goroutines while the
// guest ends (by itself, by proc_exit, or by the default action of the
// very signals sent). Every call returns nil, ErrExited or ErrClosed;
// after Done it is ErrClosed; the counters account for everything.
func TestSignalRacingEnd(t *testing.T) {
	iterations := pick(1000, 10000)
	watchdog(t, 120*time.Second)
	rt := sharedRuntime(t)
	guests := []string{
		wat(signalImports, `(func (export "_start"))`),
		wat(signalImports, `(func (export "h") (param i32)) (func (export "_start") (call $cb (i32.const 0) (i32.const 1)))`),
		wat(signalImports, `(func (export "h") (param i32)) (func (export "_start") (call $cb (i32.const 0) (i32.const 1)) (call $exit (i32.const 0)))`),
		wat(signalImports, `(func (export "_start") (local $i i32)
		  (loop (drop (call $sleep (i64.const 100000))) (local.set $i (i32.add (local.get $i) (i32.const 1)))
		    (br_if 0 (i32.lt_u (local.get $i) (i32.const 5)))))`),
	}
	goroutinesBefore := goroutines()
	began := time.Now()
	var accepted, refusedN atomic.Uint64
	sem := make(chan struct{}, 8)
	var wg sync.WaitGroup
	for it := range iterations {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			p, err := rt.Start(context.Background(), compile(t, rt, guests[it%len(guests)]), host.Config{})
			if err != nil {
				t.Errorf("start: %v", err)
				return
			}
			var senders sync.WaitGroup
			var sent atomic.Uint64
			for s := range 3 {
				senders.Add(1)
				go func() {
					defer senders.Done()
					sig := []wasix.Signal{wasix.SIGUSR1, wasix.SIGWINCH, wasix.SIGINT}[s]
					for i := 1; ; i++ {
						if i%32 == 0 {
							// Bursts, not a busy loop: the guests need the CPU.
							time.Sleep(50 * time.Microsecond)
						}
						err := p.Signal(sig)
						switch {
						case err == nil:
							sent.Add(1)
							accepted.Add(1)
							continue
						case !refused(err):
							t.Errorf("Signal: %v", err)
						}
						refusedN.Add(1)
						return
					}
				}()
			}
			senders.Wait()
			out, ok := waitDone(t, p, 30*time.Second)
			if !ok {
				return
			}
			if cl := outcomeClass(out); cl != "ok" && cl != "exit" && cl != "default-action" {
				t.Errorf("pid %d: unexpected outcome %s", p.Pid(), describe(out))
			}
			if err := p.Signal(wasix.SIGUSR1); !errors.Is(err, env.ErrClosed) {
				t.Errorf("pid %d: Signal after Done = %v, want ErrClosed", p.Pid(), err)
			}
			c := p.Env().Counters()
			checkAccounted(t, fmt.Sprintf("pid %d", p.Pid()), c)
			if c.Raised != sent.Load() {
				t.Errorf("pid %d: %d signals accepted, %d raised", p.Pid(), sent.Load(), c.Raised)
			}
		}()
	}
	wg.Wait()
	after := settleGoroutines(t, goroutinesBefore)
	figure(t, "%d guests in %v: %d signals accepted, %d refused; goroutines %d before, %d after",
		iterations, time.Since(began).Round(time.Millisecond), accepted.Load(), refusedN.Load(), goroutinesBefore, after)
}
