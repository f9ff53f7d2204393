package fd

import (
	"encoding/binary"
	"math"

	"github.com/bytecodealliance/wasmtime-go/v25"
	"github.com/wasix-org/wasix-signals-go/wasix"
	"github.com/wasix-org/wasix-signals-go/wasix/env"
	"golang.org/x/sys/unix"
)

// WASI errno values this file answers that package wasix does not name.
const (
	errMFILE  = wasix.Errno(33) // no guest number left
	errNOTDIR = wasix.Errno(54) // path_open relative to a pipe or stream
)

// maxScan bounds the search for a free guest number: each candidate costs
// a call into wasmtime's table.
const maxScan = 1 << 16

// tableFor returns the Table of e, giving the process an empty one when it
// has none (a process whose standard streams are all wasmtime's may still
// make pipes). Forget closes it when the process ends.
func tableFor(e *env.WasiEnv) (*Table, error) {
	if t := Lookup(e); t != nil {
		return t, nil
	}
	t, err := New(e, Config{})
	if err != nil {
		if t := Lookup(e); t != nil {
			return t, nil
		}
		return nil, err
	}
	return t, nil
}

// lowest returns the lowest guest number at or above min that is free in
// both tables: the Table's and wasmtime's. See docs/BEHAVIOUR.md
// (descriptor numbers) for why that is enough.
func (ly *layer) lowest(c *wasmtime.Caller, e *env.WasiEnv, t *Table, min uint32) (int32, wasix.Errno, error) {
	for n := uint64(min); n <= math.MaxInt32 && n < uint64(min)+maxScan; n++ {
		if t != nil && t.get(int32(n)) != nil {
			continue
		}
		switch errno, err := wasmtimeHas(c, e, ly.engine, int32(n)); {
		case err != nil:
			return 0, 0, err
		case errno == wasix.EBADF:
			return int32(n), wasix.ESUCCESS, nil
		case errno != wasix.ESUCCESS:
			return 0, errno, nil
		}
	}
	return 0, errMFILE, nil
}

// fdPipe is fd_pipe(fd1_ptr, fd2_ptr): a host pipe owned by the Table,
// its read end at the lowest free guest number (written to fd1_ptr), its
// write end at the next (fd2_ptr), as pipe(2) fills fds[0] and fds[1].
// Reads and writes on it wait interruptibly; a write with no reader left
// raises SIGPIPE.
func (ly *layer) fdPipe(c *wasmtime.Caller, e *env.WasiEnv, a []wasmtime.Val) (wasix.Errno, error) {
	p1, p2 := u32(a[0]), u32(a[1])
	if _, ok := e.Read(c, p1, 4); !ok {
		return e.FaultErrno(), nil
	}
	if _, ok := e.Read(c, p2, 4); !ok {
		return e.FaultErrno(), nil
	}
	t, err := tableFor(e)
	if err != nil {
		e.Logger().Warn("fd_pipe: no descriptor table", "error", err)
		return wasix.EIO, nil
	}
	var p [2]int
	if err := unix.Pipe2(p[:], unix.O_CLOEXEC); err != nil {
		return errnoOf(err), nil
	}
	ends := [2]*file{
		{fd: p[0], kind: Pipe, made: true, st: new(status), acc: unix.O_RDONLY},
		{fd: p[1], kind: Pipe, made: true, st: new(status), acc: unix.O_WRONLY},
	}
	var nums [2]int32
	for i, f := range ends {
		n, errno, err := ly.lowest(c, e, t, 0)
		if err == nil && errno == wasix.ESUCCESS {
			err = t.add(n, f)
			if err != nil {
				errno = wasix.EBADF
			}
		} else {
			f.release()
		}
		if err != nil || errno != wasix.ESUCCESS {
			for _, m := range nums[:i] {
				t.remove(m)
			}
			if i == 0 {
				ends[1].release()
			}
			return errno, err
		}
		nums[i] = n
	}
	if !e.WriteUint32(c, p1, uint32(nums[0])) || !e.WriteUint32(c, p2, uint32(nums[1])) {
		t.remove(nums[0])
		t.remove(nums[1])
		return e.FaultErrno(), nil
	}
	return wasix.ESUCCESS, nil
}

// fdDup is fd_dup(fd, ret_fd_ptr): dup(2), onto the lowest free number.
// The new number starts without close-on-exec, as dup(2)'s does.
func (ly *layer) fdDup(c *wasmtime.Caller, e *env.WasiEnv, a []wasmtime.Val) (wasix.Errno, error) {
	return ly.dup(c, e, a[0].I32(), 0, false, u32(a[1]))
}

// fdDup2 is fd_dup2(fd, min_result_fd, cloexec, ret_fd_ptr), wasix-libc's
// fcntl(F_DUPFD) and fcntl(F_DUPFD_CLOEXEC): the lowest free number at or
// above min_result_fd, close-on-exec when cloexec is not 0.
func (ly *layer) fdDup2(c *wasmtime.Caller, e *env.WasiEnv, a []wasmtime.Val) (wasix.Errno, error) {
	min := uint32(a[1].I32())
	if min > math.MaxInt32 {
		return wasix.EINVAL, nil
	}
	return ly.dup(c, e, a[0].I32(), min, a[2].I32() != 0, u32(a[3]))
}

func (ly *layer) dup(c *wasmtime.Caller, e *env.WasiEnv, fd int32, min uint32, cloexec bool, ret uint64) (wasix.Errno, error) {
	t, f := owned(e, fd)
	if f == nil {
		// wasmtime's WASI has no dup: its descriptors cannot be
		// duplicated.
		if errno, err := wasmtimeHas(c, e, ly.engine, fd); err != nil || errno != wasix.ESUCCESS {
			return errno, err
		}
		return wasix.ENOTSUP, nil
	}
	if _, ok := e.Read(c, ret, 4); !ok {
		return e.FaultErrno(), nil
	}
	n, errno, err := ly.lowest(c, e, t, min)
	if err != nil || errno != wasix.ESUCCESS {
		return errno, err
	}
	g, err := duplicate(f)
	if err != nil {
		return errnoOf(err), nil
	}
	g.cloexec = cloexec
	if err := t.add(n, g); err != nil {
		return wasix.EBADF, nil
	}
	if !e.WriteUint32(c, ret, uint32(n)) {
		t.remove(n)
		return e.FaultErrno(), nil
	}
	return wasix.ESUCCESS, nil
}

// pathOpen is path_open, forwarded to wasmtime's, which numbers the new
// descriptor itself: it is steered (allocate) to the lowest number that
// neither table uses, as open(2) would choose. A directory descriptor that
// is owned (a pipe, a stream) is not a directory.
func (ly *layer) pathOpen(c *wasmtime.Caller, e *env.WasiEnv, a []wasmtime.Val) (wasix.Errno, error) {
	return ly.open(c, e, a, false)
}

// The fdflagsext bits of fd_fdflags_get, fd_fdflags_set and path_open2.
const fdflagsextCloexec = 1 << 0

// pathOpen2 is wasix_32v1's path_open2(dirfd, dirflags, path, path_len,
// oflags, rights_base, rights_inheriting, fdflags, fdflagsext, ret_fd):
// path_open, and the new descriptor close-on-exec when fdflagsext asks
// (wasix-libc's open(O_CLOEXEC)). Other fdflagsext bits are ignored, as
// Linux's F_SETFD ignores bits other than FD_CLOEXEC.
func (ly *layer) pathOpen2(c *wasmtime.Caller, e *env.WasiEnv, a []wasmtime.Val) (wasix.Errno, error) {
	args := append(append([]wasmtime.Val(nil), a[:8]...), a[9])
	return ly.open(c, e, args, a[8].I32()&fdflagsextCloexec != 0)
}

// fdflagsGet is fd_fdflags_get(fd, ret_flags): the descriptor's
// fdflagsext (a u16), CLOEXEC or 0, for owned descriptors and wasmtime's
// alike. wasix-libc's fcntl(F_GETFD).
func (ly *layer) fdflagsGet(c *wasmtime.Caller, e *env.WasiEnv, a []wasmtime.Val) (wasix.Errno, error) {
	fd := a[0].I32()
	if _, ok := e.Read(c, u32(a[1]), 2); !ok {
		return e.FaultErrno(), nil
	}
	t, f := owned(e, fd)
	if f == nil {
		if errno, err := wasmtimeHas(c, e, ly.engine, fd); err != nil || errno != wasix.ESUCCESS {
			return errno, err
		}
	}
	var flags [2]byte
	if t != nil && t.closeOnExec(fd) {
		flags[0] = fdflagsextCloexec
	}
	if !e.Write(c, u32(a[1]), flags[:]) {
		return e.FaultErrno(), nil
	}
	return wasix.ESUCCESS, nil
}

// fdflagsSet is fd_fdflags_set(fd, flags): sets or clears close-on-exec
// on the descriptor, owned or wasmtime's; an exec (proc_exec) closes the
// descriptors that have it. wasix-libc's fcntl(F_SETFD). Bits other than
// CLOEXEC are ignored, as Linux's F_SETFD ignores them.
func (ly *layer) fdflagsSet(c *wasmtime.Caller, e *env.WasiEnv, a []wasmtime.Val) (wasix.Errno, error) {
	fd := a[0].I32()
	if _, f := owned(e, fd); f == nil {
		if errno, err := wasmtimeHas(c, e, ly.engine, fd); err != nil || errno != wasix.ESUCCESS {
			return errno, err
		}
	}
	t, err := tableFor(e)
	if err != nil {
		e.Logger().Warn("fd_fdflags_set: no descriptor table", "error", err)
		return wasix.EIO, nil
	}
	if !t.setCloseOnExec(fd, a[1].I32()&fdflagsextCloexec != 0) {
		return wasix.EBADF, nil
	}
	return wasix.ESUCCESS, nil
}

// open is path_open with a of path_open's shape, the new descriptor
// close-on-exec when cloexec.
func (ly *layer) open(c *wasmtime.Caller, e *env.WasiEnv, a []wasmtime.Val, cloexec bool) (wasix.Errno, error) {
	t := Lookup(e)
	if t != nil && t.get(a[0].I32()) != nil {
		return errNOTDIR, nil
	}
	n, errno, err := ly.lowest(c, e, t, 0)
	if err != nil || errno != wasix.ESUCCESS {
		return errno, err
	}
	if err := allocate(c, e, ly.engine, n); err != nil {
		return 0, err
	}
	errno, err = forward(c, e, ly.engine, "path_open", a[0].I32(), a[1].I32(), a[2].I32(), a[3].I32(),
		a[4].I32(), a[5].I64(), a[6].I64(), a[7].I32(), a[8].I32())
	if err != nil || errno != wasix.ESUCCESS || t == nil && !cloexec {
		return errno, err
	}
	raw, ok := e.Read(c, u32(a[8]), 4)
	if !ok {
		return e.FaultErrno(), nil
	}
	k := int32(binary.LittleEndian.Uint32(raw))
	if t != nil && t.get(k) != nil {
		// Not steered (no preopened directory to steer with): the number
		// is the guest's already, and cannot be given twice.
		e.Logger().Warn("path_open: wasmtime numbered the file as an owned descriptor; closed it", "fd", k)
		if err := ly.closeWasmtime(c, e, k); err != nil {
			return 0, err
		}
		return errMFILE, nil
	}
	if t == nil {
		if t, err = tableFor(e); err != nil {
			e.Logger().Warn("path_open2: no descriptor table to mark the file close-on-exec; closed it", "error", err)
			return wasix.EIO, ly.closeWasmtime(c, e, k)
		}
	}
	t.setCloseOnExec(k, cloexec)
	return wasix.ESUCCESS, nil
}

// The fdflags bits of fd_fdstat_get and fd_fdstat_set_flags.
const (
	fdflagAppend   = 1 << 0
	fdflagDsync    = 1 << 1
	fdflagNonblock = 1 << 2
	fdflagRsync    = 1 << 3
	fdflagSync     = 1 << 4
)

// fdstatSetFlags is fd_fdstat_set_flags(fd, flags). On an owned descriptor
// NONBLOCK is kept in the Table, not set on the host's open description
// (which other processes may share): reads and writes that would wait
// answer EAGAIN instead. APPEND cannot be changed there (ENOTSUP); the
// sync flags are EINVAL, as wasmtime answers them.
func (ly *layer) fdstatSetFlags(c *wasmtime.Caller, e *env.WasiEnv, a []wasmtime.Val) (wasix.Errno, error) {
	_, f := owned(e, a[0].I32())
	if f == nil {
		return forward(c, e, ly.engine, "fd_fdstat_set_flags", a[0].I32(), a[1].I32())
	}
	flags := uint32(a[1].I32())
	if flags&^(fdflagAppend|fdflagNonblock) != 0 {
		return wasix.EINVAL, nil
	}
	if (flags&fdflagAppend != 0) != hostAppend(f) {
		return wasix.ENOTSUP, nil
	}
	f.st.nonblock.Store(flags&fdflagNonblock != 0)
	return wasix.ESUCCESS, nil
}

func hostAppend(f *file) bool {
	fl, err := unix.FcntlInt(uintptr(f.fd), unix.F_GETFL, 0)
	return err == nil && fl&unix.O_APPEND != 0
}
