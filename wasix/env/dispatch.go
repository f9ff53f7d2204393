package env

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/bytecodealliance/wasmtime-go/v25"
	"github.com/wasix-org/wasix-signals-go/internal/fastcall"
	"github.com/wasix-org/wasix-signals-go/wasix"
)

// Signal queues sig on this process's main thread. It is safe from any
// goroutine: the guest receives it at its next safe point, and a guest
// blocked in thread_sleep (or running wasm, with asynchronous delivery
// enabled by the host) is woken. It fails for a number outside 1..31, after
// the process exited, and after Close.
func (e *WasiEnv) Signal(sig wasix.Signal) error {
	if !sig.Valid() {
		return fmt.Errorf("env: %w: signal %d", wasix.EINVAL, int32(sig))
	}
	return e.queue(MainTID, sig, false)
}

// queue adds sig to thread tid. local is true when the guest raises it on
// its own goroutine, which then processes signals itself.
func (e *WasiEnv) queue(tid int32, sig wasix.Signal, local bool) error {
	e.mu.Lock()
	if e.inner.closed {
		e.mu.Unlock()
		return ErrClosed
	}
	if e.inner.exit != nil {
		e.mu.Unlock()
		return ErrExited
	}
	t := e.inner.threads[tid]
	if t == nil {
		e.mu.Unlock()
		return fmt.Errorf("env: %w: thread %d", wasix.ESRCH, tid)
	}
	e.inner.counters.Raised++
	coalesced := t.mask&(1<<uint(sig)) != 0
	if coalesced {
		e.inner.counters.Coalesced++
	} else {
		t.mask |= 1 << uint(sig)
		t.queue = append(t.queue, sig)
	}
	deliverable := e.refreshAttention()
	e.mu.Unlock()
	if coalesced {
		// The first of these already woke the guest, which has not taken
		// it yet: waking it again (an engine-wide epoch kick) buys nothing.
		if e.logEnabled(slog.LevelDebug) {
			e.log.Debug("signal coalesced into a pending one", "signal", sig.String())
		}
		return nil
	}
	if deliverable && !local {
		e.wakeUp()
	}
	return nil
}

// raiseLocal queues a signal the guest raised on its own goroutine.
func (e *WasiEnv) raiseLocal(sig wasix.Signal) error { return e.queue(MainTID, sig, true) }

// Raise queues sig on this process from the guest's own goroutine and
// processes signals, so that the handler has run when it returns; the
// result is the terminal error, if the process ended. Signal 0 is queued
// only under the wasmer policy, where the handler receives it.
func (e *WasiEnv) Raise(store wasmtime.Storelike, sig wasix.Signal) error {
	if sig != 0 || e.policy == wasix.PolicyWasmer {
		if err := e.raiseLocal(sig); errors.Is(err, ErrExited) {
			return e.Exited()
		}
	}
	return e.ProcessSignals(store)
}

// maxCachedMisses and maxCachedMissLen bound the handler cache's entries
// for names that are not handlers: their number and their length (a guest
// could otherwise pin 64 names as large as its memory).
const (
	maxCachedMisses  = 64
	maxCachedMissLen = 256
)

type stepKind uint8

const (
	stepDone stepKind = iota
	stepExit
	stepDeliver
)

// next takes the next action off the main thread's queue. e.mu held.
func (e *WasiEnv) next() (stepKind, wasix.Signal, handler) {
	in := &e.inner
	for {
		if in.exit != nil {
			return stepExit, 0, handler{}
		}
		t := in.threads[MainTID]
		if e.takeKill(t) {
			return stepExit, 0, handler{}
		}
		if e.policy == wasix.PolicyDefault && t.mask&(1<<wasix.SIGSTOP) != 0 {
			t.remove(wasix.SIGSTOP)
			e.drop(wasix.SIGSTOP, "SIGSTOP cannot be caught and there is no job control")
			continue
		}
		if len(t.queue) == 0 || in.signalSet && (!in.signal.ok() || in.suspended) {
			return stepDone, 0, handler{}
		}
		sig := t.queue[0]
		t.remove(sig)
		if in.signalSet {
			in.counters.Delivered++
			return stepDeliver, sig, in.signal
		}
		if e.ignored&(1<<uint(sig)) != 0 {
			e.drop(sig, "ignored by host disposition")
			continue
		}
		if status, ok := e.defaultTerminates(sig); ok {
			e.terminate(sig, status)
			return stepExit, 0, handler{}
		}
		e.drop(sig, "default action is to ignore")
	}
}

// takeKill ends the process if SIGKILL is pending on t: it can be neither
// caught nor blocked and overtakes the queue. e.mu held.
func (e *WasiEnv) takeKill(t *thread) bool {
	if t.mask&(1<<wasix.SIGKILL) == 0 {
		return false
	}
	t.remove(wasix.SIGKILL)
	e.inner.counters.TerminatedBy = wasix.SIGKILL
	e.recordExit(killed(e.policy))
	e.log.Debug("process terminated by signal", "signal", wasix.SIGKILL.String())
	return true
}

// killed is the outcome of SIGKILL under policy.
func killed(policy wasix.Policy) *wasix.ExitError {
	status := int32(128 + wasix.SIGKILL)
	if policy == wasix.PolicyWasmer {
		status = 27
	}
	return &wasix.ExitError{Status: status, Signal: wasix.SIGKILL}
}

// defaultTerminates applies the policy's default action for a process
// without a handler: the exit status, or false when sig is discarded.
func (e *WasiEnv) defaultTerminates(sig wasix.Signal) (int32, bool) {
	if e.policy == wasix.PolicyWasmer {
		// As measured with @wasmer/sdk 0.16.0, which differs from the
		// contract's table for ABRT (134, not 0) and PIPE (64, not
		// discarded).
		switch sig {
		case wasix.SIGINT, wasix.SIGKILL:
			return 27, true
		case wasix.SIGQUIT:
			return 0, true
		case wasix.SIGABRT:
			return 134, true
		case wasix.SIGPIPE:
			return 64, true
		}
		return 0, false
	}
	if !sig.Valid() || sig.DefaultAction() == wasix.ActionIgnore {
		return 0, false
	}
	return 128 + int32(sig), true
}

// terminate records the exit caused by sig. e.mu held.
func (e *WasiEnv) terminate(sig wasix.Signal, status int32) {
	e.inner.counters.TerminatedBy = sig
	e.recordExit(&wasix.ExitError{Status: status, Signal: sig})
	e.log.Debug("process terminated by signal", "signal", sig.String(), "status", status)
}

// drop counts and logs a signal that is discarded. e.mu held.
func (e *WasiEnv) drop(sig wasix.Signal, why string) {
	e.inner.counters.Ignored++
	e.log.Debug("signal dropped", "signal", sig.String(), "reason", why)
}

// recordExit records the end of the process; the first one wins. e.mu held.
func (e *WasiEnv) recordExit(err error) {
	if e.inner.exit == nil {
		e.inner.exit = &exitRecord{err: err}
		e.stopTimers()
		e.refreshAttention()
	}
}

func (t *thread) remove(sig wasix.Signal) {
	t.mask &^= 1 << uint(sig)
	for i, s := range t.queue {
		if s == sig {
			t.queue = append(t.queue[:i], t.queue[i+1:]...)
			return
		}
	}
}

// ProcessSignals delivers the pending signals of this process (docs/BEHAVIOUR.md section
// 4). It must run on the goroutine that runs the guest, with store the
// *wasmtime.Store or the current *wasmtime.Caller. It returns nil when the
// guest may carry on, or the terminal error when the process has ended
// (*wasix.ExitError or *wasix.HandlerTrapError); host functions turn that
// into a trap with ProcessSignalsAndExit. With nothing pending it costs one
// atomic load.
func (e *WasiEnv) ProcessSignals(store wasmtime.Storelike) error {
	if !e.attention.Load() {
		return nil
	}
	_, err := e.processSignals(store)
	return err
}

// Interrupted is ProcessSignals for a wait (a sleep, a poll, a read that
// blocks): it delivers what is pending and reports whether the wait must
// end with EINTR. Only a delivered signal (a handler ran) interrupts a
// wait; one that is dropped (ignored by default or by the host, SIGSTOP)
// does not, as on Linux. Nor does SIGCHLD, whose handler runs while the
// wait goes on (see docs/PROCESSES.md). err is the terminal error when the
// process ended.
func (e *WasiEnv) Interrupted(store wasmtime.Storelike) (bool, error) {
	if !e.attention.Load() {
		return false, nil
	}
	return e.processSignals(store)
}

// processSignals delivers the pending signals and reports whether a
// handler ran.
func (e *WasiEnv) processSignals(store wasmtime.Storelike) (handled bool, err error) {
	for {
		e.mu.Lock()
		kind, sig, h := e.next()
		var exit error
		if kind == stepExit {
			exit = e.inner.exit.err
		}
		e.refreshAttention()
		e.mu.Unlock()
		switch kind {
		case stepDone:
			return handled, nil
		case stepExit:
			return handled, exit
		}
		if e.logEnabled(slog.LevelDebug) {
			e.log.Debug("signal delivered to the handler", "signal", sig.String())
		}
		// The mutex is not held here: the handler may re-enter any import.
		// SIGCHLD restarts the wait instead of interrupting it: see
		// docs/PROCESSES.md (SIGCHLD).
		handled = handled || sig != wasix.SIGCHLD
		e.depth++
		err := e.call(store, h, sig)
		e.depth--
		if err != nil {
			return true, e.handlerFailed(sig, err)
		}
	}
}

// call runs the handler for sig, through wasmtime's C API when it can:
// Func.Call rebuilds the function type and takes global locks every time.
func (e *WasiEnv) call(store wasmtime.Storelike, h handler, sig wasix.Signal) error {
	if e.fast {
		return h.fast.CallI32(e.ctx, int32(sig))
	}
	_, err := h.fn.Call(store, int32(sig))
	return err
}

// ProcessSignalsAndExit is ProcessSignals for host functions: it returns
// the trap the host function must return when the process ended, or nil.
func (e *WasiEnv) ProcessSignalsAndExit(store wasmtime.Storelike) *wasmtime.Trap {
	if !e.attention.Load() {
		return nil
	}
	if err := e.ProcessSignals(store); err != nil {
		return wasmtime.NewTrap(err.Error())
	}
	return nil
}

// handlerFailed turns an error out of the handler into the process's end:
// an exit already recorded (a nested exit unwinding), the guest's own
// proc_exit, or a trap.
func (e *WasiEnv) handlerFailed(sig wasix.Signal, err error) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.inner.jumping && e.inner.exit == nil {
		return err // a longjmp out of the handler, on its way to the driver
	}
	e.inner.counters.CutShort++
	if e.inner.exit == nil {
		if status, ok := exitStatus(err); ok {
			e.recordExit(&wasix.ExitError{Status: status})
		}
	}
	if e.inner.exit == nil {
		if e.policy == wasix.PolicyWasmer {
			e.recordExit(&wasix.ExitError{Status: 27, Signal: sig})
		} else {
			e.recordExit(&wasix.HandlerTrapError{Signal: sig, Err: err})
		}
		e.log.Warn("signal handler trapped", "signal", sig.String(), "error", err.Error())
	}
	return e.inner.exit.err
}

// Exit records that the guest asked to exit with status (proc_exit) and
// returns the error a host function should turn into a trap. The first
// exit recorded wins.
//
// A SIGKILL still pending wins over the exit: it was sent before the guest
// asked to leave, only not yet acted on.
func (e *WasiEnv) Exit(status int32) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.inner.exit == nil && !e.inner.closed {
		e.takeKill(e.inner.threads[MainTID])
	}
	e.recordExit(&wasix.ExitError{Status: status})
	return e.inner.exit.err
}

// Resolve turns the error of a call into the guest (typically _start) into
// the outcome of the process: the recorded exit or handler trap when there
// is one, a WASI proc_exit as *wasix.ExitError, nil for a normal return, or
// err itself (a trap outside any handler).
func (e *WasiEnv) Resolve(err error) error {
	e.mu.Lock()
	rec := e.inner.exit
	e.mu.Unlock()
	if rec != nil && !rec.byClose {
		return rec.err
	}
	if err == nil {
		return nil
	}
	if status, ok := exitStatus(err); ok {
		return e.Exit(status)
	}
	if rec != nil {
		return rec.err // stopped by Close
	}
	return err
}

// exitStatus finds a WASI exit (wasmtime's proc_exit) in err.
func exitStatus(err error) (int32, bool) {
	var exit interface{ ExitStatus() (int32, bool) }
	if errors.As(err, &exit) {
		return exit.ExitStatus()
	}
	return 0, false
}

// Register is callback_signal after the name was read (docs/BEHAVIOUR.md section 3,
// steps 2-4): it looks name up among the instance's exports, records the
// result (a function of type (i32)->(), or none, which blocks delivery),
// and processes pending signals. It reports whether a handler was found.
func (e *WasiEnv) Register(caller wasmtime.Storelike, name []byte) (bool, error) {
	fn, ok := e.handlers[string(name)]
	if !ok {
		fn = e.findHandler(caller, string(name))
		// Exports are finite, so hits are cached without bound; misses
		// only up to a limit, or a guest registering ever-new names
		// would grow the cache forever.
		if e.instance != nil && (fn.ok() || len(e.handlers) < maxCachedMisses && len(name) <= maxCachedMissLen) {
			e.handlers[string(name)] = fn
		}
	}
	e.mu.Lock()
	e.inner.signal = fn
	e.inner.signalSet = true
	e.inner.signalName = string(name)
	e.refreshAttention()
	e.mu.Unlock()
	if e.logEnabled(wasix.LevelTrace) {
		e.log.Log(context.Background(), wasix.LevelTrace, "callback_signal", "name", string(name), "funct_is_some", fn.ok())
	}
	return fn.ok(), e.ProcessSignals(caller)
}

// findHandler looks name up as an export of type (i32)->().
func (e *WasiEnv) findHandler(caller wasmtime.Storelike, name string) handler {
	var ex *wasmtime.Extern
	if e.instance != nil {
		ex = e.instance.GetExport(caller, name)
	} else if c, ok := caller.(*wasmtime.Caller); ok {
		ex = c.GetExport(name)
	}
	if ex == nil {
		return handler{}
	}
	fn := ex.Func()
	if fn == nil {
		return handler{}
	}
	ty := fn.Type(caller)
	params, results := ty.Params(), ty.Results()
	if len(params) != 1 || params[0].Kind() != wasmtime.KindI32 || len(results) != 0 {
		return handler{}
	}
	h := handler{fn: fn}
	if e.fast {
		h.fast = fastcall.FuncOf(fn)
	}
	return h
}

// Pending reports whether sig is queued on the main thread and not yet
// acted on.
func (e *WasiEnv) Pending(sig wasix.Signal) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return sig >= 0 && sig < wasix.NSIG && e.inner.threads[MainTID].mask&(1<<uint(sig)) != 0
}
