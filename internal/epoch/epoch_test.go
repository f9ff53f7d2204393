package epoch_test

import (
	"errors"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bytecodealliance/wasmtime-go/v25"
	"github.com/google/go-cmp/cmp"

	"github.com/wasix-org/wasix-signals-go/internal/epoch"
)

const guestWAT = `
(module
  (global $flag (mut i32) (i32.const 0))
  (global $arg (mut i32) (i32.const -1))
  (global $count (mut i32) (i32.const 0))
  ;; Spins, without any host call, until handler has run.
  (func (export "spin")
    (loop $l
      (br_if $l (i32.eqz (global.get $flag)))))
  (func (export "handler") (param i32)
    (global.set $arg (local.get 0))
    (global.set $count (i32.add (global.get $count) (i32.const 1)))
    (global.set $flag (i32.const 1)))
  ;; Spins until terminated.
  (func (export "forever") (loop $l (br $l)))
  (func (export "count") (result i32) (global.get $count))
  (func (export "arg") (result i32) (global.get $arg))
  ;; An empty counted loop, for the cost of epoch checks.
  (func (export "iter") (param $n i32)
    (loop $l
      (local.set $n (i32.sub (local.get $n) (i32.const 1)))
      (br_if $l (local.get $n)))))
`

const (
	timeout = 10 * time.Second
	every   = 200 * time.Microsecond
	sigusr1 = 10
)

type guest struct {
	store                                  *wasmtime.Store
	spin, handler, forever, count, arg, it *wasmtime.Func
}

func newEngine(tb testing.TB, epochs bool) *wasmtime.Engine {
	tb.Helper()
	cfg := wasmtime.NewConfig()
	cfg.SetEpochInterruption(epochs)
	return wasmtime.NewEngineWithConfig(cfg)
}

func newGuest(tb testing.TB, engine *wasmtime.Engine) *guest {
	tb.Helper()
	wasm, err := wasmtime.Wat2Wasm(guestWAT)
	if err != nil {
		tb.Fatal(err)
	}
	module, err := wasmtime.NewModule(engine, wasm)
	if err != nil {
		tb.Fatal(err)
	}
	store := wasmtime.NewStore(engine)
	tb.Cleanup(store.Close)
	store.SetEpochDeadline(1)
	inst, err := wasmtime.NewInstance(store, module, nil)
	if err != nil {
		tb.Fatal(err)
	}
	g := &guest{store: store}
	for name, f := range map[string]**wasmtime.Func{
		"spin": &g.spin, "handler": &g.handler, "forever": &g.forever,
		"count": &g.count, "arg": &g.arg, "iter": &g.it,
	} {
		if *f = inst.GetFunc(store, name); *f == nil {
			tb.Fatalf("export %q missing", name)
		}
	}
	return g
}

func (g *guest) i32(tb testing.TB, f *wasmtime.Func) int32 {
	tb.Helper()
	v, err := f.Call(g.store)
	if err != nil {
		tb.Fatal(err)
	}
	return v.(int32)
}

// signaller is a one-slot signal queue with the acknowledgement a sender
// waits for, driven by a guest's epoch callback.
type signaller struct {
	pending atomic.Int32 // signal number, 0 = none
	acked   atomic.Int32 // last delivered signal
	calls   atomic.Int32 // callback invocations
	wake    chan struct{}
	start   time.Time
}

// callback delivers a pending signal to g's handler: push the deadline far
// out, call the handler, acknowledge, resume with delta 1. It gives up after
// timeout so that a broken test terminates the guest instead of hanging.
func (s *signaller) callback(g *guest) epoch.Callback {
	s.start = time.Now()
	s.wake = make(chan struct{}, 1)
	return func() (uint64, error) {
		s.calls.Add(1)
		if sig := s.pending.Swap(0); sig != 0 {
			g.store.SetEpochDeadline(epoch.Far)
			if _, err := g.handler.Call(g.store, sig); err != nil {
				return 0, err
			}
			s.acked.Store(sig)
			select {
			case s.wake <- struct{}{}:
			default:
			}
		}
		if time.Since(s.start) > timeout {
			return 0, errors.New("test watchdog: guest not done")
		}
		return 1, nil
	}
}

// send queues sig and kicks until the callback has delivered it.
func (s *signaller) send(k *epoch.Kicker, sig int32) bool {
	s.pending.Store(sig)
	return k.KickUntil(func() bool { return s.acked.Load() == sig }, s.wake, every, timeout)
}

func install(t *testing.T, store *wasmtime.Store, cb epoch.Callback) *epoch.Handle {
	t.Helper()
	h, err := epoch.Install(store, cb)
	if err != nil {
		t.Fatalf("Install: %v", err)
	}
	t.Cleanup(h.Close)
	return h
}

type outcome struct {
	Err      string
	Count    int32
	Arg      int32
	Acked    bool
	Handlers int32
}

func TestResumeRunsHandlerOnce(t *testing.T) {
	engine := newEngine(t, true)
	g := newGuest(t, engine)
	var s signaller
	install(t, g.store, s.callback(g))

	acked := make(chan bool, 1)
	go func() { acked <- s.send(epoch.NewKicker(engine), sigusr1) }()
	_, err := g.spin.Call(g.store)

	got := outcome{Acked: <-acked, Count: g.i32(t, g.count), Arg: g.i32(t, g.arg)}
	if err != nil {
		got.Err = err.Error()
	}
	want := outcome{Acked: true, Count: 1, Arg: sigusr1}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("outcome (-want +got):\n%s", diff)
	}
	if s.calls.Load() < 1 {
		t.Errorf("callback never ran")
	}
}

func TestCallbackErrorTerminatesGuest(t *testing.T) {
	engine := newEngine(t, true)
	g := newGuest(t, engine)
	install(t, g.store, func() (uint64, error) {
		return 0, errors.New("terminated by signal 9 (xyzzy)")
	})
	stop := kickInBackground(engine)
	_, err := g.spin.Call(g.store)
	stop()
	if err == nil || !strings.Contains(err.Error(), "terminated by signal 9 (xyzzy)") {
		t.Fatalf("spin: got %v, want an error carrying the callback's message", err)
	}
	var werr *wasmtime.Error
	if !errors.As(err, &werr) {
		t.Errorf("error type %T, want *wasmtime.Error", err)
	}
	// The instance stays usable (memory and globals survive) once the
	// deadline is moved: the passed deadline would run the callback again at
	// the next function entry.
	g.store.SetEpochDeadline(epoch.Far)
	if n := g.i32(t, g.count); n != 0 {
		t.Errorf("count = %d, want 0", n)
	}
}

func TestCallbackPanicTerminatesGuest(t *testing.T) {
	engine := newEngine(t, true)
	g := newGuest(t, engine)
	install(t, g.store, func() (uint64, error) { panic("kaboom") })
	stop := kickInBackground(engine)
	_, err := g.spin.Call(g.store)
	stop()
	if err == nil || !strings.Contains(err.Error(), "panicked: kaboom") {
		t.Fatalf("spin: got %v, want the recovered panic", err)
	}
}

// Without epoch.Far the nested call meets the already-passed deadline while
// the callback is out of the store, and traps with Interrupt before the
// handler's first instruction.
func TestNestedCallWithoutFarDeadlineTraps(t *testing.T) {
	engine := newEngine(t, true)
	g := newGuest(t, engine)
	var nested error
	install(t, g.store, func() (uint64, error) {
		_, nested = g.handler.Call(g.store, int32(sigusr1))
		return 0, errors.New("stop")
	})
	stop := kickInBackground(engine)
	_, err := g.spin.Call(g.store)
	stop()
	if err == nil {
		t.Fatal("spin returned normally")
	}
	var trap *wasmtime.Trap
	if !errors.As(nested, &trap) || trap.Code() == nil || *trap.Code() != wasmtime.Interrupt {
		t.Fatalf("nested call: got %v (%T), want an Interrupt trap", nested, nested)
	}
	g.store.SetEpochDeadline(epoch.Far)
	if n := g.i32(t, g.count); n != 0 {
		t.Errorf("handler ran %d times, want 0", n)
	}
}

func TestUnsupportedReturnsError(t *testing.T) {
	engine := newEngine(t, true)
	noop := func() (uint64, error) { return 1, nil }

	if _, err := epoch.Install(nil, noop); !errors.Is(err, epoch.ErrStoreClosed) {
		t.Errorf("nil store: %v", err)
	}
	closed := wasmtime.NewStore(engine)
	closed.Close()
	if _, err := epoch.Install(closed, noop); !errors.Is(err, epoch.ErrStoreClosed) {
		t.Errorf("closed store: %v", err)
	}
	if epoch.Supported(closed) {
		t.Errorf("Supported(closed) = true")
	}

	store := wasmtime.NewStore(engine)
	defer store.Close()
	if !epoch.Supported(store) {
		t.Fatal("Supported(store) = false on the real layout")
	}
	if _, err := epoch.Install(store, nil); err == nil {
		t.Errorf("nil callback accepted")
	}

	// A pointer that is some other store's: the run-time check must catch it.
	other := wasmtime.NewStore(engine)
	defer other.Close()
	restore := epoch.SetStorePtrSource(func(*wasmtime.Store) *wasmtime.Store { return other })
	before := epoch.Registered()
	_, err := epoch.Install(store, noop)
	supported := epoch.Supported(store)
	restore()
	if !errors.Is(err, epoch.ErrUnsupported) || !errors.Is(err, errors.ErrUnsupported) {
		t.Errorf("mismatched pointer: got %v, want ErrUnsupported", err)
	}
	if supported {
		t.Errorf("Supported = true with a mismatched pointer")
	}
	if n := epoch.Registered(); n != before {
		t.Errorf("registry grew on failure: %d -> %d", before, n)
	}
}

// After Close the store still calls into the package at its deadline; with
// the registration gone the guest is terminated with ErrClosed's message.
func TestCloseThenKickTerminates(t *testing.T) {
	engine := newEngine(t, true)
	g := newGuest(t, engine)
	h := install(t, g.store, func() (uint64, error) { return 1, nil })
	h.Close()
	h.Close()
	stop := kickInBackground(engine)
	_, err := g.spin.Call(g.store)
	stop()
	if err == nil || !strings.Contains(err.Error(), epoch.ErrClosed.Error()) {
		t.Fatalf("spin after Close: got %v, want %q", err, epoch.ErrClosed)
	}
}

func TestStoreCloseUnregisters(t *testing.T) {
	engine := newEngine(t, true)
	before := epoch.Registered()
	store := wasmtime.NewStore(engine)
	h, err := epoch.Install(store, func() (uint64, error) { return 1, nil })
	if err != nil {
		t.Fatal(err)
	}
	if n := epoch.Registered(); n != before+1 {
		t.Fatalf("Registered = %d, want %d", n, before+1)
	}
	store.Close()
	if n := epoch.Registered(); n != before {
		t.Errorf("after store.Close: Registered = %d, want %d", n, before)
	}
	h.Close() // after the finalizer: a no-op
	engine.IncrementEpoch()
}

func TestStoreFinalizerUnregisters(t *testing.T) {
	engine := newEngine(t, true)
	before := epoch.Registered()
	func() {
		store := wasmtime.NewStore(engine)
		// The callback must not refer to the store, or the registry keeps it alive.
		if _, err := epoch.Install(store, func() (uint64, error) { return 1, nil }); err != nil {
			t.Fatal(err)
		}
	}()
	deadline := time.Now().Add(timeout)
	for epoch.Registered() != before {
		if time.Now().After(deadline) {
			t.Fatalf("registration not released by the store's finalizer")
		}
		runtime.GC()
		time.Sleep(time.Millisecond)
	}
}

func TestReinstallReplaces(t *testing.T) {
	engine := newEngine(t, true)
	g := newGuest(t, engine)
	before := epoch.Registered()
	var first, second atomic.Int32
	h1 := install(t, g.store, func() (uint64, error) { first.Add(1); return 0, errors.New("first") })
	var s signaller
	cb := s.callback(g)
	install(t, g.store, func() (uint64, error) { second.Add(1); return cb() })
	if n := epoch.Registered(); n != before+1 {
		t.Errorf("Registered = %d, want %d (old one released)", n, before+1)
	}
	h1.Close()
	acked := make(chan bool, 1)
	go func() { acked <- s.send(epoch.NewKicker(engine), sigusr1) }()
	if _, err := g.spin.Call(g.store); err != nil {
		t.Fatal(err)
	}
	<-acked
	if first.Load() != 0 || second.Load() == 0 {
		t.Errorf("first ran %d times, second %d", first.Load(), second.Load())
	}
}

func TestTwoStoresOneEngine(t *testing.T) {
	engine := newEngine(t, true)
	const n = 2
	var (
		gs   [n]*guest
		ss   [n]signaller
		errs [n]error
		wg   sync.WaitGroup
	)
	for i := range gs {
		gs[i] = newGuest(t, engine)
		install(t, gs[i].store, ss[i].callback(gs[i]))
	}
	for i := range gs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = gs[i].spin.Call(gs[i].store)
		}()
	}
	k := epoch.NewKicker(engine)
	var acked [n]bool
	for i := range ss {
		acked[i] = ss[i].send(k, int32(sigusr1+i))
	}
	wg.Wait()
	var got [n]outcome
	for i, g := range gs {
		got[i] = outcome{Acked: acked[i], Count: g.i32(t, g.count), Arg: g.i32(t, g.arg)}
		if errs[i] != nil {
			got[i].Err = errs[i].Error()
		}
	}
	want := [n]outcome{{Acked: true, Count: 1, Arg: sigusr1}, {Acked: true, Count: 1, Arg: sigusr1 + 1}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("outcomes (-want +got):\n%s", diff)
	}
}

// A kick absorbed by the guest (here: the first two callbacks ignore the
// queue) is made up for by KickUntil's re-kicks.
func TestKickUntilRekicks(t *testing.T) {
	engine := newEngine(t, true)
	g := newGuest(t, engine)
	var s signaller
	cb := s.callback(g)
	var seen atomic.Int32
	install(t, g.store, func() (uint64, error) {
		if s.pending.Load() != 0 && seen.Add(1) <= 2 {
			return 1, nil
		}
		return cb()
	})
	acked := make(chan bool, 1)
	go func() { acked <- s.send(epoch.NewKicker(engine), sigusr1) }()
	if _, err := g.spin.Call(g.store); err != nil {
		t.Fatal(err)
	}
	if ok := <-acked; !ok || seen.Load() < 3 {
		t.Errorf("acked=%v after %d observations", ok, seen.Load())
	}
}

func TestKickUntilTimesOutWithoutGuest(t *testing.T) {
	k := epoch.NewKicker(newEngine(t, true))
	start := time.Now()
	if k.KickUntil(func() bool { return false }, nil, time.Millisecond, 20*time.Millisecond) {
		t.Fatal("KickUntil = true with nobody acknowledging")
	}
	if el := time.Since(start); el > timeout {
		t.Errorf("KickUntil took %v", el)
	}
	if !k.KickUntil(func() bool { return true }, nil, 0, 0) {
		t.Errorf("KickUntil = false although already acknowledged")
	}
}

// kickInBackground kicks engine every `every` until the returned func is called.
func kickInBackground(engine *wasmtime.Engine) (stop func()) {
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		epoch.NewKicker(engine).KickUntil(func() bool {
			select {
			case <-done:
				return true
			default:
				return false
			}
		}, done, every, timeout)
	}()
	return func() { close(done); <-finished }
}

// BenchmarkLatency measures a signal's round trip against a guest spinning in
// wasm: queue, kick (re-kicking every 100µs) until the callback has called the
// handler and woken the sender. ns/op is the sender's view (queue ->
// acknowledgement seen, mean); queue->ack-µs is its median;
// kick->cb-µs and kick->handled-µs are medians seen from the guest side.
// gap is how long the guest spins between signals (outside the timing): after
// ~20µs in a cgo call the runtime hands the guest thread's P away, and the
// callback then has to get one back.
func BenchmarkLatency(b *testing.B) {
	for _, gap := range []time.Duration{0, time.Millisecond} {
		b.Run("gap="+gap.String(), func(b *testing.B) { benchLatency(b, gap) })
	}
}

func benchLatency(b *testing.B, gap time.Duration) {
	b.ReportAllocs()
	engine := newEngine(b, true)
	g := newGuest(b, engine)
	base := time.Now()
	var (
		kickAt  atomic.Int64 // ns since base of the first kick of this round
		pending atomic.Int32
		acked   atomic.Int32
		quit    atomic.Bool
		wake    = make(chan struct{}, 1)
	)
	toCB := make([]time.Duration, 0, b.N)
	toDone := make([]time.Duration, 0, b.N)
	toAck := make([]time.Duration, 0, b.N)
	h, err := epoch.Install(g.store, func() (uint64, error) {
		if quit.Load() {
			return 0, errors.New("benchmark over")
		}
		if sig := pending.Swap(0); sig != 0 {
			entered := time.Since(base)
			g.store.SetEpochDeadline(epoch.Far)
			if _, err := g.handler.Call(g.store, sig); err != nil {
				return 0, err
			}
			done := time.Since(base)
			t0 := time.Duration(kickAt.Load())
			toCB = append(toCB, entered-t0)
			toDone = append(toDone, done-t0)
			acked.Store(sig)
			select {
			case wake <- struct{}{}:
			default:
			}
		}
		return 1, nil
	})
	if err != nil {
		b.Fatal(err)
	}
	defer h.Close()
	guestDone := make(chan error, 1)
	go func() {
		_, err := g.forever.Call(g.store)
		guestDone <- err
	}()
	k := epoch.NewKicker(engine)
	b.ResetTimer()
	for i := range b.N {
		if gap > 0 {
			b.StopTimer()
			time.Sleep(gap)
			b.StartTimer()
		}
		sig := int32(i%2 + 1)
		kickAt.Store(int64(time.Since(base)))
		pending.Store(sig)
		if !k.KickUntil(func() bool { return acked.Load() == sig }, wake, 100*time.Microsecond, timeout) {
			b.Fatal("not acknowledged")
		}
		toAck = append(toAck, time.Since(base)-time.Duration(kickAt.Load()))
	}
	b.StopTimer()
	quit.Store(true)
	for {
		engine.IncrementEpoch()
		select {
		case <-guestDone:
			b.ReportMetric(median(toCB).Seconds()*1e6, "kick->cb-µs")
			b.ReportMetric(median(toDone).Seconds()*1e6, "kick->handled-µs")
			b.ReportMetric(median(toAck).Seconds()*1e6, "queue->ack-µs")
			return
		case <-time.After(time.Millisecond):
		}
	}
}

func median(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	ds = slices.Clone(ds)
	slices.Sort(ds)
	return ds[len(ds)/2]
}

// BenchmarkLoop reports the cost of one iteration of an empty wasm loop with
// epoch interruption off and on (deadline far away, callback installed).
func BenchmarkLoop(b *testing.B) {
	const iters = 10_000_000
	for _, on := range []bool{false, true} {
		name := "epoch=off"
		if on {
			name = "epoch=on"
		}
		b.Run(name, func(b *testing.B) {
			g := newGuest(b, newEngine(b, on))
			if on {
				g.store.SetEpochDeadline(epoch.Far)
				h, err := epoch.Install(g.store, func() (uint64, error) { return epoch.Far, nil })
				if err != nil {
					b.Fatal(err)
				}
				defer h.Close()
			}
			b.ResetTimer()
			for range b.N {
				if _, err := g.it.Call(g.store, int32(iters)); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/iters, "ns/iter")
		})
	}
}
