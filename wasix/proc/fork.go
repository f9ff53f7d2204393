package proc

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/bytecodealliance/wasmtime-go/v25"
	"github.com/wasix-org/wasix-signals-go/internal/asyncify"
	"github.com/wasix-org/wasix-signals-go/wasix"
	"github.com/wasix-org/wasix-signals-go/wasix/env"
	"github.com/wasix-org/wasix-signals-go/wasix/stack"
)

// Fork is what a child is made from: the parent's unwound stack, its
// setjmp snapshots and, through Copy, its memory, globals and signal
// registration.
type Fork struct {
	parent    *Proc
	stack     *asyncify.Stack
	snapshots *asyncify.Table
	// Vfork is true for proc_fork(copy_memory = 0): the parent waits until
	// the child execs or ends.
	Vfork bool
	used  bool
}

// Parent returns the forking process.
func (f *Fork) Parent() *Proc { return f.parent }

const pageSize = 64 << 10

// Copy gives the child, whose env is bound to a new instance of the
// parent's module (module), the parent's memory (grown to the same size),
// the values of its exported mutable globals (__stack_pointer, __tls_base
// ...) and its signal registration. The parent's guest is not running:
// its stack is unwound.
func (f *Fork) Copy(child *env.WasiEnv, module *wasmtime.Module) error {
	pe := f.parent.env
	ps, cs := pe.Store(), child.Store()
	pi, ci := pe.Instance(), child.Instance()
	if pi == nil || ci == nil {
		return errors.New("proc: fork: an instance is not bound")
	}
	from := pe.Data(ps)
	mem := child.Memory()
	if mem == nil {
		return fmt.Errorf("proc: fork: the child has no memory: %v", child.MemoryError())
	}
	have, want := mem.Size(cs), uint64(len(from))/pageSize
	if have < want {
		if _, err := mem.Grow(cs, want-have); err != nil {
			return fmt.Errorf("proc: fork: grow the child's memory to %d pages: %w", want, err)
		}
	}
	to := child.Data(cs)
	if uint64(len(to)) < uint64(len(from)) {
		return fmt.Errorf("proc: fork: the child's memory is %d bytes, the parent's %d", len(to), len(from))
	}
	prepareCopy(to[:len(from)])
	copyMemory(to, from, min(have*pageSize, uint64(len(from))))
	for _, x := range module.Exports() {
		gt := x.Type().GlobalType()
		if gt == nil || !gt.Mutable() {
			continue
		}
		pg, cg := pi.GetExport(ps, x.Name()), ci.GetExport(cs, x.Name())
		if pg == nil || cg == nil || pg.Global() == nil || cg.Global() == nil {
			continue
		}
		if err := cg.Global().Set(cs, pg.Global().Get(ps)); err != nil {
			return fmt.Errorf("proc: fork: global %s: %w", x.Name(), err)
		}
	}
	child.Inherit(pe.Registration())
	return nil
}

// Run runs the child's program from the parent's stack: proc_fork returns
// 0 in the child. Call it on the child's goroutine, once, after Copy; its
// error is as stack.Driver.Call's (pass it to env.WasiEnv.Resolve).
func (f *Fork) Run(child *env.WasiEnv, entry string) error {
	if f.used {
		return errors.New("proc: fork: Run called twice")
	}
	f.used = true
	return stack.Resume(child, child.Instance(), entry, ForkName, f.stack, 0, f.snapshots)
}

// Discard releases what Run would have used, for a child that never runs.
func (f *Fork) Discard() {
	if !f.used {
		f.used = true
		f.snapshots.Close()
	}
}

// zeroChunk is the unit copyMemory skips when it is all zeros: a host page.
const zeroChunk = 4096

var zeros [zeroChunk]byte

// copyMemory copies the parent's memory from into the child's, to. The
// first fresh bytes are the child's memory as instantiated (its data
// segments written): copied whole. Above them the child's memory is new
// and reads as zeros, so the chunks of the parent's that are all zeros are
// skipped: the child's pages there are never touched, as a copy-on-write
// fork leaves untouched pages alone (see docs/PROCESSES.md, Cost).
func copyMemory(to, from []byte, fresh uint64) {
	copy(to[:fresh], from[:fresh])
	for off := fresh; off < uint64(len(from)); off += zeroChunk {
		end := min(off+zeroChunk, uint64(len(from)))
		if chunk := from[off:end]; !bytes.Equal(chunk, zeros[:len(chunk)]) {
			copy(to[off:end], chunk)
		}
	}
}

// fork is proc_fork(copy_memory, pid_ptr). On an asyncify binary it
// unwinds the guest's stack to the Driver, has the host make the child
// from it, and rewinds: the parent's proc_fork returns with the child's
// pid at pid_ptr, the child's with 0. copy_memory 0 is vfork: the parent
// resumes once the child has exec'd or ended. Errors: EFAULT for pid_ptr,
// EAGAIN at the process limit, ENOMEM when the child cannot be made,
// ENOTSUP inside a signal handler or for a binary without asyncify.
func fork(c *wasmtime.Caller, e *env.WasiEnv, a []int64) (wasix.Errno, error) {
	copyMemory, pidPtr := a[0], uint64(a[1])
	p := Lookup(e)
	d := stack.DriverOf(e)
	if p == nil || d == nil {
		e.Logger().Warn("proc_fork needs a program built with asyncify and run by a host with the process layer", "pid", e.Pid())
		return wasix.ENOTSUP, e.ProcessSignals(c)
	}
	if d.Resuming(ForkName) {
		r, err := d.Resumed(c)
		if err != nil {
			return 0, err
		}
		if r < 0 {
			return wasix.Errno(-r), e.ProcessSignals(c)
		}
		var b [4]byte
		binary.LittleEndian.PutUint32(b[:], uint32(r))
		if !e.Write(c, pidPtr, b[:]) {
			return e.FaultErrno(), nil
		}
		return wasix.ESUCCESS, e.ProcessSignals(c)
	}
	if err := e.ProcessSignals(c); err != nil {
		return 0, err
	}
	if _, ok := e.Read(c, pidPtr, 4); !ok {
		return e.FaultErrno(), nil
	}
	f := &Fork{parent: p, Vfork: copyMemory == 0}
	err := d.Suspend(c, ForkName, func(st *asyncify.Stack) (int64, error) {
		f.stack, f.snapshots = st, d.CloneSnapshots()
		child, err := p.host.Fork(p, f)
		if err != nil {
			f.Discard() // the host did not run the child
			if errors.Is(err, ErrLimit) {
				return -int64(wasix.EAGAIN), nil
			}
			e.Logger().Warn("proc_fork: cannot make the child", "pid", e.Pid(), "error", err.Error())
			return -int64(wasix.ENOMEM), nil
		}
		if f.Vfork {
			if err := p.waitReleased(e.Store(), child); err != nil {
				return 0, err
			}
		}
		return int64(child.pid), nil
	})
	if errors.Is(err, stack.ErrInHandler) {
		return wasix.ENOTSUP, nil
	}
	if err != nil {
		return 0, err
	}
	return wasix.ESUCCESS, nil
}
