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
	const signals = 20
	for i := 1; i <= signals; i++ {
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
	var got []uint64
	for _, p := range others {
		got = append(got, host.EpochCalls(p))
	}
	if diff := cmp.Diff(make([]uint64, bystanders), got); diff != "" {
		t.Errorf("epoch callbacks of the other guests (-want +got):\n%s", diff)
	}
	// Not one call per signal: a signal queued while the callback runs is
	// delivered by that same call, and one that lands while the target is
	// still in callback_signal is delivered there.
	if n := host.EpochCalls(target); n == 0 {
		t.Errorf("the target's callback never entered Go, yet %d signals were delivered", signals)
	}
}
