package stack

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"unsafe"

	"github.com/bytecodealliance/wasmtime-go/v25"
	"github.com/wasix-org/wasix-signals-go/internal/asyncify"
	"github.com/wasix-org/wasix-signals-go/internal/fastcall"
	"github.com/wasix-org/wasix-signals-go/wasix"
	"github.com/wasix-org/wasix-signals-go/wasix/env"
)

// The import names, as the WASIX witx defines them.
const (
	CheckpointName = "stack_checkpoint"
	RestoreName    = "stack_restore"
)

// The namespaces the imports are defined in.
const (
	Wasix32 = "wasix_32v1"
	Wasix64 = "wasix_64v1"
)

// Names lists the imports Install defines in both namespaces.
func Names() []string { return []string{CheckpointName, RestoreName} }

// drivers maps a process to the driver running it.
var drivers sync.Map // *env.WasiEnv -> *Driver

func driverOf(e *env.WasiEnv) *Driver {
	if d, ok := drivers.Load(e); ok {
		return d.(*Driver)
	}
	return nil
}

// Install defines stack_checkpoint and stack_restore in wasix_32v1 and
// wasix_64v1 (pointers i64 there). Like the signal imports they are
// store-independent; each call finds its process with env.Lookup and the
// Driver running it. A call from a program that no Driver runs traps with
// a message saying so.
func Install(l *wasmtime.Linker) error {
	for _, ns := range []string{Wasix32, Wasix64} {
		wide := ns == Wasix64
		p := wasmtime.KindI32
		if wide {
			p = wasmtime.KindI64
		}
		defs := []struct {
			name   string
			params []wasmtime.ValKind
			result bool
			body   func(*wasmtime.Caller, *env.WasiEnv, uint64, int64) (wasix.Errno, error)
		}{
			{CheckpointName, []wasmtime.ValKind{p, p}, true, checkpoint},
			{RestoreName, []wasmtime.ValKind{p, wasmtime.KindI64}, false, restore},
		}
		for _, d := range defs {
			if err := define(l, ns, d.name, d.params, d.result, wide, d.body); err != nil {
				return fmt.Errorf("stack: define %s.%s: %w", ns, d.name, err)
			}
		}
	}
	return nil
}

func define(l *wasmtime.Linker, ns, name string, params []wasmtime.ValKind, result, wide bool,
	body func(*wasmtime.Caller, *env.WasiEnv, uint64, int64) (wasix.Errno, error)) error {
	ptr := func(v int64) uint64 {
		if wide {
			return uint64(v)
		}
		return uint64(uint32(v))
	}
	if fastcall.Supported() {
		return fastcall.Define(l, ns, name, params, result, func(c *wasmtime.Caller, ctx unsafe.Pointer, a fastcall.Args) (int32, error) {
			e := env.LookupContext(ctx)
			if e == nil {
				return 0, noEnv(name)
			}
			errno, err := body(c, e, ptr(a[0]), a[1])
			return int32(errno), err
		})
	}
	vts := make([]*wasmtime.ValType, len(params))
	for i, k := range params {
		vts[i] = wasmtime.NewValType(k)
	}
	var results []*wasmtime.ValType
	if result {
		results = append(results, wasmtime.NewValType(wasmtime.KindI32))
	}
	return l.FuncNew(ns, name, wasmtime.NewFuncType(vts, results), func(c *wasmtime.Caller, vals []wasmtime.Val) ([]wasmtime.Val, *wasmtime.Trap) {
		e := env.Lookup(c)
		if e == nil {
			return nil, wasmtime.NewTrap(noEnv(name).Error())
		}
		var a [2]int64
		for i, v := range vals {
			if v.Kind() == wasmtime.KindI64 {
				a[i] = v.I64()
			} else {
				a[i] = int64(v.I32())
			}
		}
		errno, err := body(c, e, ptr(a[0]), a[1])
		if err != nil {
			return nil, wasmtime.NewTrap(err.Error())
		}
		if !result {
			return nil, nil
		}
		return []wasmtime.Val{wasmtime.ValI32(int32(errno))}, nil
	})
}

func noEnv(name string) error {
	return errors.New("wasix: " + name + ": this store has no WasiEnv (call env.New before running the guest)")
}

// errNoDriver is the trap of a stack import called outside a Driver.
func errNoDriver(name string) error {
	return fmt.Errorf("stack: %s: no stack driver runs this program, so setjmp/longjmp cannot work (call its entry point with stack.Run or a stack.Driver)", name)
}

// checkpoint is stack_checkpoint(snapshot_ptr, ret_ptr), libc's setjmp.
// Called normally, it checks both pointers (EFAULT), starts an unwind and
// returns; the Driver keeps the unwound stack as a snapshot, writes its
// token in the jmp_buf at snapshot_ptr and rewinds. Called again by the
// rewind (of that setjmp, or of a longjmp to it), it ends the rewind,
// writes the result (0, or longjmp's value) as a u64 at ret_ptr and
// returns 0. It traps when no Driver runs the program and when called
// from a signal handler: a handler's frames sit on top of a host frame,
// and an unwind cannot pass through one.
func checkpoint(c *wasmtime.Caller, e *env.WasiEnv, snapPtr uint64, retPtr int64) (wasix.Errno, error) {
	d := driverOf(e)
	if d == nil {
		return 0, errNoDriver(CheckpointName)
	}
	ret := uint64(retPtr)
	if !d.wide {
		ret = uint64(uint32(retPtr))
	}
	if d.state == rewinding {
		if d.resumer != "" {
			return 0, fmt.Errorf("stack: the rewind for %s reached %s", d.resumer, CheckpointName)
		}
		if err := d.x.StopRewind(c); err != nil {
			return 0, err
		}
		d.state = running
		var b [8]byte
		binary.LittleEndian.PutUint64(b[:], uint64(d.result))
		e.ResumeDelivery()
		if !e.Write(c, ret, b[:]) {
			return e.FaultErrno(), nil
		}
		return wasix.ESUCCESS, e.ProcessSignals(c)
	}
	if d.state != running {
		return 0, fmt.Errorf("stack: %s called while the stack is %s", CheckpointName, d.state)
	}
	if e.InHandler() {
		return 0, errors.New("stack: setjmp inside a signal handler is not supported (the handler was entered from a host frame, which an unwind cannot pass)")
	}
	if _, ok := e.Read(c, snapPtr, asyncify.TokenSize); !ok {
		return e.FaultErrno(), nil
	}
	if _, ok := e.Read(c, ret, 8); !ok {
		return e.FaultErrno(), nil
	}
	if err := d.x.StartUnwind(c); err != nil {
		return 0, d.fail(fmt.Errorf("stack: setjmp: %w", err))
	}
	e.SuspendDelivery()
	d.state, d.home = unwinding, snapPtr
	return wasix.ESUCCESS, nil
}

// restore is stack_restore(snapshot_ptr, val), libc's longjmp. It looks
// the token at snapshot_ptr up and leaves the guest by a trap that the
// Driver catches at the top, from wherever the call came: a signal handler
// entered from an import, a wait or the epoch callback included. The
// Driver then rewinds the snapshot and its stack_checkpoint returns val (1
// for 0, as POSIX longjmp; libc already does that). A jmp_buf that is out
// of bounds, forged, stale (evicted) or from another process ends the
// process with a *JumpError naming it.
func restore(c *wasmtime.Caller, e *env.WasiEnv, snapPtr uint64, val int64) (wasix.Errno, error) {
	d := driverOf(e)
	if d == nil {
		return 0, errNoDriver(RestoreName)
	}
	if d.state != running {
		return 0, fmt.Errorf("stack: %s called while the stack is %s", RestoreName, d.state)
	}
	b, ok := e.Read(c, snapPtr, asyncify.TokenSize)
	if !ok {
		return 0, d.fail(&JumpError{Addr: snapPtr, Err: ErrOutOfBounds})
	}
	snap, err := d.table.Lookup(asyncify.Token(b))
	if err != nil {
		return 0, d.fail(&JumpError{Addr: snapPtr, Err: err})
	}
	if val == 0 {
		val = 1 // as POSIX longjmp: setjmp never returns 0 twice
	}
	d.state, d.target, d.result = jumping, snap, val
	e.BeginJump()
	return 0, errJump
}

// errJump is the trap that carries a longjmp out of the guest.
var errJump = errors.New("stack: longjmp in progress (a non-local exit the stack driver completes)")

// ErrOutOfBounds is the reason of a JumpError for a jmp_buf that is not
// inside guest memory.
var ErrOutOfBounds = errors.New("out of bounds")

// JumpError is a longjmp to a jmp_buf that names no snapshot: Err is
// asyncify.ErrForged, ErrStale, ErrForeign (wrapped) or ErrOutOfBounds.
type JumpError struct {
	Addr uint64 // the jmp_buf's address in guest memory
	Err  error
}

func (e *JumpError) Error() string {
	return fmt.Sprintf("stack: longjmp to the jmp_buf at %#x: %v", e.Addr, e.Err)
}

func (e *JumpError) Unwrap() error { return e.Err }

// Reasons a JumpError wraps, re-exported from the snapshot table.
var (
	ErrForged  = asyncify.ErrForged
	ErrStale   = asyncify.ErrStale
	ErrForeign = asyncify.ErrForeign
)

// ErrOverflow is wrapped by the error that ends a process whose stack does
// not fit the free space between __data_end and __stack_pointer when
// setjmp unwinds it (or longjmp rewinds it).
var ErrOverflow = asyncify.ErrOverflow
