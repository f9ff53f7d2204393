package signal_test

import (
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bytecodealliance/wasmtime-go/v25"
	"github.com/google/go-cmp/cmp"
	"github.com/wasix-org/wasix-signals-go/wasix"
	"github.com/wasix-org/wasix-signals-go/wasix/env"
	"github.com/wasix-org/wasix-signals-go/wasix/signal"
)

func TestCallbackSignalLogs(t *testing.T) {
	g := newGuest(t, guestOpts{body: "(call $reg)" + cb(112, 3) + cb(65530, 100) + cb(128, 2)})
	if err := g.run(); err != nil {
		t.Fatal(err)
	}
	var trace []map[string]string
	for _, l := range g.logs.find("callback_signal") {
		if l.Level == wasix.LevelTrace {
			trace = append(trace, l.Attrs)
		}
	}
	want := []map[string]string{
		{"name": "__wasm_signal", "funct_is_some": "true"},
		{"name": "mem", "funct_is_some": "false"},
	}
	if diff := cmp.Diff(want, trace); diff != "" {
		t.Errorf("trace lines (-want +got)\n%s", diff)
	}
	for _, msg := range []string{"out of bounds", "not valid UTF-8"} {
		lines := g.logs.find(msg)
		if len(lines) != 1 || lines[0].Level != slog.LevelWarn {
			t.Errorf("want one warning %q, got %+v", msg, lines)
		}
	}
}

func TestRegistrationDuringStartFunction(t *testing.T) {
	// The start function runs inside Instantiate, before Bind: the lookup
	// must go through the caller's exports.
	g := newGuest(t, guestOpts{extra: `(start $init) (func $init (call $reg) (call $log (call $raise (i32.const 12))))`})
	if diff := cmp.Diff([]int32{12, 0}, g.Events()); diff != "" {
		t.Errorf("(-want +got)\n%s", diff)
	}
}

func TestHandlerCacheFollowsRegistrations(t *testing.T) {
	// Alternating block and unblock, as wasix-libc does around every raise,
	// hits the cache; every registration still takes effect.
	body := strings.Repeat("(call $block)"+raise(10)+"(call $reg)", 3)
	g := newGuest(t, guestOpts{body: body})
	if err := g.run(); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]int32{0, 10, 0, 10, 0, 10}, g.Events()); diff != "" {
		t.Errorf("(-want +got)\n%s", diff)
	}
}

// standalone instantiates a module that does not use the test prelude.
func standalone(t *testing.T, wat string, cfg env.Config) (*env.WasiEnv, *wasmtime.Instance, *wasmtime.Store, error) {
	t.Helper()
	engine, l := linker(t)
	wasm, err := wasmtime.Wat2Wasm(wat)
	if err != nil {
		t.Fatal(err)
	}
	module, err := wasmtime.NewModule(engine, wasm)
	if err != nil {
		t.Fatal(err)
	}
	store := wasmtime.NewStore(engine)
	store.SetWasi(wasmtime.NewWasiConfig())
	e := env.New(store, cfg)
	t.Cleanup(e.Close)
	inst, err := l.Instantiate(store, module)
	if err != nil {
		return e, nil, store, err
	}
	e.Bind(inst)
	return e, inst, store, nil
}

func TestNamespaces(t *testing.T) {
	const wat = `(module
	  (import "wasix_64v1" "callback_signal" (func $cb (param i64 i64)))
	  (import "wasix_64v1" "proc_raise" (func $raise64 (param i32) (result i32)))
	  (import "wasix_64v1" "thread_id" (func $tid (param i64) (result i32)))
	  (import "wasix_64v1" "proc_signals_sizes_get" (func $sizes (param i64) (result i32)))
	  (import "wasi_unstable" "proc_raise" (func $uraise (param i32) (result i32)))
	  (import "wasi_snapshot_preview1" "proc_raise" (func $p1raise (param i32) (result i32)))
	  (memory (export "memory") 1)
	  (data (i32.const 0) "h")
	  (global $seen (mut i32) (i32.const 0))
	  (func (export "h") (param i32) (global.set $seen (i32.add (i32.mul (global.get $seen) (i32.const 100)) (local.get 0))))
	  (func (export "run") (result i32 i32 i32 i32 i32)
	    (call $cb (i64.const 0) (i64.const 1))
	    (drop (call $raise64 (i32.const 10)))
	    (drop (call $uraise (i32.const 12)))
	    (drop (call $p1raise (i32.const 14)))
	    (global.get $seen)
	    (call $tid (i64.const 8))
	    (i32.load (i32.const 8))
	    (call $tid (i64.const 0x100000000))
	    (call $sizes (i64.const -1))))`
	_, inst, store, err := standalone(t, wat, env.Config{})
	if err != nil {
		t.Fatal(err)
	}
	out, err := inst.GetFunc(store, "run").Call(store)
	if err != nil {
		t.Fatal(err)
	}
	var got []int32
	for _, v := range out.([]wasmtime.Val) {
		got = append(got, v.I32())
	}
	// Handler saw 10, 12, 14 in order; thread_id wrote 1; a 64-bit pointer
	// beyond memory and one that wraps are EFAULT.
	if diff := cmp.Diff([]int32{101214, 0, 1, 21, 21}, got); diff != "" {
		t.Errorf("(-want +got)\n%s", diff)
	}
}

func TestModuleWithoutMemory(t *testing.T) {
	const wat = `(module
	  (import "wasix_32v1" "callback_signal" (func $cb (param i32 i32)))
	  (import "wasix_32v1" "thread_id" (func $tid (param i32) (result i32)))
	  (import "wasix_32v1" "proc_raise" (func $raise (param i32) (result i32)))
	  (func (export "run") (result i32 i32)
	    (call $cb (i32.const 0) (i32.const 4))
	    (call $tid (i32.const 0))
	    (call $raise (i32.const 17))))`
	e, inst, store, err := standalone(t, wat, env.Config{})
	if err != nil {
		t.Fatal(err)
	}
	out, err := inst.GetFunc(store, "run").Call(store)
	if err != nil {
		t.Fatal(err)
	}
	got := []int32{out.([]wasmtime.Val)[0].I32(), out.([]wasmtime.Val)[1].I32()}
	if diff := cmp.Diff([]int32{int32(wasix.EFAULT), 0}, got); diff != "" {
		t.Errorf("(-want +got)\n%s", diff)
	}
	if set, _ := e.Handler(); set {
		t.Error("a name that cannot be read must not register")
	}
}

func TestStoreWithoutEnvTraps(t *testing.T) {
	engine, l := linker(t)
	wasm, _ := wasmtime.Wat2Wasm(`(module (import "wasix_32v1" "proc_raise" (func $r (param i32) (result i32)))
	  (func (export "run") (drop (call $r (i32.const 10)))))`)
	module, err := wasmtime.NewModule(engine, wasm)
	if err != nil {
		t.Fatal(err)
	}
	store := wasmtime.NewStore(engine)
	inst, err := l.Instantiate(store, module)
	if err != nil {
		t.Fatal(err)
	}
	_, err = inst.GetFunc(store, "run").Call(store)
	if err == nil || !strings.Contains(err.Error(), "no WasiEnv") {
		t.Fatalf("want a trap naming the missing WasiEnv, got %v", err)
	}
}

func TestSafePointDeliversSignalsFromGo(t *testing.T) {
	g := newGuest(t, guestOpts{body: "(call $reg)"})
	if err := g.run(); err != nil {
		t.Fatal(err)
	}
	if err := g.env.Signal(wasix.SIGUSR2); err != nil {
		t.Fatal(err)
	}
	if got := g.Events(); len(got) != 0 {
		t.Fatalf("delivered before a safe point: %v", got)
	}
	if err := g.call("safe"); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]int32{12}, g.Events()); diff != "" {
		t.Errorf("(-want +got)\n%s", diff)
	}
}

func TestSafePointTerminates(t *testing.T) {
	g := newGuest(t, guestOpts{})
	if err := g.env.Signal(wasix.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if got := outcome(g.call("safe")); got != "exit 143 by SIGTERM" {
		t.Errorf("got %s", got)
	}
}

func TestSignalFromGoErrors(t *testing.T) {
	g := newGuest(t, guestOpts{})
	for _, s := range []wasix.Signal{0, -1, 32, 255} {
		if err := g.env.Signal(s); !errors.Is(err, wasix.EINVAL) {
			t.Errorf("Signal(%d) = %v, want EINVAL", s, err)
		}
	}
	if err := g.env.Signal(wasix.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if got := outcome(g.call("safe")); got != "exit 137 by SIGKILL" {
		t.Fatalf("got %s", got)
	}
	if err := g.env.Signal(wasix.SIGINT); !errors.Is(err, env.ErrExited) {
		t.Errorf("after exit: %v, want ErrExited", err)
	}
	g.env.Close()
	if err := g.env.Signal(wasix.SIGINT); !errors.Is(err, env.ErrClosed) {
		t.Errorf("after Close: %v, want ErrClosed", err)
	}
	if c := g.env.Counters(); c.Raised != 1 || c.TerminatedBy != wasix.SIGKILL {
		t.Errorf("refused signals must not count: %+v", c)
	}
}

func TestFirstExitWins(t *testing.T) {
	// The handler of 10 raises 12, whose handler exits 3; the outer handler
	// would exit 4 after that but never gets there.
	g := newGuest(t, guestOpts{
		handler: `(if (i32.eq (local.get 0) (i32.const 12)) (then (call $exit (i32.const 3))))
			(drop (call $raise (i32.const 12))) (call $exit (i32.const 4))`,
		body: "(call $reg)" + raise(10),
	})
	if got := outcome(g.run()); got != "exit 3" {
		t.Errorf("got %s", got)
	}
	// Both handler calls were delivered and neither returned.
	want := env.Counters{Raised: 2, Delivered: 2, CutShort: 2}
	if diff := cmp.Diff(want, g.env.Counters()); diff != "" {
		t.Errorf("counters (-want +got):\n%s", diff)
	}
}

func TestCutShort(t *testing.T) {
	// The handler of 10 raises 12 (its handler returns or ends the
	// process), then returns or ends the process itself.
	cases := []struct {
		name, handler string
		outcome       string
		cutShort      uint64
	}{
		{"both return", ``, "ok", 0},
		{"inner traps", `(if (i32.eq (local.get 0) (i32.const 12)) (then unreachable))`, "trap in SIGUSR2", 2},
		{"inner exits", `(if (i32.eq (local.get 0) (i32.const 12)) (then (call $exit (i32.const 5))))`, "exit 5", 2},
		{"outer traps after the inner returned", `(if (i32.eq (local.get 0) (i32.const 10)) (then (drop (call $raise (i32.const 12))) unreachable))`, "trap in SIGUSR1", 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := newGuest(t, guestOpts{
				handler: tc.handler + `(if (i32.eq (local.get 0) (i32.const 10)) (then (drop (call $raise (i32.const 12)))))`,
				body:    "(call $reg)" + raise(10),
			})
			if got := outcome(g.run()); got != tc.outcome {
				t.Errorf("outcome %s, want %s", got, tc.outcome)
			}
			c := g.env.Counters()
			if c.CutShort != tc.cutShort || c.Delivered < c.CutShort {
				t.Errorf("counters %+v, want %d cut short", c, tc.cutShort)
			}
		})
	}
}

func TestRecursiveRaiseOverflowsTheGuestStack(t *testing.T) {
	for _, policy := range []wasix.Policy{wasix.PolicyDefault, wasix.PolicyWasmer} {
		g := newGuest(t, guestOpts{
			cfg:     env.Config{Policy: policy},
			handler: `(drop (call $raise (local.get 0)))`,
			body:    "(call $reg)" + raise(10),
		})
		err := g.run()
		want := "trap in SIGUSR1"
		if policy == wasix.PolicyWasmer {
			want = "exit 27 by SIGUSR1"
		}
		if got := outcome(err); got != want {
			t.Errorf("%v: got %s, want %s", policy, got, want)
		}
		var hte *wasix.HandlerTrapError
		if errors.As(err, &hte) && !strings.Contains(hte.Err.Error(), "stack") {
			t.Errorf("trap should be a stack overflow: %v", hte.Err)
		}
	}
}

func TestTimers(t *testing.T) {

	type step struct {
		advance time.Duration
		raised  uint64
	}
	cases := []struct {
		name  string
		body  string
		steps []step
	}{
		{"one-shot", "(drop (call $interval (i32.const 14) (i64.const 100000000) (i32.const 0)))",
			[]step{{99 * time.Millisecond, 0}, {time.Millisecond, 1}, {time.Second, 1}}},
		{"repeating", "(drop (call $interval (i32.const 14) (i64.const 100000000) (i32.const 1)))",
			[]step{{100 * time.Millisecond, 1}, {250 * time.Millisecond, 3}, {50 * time.Millisecond, 4}}},
		{"cancelled", "(drop (call $interval (i32.const 14) (i64.const 100000000) (i32.const 1)))" +
			"(drop (call $interval (i32.const 14) (i64.const 0) (i32.const 1)))",
			[]step{{time.Second, 0}}},
		{"replaced", "(drop (call $interval (i32.const 14) (i64.const 100000000) (i32.const 0)))" +
			"(drop (call $interval (i32.const 14) (i64.const 300000000) (i32.const 0)))",
			[]step{{200 * time.Millisecond, 0}, {100 * time.Millisecond, 1}, {time.Second, 1}}},
		{"one timer per signal", "(drop (call $interval (i32.const 14) (i64.const 100000000) (i32.const 0)))" +
			"(drop (call $interval (i32.const 26) (i64.const 200000000) (i32.const 0)))",
			[]step{{100 * time.Millisecond, 1}, {100 * time.Millisecond, 2}}},
		{"huge interval does not overflow", "(drop (call $interval (i32.const 14) (i64.const -1) (i32.const 1)))",
			[]step{{1000 * time.Hour, 0}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			clock := &env.ManualClock{}
			g := newGuest(t, guestOpts{cfg: env.Config{Clock: clock, MinTimerInterval: -1}, body: "(call $block)" + tc.body})
			if err := g.run(); err != nil {
				t.Fatal(err)
			}
			for i, s := range tc.steps {
				clock.Advance(s.advance)
				if c := g.env.Counters(); c.Raised != s.raised {
					t.Fatalf("step %d: raised %d, want %d (%+v)", i, c.Raised, s.raised, c)
				}
			}
		})
	}

}

func TestTimerUnitPerPolicy(t *testing.T) {
	for _, tc := range []struct {
		policy wasix.Policy
		want   time.Duration
	}{{wasix.PolicyDefault, 250 * time.Nanosecond}, {wasix.PolicyWasmer, 250 * time.Millisecond}} {
		g := newGuest(t, guestOpts{cfg: env.Config{Policy: tc.policy, Clock: &env.ManualClock{}, MinTimerInterval: -1},
			body: "(drop (call $interval (i32.const 14) (i64.const 250) (i32.const 1)))"})
		if err := g.run(); err != nil {
			t.Fatal(err)
		}
		got, repeat, armed := g.env.Timer(wasix.SIGALRM)
		if got != tc.want || !repeat || !armed {
			t.Errorf("%v: timer %v repeat %v armed %v, want %v", tc.policy, got, repeat, armed, tc.want)
		}
	}
}

func TestAlarmInterruptsSleep(t *testing.T) {
	clock := &env.ManualClock{}
	g := newGuest(t, guestOpts{cfg: env.Config{Clock: clock, MinTimerInterval: -1}, body: "(call $reg)" +
		"(drop (call $interval (i32.const 14) (i64.const 100000000) (i32.const 0)))" +
		"(call $log (call $sleep (i64.const 10000000000)))"})
	done := make(chan error, 1)
	go func() { done <- g.run() }()
	clock.BlockUntil(2) // the alarm and the sleep
	clock.Advance(100 * time.Millisecond)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]int32{14, int32(wasix.EINTR)}, g.Events()); diff != "" {
		t.Errorf("(-want +got)\n%s", diff)
	}
}

func TestSleepRunsItsFullTime(t *testing.T) {
	clock := &env.ManualClock{}
	g := newGuest(t, guestOpts{cfg: env.Config{Clock: clock, MinTimerInterval: -1}, body: "(call $reg)(call $block)" +
		"(call $log (call $sleep (i64.const 10000000000)))"})
	done := make(chan error, 1)
	go func() { done <- g.run() }()
	clock.BlockUntil(1)
	// A blocked signal does not interrupt the sleep.
	if err := g.env.Signal(wasix.SIGUSR1); err != nil {
		t.Fatal(err)
	}
	clock.Advance(9 * time.Second)
	select {
	case err := <-done:
		t.Fatalf("sleep ended early: %v %v", err, g.Events())
	case <-time.After(20 * time.Millisecond):
	}
	clock.Advance(time.Second)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]int32{0}, g.Events()); diff != "" {
		t.Errorf("(-want +got)\n%s", diff)
	}
}

func TestSleepInterruptedFromAnotherGoroutine(t *testing.T) {
	g := newGuest(t, guestOpts{body: "(call $reg)" + mark(-1) + "(call $log (call $sleep (i64.const 60000000000)))"})
	done := make(chan error, 1)
	start := time.Now()
	go func() { done <- g.run() }()
	g.waitEvent(-1)
	if err := g.env.Signal(wasix.SIGINT); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("thread_sleep was not interrupted")
	}
	if time.Since(start) > 30*time.Second {
		t.Fatal("slept too long")
	}
	if diff := cmp.Diff([]int32{-1, 2, int32(wasix.EINTR)}, g.Events()); diff != "" {
		t.Errorf("(-want +got)\n%s", diff)
	}
}

func TestSleepTerminatedFromAnotherGoroutine(t *testing.T) {
	g := newGuest(t, guestOpts{body: mark(-1) + "(call $log (call $sleep (i64.const 60000000000)))"})
	done := make(chan error, 1)
	go func() { done <- g.run() }()
	g.waitEvent(-1)
	if err := g.env.Signal(wasix.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if got := outcome(<-done); got != "exit 143 by SIGTERM" {
		t.Errorf("got %s", got)
	}
}

// TestConcurrentSignals queues signals from 8 goroutines while the guest
// loops over a safe point; every signal must be accounted for exactly.
func TestConcurrentSignals(t *testing.T) {
	const senders, perSender = 8, 100_000
	g := newGuest(t, guestOpts{
		handler: `(if (i32.eq (local.get 0) (i32.const 15)) (then (global.set $stop (i32.const 1))))
			(global.set $count (i32.add (global.get $count) (i32.const 1)))`,
		extra: `(global $stop (mut i32) (i32.const 0)) (global $count (mut i32) (i32.const 0))
			(func (export "loop") (result i32) (call $reg)
			  (loop (call $safepoint) (br_if 0 (i32.eqz (global.get $stop))))
			  (global.get $count))`,
	})
	type out struct {
		count int32
		err   error
	}
	done := make(chan out, 1)
	go func() {
		v, err := g.inst.GetFunc(g.store, "loop").Call(g.store)
		if err != nil {
			done <- out{err: err}
			return
		}
		done <- out{count: v.(int32)}
	}()
	sigs := []wasix.Signal{wasix.SIGUSR1, wasix.SIGUSR2, wasix.SIGALRM, wasix.SIGHUP, wasix.SIGWINCH, wasix.SIGCHLD}
	var wg sync.WaitGroup
	for i := 0; i < senders; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			for j := 0; j < perSender; j++ {
				if err := g.env.Signal(sigs[(i+j)%len(sigs)]); err != nil {
					t.Error(err)
					return
				}
			}
		}(i)
	}
	wg.Wait()
	if err := g.env.Signal(wasix.SIGTERM); err != nil {
		t.Fatal(err)
	}
	o := <-done
	if o.err != nil {
		t.Fatal(o.err)
	}
	c := g.env.Counters()
	if c.Raised != senders*perSender+1 {
		t.Errorf("raised %d, want %d", c.Raised, senders*perSender+1)
	}
	if c.Raised != c.Delivered+c.Coalesced+c.Ignored+uint64(c.Pending) || c.Ignored != 0 {
		t.Errorf("counters do not add up: %+v", c)
	}
	if uint64(o.count) != c.Delivered || c.Pending != 0 {
		t.Errorf("handler ran %d times, delivered %d", o.count, c.Delivered)
	}
	t.Logf("%+v", c)
}

// TestManyStoresOneLinker runs guests on several goroutines at once, each
// in its own Store on the shared Linker.
func TestManyStoresOneLinker(t *testing.T) {
	var wg sync.WaitGroup
	for i := 0; i < 6; i++ {
		g := newGuest(t, guestOpts{cfg: env.Config{Pid: int32(10 + i)},
			body: "(call $reg)" + raise(10) + "(drop (call $pid (i32.const 300))) (call $log (i32.load (i32.const 300)))"})
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			if err := g.run(); err != nil {
				t.Error(err)
			}
			if diff := cmp.Diff([]int32{10, 0, int32(10 + i)}, g.Events()); diff != "" {
				t.Errorf("guest %d (-want +got)\n%s", i, diff)
			}
		}(i)
	}
	wg.Wait()
}

func TestProcSignalReachesPeer(t *testing.T) {
	a := newGuest(t, guestOpts{cfg: env.Config{Pid: 1}, body: "(call $log (call $psig (i32.const 2) (i32.const 10)))" +
		"(call $log (call $psig (i32.const 3) (i32.const 10)))(call $log (call $psig (i32.const 2) (i32.const 0)))"})
	b := newGuest(t, guestOpts{cfg: env.Config{Pid: 2}, body: "(call $reg)"})
	if err := b.run(); err != nil {
		t.Fatal(err)
	}
	a.env.SetPeers(func(pid int32) (*env.WasiEnv, bool) {
		if pid == 2 {
			return b.env, true
		}
		return nil, false
	})
	if err := a.run(); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]int32{0, int32(wasix.ESRCH), 0}, a.Events()); diff != "" {
		t.Errorf("sender (-want +got)\n%s", diff)
	}
	if err := b.call("safe"); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]int32{10}, b.Events()); diff != "" {
		t.Errorf("receiver (-want +got)\n%s", diff)
	}
}

func TestInstallTwiceOnOneLinker(t *testing.T) {
	l := wasmtime.NewLinker(wasmtime.NewEngine())
	if err := signal.Install(l); err != nil {
		t.Fatal(err)
	}
	if err := signal.Install(l); err != nil {
		t.Fatalf("reinstall with shadowing: %v", err)
	}
}
