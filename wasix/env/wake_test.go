package env_test

import (
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bytecodealliance/wasmtime-go/v25"
	"github.com/google/go-cmp/cmp"
	"github.com/wasix-org/wasix-signals-go/wasix"
	"github.com/wasix-org/wasix-signals-go/wasix/env"
)

func newEnv(t *testing.T, cfg env.Config) *env.WasiEnv {
	t.Helper()
	store := wasmtime.NewStore(wasmtime.NewEngine())
	e := env.New(store, cfg)
	t.Cleanup(func() { e.Close(); store.Close() })
	return e
}

// A signal that coalesces into one already pending does not wake the
// guest again: for a guest running wasm, every wake is an engine-wide
// epoch kick.
func TestCoalescedSignalDoesNotWake(t *testing.T) {
	e := newEnv(t, env.Config{})
	var wakes atomic.Int64
	e.SetNotify(func() { wakes.Add(1) })
	for i := 0; i < 100; i++ {
		if err := e.Signal(wasix.SIGUSR1); err != nil {
			t.Fatal(err)
		}
	}
	if err := e.Signal(wasix.SIGUSR2); err != nil {
		t.Fatal(err)
	}
	if got := wakes.Load(); got != 2 {
		t.Errorf("%d wakes for 2 distinct signals (99 coalesced)", got)
	}
	if c := e.Counters(); c.Coalesced != 99 || c.Pending != 2 {
		t.Errorf("counters %+v", c)
	}
}

// Repeating timers fire at most once per minimum period, however short
// the interval the guest asked for; Timer still reports the guest's.
func TestTimerRateIsBounded(t *testing.T) {
	e := newEnv(t, env.Config{})
	sigs := []wasix.Signal{wasix.SIGALRM, wasix.SIGVTALRM, wasix.SIGPROF, wasix.SIGUSR1, wasix.SIGUSR2}
	for _, s := range sigs {
		if err := e.SetTimer(s, time.Nanosecond, true); err != nil {
			t.Fatal(err)
		}
	}
	const window = 200 * time.Millisecond
	time.Sleep(window)
	for _, s := range sigs {
		_ = e.SetTimer(s, 0, false)
	}
	raised := e.Counters().Raised
	limit := uint64(len(sigs)) * uint64(window/env.DefaultMinTimerInterval+20)
	if raised > limit {
		t.Errorf("%d signals raised in %v by %d timers, want at most %d", raised, window, len(sigs), limit)
	}
	if raised < uint64(len(sigs)) {
		t.Errorf("only %d signals raised: the timers did not fire", raised)
	}
	if err := e.SetTimer(wasix.SIGALRM, time.Nanosecond, true); err != nil {
		t.Fatal(err)
	}
	if iv, rep, armed := e.Timer(wasix.SIGALRM); iv != time.Nanosecond || !rep || !armed {
		t.Errorf("Timer reports %v %v %v, want the guest's 1ns", iv, rep, armed)
	}
}

// A SIGKILL sent before the guest calls proc_exit, and not yet acted on,
// decides the outcome.
func TestPendingKillBeatsExit(t *testing.T) {
	e := newEnv(t, env.Config{})
	if err := e.Signal(wasix.SIGKILL); err != nil {
		t.Fatal(err)
	}
	err := e.Exit(0)
	var exit *wasix.ExitError
	if !errors.As(err, &exit) {
		t.Fatalf("got %v", err)
	}
	if diff := cmp.Diff(wasix.ExitError{Status: 137, Signal: wasix.SIGKILL}, *exit); diff != "" {
		t.Errorf("outcome (-want +got):\n%s", diff)
	}
	if c := e.Counters(); c.TerminatedBy != wasix.SIGKILL || c.Pending != 0 {
		t.Errorf("counters %+v", c)
	}
}

// Close on a guest that never ran leaves its outcome alone: Resolve of a
// normal return is still nil, and Exited reports nothing.
func TestCloseAfterNormalEnd(t *testing.T) {
	e := newEnv(t, env.Config{})
	e.Close()
	if err := e.Resolve(nil); err != nil {
		t.Errorf("Resolve(nil) after Close = %v", err)
	}
	if err := e.Exited(); err != nil {
		t.Errorf("Exited after Close = %v", err)
	}
	if !errors.Is(e.Signal(wasix.SIGUSR1), env.ErrClosed) {
		t.Error("Signal after Close must fail with ErrClosed")
	}
	if env.AnyAttention() {
		t.Error("a closed env must not count as having attention")
	}
}

// SetITimer returns the time the replaced timer had left, on the env's
// clock, and its interval.
func TestSetITimerOldValue(t *testing.T) {
	clock := &env.ManualClock{}
	e := newEnv(t, env.Config{Clock: clock, MinTimerInterval: -1})
	if _, _, err := e.SetITimer(wasix.SIGALRM, 50*time.Millisecond, 20*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	clock.Advance(15 * time.Millisecond)
	value, interval, err := e.SetITimer(wasix.SIGALRM, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if value != 35*time.Millisecond || interval != 20*time.Millisecond {
		t.Errorf("old value %v interval %v, want 35ms 20ms", value, interval)
	}
	if c := e.Counters(); c.Raised != 0 {
		t.Errorf("raised %d before it_value", c.Raised)
	}
}
