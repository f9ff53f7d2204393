package proc

import (
	"encoding/binary"

	"github.com/bytecodealliance/wasmtime-go/v25"
	"github.com/wasix-org/wasix-signals-go/wasix"
	"github.com/wasix-org/wasix-signals-go/wasix/env"
)

// The layouts of the newer proc_join (wasix-libc's __wasi_option_pid_t,
// __wasi_join_flags_t and __wasi_join_status_t, as the reference runtime
// reads and writes them).
const (
	optionPidSize  = 8 // {u8 tag; u32 pid at 4}
	joinStatusSize = 6 // {u8 tag; union at 2}

	optionNone = 0
	optionSome = 1

	joinNonBlocking = 1 << 0 // WNOHANG; WAKE_STOPPED (1 << 1) changes nothing: no process stops

	statusNothing    = 0 // u8 at 2: 0
	statusExitNormal = 1 // u16 exit code at 2
	statusExitSignal = 2 // {u16 exit code at 2; u8 signal at 4}
)

// join is proc_join(pid_ptr, flags, status_ptr), waitpid in wasix-libc:
// pid_ptr holds an OptionPid, None for any child, Some(pid) for that one
// (Some(0) is any child too). It waits for the child to end (or, with
// NON_BLOCKING, looks only), reaps it and writes Some(its pid) at pid_ptr
// and its JoinStatus at status_ptr: ExitNormal with the exit code, or
// ExitSignal with the signal that killed it (exit code 0, so that libc's
// W_EXITCODE makes a word WIFSIGNALED reads). NON_BLOCKING with no child
// ended writes Some(0) and Nothing (both libc versions read that as
// "none yet", waitpid returning 0). Errors: ECHILD (no such child),
// EINTR (a signal was delivered while it waited), EINVAL (a bad tag),
// EFAULT.
func join(c *wasmtime.Caller, e *env.WasiEnv, a []int64) (wasix.Errno, error) {
	pidPtr, flags, statusPtr := uint64(a[0]), uint32(a[1]), uint64(a[2])
	opt, ok := e.Read(c, pidPtr, optionPidSize)
	if !ok {
		return e.FaultErrno(), e.ProcessSignals(c)
	}
	if _, ok := e.Read(c, statusPtr, joinStatusSize); !ok {
		return e.FaultErrno(), e.ProcessSignals(c)
	}
	var want int32
	switch opt[0] {
	case optionNone:
	case optionSome:
		want = int32(binary.LittleEndian.Uint32(opt[4:]))
	default:
		return wasix.EINVAL, e.ProcessSignals(c)
	}
	p := Lookup(e)
	if p == nil {
		return wasix.ECHILD, e.ProcessSignals(c)
	}
	child, errno, err := p.Join(c, want, flags&joinNonBlocking == 0)
	if err != nil {
		return 0, err
	}
	var pid [optionPidSize]byte
	var status [joinStatusSize]byte
	switch {
	case child != nil:
		pid[0] = optionSome
		binary.LittleEndian.PutUint32(pid[4:], uint32(child.pid))
		st := child.Status()
		if st.Signal != 0 {
			status[0] = statusExitSignal
			status[4] = byte(st.Signal)
		} else {
			status[0] = statusExitNormal
			binary.LittleEndian.PutUint16(status[2:], uint16(st.Code))
		}
	case errno == wasix.ESUCCESS:
		pid[0] = optionSome // Some(0), Nothing: not yet
	}
	if !e.Write(c, pidPtr, pid[:]) || !e.Write(c, statusPtr, status[:]) {
		return e.FaultErrno(), nil
	}
	return errno, nil
}

// legacyJoin is the two-argument proc_join(pid_ptr, status_ptr) of the
// binaries built before the newer one: pid_ptr holds a u32 pid, 0xFFFFFFFF
// (or any value that is not a positive pid) for any child; the host writes
// the joined child's pid there, and at status_ptr a u32 that those
// binaries' libc copies straight into waitpid's *status, so it is a POSIX
// wait-status word (code << 8, or the signal number). It always blocks.
// Errors as join's.
func legacyJoin(c *wasmtime.Caller, e *env.WasiEnv, a []int64) (wasix.Errno, error) {
	pidPtr, statusPtr := uint64(a[0]), uint64(a[1])
	b, ok := e.Read(c, pidPtr, 4)
	if !ok {
		return e.FaultErrno(), e.ProcessSignals(c)
	}
	if _, ok := e.Read(c, statusPtr, 4); !ok {
		return e.FaultErrno(), e.ProcessSignals(c)
	}
	want := int32(binary.LittleEndian.Uint32(b))
	p := Lookup(e)
	if p == nil {
		return wasix.ECHILD, e.ProcessSignals(c)
	}
	child, errno, err := p.Join(c, want, true)
	if err != nil {
		return 0, err
	}
	if child == nil {
		return errno, nil
	}
	var pid, status [4]byte
	binary.LittleEndian.PutUint32(pid[:], uint32(child.pid))
	binary.LittleEndian.PutUint32(status[:], child.Status().WaitStatus())
	if !e.Write(c, pidPtr, pid[:]) || !e.Write(c, statusPtr, status[:]) {
		return e.FaultErrno(), nil
	}
	return wasix.ESUCCESS, nil
}

// parent is proc_parent(pid, parent_ptr), getppid() when pid is the
// caller's: it writes the parent's pid (0 for a process the host started,
// and for an orphan). pid may name the caller (or be 0) or any process of
// its group; another is ESRCH.
func parent(c *wasmtime.Caller, e *env.WasiEnv, a []int64) (wasix.Errno, error) {
	pid, ptr := int32(a[0]), uint64(a[1])
	if err := e.ProcessSignals(c); err != nil {
		return 0, err
	}
	target := e
	if pid != 0 && pid != e.Pid() {
		var ok bool
		if target, ok = e.Peer(pid); !ok {
			return wasix.ESRCH, nil
		}
	}
	p := Lookup(target)
	if p == nil {
		return wasix.ESRCH, nil
	}
	var b [4]byte
	binary.LittleEndian.PutUint32(b[:], uint32(p.Parent()))
	if !e.Write(c, ptr, b[:]) {
		return e.FaultErrno(), nil
	}
	return wasix.ESUCCESS, nil
}
