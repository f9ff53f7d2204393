package proc

import (
	"errors"
	"sync"

	"github.com/bytecodealliance/wasmtime-go/v25"
	"github.com/wasix-org/wasix-signals-go/wasix"
	"github.com/wasix-org/wasix-signals-go/wasix/env"
)

// DefaultLimit is the number of forked processes a Tree allows at once
// when NewTree is given 0: children still running plus those ended and
// not yet joined (zombies), as Linux counts RLIMIT_NPROC.
const DefaultLimit = 256

// ErrLimit is returned by Tree.Child when the Tree holds its limit of
// forked processes; proc_fork answers EAGAIN, as fork() on Linux does.
var ErrLimit = errors.New("proc: process limit reached")

// Tree is the family tree of the processes of one host (a host.Runtime):
// who forked whom, who has ended and waits to be joined, and the limit on
// forked processes that bounds a fork bomb. It is safe for concurrent use.
type Tree struct {
	mu      sync.Mutex
	limit   int
	count   int // forked processes not yet reaped
	zombies int // forked processes ended and not yet reaped
}

// NewTree returns an empty Tree allowing limit forked processes at once
// (0: DefaultLimit; negative: no limit).
func NewTree(limit int) *Tree {
	if limit == 0 {
		limit = DefaultLimit
	}
	return &Tree{limit: limit}
}

// Count returns the number of forked processes the Tree holds: running,
// or ended and not yet joined.
func (t *Tree) Count() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.count
}

// Zombies returns the number of forked processes that have ended and
// wait for their parent to join them.
func (t *Tree) Zombies() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.zombies
}

// Proc is one process of a Tree. The host creates it (Root for a program
// it starts, Child for a fork) and ends it (End) with the process's
// outcome; the imports find it from their env with Lookup.
type Proc struct {
	tree *Tree
	pid  int32
	env  *env.WasiEnv
	host Host

	// Under tree.mu.
	parent   *Proc
	children map[int32]*Proc
	forked   bool // counts against the limit until reaped
	ended    bool
	reaped   bool
	status   Status

	// childEnded has a token when a child ended; the join waits on it.
	childEnded chan struct{}
	// released is closed when a vfork parent may go on: this child
	// exec'd or ended.
	released    chan struct{}
	releaseOnce sync.Once

	exec *Exec // the exec in flight; guest goroutine only
	argv argv
}

var procs sync.Map // *env.WasiEnv -> *Proc

// Lookup returns the Proc of process e, or nil.
func Lookup(e *env.WasiEnv) *Proc {
	if v, ok := procs.Load(e); ok {
		return v.(*Proc)
	}
	return nil
}

func (t *Tree) newProc(e *env.WasiEnv, pid int32, h Host) *Proc {
	return &Proc{tree: t, pid: pid, env: e, host: h, children: make(map[int32]*Proc),
		childEnded: make(chan struct{}, 1), released: make(chan struct{})}
}

// Root adds a process the host started by itself: it has no parent
// (proc_parent reports 0) and does not count against the limit.
func (t *Tree) Root(e *env.WasiEnv, pid int32, h Host) *Proc {
	p := t.newProc(e, pid, h)
	procs.Store(e, p)
	return p
}

// Child adds a forked child of parent, or fails with ErrLimit. The host
// calls it before it runs the child; if it then fails to start it, it
// calls Abandon.
func (t *Tree) Child(parent *Proc, e *env.WasiEnv, pid int32, h Host) (*Proc, error) {
	c := t.newProc(e, pid, h)
	t.mu.Lock()
	if t.limit > 0 && t.count >= t.limit {
		t.mu.Unlock()
		return nil, ErrLimit
	}
	t.count++
	c.parent, c.forked = parent, true
	parent.children[pid] = c
	t.mu.Unlock()
	procs.Store(e, c)
	return c, nil
}

// Abandon removes a child that never ran, without telling its parent.
func (p *Proc) Abandon() {
	t := p.tree
	t.mu.Lock()
	t.reap(p)
	p.ended = true
	t.mu.Unlock()
	procs.CompareAndDelete(p.env, p)
	p.release()
}

// Pid returns the process's pid.
func (p *Proc) Pid() int32 { return p.pid }

// Env returns the process's env.
func (p *Proc) Env() *env.WasiEnv { return p.env }

// Parent returns the parent's pid, or 0 for a process the host started
// and for an orphan (its parent ended first).
func (p *Proc) Parent() int32 {
	p.tree.mu.Lock()
	defer p.tree.mu.Unlock()
	if p.parent == nil {
		return 0
	}
	return p.parent.pid
}

// End records that the process ended with outcome (what host.Process.Wait
// returns) and tells its parent: the parent can join it, and it receives
// SIGCHLD. Its own children become orphans: they run on, and nobody joins
// them. A vfork parent waiting for it goes on. Only the first call counts.
func (p *Proc) End(outcome error) {
	t := p.tree
	t.mu.Lock()
	if p.ended {
		t.mu.Unlock()
		return
	}
	p.ended, p.status = true, StatusOf(outcome)
	for pid, c := range p.children {
		if c.ended {
			t.reap(c)
		}
		delete(p.children, pid)
		c.parent = nil
	}
	parent := p.parent
	if parent == nil {
		t.reap(p) // nobody will join it
	} else {
		t.zombies++
	}
	t.mu.Unlock()
	procs.CompareAndDelete(p.env, p)
	p.release()
	if parent != nil {
		select {
		case parent.childEnded <- struct{}{}:
		default:
		}
		// Ignored by default; refused when the parent has ended.
		_ = parent.env.Signal(wasix.SIGCHLD)
	}
}

// reap forgets an ended process. t.mu held.
func (t *Tree) reap(c *Proc) {
	if c.reaped {
		return
	}
	c.reaped = true
	if c.parent != nil && c.parent.children[c.pid] == c {
		delete(c.parent.children, c.pid)
		if c.ended && c.forked {
			t.zombies--
		}
	}
	if c.forked {
		t.count--
	}
}

func (p *Proc) release() { p.releaseOnce.Do(func() { close(p.released) }) }

// take reaps an ended child: the one with pid want, or any (want <= 0),
// the lowest pid first. exists reports whether there is such a child at
// all, ended or not.
func (p *Proc) take(want int32) (c *Proc, exists bool) {
	t := p.tree
	t.mu.Lock()
	defer t.mu.Unlock()
	if want > 0 {
		c = p.children[want]
		if c == nil {
			return nil, false
		}
		if !c.ended {
			return nil, true
		}
		t.reap(c)
		return c, true
	}
	for _, k := range p.children {
		if k.ended && (c == nil || k.pid < c.pid) {
			c = k
		}
	}
	if c != nil {
		t.reap(c)
	}
	return c, len(p.children) > 0 || c != nil
}

// Join waits for a child to end and reaps it: the child with pid want, or
// any child (want <= 0). It returns the child (nil when none has ended
// and block is false) and ECHILD when there is no such child. A blocking
// join is a wait like a sleep: a delivered signal ends it with EINTR,
// unless a child has ended by then (as Linux checks for an ended child
// before it looks at signals); one that is dropped does not. err is the
// terminal error when the process ended during the wait. c is the Caller
// of the import (or the store).
func (p *Proc) Join(c wasmtime.Storelike, want int32, block bool) (*Proc, wasix.Errno, error) {
	e := p.env
	if err := e.ProcessSignals(c); err != nil {
		return nil, 0, err
	}
	// A token left by a signal already delivered must not cut this short.
	select {
	case <-e.Wake():
	default:
	}
	for {
		select {
		case <-p.childEnded:
		default:
		}
		child, exists := p.take(want)
		switch {
		case child != nil:
			// The SIGCHLD it sent is delivered as the call returns.
			return child, wasix.ESUCCESS, e.ProcessSignals(c)
		case !exists:
			return nil, wasix.ECHILD, nil
		case !block:
			return nil, wasix.ESUCCESS, nil
		}
		if !e.Attention() {
			select {
			case <-p.childEnded:
			case <-e.Wake():
			}
			continue
		}
		interrupted, err := e.Interrupted(c)
		if err != nil {
			return nil, 0, err
		}
		if interrupted {
			if child, _ := p.take(want); child != nil {
				return child, wasix.ESUCCESS, nil
			}
			return nil, wasix.EINTR, nil
		}
	}
}

// Status returns how an ended process ended.
func (p *Proc) Status() Status {
	p.tree.mu.Lock()
	defer p.tree.mu.Unlock()
	return p.status
}

// waitReleased blocks a vfork parent until child execs or ends. Only
// SIGKILL, an exit or a default action that ends the parent cuts it
// short (delivery to handlers is suspended while the parent's stack is
// unwound); err is then the parent's end.
func (p *Proc) waitReleased(s wasmtime.Storelike, child *Proc) error {
	for {
		select {
		case <-child.released:
			return nil
		case <-p.env.Wake():
		}
		if _, err := p.env.Interrupted(s); err != nil {
			return err
		}
	}
}
