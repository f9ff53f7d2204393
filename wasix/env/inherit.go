package env

import (
	"github.com/bytecodealliance/wasmtime-go/v25"
	"github.com/wasix-org/wasix-signals-go/internal/fastcall"
	"github.com/wasix-org/wasix-signals-go/wasix"
)

// What a process hands on to a forked child, and what exec keeps (see
// docs/PROCESSES.md). The host dispositions (Config.Ignore) are passed to
// the child's Config by the host; the guest's own signal table lives in its
// memory, which the child gets a copy of.

// Registration is the callback_signal state of a process: whether a
// registration happened and the name registered last.
type Registration struct {
	Set  bool
	Name string
}

// Registration returns the process's callback_signal state.
func (e *WasiEnv) Registration() Registration {
	e.mu.Lock()
	defer e.mu.Unlock()
	return Registration{Set: e.inner.signalSet, Name: e.inner.signalName}
}

// Inherit gives a forked child (after Bind) its parent's registration r:
// the same name, looked up among the child's own exports, so that a
// parent that registered its handler has one in the child, and a parent
// that blocked delivery has it blocked in the child. Nothing is delivered
// here. Guest goroutine, or before the child runs.
func (e *WasiEnv) Inherit(r Registration) {
	var h handler
	if r.Set && e.instance != nil {
		h = e.findHandler(e.store, r.Name)
	}
	e.mu.Lock()
	e.inner.signal, e.inner.signalSet, e.inner.signalName = h, r.Set, r.Name
	e.refreshAttention()
	e.mu.Unlock()
}

// Exec binds the process to the instance of a new program (proc_exec),
// in the same store, as BindModule does (the memory is the new
// instance's unless the host provided it), and resets its signal state:
// signals with a handler go back to their default
// action (nothing is registered until the new program calls
// callback_signal), a process that had delivery blocked keeps it blocked
// until the new program registers (as POSIX keeps the signal mask), the
// host's ignore dispositions stay, pending signals stay pending and
// interval timers keep running (as Linux's execve). The handler cache and
// a suspended delivery (the longjmp-like exit out of the old program) are
// cleared.
func (e *WasiEnv) Exec(instance *wasmtime.Instance, module *wasmtime.Module) error {
	if !e.hostMemory {
		e.memory = nil
		e.fastMem = fastcall.Memory{}
	}
	if err := e.BindModule(instance, module); err != nil {
		return err
	}
	e.mu.Lock()
	blocked := e.inner.signalSet && !e.inner.signal.ok()
	e.inner.signal = handler{}
	e.inner.signalSet = blocked
	e.inner.suspended, e.inner.jumping = false, false
	e.refreshAttention()
	e.mu.Unlock()
	return nil
}

// Ignores reports whether the host set sig to be ignored (Config.Ignore).
func (e *WasiEnv) Ignores(sig wasix.Signal) bool {
	return sig.Valid() && e.ignored&(1<<uint(sig)) != 0
}
