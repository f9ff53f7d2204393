package fd

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/bytecodealliance/wasmtime-go/v25"
	"github.com/wasix-org/wasix-signals-go/wasix"
	"github.com/wasix-org/wasix-signals-go/wasix/env"
	"golang.org/x/sys/unix"
)

// Namespaces the imports are defined in: wasix-libc's, and preview1's,
// which they shadow.
const (
	wasix32  = "wasix_32v1"
	preview1 = "wasi_snapshot_preview1"
)

// Names lists the imports Install defines in both namespaces.
func Names() []string {
	return []string{"fd_read", "fd_write", "fd_close", "fd_renumber", "fd_fdstat_get",
		"fd_fdstat_set_flags", "poll_oneoff", "path_open", "fd_pipe", "fd_dup", "fd_dup2"}
}

// WasixNames lists the imports Install defines in wasix_32v1 only, having
// no preview1 counterpart.
func WasixNames() []string { return []string{"fd_fdflags_get", "fd_fdflags_set", "path_open2"} }

// layer is what the imports share: the engine, to build each process's
// shim to wasmtime's WASI.
type layer struct {
	engine *wasmtime.Engine
}

type body func(c *wasmtime.Caller, e *env.WasiEnv, a []wasmtime.Val) (wasix.Errno, error)

// Install defines the descriptor imports (Names: fd_read, fd_write,
// fd_close, fd_renumber, fd_fdstat_get, fd_fdstat_set_flags, poll_oneoff,
// path_open, fd_pipe, fd_dup, fd_dup2) in wasix_32v1 and
// wasi_snapshot_preview1, shadowing wasmtime's, and WasixNames
// (fd_fdflags_get, fd_fdflags_set, path_open2) in wasix_32v1. Call it after
// Linker.DefineWasi; engine must be the Linker's. Every Store needs a
// WasiEnv (env.New); one with a Table (New) has its owned descriptors
// served here, every other descriptor goes to wasmtime's WASI. fd_renumber
// is dup2 in wasix_32v1 (the descriptor stays open under both numbers, as
// wasix-libc's dup2 expects) and a move in wasi_snapshot_preview1.
func Install(l *wasmtime.Linker, engine *wasmtime.Engine) error {
	ly := &layer{engine: engine}
	l.AllowShadowing(true)
	ty := func(params string) *wasmtime.FuncType {
		vs := make([]*wasmtime.ValType, len(params))
		for i, k := range params {
			if k == 'I' {
				vs[i] = wasmtime.NewValType(wasmtime.KindI64)
			} else {
				vs[i] = wasmtime.NewValType(wasmtime.KindI32)
			}
		}
		return wasmtime.NewFuncType(vs, []*wasmtime.ValType{wasmtime.NewValType(wasmtime.KindI32)})
	}
	defs := []struct {
		name    string
		params  string
		wasix   body
		preview body // when it differs from wasix
		only    bool // wasix_32v1 only
	}{
		{"fd_read", "iiii", ly.fdRead, nil, false},
		{"fd_write", "iiii", ly.fdWrite, nil, false},
		{"fd_close", "i", ly.fdClose, nil, false},
		{"fd_renumber", "ii", ly.fdRenumberDup, ly.fdRenumberMove, false},
		{"fd_fdstat_get", "ii", ly.fdstatGet, nil, false},
		{"fd_fdstat_set_flags", "ii", ly.fdstatSetFlags, nil, false},
		{"poll_oneoff", "iiii", ly.pollOneoff, nil, false},
		{"path_open", "iiiiiIIii", ly.pathOpen, nil, false},
		{"fd_pipe", "ii", ly.fdPipe, nil, false},
		{"fd_dup", "ii", ly.fdDup, nil, false},
		{"fd_dup2", "iiii", ly.fdDup2, nil, false},
		{"fd_fdflags_get", "ii", ly.fdflagsGet, nil, true},
		{"fd_fdflags_set", "ii", ly.fdflagsSet, nil, true},
		{"path_open2", "iiiiiIIiii", ly.pathOpen2, nil, true},
	}
	for _, d := range defs {
		for _, ns := range []string{wasix32, preview1} {
			if ns == preview1 && d.only {
				continue
			}
			name, fn := d.name, d.wasix
			if ns == preview1 && d.preview != nil {
				fn = d.preview
			}
			f := func(c *wasmtime.Caller, a []wasmtime.Val) ([]wasmtime.Val, *wasmtime.Trap) {
				e := env.Lookup(c)
				if e == nil {
					return nil, wasmtime.NewTrap("wasix: " + name + ": this store has no WasiEnv (call env.New before running the guest)")
				}
				errno, err := fn(c, e, a)
				if err != nil {
					return nil, wasmtime.NewTrap(err.Error())
				}
				return []wasmtime.Val{wasmtime.ValI32(int32(errno))}, nil
			}
			if err := l.FuncNew(ns, name, ty(d.params), f); err != nil {
				return fmt.Errorf("fd: define %s.%s: %w", ns, name, err)
			}
		}
	}
	return nil
}

func u32(v wasmtime.Val) uint64 { return uint64(uint32(v.I32())) }

// owned returns the Table of e and its file for guest descriptor fd, or
// nil when fd is wasmtime's.
func owned(e *env.WasiEnv, fd int32) (*Table, *file) {
	t := Lookup(e)
	if t == nil {
		return nil, nil
	}
	return t, t.get(fd)
}

// iovec is one {buf, len} record of fd_read or fd_write.
type iovec struct{ buf, len uint64 }

func readIovecs(c *wasmtime.Caller, e *env.WasiEnv, ptr, n uint64) ([]iovec, bool) {
	raw, ok := e.Read(c, ptr, n*8)
	if !ok || n > 1<<20 {
		return nil, false
	}
	out := make([]iovec, n)
	for i := range out {
		out[i] = iovec{uint64(binary.LittleEndian.Uint32(raw[8*i:])), uint64(binary.LittleEndian.Uint32(raw[8*i+4:]))}
	}
	for _, v := range out {
		if _, ok := e.Read(c, v.buf, v.len); !ok {
			return nil, false
		}
	}
	return out, true
}

// fdRead is fd_read(fd, iovs, iovs_len, nread). On an owned descriptor it
// waits until data (or the end) is there, interruptibly, and reads into
// the first non-empty buffer: a short read, which POSIX allows.
func (ly *layer) fdRead(c *wasmtime.Caller, e *env.WasiEnv, a []wasmtime.Val) (wasix.Errno, error) {
	t, f := owned(e, a[0].I32())
	if f == nil {
		return forward(c, e, ly.engine, "fd_read", a[0].I32(), a[1].I32(), a[2].I32(), a[3].I32())
	}
	iovs, ok := readIovecs(c, e, u32(a[1]), u32(a[2]))
	if !ok || !e.WriteUint32(c, u32(a[3]), 0) {
		return e.FaultErrno(), nil
	}
	var buf iovec
	for _, v := range iovs {
		if v.len > 0 {
			buf = v
			break
		}
	}
	if f.acc == unix.O_WRONLY {
		return wasix.EBADF, nil
	}
	if buf.len == 0 {
		return wasix.ESUCCESS, nil
	}
	revents, err := t.readyOrAgain(c, f, unix.POLLIN)
	if errno, err := waitResult(err); err != nil || errno != 0 {
		return errno, err
	}
	if revents&unix.POLLNVAL != 0 {
		return wasix.EBADF, nil
	}
	// Memory may have moved while a handler ran: take it again.
	dst, ok := e.Read(c, buf.buf, buf.len)
	if !ok {
		return e.FaultErrno(), nil
	}
	n, err := unix.Read(f.fd, dst)
	if err != nil {
		return errnoOf(err), nil
	}
	if !e.WriteUint32(c, u32(a[3]), uint32(n)) {
		return e.FaultErrno(), nil
	}
	return wasix.ESUCCESS, nil
}

// waitResult turns the error of a wait into the call's result: EINTR for
// a delivered signal, the terminal error when the process ended.
func waitResult(err error) (wasix.Errno, error) {
	switch {
	case err == nil:
		return 0, nil
	case errors.Is(err, errInterrupted):
		return wasix.EINTR, nil
	case isHostError(err):
		return errnoOf(err), nil
	}
	return 0, err
}

func isHostError(err error) bool {
	var no unix.Errno
	return errors.As(err, &no)
}

// pipeChunk is what one write moves to a pipe or terminal after poll said
// it can take more: PIPE_BUF, which a write never splits or blocks on.
const pipeChunk = 4096

// fdWrite is fd_write(fd, iovs, iovs_len, nwritten). On an owned pipe or
// terminal it writes in chunks that cannot block, waiting interruptibly
// for room between them; a signal delivered after some bytes went out
// ends the call with that count, as POSIX write does. EPIPE raises
// SIGPIPE, on every descriptor.
func (ly *layer) fdWrite(c *wasmtime.Caller, e *env.WasiEnv, a []wasmtime.Val) (wasix.Errno, error) {
	t, f := owned(e, a[0].I32())
	if f == nil {
		errno, err := forward(c, e, ly.engine, "fd_write", a[0].I32(), a[1].I32(), a[2].I32(), a[3].I32())
		if err == nil && errno == wasix.EPIPE {
			err = raisePipe(c, e)
		}
		return errno, err
	}
	iovs, ok := readIovecs(c, e, u32(a[1]), u32(a[2]))
	if !ok || !e.WriteUint32(c, u32(a[3]), 0) {
		return e.FaultErrno(), nil
	}
	if f.acc == unix.O_RDONLY {
		return wasix.EBADF, nil
	}
	var written uint64
	errno := wasix.ESUCCESS
write:
	for _, v := range iovs {
		for off := uint64(0); off < v.len; {
			n := v.len - off
			if f.kind.mayBlock() {
				revents, err := t.readyOrAgain(c, f, unix.POLLOUT)
				if errno2, err := waitResult(err); err != nil {
					return 0, err
				} else if errno2 != 0 {
					if written == 0 {
						errno = errno2
					}
					break write
				}
				if revents&unix.POLLNVAL != 0 {
					errno = wasix.EBADF
					break write
				}
				n = min(n, pipeChunk)
			}
			src, ok := e.Read(c, v.buf+off, n)
			if !ok {
				return e.FaultErrno(), nil
			}
			m, err := unix.Write(f.fd, src)
			if err != nil {
				if written == 0 || errnoOf(err) == wasix.EPIPE {
					errno = errnoOf(err)
				}
				break write
			}
			off += uint64(m)
			written += uint64(m)
		}
	}
	if errno == wasix.EPIPE {
		return errno, raisePipe(c, e)
	}
	if errno != wasix.ESUCCESS {
		return errno, nil
	}
	if !e.WriteUint32(c, u32(a[3]), uint32(written)) {
		return e.FaultErrno(), nil
	}
	return wasix.ESUCCESS, nil
}

// raisePipe raises SIGPIPE in the guest after a write found no reader:
// its handler runs, or the process ends (141 by default).
func raisePipe(c *wasmtime.Caller, e *env.WasiEnv) error {
	return e.Raise(c, wasix.SIGPIPE)
}

// fdClose is fd_close: an owned descriptor leaves the Table, which closes
// the host descriptor if it made it (the caller's files stay open), and
// wasmtime's table is told too: a descriptor of wasmtime's that an owned
// one hid (the standard streams) goes with it.
func (ly *layer) fdClose(c *wasmtime.Caller, e *env.WasiEnv, a []wasmtime.Val) (wasix.Errno, error) {
	fd := a[0].I32()
	t, f := owned(e, fd)
	errno, err := forward(c, e, ly.engine, "fd_close", fd)
	if f != nil && err == nil {
		t.remove(fd)
		return wasix.ESUCCESS, nil
	}
	if t != nil && err == nil && errno == wasix.ESUCCESS {
		t.forgetWasmtime(fd)
	}
	return errno, err
}

// fdRenumberDup is wasix_32v1's fd_renumber(from, to): dup2. An owned from
// is duplicated onto to, and stays open; whatever to was is closed. A
// descriptor of wasmtime's cannot be duplicated (wasmtime's WASI has no
// dup): it moves to to, as wasmtime's fd_renumber does.
func (ly *layer) fdRenumberDup(c *wasmtime.Caller, e *env.WasiEnv, a []wasmtime.Val) (wasix.Errno, error) {
	from, to := a[0].I32(), a[1].I32()
	t, f := owned(e, from)
	if f == nil {
		return ly.renumberWasmtime(c, e, t, from, to, false)
	}
	if from == to {
		return wasix.ESUCCESS, nil
	}
	g, err := duplicate(f)
	if err != nil {
		return errnoOf(err), nil
	}
	if err := ly.closeWasmtime(c, e, to); err != nil {
		g.release()
		return 0, err
	}
	if err := t.add(to, g); err != nil {
		return wasix.EBADF, nil
	}
	return wasix.ESUCCESS, nil
}

// fdRenumberMove is preview1's fd_renumber(from, to): from moves to to,
// replacing whatever to was.
func (ly *layer) fdRenumberMove(c *wasmtime.Caller, e *env.WasiEnv, a []wasmtime.Val) (wasix.Errno, error) {
	from, to := a[0].I32(), a[1].I32()
	t, f := owned(e, from)
	if f == nil {
		return ly.renumberWasmtime(c, e, t, from, to, true)
	}
	if from == to {
		return wasix.ESUCCESS, nil
	}
	if err := ly.closeWasmtime(c, e, to); err != nil {
		return 0, err
	}
	if err := ly.closeWasmtime(c, e, from); err != nil {
		return 0, err
	}
	t.move(from, to)
	return wasix.ESUCCESS, nil
}

// renumberWasmtime moves wasmtime's descriptor from to to in wasmtime's
// table; to's previous descriptor, owned or wasmtime's, is closed first.
// keepFlag says the close-on-exec flag moves with it (preview1's move);
// otherwise to starts without it (dup2).
func (ly *layer) renumberWasmtime(c *wasmtime.Caller, e *env.WasiEnv, t *Table, from, to int32, keepFlag bool) (wasix.Errno, error) {
	if errno, err := wasmtimeHas(c, e, ly.engine, from); err != nil || errno != wasix.ESUCCESS || from == to {
		return errno, err
	}
	cloexec := t != nil && t.closeOnExec(from)
	if err := ly.closeWasmtime(c, e, to); err != nil {
		return 0, err
	}
	errno, err := forward(c, e, ly.engine, "fd_renumber", from, to)
	if err != nil || errno != wasix.ESUCCESS {
		return errno, err
	}
	if t != nil {
		t.remove(to)
		t.forgetWasmtime(from)
		// The flag goes with the descriptor in a move; a dup2 clears it
		// on the new number.
		t.setCloseOnExec(to, cloexec && keepFlag)
	}
	return wasix.ESUCCESS, nil
}

// closeWasmtime closes wasmtime's descriptor n, if it has one.
func (ly *layer) closeWasmtime(c *wasmtime.Caller, e *env.WasiEnv, n int32) error {
	_, err := forward(c, e, ly.engine, "fd_close", n)
	if err == nil {
		if t := Lookup(e); t != nil {
			t.forgetWasmtime(n)
		}
	}
	return err
}

// The WASI file types and rights fd_fdstat_get reports for owned
// descriptors.
const (
	filetypeUnknown   = 0
	filetypeBlockDev  = 1
	filetypeCharDev   = 2
	filetypeDirectory = 3
	filetypeRegular   = 4
	filetypeSockStrm  = 6
	rightFdRead       = 1 << 1
	rightFdSeek       = 1 << 2
	rightFdTell       = 1 << 5
	rightFdWrite      = 1 << 6
	rightPollFdRW     = 1 << 27
	rightFdFilestatGt = 1 << 21
)

// fdstatGet is fd_fdstat_get: for an owned descriptor, its type from
// fstat(2), so isatty() sees a terminal given as an open file, and its
// rights from the host's access mode; a pipe is of unknown type, as
// wasmtime reports one. For the others, wasmtime's answer.
func (ly *layer) fdstatGet(c *wasmtime.Caller, e *env.WasiEnv, a []wasmtime.Val) (wasix.Errno, error) {
	_, f := owned(e, a[0].I32())
	if f == nil {
		return forward(c, e, ly.engine, "fd_fdstat_get", a[0].I32(), a[1].I32())
	}
	var st [24]byte
	rights := uint64(rightFdRead | rightFdWrite | rightPollFdRW | rightFdFilestatGt)
	switch f.kind {
	case Terminal, Device:
		st[0] = filetypeCharDev
	case Regular:
		st[0] = filetypeRegular
		rights |= rightFdSeek | rightFdTell
	case Socket:
		st[0] = filetypeSockStrm
	default:
		st[0] = filetypeUnknown
	}
	var flags uint16
	if hostAppend(f) {
		flags |= fdflagAppend
	}
	switch f.acc {
	case unix.O_RDONLY:
		rights &^= rightFdWrite
	case unix.O_WRONLY:
		rights &^= rightFdRead
	}
	if f.st.nonblock.Load() {
		flags |= fdflagNonblock
	}
	binary.LittleEndian.PutUint16(st[2:], flags)
	binary.LittleEndian.PutUint64(st[8:], rights)
	binary.LittleEndian.PutUint64(st[16:], rights)
	if !e.Write(c, u32(a[1]), st[:]) {
		return e.FaultErrno(), nil
	}
	return wasix.ESUCCESS, nil
}
