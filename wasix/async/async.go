// Package async delivers signals to a guest that is running wasm and makes
// no host calls: a loop spinning in pure wasm still gets its handler run,
// and SIGKILL still ends it.
//
// It uses wasmtime's epoch interruption: the engine must be configured
// with Config.SetEpochInterruption(true) (host.NewEngineConfig does it).
// [Enable] installs an epoch deadline callback in the store (wasmtime's C
// API, which wasmtime-go does not bind: internal/epoch) and makes the
// process's env kick the engine's epoch whenever a signal for the guest
// becomes deliverable from another goroutine. The callback runs on the
// guest's goroutine at its next epoch check, delivers the pending signals
// and lets the guest carry on. Kicks are engine-wide, but a per-store bell
// rung before each kick lets only the signalled guest's callback enter Go;
// every other guest resumes in C within nanoseconds.
//
// host.Runtime enables it for every process on an engine with epochs. On
// an embedder's own Linker (the plugin path), call Enable for each Store
// before the guest runs, and Close when the guest has ended. Every store
// on an epoch-enabled engine needs either this callback or a far deadline
// ([SetFar]): a new store has deadline 0 and traps at its first check.
// See docs/BEHAVIOUR.md section 6.
package async

import (
	"errors"
	"sync/atomic"
	"time"

	"github.com/bytecodealliance/wasmtime-go/v25"
	"github.com/wasix-org/wasix-signals-go/internal/epoch"
	"github.com/wasix-org/wasix-signals-go/wasix/env"
)

// Delivery is asynchronous signal delivery for one store.
type Delivery struct {
	kicker *epoch.Kicker
	store  *wasmtime.Store
	env    *env.WasiEnv
	handle *epoch.Handle
	bell   *epoch.Bell
	// kicking is true while a re-kick timer runs; closed stops them.
	kicking atomic.Bool
	closed  atomic.Bool
	calls   atomic.Uint64
}

// ErrUnavailable is returned by Enable when the epoch callback cannot be
// installed in this build (the store layout check failed); the store then
// has a far deadline, and signals reach the guest at host calls only.
var ErrUnavailable = errors.New("async: asynchronous signal delivery unavailable")

// Enable installs asynchronous delivery for the guest of e, which runs in
// store on engine (epoch interruption on). Call it before the guest runs,
// on the goroutine that will run it, and Close the Delivery when the guest
// has ended.
func Enable(engine *wasmtime.Engine, store *wasmtime.Store, e *env.WasiEnv) (*Delivery, error) {
	d := &Delivery{kicker: epoch.NewKicker(engine), store: store, env: e, bell: epoch.NewBell()}
	h, err := epoch.InstallBell(store, d.bell, d.onEpoch)
	if err != nil {
		SetFar(store)
		return nil, errors.Join(ErrUnavailable, err)
	}
	d.handle = h
	store.SetEpochDeadline(1)
	e.SetNotify(d.Kick)
	return d, nil
}

// SetFar gives store a deadline so far out that other stores' kicks never
// interrupt it: for a store on an epoch-enabled engine that does not use
// asynchronous delivery.
func SetFar(store *wasmtime.Store) { store.SetEpochDeadline(epoch.Far) }

// onEpoch runs on the guest's goroutine at an epoch check.
func (d *Delivery) onEpoch() (uint64, error) {
	d.calls.Add(1)
	if !d.env.Attention() {
		return 1, nil
	}
	// wasmtime takes this callback out of the store while it runs, so a
	// handler called from here would trap at its first epoch check, and
	// with a far deadline instead nothing could interrupt it: a handler
	// that spins would make the guest unkillable. So the callback goes
	// back in for the nested call (wasmtime restores the original when
	// this returns), and signals reach the handler as they reach the
	// guest: SIGKILL ends it, others are delivered re-entrantly.
	if nested, err := epoch.InstallBell(d.store, d.bell, d.onEpoch); err == nil {
		defer nested.Close()
		d.store.SetEpochDeadline(1)
	} else {
		d.store.SetEpochDeadline(epoch.Far)
	}
	// A signal queued while this runs kicks an epoch that wasmtime
	// absorbs (the next deadline counts from when this returns), so take
	// it now rather than leave it to the sender's re-kick.
	for d.env.Attention() {
		if err := d.env.ProcessSignals(d.store); err != nil {
			return 0, err
		}
	}
	return 1, nil
}

// Kick makes the guest reach its epoch callback, from any goroutine. One
// kick normally does it. A kick that lands while a callback runs is
// absorbed, and a guest blocked in a host call that is no safe point
// cannot answer, so while the signal stays undelivered it re-kicks from a
// timer, backing off from 200 µs to 50 ms. Nothing spins: a spinning
// sender would hold the processor the guest's callback needs to run Go
// code. The env calls Kick itself when a signal becomes deliverable.
func (d *Delivery) Kick() {
	d.ring()
	if d.kicking.CompareAndSwap(false, true) {
		time.AfterFunc(firstRekick, func() { d.rekick(firstRekick) })
	}
}

// ring rings the bell, then kicks the engine: the bell lets only this
// guest's callback enter Go.
func (d *Delivery) ring() {
	d.bell.Ring()
	d.kicker.Kick()
}

const (
	firstRekick = 200 * time.Microsecond
	maxRekick   = 50 * time.Millisecond
)

func (d *Delivery) rekick(after time.Duration) {
	if d.env.Attention() && !d.closed.Load() {
		d.ring()
		next := min(2*after, maxRekick)
		time.AfterFunc(next, func() { d.rekick(next) })
		return
	}
	d.kicking.Store(false)
	// A signal that became deliverable after the check above is not missed.
	if d.env.Attention() && !d.closed.Load() && d.kicking.CompareAndSwap(false, true) {
		d.rekick(firstRekick)
	}
}

// Nudge rings and kicks once, without re-kicking: for a guest that must
// reach its next epoch check whether or not a signal is pending (a kill
// that gave up waiting keeps nudging until the guest ends).
func (d *Delivery) Nudge() { d.ring() }

// Calls reports how many times the epoch callback entered Go.
func (d *Delivery) Calls() uint64 { return d.calls.Load() }

// Close stops re-kicks and removes the callback; call it when the guest
// has ended (the store may be closed right after). Close on nil is a
// no-op.
func (d *Delivery) Close() {
	if d == nil || !d.closed.CompareAndSwap(false, true) {
		return
	}
	d.env.SetNotify(nil)
	d.handle.Close()
}
