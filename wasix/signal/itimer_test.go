package signal_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/wasix-org/wasix-signals-go/wasix/env"
)

// itimerval stores {it_interval, it_value} at ptr, in microseconds.
func itimerval(ptr int, intervalUs, valueUs int64) string {
	return fmt.Sprintf(`(i64.store (i32.const %d) (i64.const %d)) (i64.store (i32.const %d) (i64.const %d))
		(i64.store (i32.const %d) (i64.const %d)) (i64.store (i32.const %d) (i64.const %d))`,
		ptr, intervalUs/1e6, ptr+8, intervalUs%1e6, ptr+16, valueUs/1e6, ptr+24, valueUs%1e6)
}

// logOld logs the four fields of the itimerval at ptr (sec, usec of the
// interval, then of the value).
func logOld(ptr int) string {
	s := ""
	for off := 0; off < 32; off += 8 {
		s += fmt.Sprintf("(call $log (i32.wrap_i64 (i64.load (i32.const %d))))", ptr+off)
	}
	return s
}

// proc_raise_interval2 is setitimer: the first signal after it_value, then
// every it_interval; it_value 0 disarms.
func TestProcRaiseInterval2Timing(t *testing.T) {
	type step struct {
		advance time.Duration
		raised  uint64
	}
	arm := func(intervalUs, valueUs int64) string {
		return itimerval(4096, intervalUs, valueUs) + "(call $log (call $itimer (i32.const 14) (i32.const 4096) (i32.const 0)))"
	}
	for _, tc := range []struct {
		name  string
		body  string
		steps []step
	}{
		{"value then interval", arm(20000, 50000),
			[]step{{49 * time.Millisecond, 0}, {time.Millisecond, 1}, {20 * time.Millisecond, 2}, {20 * time.Millisecond, 3}}},
		{"once", arm(0, 30000), []step{{30 * time.Millisecond, 1}, {time.Second, 1}}},
		{"disarmed by a zero value", arm(20000, 50000) + arm(20000, 0), []step{{time.Second, 0}}},
		{"seconds and microseconds", arm(0, 1500000), []step{{1499 * time.Millisecond, 0}, {time.Millisecond, 1}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clock := &env.ManualClock{}
			g := newGuest(t, guestOpts{cfg: env.Config{Clock: clock, MinTimerInterval: -1}, body: "(call $block)" + tc.body})
			if err := g.run(); err != nil {
				t.Fatal(err)
			}
			for _, e := range g.Events() {
				if e != 0 {
					t.Fatalf("errno %d", e)
				}
			}
			for i, s := range tc.steps {
				clock.Advance(s.advance)
				if c := g.env.Counters(); c.Raised != s.raised {
					t.Fatalf("step %d: raised %d, want %d", i, c.Raised, s.raised)
				}
			}
		})
	}
}

// old_ptr receives what the replaced timer had left and its interval.
func TestProcRaiseInterval2OldValue(t *testing.T) {
	body := itimerval(4096, 20000, 50000) +
		"(drop (call $itimer (i32.const 14) (i32.const 4096) (i32.const 0)))" +
		itimerval(4096, 0, 0) +
		"(call $log (call $itimer (i32.const 14) (i32.const 4096) (i32.const 4200)))" + logOld(4200) +
		// Nothing armed now: the old value is all zeros.
		"(call $log (call $itimer (i32.const 14) (i32.const 4096) (i32.const 4200)))" + logOld(4200)
	g := newGuest(t, guestOpts{cfg: env.Config{Clock: &env.ManualClock{}, MinTimerInterval: -1}, body: "(call $block)" + body})
	if err := g.run(); err != nil {
		t.Fatal(err)
	}
	want := []int32{0, 0, 20000, 0, 50000, 0, 0, 0, 0, 0}
	if diff := cmp.Diff(want, g.Events()); diff != "" {
		t.Errorf("(-want +got)\n%s", diff)
	}
}

// Bad input: a clear errno and nothing armed.
func TestProcRaiseInterval2BadInput(t *testing.T) {
	for _, tc := range []struct {
		name string
		body string
		want int32
	}{
		{"usec a million", itimerval(4096, 0, 0) + "(i64.store (i32.const 4120) (i64.const 1000000))" +
			"(call $log (call $itimer (i32.const 14) (i32.const 4096) (i32.const 0)))", 28},
		{"signal 0", itimerval(4096, 0, 1000) + "(call $log (call $itimer (i32.const 0) (i32.const 4096) (i32.const 0)))", 28},
		{"signal 32", itimerval(4096, 0, 1000) + "(call $log (call $itimer (i32.const 32) (i32.const 4096) (i32.const 0)))", 28},
		{"new out of bounds", "(call $log (call $itimer (i32.const 14) (i32.const 65530) (i32.const 0)))", 21},
		{"old out of bounds", itimerval(4096, 0, 1000) + "(call $log (call $itimer (i32.const 14) (i32.const 4096) (i32.const -8)))", 21},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := newGuest(t, guestOpts{cfg: env.Config{Clock: &env.ManualClock{}, MinTimerInterval: -1}, body: "(call $block)" + tc.body})
			if err := g.run(); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff([]int32{tc.want}, g.Events()); diff != "" {
				t.Errorf("(-want +got)\n%s", diff)
			}
			if _, _, armed := g.env.Timer(14); armed {
				t.Error("a timer was armed")
			}
		})
	}
}
