package env_test

import (
	"math"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/wasix-org/wasix-signals-go/wasix/env"
)

func TestManualClockOrder(t *testing.T) {
	var c env.ManualClock
	var got []string
	c.AfterFunc(30*time.Millisecond, func() { got = append(got, "c") })
	c.AfterFunc(10*time.Millisecond, func() {
		got = append(got, "a")
		c.AfterFunc(5*time.Millisecond, func() { got = append(got, "a+5") })
	})
	stopped := c.AfterFunc(20*time.Millisecond, func() { got = append(got, "stopped") })
	c.AfterFunc(10*time.Millisecond, func() { got = append(got, "b") })
	if !stopped.Stop() || stopped.Stop() {
		t.Error("Stop should succeed once")
	}
	c.Advance(29 * time.Millisecond)
	if diff := cmp.Diff([]string{"a", "b", "a+5"}, got); diff != "" {
		t.Errorf("(-want +got)\n%s", diff)
	}
	if c.Pending() != 1 {
		t.Errorf("pending %d, want 1", c.Pending())
	}
	c.Advance(time.Millisecond)
	if len(got) != 4 || got[3] != "c" {
		t.Errorf("got %v", got)
	}
}

func TestDuration(t *testing.T) {
	cases := []struct {
		n    uint64
		unit time.Duration
		want time.Duration
	}{
		{0, time.Nanosecond, 0},
		{250, time.Millisecond, 250 * time.Millisecond},
		{math.MaxUint64, time.Nanosecond, math.MaxInt64},
		{math.MaxInt64 / 1000, time.Millisecond, math.MaxInt64},
		{1 << 62, time.Nanosecond, 1 << 62},
	}
	for _, tc := range cases {
		if got := env.Duration(tc.n, tc.unit); got != tc.want {
			t.Errorf("Duration(%d, %v) = %v, want %v", tc.n, tc.unit, got, tc.want)
		}
	}
}

func TestManualClockSaturates(t *testing.T) {
	var c env.ManualClock
	fired := 0
	var rearm func()
	rearm = func() {
		fired++
		c.AfterFunc(math.MaxInt64, rearm) // a repeating timer with a saturated interval
	}
	c.AfterFunc(time.Second, rearm)
	done := make(chan struct{})
	go func() {
		c.Advance(math.MaxInt64)
		c.Advance(math.MaxInt64)
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Advance did not return")
	}
	if fired != 1 {
		t.Errorf("fired %d times, want 1", fired)
	}
}
