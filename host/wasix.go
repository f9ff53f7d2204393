package host

import (
	"encoding/binary"
	"math"
	"time"

	"github.com/bytecodealliance/wasmtime-go/v25"
	"github.com/wasix-org/wasix-signals-go/wasix"
	"github.com/wasix-org/wasix-signals-go/wasix/env"
	"github.com/wasix-org/wasix-signals-go/wasix/signal"
)

// The waits a signal must interrupt are written in Go: wasmtime's own
// waits never return for a signal. The descriptor waits (fd_read,
// fd_write, poll_oneoff) are wasix/fd's; the futexes are here.
func (r *Runtime) defineWasixImports() error {
	i32 := wasmtime.NewValType(wasmtime.KindI32)
	ty := func(n int) *wasmtime.FuncType {
		params := make([]*wasmtime.ValType, n)
		for i := range params {
			params[i] = i32
		}
		return wasmtime.NewFuncType(params, []*wasmtime.ValType{i32})
	}
	defs := []struct {
		name string
		ty   *wasmtime.FuncType
		fn   func(*wasmtime.Caller, *env.WasiEnv, []wasmtime.Val) (wasix.Errno, error)
	}{
		{"futex_wait", ty(4), futexWait},
		{"futex_wake", ty(2), futexWake},
		{"futex_wake_all", ty(2), futexWake},
	}
	for _, d := range defs {
		fn := d.fn
		name := d.name
		body := func(c *wasmtime.Caller, a []wasmtime.Val) ([]wasmtime.Val, *wasmtime.Trap) {
			e := env.Lookup(c)
			if e == nil {
				return nil, wasmtime.NewTrap("wasix: " + name + ": this store has no WasiEnv")
			}
			errno, err := fn(c, e, a)
			if err != nil {
				return nil, wasmtime.NewTrap(err.Error())
			}
			return []wasmtime.Val{wasmtime.ValI32(int32(errno))}, nil
		}
		if err := r.linker.FuncNew(signal.Wasix32, name, d.ty, body); err != nil {
			return err
		}
		r.defined[importName{signal.Wasix32, name}] = true
	}
	exitTy := wasmtime.NewFuncType([]*wasmtime.ValType{i32}, nil)
	for _, ns := range []string{signal.Preview1, signal.Unstable, signal.Wasix32, signal.Wasix64} {
		if err := r.linker.FuncNew(ns, "proc_exit", exitTy, procExit); err != nil {
			return err
		}
		r.defined[importName{ns, "proc_exit"}] = true
	}
	return nil
}

// procExit is proc_exit(status), replacing wasmtime's, which refuses
// statuses of 126 and more (wasix-libc's abort() exits 127). The status is
// recorded (the first exit wins) and the guest unwinds with a trap that
// env.WasiEnv.Resolve turns back into the exit.
func procExit(c *wasmtime.Caller, a []wasmtime.Val) ([]wasmtime.Val, *wasmtime.Trap) {
	e := env.Lookup(c)
	if e == nil {
		return nil, wasmtime.NewTrap("wasix: proc_exit: this store has no WasiEnv")
	}
	return nil, wasmtime.NewTrap(e.Exit(a[0].I32()).Error())
}

func ptr(v wasmtime.Val) uint64 { return uint64(uint32(v.I32())) }

// futexWait is futex_wait(futex, expected, timeout, ret_woken) for a
// process with one thread: if the futex no longer holds expected it
// returns at once with woken true; otherwise nothing can wake it but the
// timeout (woken false) or a signal (delivered, then EINTR).
func futexWait(c *wasmtime.Caller, e *env.WasiEnv, a []wasmtime.Val) (wasix.Errno, error) {
	futex, expected, timeoutPtr, wokenPtr := ptr(a[0]), uint32(a[1].I32()), ptr(a[2]), ptr(a[3])
	word, ok := e.Read(c, futex, 4)
	if !ok {
		return e.FaultErrno(), nil
	}
	if binary.LittleEndian.Uint32(word) != expected {
		if !e.Write(c, wokenPtr, []byte{1}) {
			return e.FaultErrno(), nil
		}
		return wasix.ESUCCESS, nil
	}
	opt, ok := e.Read(c, timeoutPtr, 16)
	if !ok || !e.Write(c, wokenPtr, []byte{0}) {
		return e.FaultErrno(), nil
	}
	wait := time.Duration(math.MaxInt64)
	if opt[0] == 1 {
		wait = env.Duration(binary.LittleEndian.Uint64(opt[8:]), time.Nanosecond)
	}
	return e.Sleep(c, wait)
}

// futexWake is futex_wake and futex_wake_all: with a single thread there
// is never a waiter, so ret_woken is false.
func futexWake(c *wasmtime.Caller, e *env.WasiEnv, a []wasmtime.Val) (wasix.Errno, error) {
	if err := e.ProcessSignals(c); err != nil {
		return 0, err
	}
	if _, ok := e.Read(c, ptr(a[0]), 4); !ok || !e.Write(c, ptr(a[1]), []byte{0}) {
		return e.FaultErrno(), nil
	}
	return wasix.ESUCCESS, nil
}
