package signal

import (
	"encoding/binary"
	"math"
	"time"

	"github.com/bytecodealliance/wasmtime-go/v25"
	"github.com/wasix-org/wasix-signals-go/wasix"
	"github.com/wasix-org/wasix-signals-go/wasix/env"
)

// procRaiseInterval is proc_raise_interval(sig, interval, repeat), which
// libc's setitimer() uses. Interval 0 cancels the timer of sig; otherwise
// it arms or replaces it to raise sig after interval, then every interval
// when repeat is non-zero. The unit is nanoseconds (the witx type is a
// timestamp), milliseconds under the wasmer policy. Huge intervals
// saturate. Errors: EINVAL for a bad number or signal 0 (default policy).
func procRaiseInterval(c *wasmtime.Caller, e *env.WasiEnv, a args) (wasix.Errno, error) {
	if err := e.ProcessSignals(c); err != nil {
		return 0, err
	}
	sig, ok := guestSignal(e, ProcRaiseIntervalName, a.i32(0))
	if !ok || sig == 0 && e.Policy() == wasix.PolicyDefault {
		if ok {
			e.Logger().Warn(ProcRaiseIntervalName+": signal 0 has no timer", "errno", wasix.EINVAL.Name())
		}
		return wasix.EINVAL, nil
	}
	unit := time.Nanosecond
	if e.Policy() == wasix.PolicyWasmer {
		unit = time.Millisecond
	}
	interval := env.Duration(uint64(a.i64(1)), unit)
	if err := e.SetTimer(sig, interval, a.i32(2) != 0); err != nil {
		// Only ErrExited or ErrClosed: the number was checked above.
		return 0, e.Exited()
	}
	return wasix.ESUCCESS, e.ProcessSignals(c)
}

// itimervalSize is the size of the itimerval of proc_raise_interval2:
// {it_interval: {sec u64, usec u64}, it_value: {sec u64, usec u64}}.
const itimervalSize = 32

// procRaiseInterval2 is proc_raise_interval2(sig, new_ptr, old_ptr), POSIX
// setitimer, which wasix-libc's setitimer() and alarm() use since 2026-03:
// it_value 0 disarms the timer of sig; otherwise sig is raised after
// it_value, then every it_interval (0: once). When old_ptr is not 0 it
// receives the time the replaced timer had left and its interval (zeros
// if none). Errors: EINVAL for a bad signal (0 included) or a usec field of
// a million or more, EFAULT for a pointer out of bounds (nothing changes).
// Both policies behave alike: the reference's @wasmer/sdk has no such
// import, native Wasmer is POSIX here.
func procRaiseInterval2(c *wasmtime.Caller, e *env.WasiEnv, a args) (wasix.Errno, error) {
	if err := e.ProcessSignals(c); err != nil {
		return 0, err
	}
	sig, ok := guestSignal(e, ProcRaiseInterval2Name, a.i32(0))
	if !ok || sig == 0 {
		if ok {
			e.Logger().Warn(ProcRaiseInterval2Name+": signal 0 has no timer", "errno", wasix.EINVAL.Name())
		}
		return wasix.EINVAL, nil
	}
	raw, ok := e.Read(c, a.ptr(1), itimervalSize)
	oldPtr := a.ptr(2)
	if ok && oldPtr != 0 {
		_, ok = e.Read(c, oldPtr, itimervalSize)
	}
	if !ok {
		e.Logger().Warn(ProcRaiseInterval2Name+": itimerval out of bounds", "new", a.ptr(1), "old", oldPtr, "errno", e.FaultErrno().Name())
		return e.FaultErrno(), nil
	}
	interval, ok1 := timeval(raw[0:16])
	value, ok2 := timeval(raw[16:32])
	if !ok1 || !ok2 {
		e.Logger().Warn(ProcRaiseInterval2Name+": usec out of range", "errno", wasix.EINVAL.Name())
		return wasix.EINVAL, nil
	}
	oldValue, oldInterval, err := e.SetITimer(sig, value, interval)
	if err != nil {
		return 0, e.Exited()
	}
	if oldPtr != 0 {
		var out [itimervalSize]byte
		putTimeval(out[0:16], oldInterval)
		putTimeval(out[16:32], oldValue)
		e.Write(c, oldPtr, out[:])
	}
	return wasix.ESUCCESS, e.ProcessSignals(c)
}

// timeval reads {sec u64, usec u64}, saturating a huge one; false when
// usec is a million or more.
func timeval(b []byte) (time.Duration, bool) {
	sec, usec := binary.LittleEndian.Uint64(b), binary.LittleEndian.Uint64(b[8:])
	if usec >= 1e6 {
		return 0, false
	}
	d, u := env.Duration(sec, time.Second), time.Duration(usec)*time.Microsecond
	if d > math.MaxInt64-u {
		return math.MaxInt64, true
	}
	return d + u, true
}

// putTimeval writes d as {sec u64, usec u64}, rounding up to the next
// microsecond so that a timer about to fire does not read as disarmed.
func putTimeval(b []byte, d time.Duration) {
	us := (d + time.Microsecond - 1) / time.Microsecond
	binary.LittleEndian.PutUint64(b, uint64(us/1e6))
	binary.LittleEndian.PutUint64(b[8:], uint64(us%1e6))
}

// procSignalsSizesGet is proc_signals_sizes_get(count_ptr): it writes the
// number of host-configured dispositions (u32). wasix-libc's _start exits
// when it fails, so it works with nothing configured. Errors: EFAULT.
func procSignalsSizesGet(c *wasmtime.Caller, e *env.WasiEnv, a args) (wasix.Errno, error) {
	return writeU32(c, e, ProcSignalsSizesGetName, a.ptr(0), uint32(len(e.Ignored())))
}

// procSignalsGet is proc_signals_get(buf_ptr): it writes the dispositions
// as {u8 sig, u8 disp} records in signal order, disp 1 meaning ignore.
// Errors: EFAULT when the records do not fit in memory.
func procSignalsGet(c *wasmtime.Caller, e *env.WasiEnv, a args) (wasix.Errno, error) {
	if err := e.ProcessSignals(c); err != nil {
		return 0, err
	}
	ign := e.Ignored()
	buf := make([]byte, 0, 2*len(ign))
	for _, s := range ign {
		buf = append(buf, byte(s), 1)
	}
	if !e.Write(c, a.ptr(0), buf) {
		return fault(e, ProcSignalsGetName, a.ptr(0)), nil
	}
	return wasix.ESUCCESS, nil
}

// threadID is thread_id(tid_ptr): it writes the calling thread's tid, 1.
func threadID(c *wasmtime.Caller, e *env.WasiEnv, a args) (wasix.Errno, error) {
	return writeU32(c, e, ThreadIDName, a.ptr(0), uint32(env.MainTID))
}

// procID is proc_id(pid_ptr): it writes this process's pid.
func procID(c *wasmtime.Caller, e *env.WasiEnv, a args) (wasix.Errno, error) {
	return writeU32(c, e, ProcIDName, a.ptr(0), uint32(e.Pid()))
}

// threadSleep is thread_sleep(duration_ns): a sleep that a deliverable
// signal interrupts; the signal is delivered first and the result is
// EINTR. Durations past the int64 range saturate.
func threadSleep(c *wasmtime.Caller, e *env.WasiEnv, a args) (wasix.Errno, error) {
	return e.Sleep(c, env.Duration(uint64(a.i64(0)), time.Nanosecond))
}

func writeU32(c *wasmtime.Caller, e *env.WasiEnv, call string, ptr uint64, v uint32) (wasix.Errno, error) {
	if err := e.ProcessSignals(c); err != nil {
		return 0, err
	}
	if !e.WriteUint32(c, ptr, v) {
		return fault(e, call, ptr), nil
	}
	return wasix.ESUCCESS, nil
}

// fault answers a pointer out of bounds and logs it, or, when the guest
// memory cannot be reached at all, logs why.
func fault(e *env.WasiEnv, call string, ptr uint64) wasix.Errno {
	errno := e.FaultErrno()
	if err := e.MemoryError(); err != nil {
		e.Logger().Warn(call+": "+err.Error(), "ptr", ptr, "errno", errno.Name())
		return errno
	}
	e.Logger().Warn(call+": pointer out of bounds of guest memory", "ptr", ptr, "errno", errno.Name())
	return errno
}
