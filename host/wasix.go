package host

import (
	"encoding/binary"
	"errors"
	"math"
	"time"

	"github.com/bytecodealliance/wasmtime-go/v25"
	"github.com/wasix-org/wasix-signals-go/wasix"
	"github.com/wasix-org/wasix-signals-go/wasix/env"
	"github.com/wasix-org/wasix-signals-go/wasix/signal"
)

// The waits a signal must interrupt are written in Go (SPEC section 7): a
// Go host function cannot forward to wasmtime's WASI, and wasmtime's own
// waits never return for a signal.
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
		{"poll_oneoff", ty(4), r.pollOneoff},
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
		namespaces := []string{signal.Wasix32}
		if name == "poll_oneoff" {
			// Go's time.Sleep and wasi-libc's sleep() wait here: shadow
			// wasmtime's, which a signal cannot interrupt.
			namespaces = append(namespaces, signal.Preview1)
		}
		for _, ns := range namespaces {
			if err := r.linker.FuncNew(ns, name, d.ty, body); err != nil {
				return err
			}
			r.defined[ns+"\x00"+name] = true
		}
	}
	exitTy := wasmtime.NewFuncType([]*wasmtime.ValType{i32}, nil)
	for _, ns := range []string{signal.Preview1, signal.Unstable, signal.Wasix32, signal.Wasix64} {
		if err := r.linker.FuncNew(ns, "proc_exit", exitTy, procExit); err != nil {
			return err
		}
		r.defined[ns+"\x00proc_exit"] = true
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

// Subscription and event layouts of WASI preview1 poll_oneoff.
const (
	subscriptionSize = 48
	eventSize        = 32
	eventClock       = 0
	abstime          = 1
)

// pollOneoff is poll_oneoff. Subscriptions that are all clocks are
// served here: it sleeps until the earliest is due, interruptibly (a
// signal is delivered first and the result is EINTR), and reports every
// clock due by then. Any subscription on a descriptor sends the whole call
// to wasmtime's own poll_oneoff, through a per-process shim, so descriptor
// readiness keeps wasmtime's semantics; such a wait is not interrupted by
// a signal (the signal arrives when it returns).
func (r *Runtime) pollOneoff(c *wasmtime.Caller, e *env.WasiEnv, a []wasmtime.Val) (wasix.Errno, error) {
	in, out, n, neventsPtr := ptr(a[0]), ptr(a[1]), ptr(a[2]), ptr(a[3])
	if n == 0 {
		return wasix.EINVAL, nil
	}
	subs, ok := e.Read(c, in, n*subscriptionSize)
	if !ok {
		return e.FaultErrno(), nil
	}
	subs = append([]byte(nil), subs...)
	if _, ok := e.Read(c, out, n*eventSize); !ok {
		return e.FaultErrno(), nil
	}
	return r.poll(c, e, subs, out, neventsPtr, func() (wasix.Errno, error) {
		// wasmtime's poll traps on misaligned records; answer instead.
		if in%8 != 0 || out%8 != 0 || neventsPtr%4 != 0 {
			return wasix.EINVAL, nil
		}
		return r.pollDescriptors(c, e, a)
	})
}

// poll serves subscriptions already read from the guest, in the preview1
// layout, for both snapshots (wasi_unstable's are converted first, see
// docs/WASI-UNSTABLE.md): clocks here, anything else through descriptors.
func (r *Runtime) poll(c *wasmtime.Caller, e *env.WasiEnv, subs []byte, out, neventsPtr uint64, descriptors func() (wasix.Errno, error)) (wasix.Errno, error) {
	n := uint64(len(subs)) / subscriptionSize
	for i := uint64(0); i < n; i++ {
		if subs[i*subscriptionSize+8] != eventClock {
			return descriptors()
		}
	}
	now := time.Now()
	wait := time.Duration(math.MaxInt64)
	deadlines := make([]time.Duration, n)
	for i := range deadlines {
		s := subs[i*subscriptionSize:]
		timeout := binary.LittleEndian.Uint64(s[24:])
		d := env.Duration(timeout, time.Nanosecond)
		if binary.LittleEndian.Uint16(s[40:])&abstime != 0 {
			d = absoluteToRelative(binary.LittleEndian.Uint32(s[16:]), timeout, now, e)
		}
		deadlines[i] = d
		wait = min(wait, d)
	}
	errno, err := e.Sleep(c, wait)
	if err != nil || errno != wasix.ESUCCESS {
		return errno, err
	}
	events := make([]byte, 0, n*eventSize)
	for i, d := range deadlines {
		if d > wait {
			continue
		}
		s := subs[i*subscriptionSize:]
		var ev [eventSize]byte
		copy(ev[0:8], s[0:8]) // userdata
		ev[10] = eventClock
		events = append(events, ev[:]...)
	}
	if !e.Write(c, out, events) || !e.WriteUint32(c, neventsPtr, uint32(len(events)/eventSize)) {
		return e.FaultErrno(), nil
	}
	return wasix.ESUCCESS, nil
}

// pollShim forwards poll_oneoff to wasmtime's WASI. wasmtime's WASI finds
// memory only through the calling instance's "memory" export, so the shim
// imports the guest's memory and exports it again.
const pollShim = `(module
  (import "env" "memory" (memory 0))
  (import "wasi_snapshot_preview1" "poll_oneoff" (func $poll (param i32 i32 i32 i32) (result i32)))
  (export "memory" (memory 0))
  (func (export "poll") (param i32 i32 i32 i32) (result i32)
    (call $poll (local.get 0) (local.get 1) (local.get 2) (local.get 3))))`

func (r *Runtime) pollDescriptors(c *wasmtime.Caller, e *env.WasiEnv, a []wasmtime.Val) (wasix.Errno, error) {
	poll, err := r.shimFor(e)
	if err != nil {
		e.Logger().Warn("poll_oneoff on descriptors unavailable", "error", err)
		return wasix.ENOTSUP, nil
	}
	res, err := poll.Call(c, a[0].I32(), a[1].I32(), a[2].I32(), a[3].I32())
	if err != nil {
		return 0, err
	}
	if err := e.ProcessSignals(c); err != nil {
		return 0, err
	}
	return wasix.Errno(res.(int32)), nil
}

// shimFor returns the poll shim of e's store, instantiating it on first use.
func (r *Runtime) shimFor(e *env.WasiEnv) (*wasmtime.Func, error) {
	if f, ok := r.shims.Load(e); ok {
		return f.(*wasmtime.Func), nil
	}
	mem := e.Memory()
	if mem == nil {
		return nil, errors.New("host: the guest has no memory")
	}
	r.shimOnce.Do(func() {
		wasm, err := wasmtime.Wat2Wasm(pollShim)
		if err == nil {
			r.shimModule, err = wasmtime.NewModule(r.engine, wasm)
		}
		r.shimErr = err
	})
	if r.shimErr != nil {
		return nil, r.shimErr
	}
	// A Linker of its own: defining this store's memory binds it to the store.
	l := wasmtime.NewLinker(r.engine)
	if err := l.DefineWasi(); err != nil {
		return nil, err
	}
	if err := l.Define(e.Store(), "env", "memory", mem); err != nil {
		return nil, err
	}
	inst, err := l.Instantiate(e.Store(), r.shimModule)
	if err != nil {
		return nil, err
	}
	f := inst.GetFunc(e.Store(), "poll")
	r.shims.Store(e, f)
	return f, nil
}

// absoluteToRelative converts an absolute clock deadline: realtime is Unix
// time; the monotonic clock of wasmtime's WASI counts from the store's
// creation, which the env's creation time approximates.
func absoluteToRelative(clock uint32, deadline uint64, now time.Time, e *env.WasiEnv) time.Duration {
	var current int64
	if clock == 0 {
		current = now.UnixNano()
	} else {
		current = int64(now.Sub(e.Created()))
	}
	if int64(deadline) <= current || deadline > math.MaxInt64 {
		if deadline > math.MaxInt64 {
			return math.MaxInt64
		}
		return 0
	}
	return time.Duration(int64(deadline) - current)
}

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
