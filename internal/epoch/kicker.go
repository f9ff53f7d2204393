package epoch

import (
	"context"
	"time"

	"github.com/bytecodealliance/wasmtime-go/v25"
)

// DefaultKickInterval is the re-kick period used when KickUntil is given a
// non-positive one. Go timers this short oversleep to about 1 ms on an idle
// machine; re-kicks are only needed for kicks absorbed by a running callback,
// so that is harmless. Prompt acknowledgement goes through the wake channel.
const DefaultKickInterval = 250 * time.Microsecond

// Kicker increments an engine's epoch on behalf of a signal sender. It is safe
// for concurrent use.
type Kicker struct {
	engine *wasmtime.Engine
}

// NewKicker returns a Kicker for engine (which must have epoch interruption
// enabled).
func NewKicker(engine *wasmtime.Engine) *Kicker {
	return &Kicker{engine: engine}
}

// Kick increments the engine's epoch once: every store on the engine whose
// deadline is now reached runs its callback (or traps) at its next epoch
// check.
func (k *Kicker) Kick() {
	k.engine.IncrementEpoch()
}

// KickUntil is the sender's half of a delivery. After queueing a signal, call
// it with ack reporting whether the guest has observed the queue (its epoch
// callback, or any other safe point, took the signal). It returns true at
// once if ack already holds; otherwise it kicks, and re-kicks every `every`
// (a kick that lands while a callback runs is absorbed), until ack holds
// (true) or timeout passes (false: the guest is not running wasm on this
// engine, is blocked in a host call that is not a safe point, or has exited).
//
// ack is called from this goroutine only and must be cheap (an atomic load).
// wake, if not nil, is a channel the acknowledging side sends to without
// blocking (buffered, capacity 1) or closes right after making ack true: ack
// is then re-checked at once instead of at the next period. Without it the
// sender sees the acknowledgement up to a timer period late (~1 ms).
//
// KickUntil blocks rather than spins on purpose: the guest's callback needs a
// Go P to run, and a sender spinning for the acknowledgement was measured to
// delay it by tens of microseconds to milliseconds.
func (k *Kicker) KickUntil(ack func() bool, wake <-chan struct{}, every, timeout time.Duration) bool {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	return k.KickUntilContext(ctx, ack, wake, every) == nil
}

// KickUntilContext is KickUntil bounded by ctx instead of a timeout; it
// returns nil once ack holds, or ctx.Err().
func (k *Kicker) KickUntilContext(ctx context.Context, ack func() bool, wake <-chan struct{}, every time.Duration) error {
	if every <= 0 {
		every = DefaultKickInterval
	}
	if ack() {
		return nil
	}
	t := time.NewTimer(every)
	defer t.Stop()
	for {
		k.Kick()
		select {
		case <-ctx.Done():
		case _, ok := <-wake:
			if !ok {
				wake = nil // closed: do not spin on it
			}
		case <-t.C:
		}
		if ack() {
			return nil
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		t.Reset(every)
	}
}
