package asyncify_test

import (
	"encoding/binary"
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/wasix-org/wasix-signals-go/internal/asyncify"
)

func stackOf(n int) *asyncify.Stack { return &asyncify.Stack{SP: 4096, Data: make([]byte, n)} }

func TestLookup(t *testing.T) {
	tab := asyncify.NewTable(asyncify.Limits{Count: 2})
	defer tab.Close()
	other := asyncify.NewTable(asyncify.Limits{})
	defer other.Close()
	first := tab.Add(stackOf(8), 100, nil)
	tab.Add(stackOf(8), 200, nil)
	live := tab.Add(stackOf(8), 300, nil) // evicts first
	alter := func(tok asyncify.Token, at int, v uint64) asyncify.Token {
		binary.LittleEndian.PutUint64(tok[at:], v)
		return tok
	}
	tests := []struct {
		name string
		tok  asyncify.Token
		want error // nil: found
	}{
		{"live", live.Token(), nil},
		{"evicted", first.Token(), asyncify.ErrStale},
		{"zero", asyncify.Token{}, asyncify.ErrForged},
		{"tag changed", alter(live.Token(), 16, 1), asyncify.ErrForged},
		{"id never issued", alter(live.Token(), 0, 99), asyncify.ErrForged},
		{"id zero", alter(live.Token(), 0, 0), asyncify.ErrForged},
		{"key changed", alter(live.Token(), 8, 12345), asyncify.ErrForged},
		{"another table's", other.Add(stackOf(8), 100, nil).Token(), asyncify.ErrForeign},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := tab.Lookup(tt.tok)
			if tt.want == nil {
				if err != nil || s != live {
					t.Fatalf("Lookup = %v, %v; want the live snapshot", s, err)
				}
				return
			}
			if !errors.Is(err, tt.want) || s != nil {
				t.Fatalf("Lookup = %v, %v; want %v", s, err, tt.want)
			}
		})
	}
}

// TestEviction: snapshots whose token is no longer at home go first; held
// ones survive until only they are left over the limit.
func TestEviction(t *testing.T) {
	tab := asyncify.NewTable(asyncify.Limits{Count: 3, Bytes: 100})
	defer tab.Close()
	held := map[uint64]bool{1: true} // home 1 keeps its token
	isHeld := func(home uint64, _ asyncify.Token) bool { return held[home] }
	main := tab.Add(stackOf(10), 1, isHeld)
	var last *asyncify.Snapshot
	for i := 0; i < 1000; i++ {
		last = tab.Add(stackOf(10), 2, isHeld) // same home: each replaces the one before
	}
	if _, err := tab.Lookup(main.Token()); err != nil {
		t.Errorf("the held snapshot was evicted: %v", err)
	}
	if _, err := tab.Lookup(last.Token()); err != nil {
		t.Errorf("the newest snapshot was evicted: %v", err)
	}
	if got := []int{tab.Len(), tab.Bytes()}; got[0] > 3 || got[1] > 100 {
		t.Errorf("table holds %d snapshots, %d bytes; limits 3, 100", got[0], got[1])
	}
	// Held everywhere: one goes, never the newest.
	held[3], held[4], held[5] = true, true, true
	snaps := []*asyncify.Snapshot{main}
	for home := uint64(3); home <= 5; home++ {
		snaps = append(snaps, tab.Add(stackOf(10), home, isHeld))
	}
	stale := 0
	for _, s := range snaps {
		if _, err := tab.Lookup(s.Token()); errors.Is(err, asyncify.ErrStale) {
			stale++
		}
	}
	if _, err := tab.Lookup(snaps[3].Token()); err != nil || stale != 1 || tab.Len() != 3 {
		t.Errorf("all held: newest %v, %d stale, %d kept; want live, 1, 3", err, stale, tab.Len())
	}
	// Bytes: one large snapshot pushes the others out, but is itself kept.
	big := tab.Add(stackOf(500), 6, isHeld)
	if _, err := tab.Lookup(big.Token()); err != nil {
		t.Errorf("a snapshot over the byte limit on its own was evicted: %v", err)
	}
	if diff := cmp.Diff([]int{1, 500}, []int{tab.Len(), tab.Bytes()}); diff != "" {
		t.Errorf("len, bytes (-want +got):\n%s", diff)
	}
}

// TestClone: a forked process's copy of the table finds the parent's
// snapshots, keeps its own from then on, and keeps the key known as
// "foreign" to others until both tables are closed.
func TestClone(t *testing.T) {
	parent := asyncify.NewTable(asyncify.Limits{})
	before := parent.Add(stackOf(8), 100, nil)
	child := parent.Clone()
	other := asyncify.NewTable(asyncify.Limits{})
	defer other.Close()
	lookup := func(tab *asyncify.Table, tok asyncify.Token) error {
		_, err := tab.Lookup(tok)
		return err
	}
	if err := lookup(child, before.Token()); err != nil {
		t.Fatalf("child: snapshot made before the fork: %v", err)
	}
	afterChild := child.Add(stackOf(8), 200, nil)
	afterParent := parent.Add(stackOf(8), 200, nil)
	if err := lookup(parent, afterChild.Token()); !errors.Is(err, asyncify.ErrForged) {
		t.Errorf("parent: the child's new snapshot: %v, want forged", err)
	}
	if err := lookup(child, afterParent.Token()); !errors.Is(err, asyncify.ErrForged) {
		t.Errorf("child: the parent's new snapshot: %v, want forged", err)
	}
	parent.Close()
	if err := lookup(child, before.Token()); err != nil {
		t.Errorf("child after the parent closed: %v", err)
	}
	if err := lookup(other, before.Token()); !errors.Is(err, asyncify.ErrForeign) {
		t.Errorf("other table while the child lives: %v, want foreign", err)
	}
	child.Close()
	if err := lookup(other, before.Token()); !errors.Is(err, asyncify.ErrForged) {
		t.Errorf("other table once both closed: %v, want forged", err)
	}
}
