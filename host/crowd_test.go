package host_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/wasix-org/wasix-signals-go/host"
	"github.com/wasix-org/wasix-signals-go/wasix"
)

// TestSignalsReachOnlyTheirGuest: epoch kicks are engine-wide, but a
// signal to one spinning guest makes only that guest's epoch callback
// enter Go; the others on the same Runtime keep spinning untouched.
func TestSignalsReachOnlyTheirGuest(t *testing.T) {
	const bystanders = 3
	target, _ := start(t, context.Background(), ignorer, host.Config{})
	var others []*host.Process
	for i := 0; i < bystanders; i++ {
		p, _ := start(t, context.Background(), ignorer, host.Config{})
		others = append(others, p)
	}
	for _, p := range append(others, target) {
		waitHandler(t, p)
	}
	// A first signal, delivered before the count starts: one that lands
	// while the target is still inside callback_signal is delivered
	// there, at a host call, without the epoch callback. Once it is
	// delivered and a moment has passed, the target is spinning.
	deliver := func(i int) {
		t.Helper()
		if err := target.Signal(wasix.SIGUSR1); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(10 * time.Second)
		for target.Env().Counters().Delivered < uint64(i) {
			if time.Now().After(deadline) {
				t.Fatalf("signal %d not delivered: %+v", i, target.Env().Counters())
			}
			time.Sleep(100 * time.Microsecond)
		}
	}
	deliver(1)
	time.Sleep(20 * time.Millisecond)
	base := host.EpochCalls(target)
	const signals = 20
	for i := 2; i <= signals+1; i++ {
		deliver(i)
	}
	var got []uint64
	for _, p := range others {
		got = append(got, host.EpochCalls(p))
	}
	if diff := cmp.Diff(make([]uint64, bystanders), got); diff != "" {
		t.Errorf("epoch callbacks of the other guests (-want +got):\n%s", diff)
	}
	if n := host.EpochCalls(target) - base; n < signals {
		t.Errorf("the target's callback entered Go %d times for %d signals", n, signals)
	}
}
