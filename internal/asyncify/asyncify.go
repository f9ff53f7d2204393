// Package asyncify drives Binaryen's asyncify protocol on a wasmtime-go
// instance: unwind the guest's stack into a saved [Stack], and rewind it
// from one, so that the host can return from the entry point and call it
// again to resume where the guest left. It is the machinery under
// setjmp/longjmp (wasix/stack) and, later, fork; docs/SETJMP.md explains
// the protocol and the decisions.
//
// A binary processed with `wasm-opt --asyncify` exports
// asyncify_start_unwind(data), asyncify_stop_unwind(),
// asyncify_start_rewind(data) and asyncify_stop_rewind(); WASIX binaries
// also export the globals __stack_pointer and __data_end (and __tls_base,
// sometimes __stack_low and __stack_high). data points at {current, end}
// (two u32, or two u64 on a 64-bit memory): unwinding pushes each frame's
// locals at current, upward; rewinding pops them back, downward. The data
// goes where the reference runtime puts it, at the low end of the C stack
// (__stack_low; else __data_end when the data lies below the stack; else
// 0, for a stack placed first): the header there, the frames after it,
// end at the current __stack_pointer. That space is free while the
// guest's stack is unwound, and every bound is checked here before
// anything is written.
package asyncify

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"strings"
	"unsafe"

	"github.com/bytecodealliance/wasmtime-go/v25"
	"github.com/wasix-org/wasix-signals-go/internal/fastcall"
)

// Export names.
const (
	StartUnwind  = "asyncify_start_unwind"
	StopUnwind   = "asyncify_stop_unwind"
	StartRewind  = "asyncify_start_rewind"
	StopRewind   = "asyncify_stop_rewind"
	StackPointer = "__stack_pointer"
	DataEnd      = "__data_end"
	StackLow     = "__stack_low"
	StackHigh    = "__stack_high"
	TLSBase      = "__tls_base"
)

// Required lists the exports an instance must have for Bind, besides
// __data_end or __stack_low (one of them).
var Required = []string{StartUnwind, StopUnwind, StartRewind, StopRewind, StackPointer}

// Missing returns the names of Required that are not among exports, and
// "__data_end" when neither it nor __stack_low is.
func Missing(exports []string) []string {
	have := make(map[string]bool, len(exports))
	for _, n := range exports {
		have[n] = true
	}
	var missing []string
	for _, n := range Required {
		if !have[n] {
			missing = append(missing, n)
		}
	}
	if !have[DataEnd] && !have[StackLow] {
		missing = append(missing, DataEnd)
	}
	return missing
}

// ErrOverflow is wrapped by the errors for a stack that does not fit the
// free space between __data_end and __stack_pointer.
var ErrOverflow = errors.New("asyncify: the unwound stack does not fit between __data_end and __stack_pointer")

// Stack is an unwound stack: the asyncify data of every frame and the
// globals to restore before rewinding it.
type Stack struct {
	SP   uint64 // __stack_pointer when the unwind started
	TLS  uint64 // __tls_base, when exported
	Data []byte // the frames, as asyncify wrote them
}

// MemoryFunc returns the guest memory's bytes.
type MemoryFunc func(wasmtime.Storelike) []byte

// Instance is the asyncify side of one guest instance. Its methods take
// the store (or the Caller of a host function) the call runs in.
type Instance struct {
	ctx                      unsafe.Pointer
	fast                     bool
	startUnwind, startRewind *wasmtime.Func
	stopUnwind, stopRewind   *wasmtime.Func
	fStartUnwind             fastcall.Func
	fStartRewind             fastcall.Func
	fStopUnwind              fastcall.Func
	fStopRewind              fastcall.Func
	sp, tls                  *wasmtime.Global
	fsp, ftls                fastcall.Global // sp and tls through the C API, when fast
	wide                     bool            // 64-bit memory: i64 globals and header
	memory                   MemoryFunc
	unwindSP                 uint64 // __stack_pointer when the unwind started
	base                     uint64 // where the header goes: __data_end aligned to 16
}

// Bind finds the asyncify exports of inst. memory reads the guest memory
// (the one asyncify writes to). It fails with one line naming what is
// missing.
func Bind(store *wasmtime.Store, inst *wasmtime.Instance, memory MemoryFunc) (*Instance, error) {
	x := &Instance{ctx: unsafe.Pointer(store.Context()), fast: fastcall.Supported(), memory: memory}
	var missing []string
	fn := func(name string) *wasmtime.Func {
		f := inst.GetFunc(store, name)
		if f == nil {
			missing = append(missing, name)
		}
		return f
	}
	global := func(name string, required bool) *wasmtime.Global {
		var g *wasmtime.Global
		if ex := inst.GetExport(store, name); ex != nil {
			g = ex.Global()
		}
		if g == nil && required {
			missing = append(missing, name)
		}
		return g
	}
	x.startUnwind, x.stopUnwind = fn(StartUnwind), fn(StopUnwind)
	x.startRewind, x.stopRewind = fn(StartRewind), fn(StopRewind)
	x.sp, x.tls = global(StackPointer, true), global(TLSBase, false)
	low, high, dataEnd := global(StackLow, false), global(StackHigh, false), global(DataEnd, false)
	if low == nil && dataEnd == nil {
		missing = append(missing, DataEnd)
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("asyncify: the module lacks the export(s) %s (build it with wasm-opt --asyncify and export __stack_pointer and __data_end)", strings.Join(missing, ", "))
	}
	x.wide = x.sp.Type(store).Content().Kind() == wasmtime.KindI64
	// The low end of the C stack, where the data goes, as the reference
	// runtime finds it: __stack_low; else __data_end when the data lies
	// below the stack; else 0 (wasm-ld --stack-first puts the stack at the
	// bottom of memory). The top is __stack_high, else the stack pointer
	// before the program runs. These are link-time constants: read once.
	upper := x.getGlobal(store, x.sp)
	if high != nil {
		upper = x.getGlobal(store, high)
	}
	var lower uint64
	switch {
	case low != nil:
		lower = x.getGlobal(store, low)
	case x.getGlobal(store, dataEnd) < upper:
		lower = x.getGlobal(store, dataEnd)
	}
	x.base = math.MaxUint64 // a bound that does not align fails every region check
	if lower <= math.MaxUint64-15 {
		x.base = (lower + 15) &^ 15
	}
	if x.fast {
		x.fStartUnwind, x.fStartRewind = fastcall.FuncOf(x.startUnwind), fastcall.FuncOf(x.startRewind)
		x.fStopUnwind, x.fStopRewind = fastcall.FuncOf(x.stopUnwind), fastcall.FuncOf(x.stopRewind)
		// fastcall's globals take i32 and i64 only: otherwise, and for a
		// __tls_base of the other width, stay on wasmtime-go's API.
		integer := func(g *wasmtime.Global) bool {
			k := g.Type(store).Content().Kind()
			return k == wasmtime.KindI32 || k == wasmtime.KindI64
		}
		if !integer(x.sp) || (x.tls != nil && x.tls.Type(store).Content().Kind() != x.sp.Type(store).Content().Kind()) {
			x.fast = false
		} else {
			x.fsp = fastcall.GlobalOf(x.sp)
			if x.tls != nil {
				x.ftls = fastcall.GlobalOf(x.tls)
			}
		}
	}
	return x, nil
}

// Wide reports whether the guest has a 64-bit memory.
func (x *Instance) Wide() bool { return x.wide }

func (x *Instance) getGlobal(s wasmtime.Storelike, g *wasmtime.Global) uint64 {
	v := g.Get(s)
	if v.Kind() == wasmtime.KindI64 {
		return uint64(v.I64())
	}
	return uint64(uint32(v.I32()))
}

func (x *Instance) setGlobal(s wasmtime.Storelike, g *wasmtime.Global, fg fastcall.Global, v uint64) error {
	if x.fast {
		return fg.Set(x.ctx, x.wide, v)
	}
	if x.wide {
		return g.Set(s, wasmtime.ValI64(int64(v)))
	}
	return g.Set(s, wasmtime.ValI32(int32(uint32(v))))
}

// StackPointer returns __stack_pointer.
func (x *Instance) StackPointer(s wasmtime.Storelike) uint64 {
	if x.fast {
		return x.fsp.Get(x.ctx)
	}
	return x.getGlobal(s, x.sp)
}

// header is the size of {current, end}.
func (x *Instance) header() uint64 {
	if x.wide {
		return 16
	}
	return 8
}

// region returns where the header goes and the bounds of the frame data
// for a stack pointer sp, in mem (the guest memory: each step fetches it
// once, and again after any guest code ran).
func (x *Instance) region(mem []byte, sp uint64) (at, start, end uint64, err error) {
	at = x.base
	start = at + x.header()
	if size := uint64(len(mem)); start < at || start > sp || sp > size {
		return 0, 0, 0, fmt.Errorf("%w: __data_end %#x, __stack_pointer %#x, memory %d bytes", ErrOverflow, at, sp, size)
	}
	return at, start, sp, nil
}

func (x *Instance) writeHeader(mem []byte, at, current, end uint64) {
	if x.wide {
		binary.LittleEndian.PutUint64(mem[at:], current)
		binary.LittleEndian.PutUint64(mem[at+8:], end)
		return
	}
	binary.LittleEndian.PutUint32(mem[at:], uint32(current))
	binary.LittleEndian.PutUint32(mem[at+4:], uint32(end))
}

func (x *Instance) readCurrent(mem []byte, at uint64) uint64 {
	if x.wide {
		return binary.LittleEndian.Uint64(mem[at:])
	}
	return uint64(binary.LittleEndian.Uint32(mem[at:]))
}

func (x *Instance) call1(s wasmtime.Storelike, f *wasmtime.Func, ff fastcall.Func, arg uint64) error {
	if x.fast && !x.wide {
		return ff.CallI32(x.ctx, int32(uint32(arg)))
	}
	var a any = int32(uint32(arg))
	if x.wide {
		a = int64(arg)
	}
	_, err := f.Call(s, a)
	return err
}

func (x *Instance) call0(s wasmtime.Storelike, f *wasmtime.Func, ff fastcall.Func) error {
	if x.fast {
		return ff.Call0(x.ctx)
	}
	_, err := f.Call(s)
	return err
}

// StartUnwind prepares the data region below the current stack pointer
// and starts an unwind: the caller, a host function called by the guest,
// then returns, and every guest frame saves itself on the way out to the
// entry point.
func (x *Instance) StartUnwind(s wasmtime.Storelike) error {
	x.unwindSP = x.StackPointer(s)
	mem := x.memory(s)
	at, start, end, err := x.region(mem, x.unwindSP)
	if err != nil {
		return err
	}
	x.writeHeader(mem, at, start, end)
	if err := x.call1(s, x.startUnwind, x.fStartUnwind, at); err != nil {
		return fmt.Errorf("asyncify: %s: %w", StartUnwind, err)
	}
	return nil
}

// StopUnwind ends an unwind once the entry point has returned and returns
// the saved stack. It fails with ErrOverflow when the frames ran past the
// stack pointer (nothing of the unwound stack is usable then).
func (x *Instance) StopUnwind(s wasmtime.Storelike) (*Stack, error) {
	sp := x.unwindSP
	mem := x.memory(s)
	at, start, end, err := x.region(mem, sp)
	if err != nil {
		return nil, err
	}
	// Checked before asyncify's own check, which traps with unreachable.
	current := x.readCurrent(mem, at)
	if current < start || current > end {
		return nil, fmt.Errorf("%w: the frames need %d bytes, %d are free", ErrOverflow, current-start, end-start)
	}
	if err := x.call0(s, x.stopUnwind, x.fStopUnwind); err != nil {
		return nil, fmt.Errorf("asyncify: %s: %w", StopUnwind, err)
	}
	// Guest code ran since mem was fetched: fetch it again.
	st := &Stack{SP: sp, Data: append([]byte(nil), x.memory(s)[start:current]...)}
	if x.tls != nil {
		if x.fast {
			st.TLS = x.ftls.Get(x.ctx)
		} else {
			st.TLS = x.getGlobal(s, x.tls)
		}
	}
	return st, nil
}

// StartRewind restores the globals of st, writes its frames back and
// starts a rewind: the caller then calls the entry point again, and the
// guest replays its calls down to the host function that started the
// unwind, which must call StopRewind.
func (x *Instance) StartRewind(s wasmtime.Storelike, st *Stack) error {
	mem := x.memory(s)
	at, start, end, err := x.region(mem, st.SP)
	if err != nil {
		return err
	}
	n := uint64(len(st.Data))
	if n > end-start {
		return fmt.Errorf("%w: the frames need %d bytes, %d are free", ErrOverflow, n, end-start)
	}
	if err := x.setGlobal(s, x.sp, x.fsp, st.SP); err != nil {
		return fmt.Errorf("asyncify: restore %s: %w", StackPointer, err)
	}
	if x.tls != nil {
		if err := x.setGlobal(s, x.tls, x.ftls, st.TLS); err != nil {
			return fmt.Errorf("asyncify: restore %s: %w", TLSBase, err)
		}
	}
	copy(mem[start:], st.Data)
	x.writeHeader(mem, at, start+n, end)
	if err := x.call1(s, x.startRewind, x.fStartRewind, at); err != nil {
		return fmt.Errorf("asyncify: %s: %w", StartRewind, err)
	}
	return nil
}

// StopRewind ends a rewind; the host function the guest replayed down to
// calls it before returning its result.
func (x *Instance) StopRewind(s wasmtime.Storelike) error {
	if err := x.call0(s, x.stopRewind, x.fStopRewind); err != nil {
		return fmt.Errorf("asyncify: %s: %w", StopRewind, err)
	}
	return nil
}
