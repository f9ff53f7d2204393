package env

import "github.com/bytecodealliance/wasmtime-go/v25"

// Hooks for the stack driver (package wasix/stack), which implements
// setjmp/longjmp by unwinding and rewinding the guest's stack (see
// docs/SETJMP.md). While the stack is in flight no handler may run: the
// guest is half-unwound, and a handler would find its own calls unwinding
// too. Exits, SIGKILL and default actions still apply, so the process
// stays stoppable; handled signals stay queued, as if blocked, until
// ResumeDelivery. Guest goroutine only.

// SuspendDelivery holds handler calls back until ResumeDelivery.
func (e *WasiEnv) SuspendDelivery() {
	e.mu.Lock()
	e.inner.suspended = true
	e.refreshAttention()
	e.mu.Unlock()
}

// ResumeDelivery ends SuspendDelivery and BeginJump. Signals that wait
// are delivered at the next safe point; the caller, a host function, is
// expected to be one (call ProcessSignals).
func (e *WasiEnv) ResumeDelivery() {
	e.mu.Lock()
	e.inner.suspended, e.inner.jumping = false, false
	e.refreshAttention()
	e.mu.Unlock()
}

// BeginJump marks a non-local exit (a longjmp) in flight: the guest leaves
// by a trap that the stack driver catches at the top. Until ResumeDelivery,
// delivery is suspended and an error out of a handler passes through
// ProcessSignals unchanged instead of being recorded as a handler trap, so
// that the jump leaves a handler whatever called it: an import, a wait or
// the epoch callback.
func (e *WasiEnv) BeginJump() {
	e.mu.Lock()
	e.inner.suspended, e.inner.jumping = true, true
	e.refreshAttention()
	e.mu.Unlock()
}

// DeliverySuspended reports whether SuspendDelivery or BeginJump is in
// effect.
func (e *WasiEnv) DeliverySuspended() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.inner.suspended
}

// InHandler reports whether a signal handler is running, that is whether
// the guest's current code was entered from a host frame by signal
// delivery. Such a stack cannot be unwound to the entry point.
func (e *WasiEnv) InHandler() bool { return e.depth > 0 }

// Data returns the guest memory's bytes (nil when there is none), for
// machinery that must see all of it; the slice is valid until the memory
// grows or the guest runs again.
func (e *WasiEnv) Data(store wasmtime.Storelike) []byte {
	data, _ := e.memoryData(store)
	return data
}
