package env

import (
	"time"

	"github.com/bytecodealliance/wasmtime-go/v25"
	"github.com/wasix-org/wasix-signals-go/wasix"
)

// Sleep blocks the guest for d, as thread_sleep, nanosleep and clock waits
// in poll_oneoff do. A signal delivered during the wait (its handler ran)
// ends it early and Sleep returns EINTR (POSIX nanosleep); one that stays
// blocked, or is dropped (ignored by default or by the host), does not
// interrupt it. The error is the terminal error when the process ended
// during the wait.
func (e *WasiEnv) Sleep(store wasmtime.Storelike, d time.Duration) (wasix.Errno, error) {
	if err := e.ProcessSignals(store); err != nil {
		return 0, err
	}
	// A token left by a signal that was already delivered must not cut this
	// wait short.
	select {
	case <-e.wake:
	default:
	}
	if d <= 0 {
		return wasix.ESUCCESS, nil
	}
	done := make(chan struct{})
	t := e.clock.AfterFunc(d, func() { close(done) })
	defer t.Stop()
	for {
		for !e.attention.Load() {
			select {
			case <-done:
				return wasix.ESUCCESS, nil
			case <-e.wake:
			}
		}
		interrupted, err := e.Interrupted(store)
		if err != nil {
			return 0, err
		}
		if interrupted {
			return wasix.EINTR, nil
		}
	}
}
