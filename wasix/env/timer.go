package env

import (
	"fmt"
	"math"
	"time"

	"github.com/wasix-org/wasix-signals-go/wasix"
)

// timer is the interval timer of one signal number.
type timer struct {
	interval time.Duration // the period, or the delay of a one-shot timer
	repeat   bool
	due      time.Time // the next expiry, on the env's clock
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
	period := time.Duration(0)
	if repeat {
		period = interval
	}
	_, _, err := e.SetITimer(sig, interval, period)
	return err
}

// SetITimer is POSIX setitimer for the timer of sig: value 0 disarms it;
// otherwise sig is queued after value, then every interval (0: once; at
// most once per Config.MinTimerInterval). It returns what the timer it
// replaced had left before its next expiry and its interval (zeros when
// none was armed). It is safe from any goroutine.
func (e *WasiEnv) SetITimer(sig wasix.Signal, value, interval time.Duration) (oldValue, oldInterval time.Duration, err error) {
	if sig < 0 || sig >= wasix.NSIG {
		return 0, 0, fmt.Errorf("env: %w: signal %d", wasix.EINVAL, int32(sig))
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.inner.closed {
		return 0, 0, ErrClosed
	}
	if e.inner.exit != nil {
		return 0, 0, ErrExited
	}
	if old := e.inner.timers[sig]; old != nil {
		old.stop.Stop()
		e.inner.timers[sig] = nil
		oldValue = max(old.due.Sub(now(e.clock)), 0)
		if old.repeat {
			oldInterval = old.interval
		}
	}
	if value <= 0 {
		return oldValue, oldInterval, nil
	}
	t := &timer{interval: value, repeat: interval > 0}
	if t.repeat {
		t.interval = interval
	}
	e.inner.timers[sig] = t
	e.schedule(sig, t, value)
	return oldValue, oldInterval, nil
}

// schedule arms t to fire after d. e.mu held.
func (e *WasiEnv) schedule(sig wasix.Signal, t *timer, d time.Duration) {
	t.due = now(e.clock).Add(d)
	t.stop = e.clock.AfterFunc(d, func() { e.timerFired(sig, t) })
}

// rearm schedules the next expiry of a repeating timer, no sooner than the
// minimum period. e.mu held.
func (e *WasiEnv) rearm(sig wasix.Signal, t *timer) {
	e.schedule(sig, t, max(t.interval, e.minPeriod))
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
