package asyncify

import (
	crand "crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
)

// TokenSize is the size of the token a guest keeps for a snapshot (a
// WASIX jmp_buf: {u64 user; u8 hash[16]}).
const TokenSize = 24

// Token is what the guest keeps: the snapshot's id, the table's key and a
// random tag. Nothing in it is an address or a length; a guest that
// changes a byte gets an error, never another snapshot.
type Token [TokenSize]byte

// Why a token does not name a live snapshot.
var (
	// ErrForged: the token was not made by this table (or was altered).
	ErrForged = errors.New("forged")
	// ErrStale: the token was made by this table, for a snapshot evicted
	// since (the table keeps a bounded number).
	ErrStale = errors.New("stale")
	// ErrForeign: the token was made by another live table, that is by
	// another process.
	ErrForeign = errors.New("foreign")
)

// Snapshot is a saved stack with its identity.
type Snapshot struct {
	ID    uint64
	Home  uint64 // where the guest was asked to keep its token
	Stack *Stack
	tag   uint64
	token Token
}

// Token returns the snapshot's token.
func (s *Snapshot) Token() Token { return s.token }

// Limits of a table; the zero value is DefaultLimits.
type Limits struct {
	Count int // snapshots kept
	Bytes int // frame bytes kept, all snapshots together
}

// DefaultLimits bound a table to 256 snapshots and 4 MiB of frames.
var DefaultLimits = Limits{Count: 256, Bytes: 4 << 20}

// keys records the key of every live table, to tell a foreign token from
// a forged one, with the number of tables sharing it (a forked process's
// table keeps its parent's key, see Clone).
var keys sync.Map // uint64 -> *atomic.Int32

// Table keeps the snapshots of one process, oldest first, within its
// limits. It is not goroutine-safe: it belongs to the guest's goroutine.
type Table struct {
	key    uint64
	rng    *rand.ChaCha8
	next   uint64
	limits Limits
	live   map[uint64]*Snapshot
	order  []*Snapshot // oldest first; evicted entries are nil until compacted
	head   int
	bytes  int
}

// NewTable returns an empty table with a random key. Close it when the
// process ends.
func NewTable(l Limits) *Table {
	if l.Count <= 0 {
		l.Count = DefaultLimits.Count
	}
	if l.Bytes <= 0 {
		l.Bytes = DefaultLimits.Bytes
	}
	var seed [32]byte
	_, _ = crand.Read(seed[:]) // never fails (crypto/rand panics rather)
	t := &Table{rng: rand.NewChaCha8(seed), next: 1, limits: l, live: make(map[uint64]*Snapshot)}
	for {
		t.key = t.rng.Uint64()
		n := new(atomic.Int32)
		n.Store(1)
		if _, dup := keys.LoadOrStore(t.key, n); t.key != 0 && !dup {
			break
		}
	}
	return t
}

// Close forgets the table's key once no clone shares it.
func (t *Table) Close() {
	if v, ok := keys.Load(t.key); ok && v.(*atomic.Int32).Add(-1) == 0 {
		keys.CompareAndDelete(t.key, v)
	}
}

// Clone returns a table for a forked process: the same snapshots under
// the same key, so that the jmp_bufs in the child's copy of the memory
// still name them; new snapshots are numbered on from here in both, each
// with its own random tags. Close both.
func (t *Table) Clone() *Table {
	var seed [32]byte
	_, _ = crand.Read(seed[:])
	c := &Table{key: t.key, rng: rand.NewChaCha8(seed), next: t.next, limits: t.limits,
		live: make(map[uint64]*Snapshot, len(t.live)), bytes: t.bytes}
	for id, s := range t.live {
		c.live[id] = s
	}
	c.order = append(c.order, t.order[t.head:]...)
	if v, ok := keys.Load(t.key); ok {
		v.(*atomic.Int32).Add(1)
	}
	return c
}

// Len and Bytes report what the table holds.
func (t *Table) Len() int   { return len(t.live) }
func (t *Table) Bytes() int { return t.bytes }

// Add keeps st as a new snapshot whose token the guest keeps at home, and
// evicts old ones to stay within the limits. The snapshots wait in a
// queue, oldest first. Eviction first walks it once: a snapshot whose
// token is no longer at its home (held reports whether it is) goes, since
// the guest can reach it only through a copy of its jmp_buf; one still
// held moves to the back. If that is not enough, the front of the queue
// goes, whatever it is, but never the snapshot just added. held may be
// nil.
func (t *Table) Add(st *Stack, home uint64, held func(home uint64, tok Token) bool) *Snapshot {
	s := &Snapshot{ID: t.next, Home: home, Stack: st, tag: t.rng.Uint64()}
	t.next++
	binary.LittleEndian.PutUint64(s.token[0:], s.ID)
	binary.LittleEndian.PutUint64(s.token[8:], t.key)
	binary.LittleEndian.PutUint64(s.token[16:], s.tag)
	t.live[s.ID] = s
	t.order = append(t.order, s)
	t.bytes += len(st.Data)
	t.evict(s, held)
	return s
}

func (t *Table) over() bool { return len(t.live) > t.limits.Count || t.bytes > t.limits.Bytes }

func (t *Table) evict(keep *Snapshot, held func(uint64, Token) bool) {
	if !t.over() {
		return
	}
	// Pass 1: snapshots whose token was overwritten at home; the guest can
	// reach them only through a copy. The ones still held move to the back.
	if held != nil {
		for n := len(t.order) - t.head; n > 0 && t.over(); n-- {
			s := t.order[t.head]
			t.order[t.head] = nil
			t.head++
			if s == nil {
				continue
			}
			if s != keep && !held(s.Home, s.token) {
				t.drop(s)
				continue
			}
			t.order = append(t.order, s)
		}
	}
	// Pass 2: the oldest, whatever they are; never the one just added.
	for t.over() && t.head < len(t.order) {
		s := t.order[t.head]
		if s == keep {
			if len(t.live) == 1 {
				break
			}
			t.order[t.head] = nil
			t.head++
			t.order = append(t.order, s)
			continue
		}
		t.order[t.head] = nil
		t.head++
		if s != nil {
			t.drop(s)
		}
	}
	if t.head > len(t.order)/2 {
		t.order = append(t.order[:0], t.order[t.head:]...)
		t.head = 0
	}
}

func (t *Table) drop(s *Snapshot) {
	delete(t.live, s.ID)
	t.bytes -= len(s.Stack.Data)
}

// Lookup returns the snapshot a token names, or an error wrapping
// ErrForged, ErrStale or ErrForeign.
func (t *Table) Lookup(tok Token) (*Snapshot, error) {
	id := binary.LittleEndian.Uint64(tok[0:])
	key := binary.LittleEndian.Uint64(tok[8:])
	tag := binary.LittleEndian.Uint64(tok[16:])
	if key != t.key {
		if _, ok := keys.Load(key); ok && key != 0 {
			return nil, fmt.Errorf("%w (made by another process)", ErrForeign)
		}
		return nil, fmt.Errorf("%w (not made by setjmp in this process)", ErrForged)
	}
	s := t.live[id]
	switch {
	case s != nil && s.tag == tag:
		return s, nil
	case s != nil || id == 0 || id >= t.next:
		return nil, fmt.Errorf("%w (snapshot %d does not match)", ErrForged, id)
	}
	return nil, fmt.Errorf("%w (snapshot %d was evicted: at most %d snapshots and %d bytes are kept)", ErrStale, id, t.limits.Count, t.limits.Bytes)
}
