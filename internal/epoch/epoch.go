// Package epoch makes wasmtime's epoch interruption resumable for
// wasmtime-go v25: a Go callback runs on the guest's own goroutine whenever
// a store's epoch deadline passes, and either lets the guest carry on or
// terminates it. It is the last-resort safe point of docs/BEHAVIOUR.md section 6 item 4:
// the only way to reach a guest spinning in wasm code that makes no host
// calls.
//
// The Go binding does not expose wasmtime_store_epoch_deadline_callback; this
// package declares and calls it through one small cgo file, reading the
// store's C pointer from the first (unexported) field of *wasmtime.Store and
// checking it at run time against store.Context(). When that check fails
// (another wasmtime-go layout), Install returns an error wrapping
// ErrUnsupported and the caller falls back to terminating the guest with a
// plain epoch trap.
//
// # Use
//
//	cfg := wasmtime.NewConfig()
//	cfg.SetEpochInterruption(true)
//	engine := wasmtime.NewEngineWithConfig(cfg)
//	store := wasmtime.NewStore(engine)
//	store.SetEpochDeadline(1)
//	h, err := epoch.Install(store, func() (uint64, error) {
//		if sig, ok := takePending(); ok { // what the sender's ack observes
//			select { case wake <- struct{}{}: default: } // wake: chan struct{}, cap 1
//			store.SetEpochDeadline(epoch.Far) // BEFORE calling into the guest
//			if _, err := handler.Call(store, sig); err != nil {
//				return 0, err // terminates the guest
//			}
//		}
//		return 1, nil // resume; next deadline one tick ahead
//	})
//	if err != nil { /* fall back: epoch trap for default-terminate signals */ }
//	defer h.Close()
//
// and on the sending side, from any goroutine:
//
//	queue(sig)
//	ok := epoch.NewKicker(engine).KickUntil(func() bool { return !isPending(sig) }, wake, 0, time.Second)
//
// # Traps (BEHAVIOUR 6.4)
//
//   - Push the deadline far out before calling into the guest from inside the
//     callback. While the callback runs wasmtime has taken it out of the store,
//     so a nested call that reaches the (already passed) deadline does not call
//     it again: it traps at once with wasmtime.Interrupt (a *wasmtime.Trap).
//     Call store.SetEpochDeadline(Far) first. The delta the callback returns
//     then replaces that far deadline when the guest resumes. Never pass
//     math.MaxUint64 to SetEpochDeadline: wasmtime adds it to the current epoch
//     and the sum wraps to a deadline in the past.
//   - An Engine.IncrementEpoch that lands while the callback runs is absorbed:
//     the returned delta counts from the epoch current when the callback
//     returns. A sender must therefore re-kick until the guest acknowledges
//     (Kicker.KickUntil), not kick once.
//   - IncrementEpoch is engine-wide: every store on the engine reaches its
//     deadline. Every store there needs either a callback (cheap when nothing is
//     pending: a map lookup and the cb) or a far deadline, or it is killed.
//     With many stores, give each a Bell (InstallBell) and ring it before
//     kicking: the others then answer in C without entering Go.
//   - A new store on an epoch-enabled engine has deadline 0: its first call
//     traps (without a callback) or runs the callback at once (with one) unless
//     a deadline is set first.
//   - Every call into the store checks the deadline on function entry. After a
//     callback terminated the guest the deadline is still in the past, so the
//     next call (even a getter) runs the callback again, which may terminate
//     that call too: set a deadline before reusing the store.
//   - The callback runs Go code from inside a cgo call, so the guest's thread
//     must get a Go P back first: typically 1-2 µs from kick to callback when
//     the guest entered wasm moments ago, 10-30 µs once it has spun a while
//     (the runtime then gave its P away). A sender spinning for the
//     acknowledgement competes for that P; Kicker blocks instead.
//   - Install called from inside a store's callback does not replace it:
//     wasmtime puts the running callback back when it returns, so the new one
//     is dropped (and its registration removed). Until then it serves the
//     nested calls, which is useful: a callback that calls into the guest can
//     install itself again (and set a near deadline instead of Far) so that
//     the nested call stays interruptible. host does this, so that a signal
//     handler that spins can still be killed.
//   - The callback must not call runtime.Goexit (t.FailNow, t.Fatal) since it
//     runs inside a cgo callback. Panics are recovered and terminate the guest
//     with an error naming the panic.
//   - The registry holds cb until Close or until wasmtime deletes the store. If
//     cb refers to the store (it usually does), the store is reachable from the
//     registry and its Go finalizer never runs: call Handle.Close or
//     Store.Close explicitly (the same is true of wasmtime-go's own FuncNew
//     closures).
package epoch

import (
	"errors"
	"fmt"
	"reflect"
	"runtime"
	"sync"
	"unsafe"

	"github.com/bytecodealliance/wasmtime-go/v25"
)

// Far is a deadline delta that is never reached in practice (2^62 ticks) yet
// cannot overflow when wasmtime adds it to the current epoch. Use it with
// store.SetEpochDeadline before calling into the guest from a callback.
const Far uint64 = 1 << 62

// ErrUnsupported is returned (wrapped) by Install when the *wasmtime.Store
// layout is not the one this package was written for. It wraps
// errors.ErrUnsupported.
var ErrUnsupported = fmt.Errorf("epoch: wasmtime_store_epoch_deadline_callback unusable with this wasmtime-go Store: %w", errors.ErrUnsupported)

// ErrStoreClosed is returned by Install for a nil or closed store.
var ErrStoreClosed = errors.New("epoch: store is nil or closed")

// ErrClosed is the message of the error that terminates a guest whose store
// reaches its deadline after Handle.Close: the store then behaves as without
// a callback (the guest stops), except that the caller sees a
// *wasmtime.Error carrying this text instead of a wasmtime.Interrupt trap.
var ErrClosed = errors.New("epoch: deadline reached after the epoch callback was closed")

// Callback is run on the guest's goroutine when the store's epoch deadline
// passes. Returning (delta, nil) resumes the guest with its next deadline
// delta ticks after the current epoch (0 is treated as 1, more than Far as
// Far). Returning a non-nil error terminates the guest: the Go caller of the
// guest gets a *wasmtime.Error whose message contains err.Error().
type Callback func() (delta uint64, err error)

// Handle is one registration made by Install.
type Handle struct {
	id uint64
}

var registry struct {
	sync.Mutex
	next uint64
	cbs  map[uint64]Callback
}

// storePtrSource is the store whose first field is read; tests replace it to
// exercise the mismatch check.
var storePtrSource = func(s *wasmtime.Store) *wasmtime.Store { return s }

var layoutOK = sync.OnceValue(func() bool {
	t := reflect.TypeFor[wasmtime.Store]()
	if t.NumField() == 0 {
		return false
	}
	f := t.Field(0)
	return f.Offset == 0 && f.Type.Kind() == reflect.Pointer && f.Type.Size() == unsafe.Sizeof(uintptr(0))
})

// storePtr returns the wasmtime_store_t* behind store, verified.
func storePtr(store *wasmtime.Store) (unsafe.Pointer, error) {
	if store == nil {
		return nil, ErrStoreClosed
	}
	if !layoutOK() {
		return nil, ErrUnsupported
	}
	if *(*unsafe.Pointer)(unsafe.Pointer(store)) == nil {
		return nil, ErrStoreClosed // store.Context() would panic
	}
	src := storePtrSource(store)
	if src == nil {
		return nil, ErrUnsupported
	}
	p := *(*unsafe.Pointer)(unsafe.Pointer(src))
	if p == nil || cStoreContext(p) != unsafe.Pointer(store.Context()) {
		return nil, ErrUnsupported
	}
	return p, nil
}

// Supported reports whether Install can work on store: it is open and its
// C pointer was found and verified.
func Supported(store *wasmtime.Store) bool {
	_, err := storePtr(store)
	return err == nil
}

// Install registers cb as store's epoch deadline callback, replacing (and
// unregistering) any earlier one. Call it when no guest call is running on
// store, from the goroutine that owns store. The engine must have epoch
// interruption enabled, and the store needs a deadline (SetEpochDeadline).
// cb runs at every deadline; see InstallBell for one that runs only when
// rung.
func Install(store *wasmtime.Store, cb Callback) (*Handle, error) {
	return InstallBell(store, nil, cb)
}

// A Bell makes one store's callback run only when it is wanted. Epoch kicks
// are engine-wide: without a bell every store on the engine runs its Go
// callback at each kick, so a signal to one guest among many costs them all
// a cgo callback, each waiting for a Go processor. A store installed with
// InstallBell runs cb only at the first deadline after Ring; at the others
// the callback answers in C (resume, one tick more) without entering Go.
//
// Ring before kicking the engine. A ring is taken by the first deadline
// that follows it, so cb must look at everything that rang (a queue, not
// one event), and a sender that re-kicks must ring again each time.
//
// A bell lives in C memory, freed once the Bell is garbage and no store's
// registration uses it.
type Bell struct {
	p *cBell
}

// NewBell returns a bell that has not rung.
func NewBell() *Bell {
	b := &Bell{p: newCBell()}
	runtime.AddCleanup(b, releaseBell, b.p)
	return b
}

// Ring makes the next deadline of the stores installed with b run their
// callback. It is safe from any goroutine, on a nil Bell too (a no-op), and
// costs one atomic store.
func (b *Bell) Ring() {
	if b != nil {
		ringBell(b.p)
		runtime.KeepAlive(b)
	}
}

// InstallBell is Install with the callback gated by bell (nil: not
// gated). A callback that installs itself again for a nested call passes
// the same bell.
func InstallBell(store *wasmtime.Store, bell *Bell, cb Callback) (*Handle, error) {
	if cb == nil {
		return nil, errors.New("epoch: nil callback")
	}
	p, err := storePtr(store)
	if err != nil {
		return nil, err
	}
	registry.Lock()
	if registry.cbs == nil {
		registry.cbs = make(map[uint64]Callback)
	}
	registry.next++
	id := registry.next
	registry.cbs[id] = cb
	registry.Unlock()
	// Not under the lock: replacing an earlier callback runs its finalizer,
	// which unregisters it, synchronously.
	cSetCallback(p, id, bell)
	runtime.KeepAlive(bell)
	runtime.KeepAlive(store)
	return &Handle{id: id}, nil
}

// Close unregisters the callback. It is safe from any goroutine, more than
// once, and after the store was closed or collected. The store keeps calling
// into this package at each deadline; with the registration gone the guest is
// terminated with ErrClosed's message (set a far deadline first to avoid
// that).
func (h *Handle) Close() {
	if h != nil {
		unregister(h.id)
	}
}

func unregister(id uint64) {
	registry.Lock()
	delete(registry.cbs, id)
	registry.Unlock()
}

func lookup(id uint64) Callback {
	registry.Lock()
	cb := registry.cbs[id]
	registry.Unlock()
	return cb
}

// registered reports how many callbacks are registered (for tests).
func registered() int {
	registry.Lock()
	defer registry.Unlock()
	return len(registry.cbs)
}

// dispatch runs the callback registered as id. It never panics: a panic in cb
// becomes a termination message. ok false means terminate with msg.
func dispatch(id uint64) (delta uint64, msg string, ok bool) {
	cb := lookup(id)
	if cb == nil {
		return 0, ErrClosed.Error(), false
	}
	defer func() {
		if r := recover(); r != nil {
			delta, msg, ok = 0, fmt.Sprintf("epoch: callback panicked: %v", r), false
		}
	}()
	d, err := cb()
	if err != nil {
		msg = err.Error()
		if msg == "" {
			msg = "epoch: callback returned an error with an empty message"
		}
		return 0, msg, false
	}
	return min(max(d, 1), Far), "", true
}
