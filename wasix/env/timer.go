package env

import (
	"fmt"
	"math"
	"time"

	"github.com/wasix-org/wasix-signals-go/wasix"
)

// timer is the interval timer of one signal number.
type timer struct {
	interval time.Duration
	repeat   bool
	stop     Timer
}

// DefaultMinTimerInterval is the shortest period of a repeating timer
// unless Config.MinTimerInterval says otherwise: a shorter one fires at
// this period. A guest arming its 31 timers at 1 ns would otherwise keep a
// host core busy firing signals that only coalesce.
const DefaultMinTimerInterval = time.Millisecond

// SetTimer arms, replaces or (interval 0) cancels the interval timer of sig:
// after interval, sig is queued and the guest woken, then again every
// interval when repeat is true (at most once per Config.MinTimerInterval).
// There is one timer per signal number.
// It is safe from any goroutine. Signal 0 is accepted (the wasmer policy
// arms timers for it); numbers outside 0..31 are EINVAL.
func (e *WasiEnv) SetTimer(sig wasix.Signal, interval time.Duration, repeat bool) error {
	if sig < 0 || sig >= wasix.NSIG {
		return fmt.Errorf("env: %w: signal %d", wasix.EINVAL, int32(sig))
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.inner.closed {
		return ErrClosed
	}
	if e.inner.exit != nil {
		return ErrExited
	}
	if old := e.inner.timers[sig]; old != nil {
		old.stop.Stop()
		e.inner.timers[sig] = nil
	}
	if interval <= 0 {
		return nil
	}
	t := &timer{interval: interval, repeat: repeat}
	e.inner.timers[sig] = t
	e.arm(sig, t)
	return nil
}

// arm schedules t's next expiry. e.mu held.
func (e *WasiEnv) arm(sig wasix.Signal, t *timer) {
	t.stop = e.clock.AfterFunc(t.interval, func() { e.timerFired(sig, t) })
}

// rearm schedules the next expiry of a repeating timer, no sooner than the
// minimum period. e.mu held.
func (e *WasiEnv) rearm(sig wasix.Signal, t *timer) {
	t.stop = e.clock.AfterFunc(max(t.interval, e.minPeriod), func() { e.timerFired(sig, t) })
}

func (e *WasiEnv) timerFired(sig wasix.Signal, t *timer) {
	e.mu.Lock()
	if e.inner.timers[sig] != t {
		// Replaced or cancelled after this expiry had already started.
		e.mu.Unlock()
		return
	}
	if t.repeat {
		e.rearm(sig, t)
	} else {
		e.inner.timers[sig] = nil
	}
	e.mu.Unlock()
	// ErrExited or ErrClosed: the process is gone and the timer with it.
	_ = e.queue(MainTID, sig, false)
}

// Timer reports the interval timer of sig: its interval and repeat flag,
// and whether one is armed.
func (e *WasiEnv) Timer(sig wasix.Signal) (interval time.Duration, repeat, armed bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if sig < 0 || sig >= wasix.NSIG {
		return 0, false, false
	}
	if t := e.inner.timers[sig]; t != nil {
		return t.interval, t.repeat, true
	}
	return 0, false, false
}

// Duration converts a guest duration counted in unit (nanoseconds or
// milliseconds) to a time.Duration, saturating instead of overflowing.
func Duration(n uint64, unit time.Duration) time.Duration {
	if n > uint64(math.MaxInt64)/uint64(unit) {
		return math.MaxInt64
	}
	return time.Duration(n) * unit
}
