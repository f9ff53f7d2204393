package env

import (
	"math"
	"sort"
	"sync"
	"time"
)

// Clock is the source of time for interval timers and thread_sleep. Tests
// inject a *ManualClock to make timers deterministic.
type Clock interface {
	// AfterFunc calls f on its own goroutine once d has elapsed, unless the
	// returned Timer is stopped first.
	AfterFunc(d time.Duration, f func()) Timer
}

// Timer is a pending AfterFunc call.
type Timer interface {
	// Stop prevents the call if it has not started; it reports whether it did.
	Stop() bool
}

// SystemClock is the real clock (time.AfterFunc).
type SystemClock struct{}

// AfterFunc implements Clock.
func (SystemClock) AfterFunc(d time.Duration, f func()) Timer { return time.AfterFunc(d, f) }

// Now implements Nower.
func (SystemClock) Now() time.Time { return time.Now() }

// Nower is a Clock that tells the time, which interval timers use to report
// how long is left (setitimer's old value). A Clock without it is read
// with time.Now.
type Nower interface {
	Now() time.Time
}

// now reads c's time.
func now(c Clock) time.Time {
	if n, ok := c.(Nower); ok {
		return n.Now()
	}
	return time.Now()
}

// ManualClock is a Clock that moves only when told to. Its zero value is
// ready to use and goroutine-safe.
type ManualClock struct {
	mu     sync.Mutex
	cond   *sync.Cond
	now    time.Duration
	seq    uint64
	timers []*manualTimer
}

type manualTimer struct {
	c   *ManualClock
	at  time.Duration
	seq uint64
	f   func()
}

// Now implements Nower: the Unix epoch plus the time advanced so far.
func (c *ManualClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Unix(0, 0).Add(c.now)
}

// AfterFunc implements Clock. A non-positive d falls due at the next Advance.
func (c *ManualClock) AfterFunc(d time.Duration, f func()) Timer {
	c.mu.Lock()
	defer c.mu.Unlock()
	if d < 0 {
		d = 0
	}
	at := c.now + d
	if at < c.now || at > never {
		at = never
	}
	c.seq++
	t := &manualTimer{c: c, at: at, seq: c.seq, f: f}
	c.timers = append(c.timers, t)
	if c.cond != nil {
		c.cond.Broadcast()
	}
	return t
}

// BlockUntil waits until at least n functions are armed: a test uses it to
// know that the guest has entered a wait or armed a timer.
func (c *ManualClock) BlockUntil(n int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cond == nil {
		c.cond = sync.NewCond(&c.mu)
	}
	for len(c.timers) < n {
		c.cond.Wait()
	}
}

func (t *manualTimer) Stop() bool {
	t.c.mu.Lock()
	defer t.c.mu.Unlock()
	for i, x := range t.c.timers {
		if x == t {
			t.c.timers = append(t.c.timers[:i], t.c.timers[i+1:]...)
			return true
		}
	}
	return false
}

// never is where functions armed beyond the clock's range wait: they do
// not fall due, however far the clock moves.
const never = time.Duration(math.MaxInt64)

// Advance moves the clock forward by d and runs, in due order on the calling
// goroutine, every function that falls due, including ones armed by those
// functions while the clock moves. The clock saturates one short of its
// range.
func (c *ManualClock) Advance(d time.Duration) {
	c.mu.Lock()
	end := c.now + d
	if end < c.now || end >= never {
		end = never - 1
	}
	for {
		sort.Slice(c.timers, func(i, j int) bool {
			a, b := c.timers[i], c.timers[j]
			return a.at < b.at || a.at == b.at && a.seq < b.seq
		})
		if len(c.timers) == 0 || c.timers[0].at > end {
			break
		}
		t := c.timers[0]
		c.timers = c.timers[1:]
		c.now = t.at
		c.mu.Unlock()
		t.f()
		c.mu.Lock()
	}
	c.now = end
	c.mu.Unlock()
}

// Pending returns the number of armed, unexpired functions.
func (c *ManualClock) Pending() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.timers)
}
