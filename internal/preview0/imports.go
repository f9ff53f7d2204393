package preview0

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sync"

	"github.com/bytecodealliance/wasmtime-go/v25"
	"github.com/wasix-org/wasix-signals-go/wasix"
	"github.com/wasix-org/wasix-signals-go/wasix/env"
)

// errnoNoMem is ENOMEM: the scratch memory cannot hold a call's records.
const errnoNoMem wasix.Errno = 48

// Poll serves poll_oneoff for subscriptions already in the preview1
// layout: it writes the events at out and their count at nevents in guest
// memory, or, when a subscription is on a descriptor, calls descriptors
// instead. The host passes its own poll_oneoff here, so that a clock wait
// is interrupted by a signal in both snapshots alike.
type Poll func(c *wasmtime.Caller, e *env.WasiEnv, subs []byte, out, nevents uint64, descriptors func() (wasix.Errno, error)) (wasix.Errno, error)

// Imports serves the Translated functions of wasi_unstable. One value
// serves every Store of an engine; each process gets a small shim instance
// on first use (see docs/WASI-UNSTABLE.md), which Forget releases.
type Imports struct {
	engine *wasmtime.Engine
	poll   Poll

	once   sync.Once
	module *wasmtime.Module
	linker *wasmtime.Linker
	err    error

	shims sync.Map // *env.WasiEnv -> *shim
}

// New returns the translated imports for engine; poll serves clock
// subscriptions (see Poll).
func New(engine *wasmtime.Engine, poll Poll) *Imports {
	return &Imports{engine: engine, poll: poll}
}

// Define defines every Translated function in module TranslatedModule of
// l, replacing any definition there (it enables shadowing). Each call finds
// its process with env.Lookup, so every Store needs a WasiEnv and WASI
// (Store.SetWasi).
func (im *Imports) Define(l *wasmtime.Linker) error {
	i32 := wasmtime.NewValType(wasmtime.KindI32)
	i64 := wasmtime.NewValType(wasmtime.KindI64)
	defs := []struct {
		name   string
		params []*wasmtime.ValType
		fn     func(*wasmtime.Caller, *env.WasiEnv, []wasmtime.Val) (wasix.Errno, error)
	}{
		{"fd_seek", []*wasmtime.ValType{i32, i64, i32, i32}, im.fdSeek},
		{"fd_filestat_get", []*wasmtime.ValType{i32, i32}, im.fdFilestatGet},
		{"path_filestat_get", []*wasmtime.ValType{i32, i32, i32, i32, i32}, im.pathFilestatGet},
		{"poll_oneoff", []*wasmtime.ValType{i32, i32, i32, i32}, im.pollOneoff},
	}
	l.AllowShadowing(true)
	for _, d := range defs {
		name, fn := d.name, d.fn
		ty := wasmtime.NewFuncType(d.params, []*wasmtime.ValType{i32})
		err := l.FuncNew(TranslatedModule, name, ty, func(c *wasmtime.Caller, a []wasmtime.Val) ([]wasmtime.Val, *wasmtime.Trap) {
			e := env.Lookup(c)
			if e == nil {
				return nil, wasmtime.NewTrap("wasix: " + Module + "." + name + ": this store has no WasiEnv")
			}
			errno, err := fn(c, e, a)
			if err != nil {
				return nil, wasmtime.NewTrap(err.Error())
			}
			return []wasmtime.Val{wasmtime.ValI32(int32(errno))}, nil
		})
		if err != nil {
			return fmt.Errorf("preview0: define %s.%s: %w", TranslatedModule, name, err)
		}
	}
	return nil
}

// Forget releases the shim of e's process; call it when the process ends.
func (im *Imports) Forget(e *env.WasiEnv) { im.shims.Delete(e) }

func ptr(v wasmtime.Val) uint64 { return uint64(uint32(v.I32())) }

// fdSeek is fd_seek(fd, offset, whence, newoffset_ptr) with wasi_unstable's
// whence values.
func (im *Imports) fdSeek(c *wasmtime.Caller, e *env.WasiEnv, a []wasmtime.Val) (wasix.Errno, error) {
	whence, ok := Whence(uint32(a[2].I32()))
	if !ok {
		return wasix.EINVAL, nil
	}
	result := ptr(a[3])
	if _, ok := e.Read(c, result, 8); !ok {
		return e.FaultErrno(), nil
	}
	s, errno := im.shimFor(c, e, 8)
	if s == nil {
		return errno, nil
	}
	errno, err := call(c, s.fdSeek, a[0].I32(), a[1].I64(), int32(whence), int32(0))
	if err != nil || errno != wasix.ESUCCESS {
		return errno, err
	}
	if !e.Write(c, result, s.data(c)[:8]) {
		return e.FaultErrno(), nil
	}
	return wasix.ESUCCESS, nil
}

// fdFilestatGet is fd_filestat_get(fd, buf) with wasi_unstable's filestat.
func (im *Imports) fdFilestatGet(c *wasmtime.Caller, e *env.WasiEnv, a []wasmtime.Val) (wasix.Errno, error) {
	buf := ptr(a[1])
	if _, ok := e.Read(c, buf, FilestatSize); !ok {
		return e.FaultErrno(), nil
	}
	s, errno := im.shimFor(c, e, Preview1FilestatSize)
	if s == nil {
		return errno, nil
	}
	errno, err := call(c, s.fdFilestatGet, a[0].I32(), int32(0))
	return writeFilestat(c, e, s, buf, errno, err)
}

// writeFilestat converts the preview1 filestat a call left at the start of
// the scratch memory into wasi_unstable's at buf, unless the call failed.
func writeFilestat(c *wasmtime.Caller, e *env.WasiEnv, s *shim, buf uint64, errno wasix.Errno, err error) (wasix.Errno, error) {
	if err != nil || errno != wasix.ESUCCESS {
		return errno, err
	}
	st := Filestat(s.data(c))
	if !e.Write(c, buf, st[:]) {
		return e.FaultErrno(), nil
	}
	return wasix.ESUCCESS, nil
}

// pathFilestatGet is path_filestat_get(fd, flags, path, path_len, buf)
// with wasi_unstable's filestat. The path is copied to the scratch memory
// after the preview1 filestat.
func (im *Imports) pathFilestatGet(c *wasmtime.Caller, e *env.WasiEnv, a []wasmtime.Val) (wasix.Errno, error) {
	pathLen, buf := ptr(a[3]), ptr(a[4])
	path, ok := e.Read(c, ptr(a[2]), pathLen)
	if !ok {
		return e.FaultErrno(), nil
	}
	if _, ok := e.Read(c, buf, FilestatSize); !ok {
		return e.FaultErrno(), nil
	}
	s, errno := im.shimFor(c, e, Preview1FilestatSize+pathLen)
	if s == nil {
		return errno, nil
	}
	copy(s.data(c)[Preview1FilestatSize:], path)
	errno, err := call(c, s.pathFilestatGet, a[0].I32(), a[1].I32(), int32(Preview1FilestatSize), int32(pathLen), int32(0))
	return writeFilestat(c, e, s, buf, errno, err)
}

// pollOneoff is poll_oneoff(in, out, nsubscriptions, nevents_ptr) with
// wasi_unstable's subscriptions. The records are converted, then served
// like preview1's (see Poll); events have the same layout in both.
func (im *Imports) pollOneoff(c *wasmtime.Caller, e *env.WasiEnv, a []wasmtime.Val) (wasix.Errno, error) {
	in, out, n, nevents := ptr(a[0]), ptr(a[1]), ptr(a[2]), ptr(a[3])
	if n == 0 {
		return wasix.EINVAL, nil
	}
	raw, ok := e.Read(c, in, n*SubscriptionSize)
	if !ok {
		return e.FaultErrno(), nil
	}
	subs := Subscriptions(raw)
	if _, ok := e.Read(c, out, n*EventSize); !ok {
		return e.FaultErrno(), nil
	}
	return im.poll(c, e, subs, out, nevents, func() (wasix.Errno, error) {
		return im.pollDescriptors(c, e, subs, out, nevents)
	})
}

// pollDescriptors hands converted subscriptions to wasmtime's poll_oneoff
// in the scratch memory: subscriptions at 0, then the events, then their
// count. Like the host's preview1 poll on descriptors, the wait is not
// interrupted by a signal; signals are delivered when it returns.
func (im *Imports) pollDescriptors(c *wasmtime.Caller, e *env.WasiEnv, subs []byte, out, nevents uint64) (wasix.Errno, error) {
	n := uint64(len(subs)) / Preview1SubscriptionSize
	events := n * Preview1SubscriptionSize
	count := events + n*EventSize
	s, errno := im.shimFor(c, e, count+4)
	if s == nil {
		return errno, nil
	}
	copy(s.data(c), subs)
	errno, err := call(c, s.pollOneoff, int32(0), int32(events), int32(n), int32(count))
	if err != nil {
		return 0, err
	}
	if errno == wasix.ESUCCESS {
		data := s.data(c)
		got := min(uint64(binary.LittleEndian.Uint32(data[count:])), n)
		if !e.Write(c, out, data[events:events+got*EventSize]) || !e.WriteUint32(c, nevents, uint32(got)) {
			errno = e.FaultErrno()
		}
	}
	if err := e.ProcessSignals(c); err != nil {
		return 0, err
	}
	return errno, nil
}

func call(c *wasmtime.Caller, f *wasmtime.Func, args ...any) (wasix.Errno, error) {
	res, err := f.Call(c, args...)
	if err != nil {
		return 0, err
	}
	return wasix.Errno(res.(int32)), nil
}

// shimWAT calls preview1 on a memory of its own. wasmtime's WASI finds
// memory only through the calling instance's "memory" export, and a Go
// host function cannot call it directly; the scratch memory lets the
// records be converted without writing past the guest's smaller buffers.
const shimWAT = `(module
  (import "wasi_snapshot_preview1" "fd_seek" (func $fd_seek (param i32 i64 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_filestat_get" (func $fd_filestat_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "path_filestat_get" (func $path_filestat_get (param i32 i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "poll_oneoff" (func $poll_oneoff (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (func (export "fd_seek") (param i32 i64 i32 i32) (result i32)
    (call $fd_seek (local.get 0) (local.get 1) (local.get 2) (local.get 3)))
  (func (export "fd_filestat_get") (param i32 i32) (result i32)
    (call $fd_filestat_get (local.get 0) (local.get 1)))
  (func (export "path_filestat_get") (param i32 i32 i32 i32 i32) (result i32)
    (call $path_filestat_get (local.get 0) (local.get 1) (local.get 2) (local.get 3) (local.get 4)))
  (func (export "poll_oneoff") (param i32 i32 i32 i32) (result i32)
    (call $poll_oneoff (local.get 0) (local.get 1) (local.get 2) (local.get 3))))`

type shim struct {
	mem                                                *wasmtime.Memory
	fdSeek, fdFilestatGet, pathFilestatGet, pollOneoff *wasmtime.Func
}

func (s *shim) data(c *wasmtime.Caller) []byte { return s.mem.UnsafeData(c) }

// shimFor returns the shim of e's process with at least size bytes of
// scratch memory, instantiating it on first use. On failure the shim is
// nil and the errno says why (logged).
func (im *Imports) shimFor(c *wasmtime.Caller, e *env.WasiEnv, size uint64) (*shim, wasix.Errno) {
	var s *shim
	if v, ok := im.shims.Load(e); ok {
		s = v.(*shim)
	} else {
		var err error
		if s, err = im.instantiate(c); err != nil {
			e.Logger().Warn("wasi_unstable translation unavailable", "error", err)
			return nil, wasix.ENOTSUP
		}
		im.shims.Store(e, s)
	}
	if have := s.mem.DataSize(c); uint64(have) < size {
		pages := (size - uint64(have) + 0xFFFF) >> 16
		if _, err := s.mem.Grow(c, pages); err != nil {
			return nil, errnoNoMem
		}
	}
	return s, wasix.ESUCCESS
}

func (im *Imports) instantiate(c *wasmtime.Caller) (*shim, error) {
	im.once.Do(func() {
		wasm, err := wasmtime.Wat2Wasm(shimWAT)
		if err == nil {
			im.module, err = wasmtime.NewModule(im.engine, wasm)
		}
		if err == nil {
			im.linker = wasmtime.NewLinker(im.engine)
			err = im.linker.DefineWasi()
		}
		im.err = err
	})
	if im.err != nil {
		return nil, fmt.Errorf("preview0: shim: %w", im.err)
	}
	inst, err := im.linker.Instantiate(c, im.module)
	if err != nil {
		return nil, fmt.Errorf("preview0: shim: %w", err)
	}
	s := &shim{
		fdSeek:          inst.GetFunc(c, "fd_seek"),
		fdFilestatGet:   inst.GetFunc(c, "fd_filestat_get"),
		pathFilestatGet: inst.GetFunc(c, "path_filestat_get"),
		pollOneoff:      inst.GetFunc(c, "poll_oneoff"),
	}
	if ex := inst.GetExport(c, "memory"); ex != nil {
		s.mem = ex.Memory()
	}
	if s.mem == nil || s.fdSeek == nil || s.fdFilestatGet == nil || s.pathFilestatGet == nil || s.pollOneoff == nil {
		return nil, errors.New("preview0: shim lacks an export")
	}
	return s, nil
}
