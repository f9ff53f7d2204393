package signal

import (
	"github.com/bytecodealliance/wasmtime-go/v25"
	"github.com/wasix-org/wasix-signals-go/wasix"
	"github.com/wasix-org/wasix-signals-go/wasix/env"
)

// mainThreadAlias is the tid wasix-libc passes for "the main thread".
const mainThreadAlias = 0x3FFFFFFF

// guestSignal checks a signal number from the guest. Under the default
// policy a number outside 0..31 is EINVAL; under the wasmer policy it is
// treated as signal 0, as the reference runtime does.
func guestSignal(e *env.WasiEnv, call string, raw int32) (wasix.Signal, bool) {
	if raw >= 0 && raw < wasix.NSIG {
		return wasix.Signal(raw), true
	}
	if e.Policy() == wasix.PolicyWasmer {
		e.Logger().Warn(call+": signal number out of range", "signal", raw, "treated_as", 0)
		return 0, true
	}
	e.Logger().Warn(call+": signal number out of range", "signal", raw, "errno", wasix.EINVAL.Name())
	return 0, false
}

// procRaise is proc_raise(sig): queue sig on this process and deliver it
// before returning. Signal 0 delivers nothing (default policy) or calls the
// handler with 0 (wasmer policy). Errors: EINVAL for a number out of range.
func procRaise(c *wasmtime.Caller, e *env.WasiEnv, a args) (wasix.Errno, error) {
	if err := e.ProcessSignals(c); err != nil {
		return 0, err
	}
	sig, ok := guestSignal(e, ProcRaiseName, a.i32(0))
	if !ok {
		return wasix.EINVAL, nil
	}
	return wasix.ESUCCESS, e.Raise(c, sig)
}

// threadSignal is thread_signal(tid, sig), which libc's raise(), abort()
// and pthread_kill() use. Tids 0, 1 and 0x3FFFFFFF name the calling (main)
// thread; the signal is delivered before it returns. Signal 0 only checks
// that the thread exists. Errors: EINVAL for a bad number, ESRCH for an
// unknown tid. Under the wasmer policy tid 0 and unknown tids answer 0 and
// deliver nothing.
func threadSignal(c *wasmtime.Caller, e *env.WasiEnv, a args) (wasix.Errno, error) {
	if err := e.ProcessSignals(c); err != nil {
		return 0, err
	}
	tid := a.i32(0)
	sig, ok := guestSignal(e, ThreadSignalName, a.i32(1))
	if !ok {
		return wasix.EINVAL, nil
	}
	self := tid == env.MainTID || tid == mainThreadAlias
	if e.Policy() == wasix.PolicyDefault {
		self = self || tid == 0
	}
	if !self {
		if tid == 0 {
			e.Logger().Debug("thread_signal: tid 0 delivers nothing under the wasmer policy", "tid", tid, "signal", sig.String())
			return wasix.ESUCCESS, nil
		}
		e.Logger().Debug("thread_signal: no such thread", "tid", tid, "signal", sig.String())
		if e.Policy() == wasix.PolicyWasmer {
			return wasix.ESUCCESS, nil
		}
		return wasix.ESRCH, nil
	}
	return wasix.ESUCCESS, e.Raise(c, sig)
}

// procSignal is proc_signal(pid, sig), which libc's kill() uses. Pid 0 and
// the process's own pid raise here, as proc_raise. Another pid reaches a
// process the host placed in this process's group (env.WasiEnv.SetPeers):
// the signal is queued there and that guest woken. Signal 0 only checks
// that the process exists. Errors: EINVAL for a bad number, ESRCH for a pid
// that is unknown, outside the group, negative or already exited. Under the
// wasmer policy pid 0 and unknown pids answer 0 and deliver nothing.
func procSignal(c *wasmtime.Caller, e *env.WasiEnv, a args) (wasix.Errno, error) {
	if err := e.ProcessSignals(c); err != nil {
		return 0, err
	}
	pid := a.i32(0)
	sig, ok := guestSignal(e, ProcSignalName, a.i32(1))
	if !ok {
		return wasix.EINVAL, nil
	}
	wasmer := e.Policy() == wasix.PolicyWasmer
	if pid == 0 && wasmer {
		e.Logger().Debug("proc_signal: pid 0 delivers nothing under the wasmer policy", "pid", pid, "signal", sig.String())
		return wasix.ESUCCESS, nil
	}
	if pid == 0 || pid == e.Pid() {
		return wasix.ESUCCESS, e.Raise(c, sig)
	}
	peer, found := e.Peer(pid)
	if found && sig != 0 {
		found = peer.Signal(sig) == nil
	} else if found {
		found = peer.Alive()
	}
	if !found {
		e.Logger().Debug("proc_signal: no such process", "pid", pid, "signal", sig.String())
		if wasmer {
			return wasix.ESUCCESS, nil
		}
		return wasix.ESRCH, nil
	}
	return wasix.ESUCCESS, e.ProcessSignals(c)
}
