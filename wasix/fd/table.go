package fd

import (
	"errors"
	"fmt"
	"os"
	"sync"

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

// file is one owned descriptor.
type file struct {
	f    *os.File // kept open (and alive) while the guest may use it
	fd   int      // f's host descriptor
	kind Kind
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
	t := &Table{env: e, files: make(map[int32]*file), wake: [2]int{-1, -1}}
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
	k := Regular
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFCHR:
		k = Device
		if _, err := unix.IoctlGetTermios(fd, unix.TCGETS); err == nil {
			k = Terminal
		}
	case unix.S_IFIFO:
		k = Pipe
	case unix.S_IFSOCK:
		k = Socket
	}
	return &file{f: f, fd: fd, kind: k}, nil
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

// Close unregisters the Table and its shim and closes the wake pipe. The
// owned files stay open: they belong to the caller.
func (t *Table) Close() {
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return
	}
	t.closed = true
	t.files = nil
	t.mu.Unlock()
	tables.CompareAndDelete(t.env, t)
	Forget(t.env)
	t.closeWake()
}

func (t *Table) closeWake() {
	for _, fd := range t.wake {
		if fd >= 0 {
			unix.Close(fd)
		}
	}
}

// closeFD forgets an owned descriptor (fd_close).
func (t *Table) closeFD(fd int32) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	_, ok := t.files[fd]
	delete(t.files, fd)
	return ok
}

// renumber moves the owned descriptor from to to, as fd_renumber (dup2
// then close) does: to is replaced whatever it was.
func (t *Table) renumber(from, to int32) {
	t.mu.Lock()
	defer t.mu.Unlock()
	f, ok := t.files[from]
	delete(t.files, from)
	delete(t.files, to)
	if ok {
		t.files[to] = f
	}
}
