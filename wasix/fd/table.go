package fd

import (
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"

	"github.com/wasix-org/wasix-signals-go/wasix/env"
	"golang.org/x/sys/unix"
)

// Kind is what an owned descriptor is on the host.
type Kind uint8

const (
	// Regular is a regular file or /dev/null: its reads and writes do not
	// wait, so they go straight through.
	Regular Kind = iota
	// Terminal is a character device that is a terminal.
	Terminal
	// Device is another character device.
	Device
	// Pipe is a pipe or FIFO.
	Pipe
	// Socket is a socket.
	Socket
)

func (k Kind) String() string {
	return [...]string{"regular", "terminal", "device", "pipe", "socket"}[k]
}

// mayBlock reports whether reads and writes on k can wait forever.
func (k Kind) mayBlock() bool { return k == Terminal || k == Pipe || k == Socket }

// file is one owned descriptor: a guest number's entry in the Table.
type file struct {
	f    *os.File // the caller's file (Config.Files), kept alive; nil when made
	fd   int      // the host descriptor
	kind Kind
	// made says the Table created fd (fd_pipe, fd_dup, a duplicate for
	// dup2 or Fork) and closes it when the entry goes; the caller's files
	// are only used.
	made bool
	st   *status
	// acc is the host's access mode (O_RDONLY, O_WRONLY or O_RDWR): a
	// read of a write-only descriptor is EBADF at once, where poll would
	// wait forever.
	acc int
	// cloexec is FD_CLOEXEC: a flag of this guest number, not of the open
	// description, so duplicates start without it.
	cloexec bool
}

// accessMode returns the access mode of a host descriptor.
func accessMode(fd int) int {
	fl, err := unix.FcntlInt(uintptr(fd), unix.F_GETFL, 0)
	if err != nil {
		return unix.O_RDWR
	}
	return fl & unix.O_ACCMODE
}

// status holds the flags the guest sets on an open description without
// the host's being changed (it may be shared with other processes). The
// duplicates of one description (fd_dup, dup2, Fork) share it, as POSIX
// file status flags are shared.
type status struct {
	nonblock atomic.Bool
}

// release closes the host descriptor if the Table made it.
func (f *file) release() {
	if f.made {
		unix.Close(f.fd)
	}
}

// Config says which host files a Table owns.
type Config struct {
	// Files maps guest descriptors to open host files: typically 0, 1 and
	// 2 to os.Stdin, os.Stdout and os.Stderr, or to pipes and terminals.
	// The Table does not close them; the caller does, after Close.
	Files map[int32]*os.File
}

// Table is the set of descriptors a process's host owns, and the wake pipe
// its waits poll besides them.
type Table struct {
	env *env.WasiEnv

	mu    sync.Mutex
	files map[int32]*file
	// cloexec holds the numbers of wasmtime's descriptors (files the
	// guest opened, preopens) that are close-on-exec: wasmtime's table
	// has no such flag.
	cloexec map[int32]bool
	// wake is a non-blocking pipe: a byte in wake[0] means a signal was
	// queued while a wait was in progress.
	wake   [2]int
	closed bool
}

var tables sync.Map // *env.WasiEnv -> *Table

// New gives the process e a Table owning cfg.Files and registers it, so
// that the imports Install defines find it. Close it when the guest has
// ended.
func New(e *env.WasiEnv, cfg Config) (*Table, error) {
	t := &Table{env: e, files: make(map[int32]*file), cloexec: make(map[int32]bool), wake: [2]int{-1, -1}}
	for guest, f := range cfg.Files {
		if f == nil {
			continue
		}
		if guest < 0 {
			return nil, fmt.Errorf("fd: descriptor %d is negative", guest)
		}
		of, err := own(f)
		if err != nil {
			return nil, fmt.Errorf("fd: descriptor %d (%s): %w", guest, f.Name(), err)
		}
		t.files[guest] = of
	}
	var p [2]int
	if err := unix.Pipe2(p[:], unix.O_NONBLOCK|unix.O_CLOEXEC); err != nil {
		return nil, fmt.Errorf("fd: wake pipe: %w", err)
	}
	t.wake = p
	if _, loaded := tables.LoadOrStore(e, t); loaded {
		t.closeWake()
		return nil, errors.New("fd: this process already has a Table")
	}
	return t, nil
}

// own inspects an open file. Its descriptor stays in blocking mode: it may
// be shared with other processes (a terminal, the shell's pipe), which
// O_NONBLOCK would disturb; waits poll first and then move at most what
// cannot block.
func own(f *os.File) (*file, error) {
	fd := int(f.Fd())
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return nil, err
	}
	return &file{f: f, fd: fd, kind: kindOf(fd, &st), st: new(status), acc: accessMode(fd)}, nil
}

func kindOf(fd int, st *unix.Stat_t) Kind {
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFCHR:
		if _, err := unix.IoctlGetTermios(fd, unix.TCGETS); err == nil {
			return Terminal
		}
		return Device
	case unix.S_IFIFO:
		return Pipe
	case unix.S_IFSOCK:
		return Socket
	}
	return Regular
}

// Lookup returns the Table of process e, or nil.
func Lookup(e *env.WasiEnv) *Table {
	if v, ok := tables.Load(e); ok {
		return v.(*Table)
	}
	return nil
}

// Kind reports what the owned descriptor fd is, and false when the Table
// does not own it.
func (t *Table) Kind(fd int32) (Kind, bool) {
	f := t.get(fd)
	if f == nil {
		return 0, false
	}
	return f.kind, true
}

func (t *Table) get(fd int32) *file {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.files[fd]
}

// Close unregisters the Table and its shim, closes the descriptors the
// Table made (fd_pipe, fd_dup, Fork) and the wake pipe. The caller's files
// (Config.Files) stay open: they belong to the caller.
func (t *Table) Close() {
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return
	}
	t.closed = true
	files := t.files
	t.files = nil
	t.mu.Unlock()
	tables.CompareAndDelete(t.env, t)
	shims.Delete(t.env)
	for _, f := range files {
		f.release()
	}
	t.closeWake()
}

func (t *Table) closeWake() {
	for _, fd := range t.wake {
		if fd >= 0 {
			unix.Close(fd)
		}
	}
}

// Fork gives the process child a Table of its own, registered for it,
// with a duplicate of every descriptor t owns at the same guest number:
// what fork(2) does to a descriptor table. Each process then closes its
// own copies, and the kernel's reference counts give a pipe's reader the
// end of file only when the last copy of the write end, in any process,
// is closed. The duplicates share the flags the guest set (O_NONBLOCK)
// with their originals, as POSIX file descriptions are shared across fork,
// and keep their close-on-exec flag. The child's Table is closed like any
// other (Close, or Forget when the child has ended). An exec keeps the
// Table, less its close-on-exec descriptors (Exec). See docs/BEHAVIOUR.md.
func (t *Table) Fork(child *env.WasiEnv) (*Table, error) {
	if child == nil {
		return nil, errors.New("fd: Fork: no child env")
	}
	c, err := New(child, Config{})
	if err != nil {
		return nil, err
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		c.Close()
		return nil, errors.New("fd: Fork: the parent's Table is closed")
	}
	for guest, f := range t.files {
		fd, err := dupHost(f.fd, 0)
		if err != nil {
			c.Close()
			return nil, fmt.Errorf("fd: Fork: duplicate descriptor %d: %w", guest, err)
		}
		c.files[guest] = &file{fd: fd, kind: f.kind, made: true, st: f.st, acc: f.acc, cloexec: f.cloexec}
	}
	// Not t.cloexec: wasmtime's descriptors are not carried to the child
	// (wasmtime has no way to share them with another store).
	return c, nil
}

// dupHost duplicates a host descriptor onto the lowest free number at or
// above min, close-on-exec: the host's own child processes never inherit
// it.
func dupHost(fd, min int) (int, error) {
	return unix.FcntlInt(uintptr(fd), unix.F_DUPFD_CLOEXEC, min)
}

// add makes guest number n the entry f, releasing whatever n was.
func (t *Table) add(n int32, f *file) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		f.release()
		return errors.New("fd: the Table is closed")
	}
	if old := t.files[n]; old != nil {
		old.release()
	}
	t.files[n] = f
	delete(t.cloexec, n)
	return nil
}

// closeOnExec reports the close-on-exec flag of guest number n, owned or
// wasmtime's.
func (t *Table) closeOnExec(n int32) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if f := t.files[n]; f != nil {
		return f.cloexec
	}
	return t.cloexec[n]
}

// setCloseOnExec sets the close-on-exec flag of guest number n, owned or
// (when not owned) wasmtime's; false when the Table is closed.
func (t *Table) setCloseOnExec(n int32, on bool) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return false
	}
	if f := t.files[n]; f != nil {
		f.cloexec = on
	} else if on {
		t.cloexec[n] = true
	} else {
		delete(t.cloexec, n)
	}
	return true
}

// forgetWasmtime drops the flag of wasmtime's number n, which was closed
// or moved away.
func (t *Table) forgetWasmtime(n int32) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.cloexec, n)
}

// takeCloseOnExec removes the owned close-on-exec descriptors, releasing
// them, and returns their numbers and those of wasmtime's close-on-exec
// descriptors: the caller closes these numbers in wasmtime's table, as
// fd_close does (wasmtime also has the standard streams the Table owns).
func (t *Table) takeCloseOnExec() []int32 {
	t.mu.Lock()
	defer t.mu.Unlock()
	var numbers []int32
	for n, f := range t.files {
		if f.cloexec {
			delete(t.files, n)
			f.release()
			numbers = append(numbers, n)
		}
	}
	for n := range t.cloexec {
		numbers = append(numbers, n)
	}
	clear(t.cloexec)
	return numbers
}

// remove drops guest number n, releasing its host descriptor if the Table
// made it; false when n was not owned.
func (t *Table) remove(n int32) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	f, ok := t.files[n]
	if ok {
		delete(t.files, n)
		f.release()
	}
	return ok
}

// move renumbers the owned entry from to to, releasing what to was
// (preview1's fd_renumber).
func (t *Table) move(from, to int32) {
	t.mu.Lock()
	defer t.mu.Unlock()
	f, ok := t.files[from]
	if !ok || from == to {
		return
	}
	delete(t.files, from)
	if old := t.files[to]; old != nil {
		old.release()
	}
	t.files[to] = f
	delete(t.cloexec, to)
}

// duplicate returns a new entry for the same open description as f, with
// a host descriptor of its own that the Table closes.
func duplicate(f *file) (*file, error) {
	fd, err := dupHost(f.fd, 0)
	if err != nil {
		return nil, err
	}
	return &file{fd: fd, kind: f.kind, made: true, st: f.st, acc: f.acc}, nil
}
