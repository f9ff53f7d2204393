package epoch_test

import (
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/wasix-org/wasix-signals-go/internal/epoch"
)

// ringUntil queues sig for s and, until the callback has delivered it,
// rings bell and kicks the engine (ring first, every time).
func ringUntil(k *epoch.Kicker, bell *epoch.Bell, s *signaller, sig int32) bool {
	s.pending.Store(sig)
	deadline := time.Now().Add(timeout)
	for s.acked.Load() != sig {
		if time.Now().After(deadline) {
			return false
		}
		bell.Ring()
		k.Kick()
		select {
		case <-s.wake:
		case <-time.After(every):
		}
	}
	return true
}

// TestBellGatesCallback: with bells, kicks of the engine run no store's Go
// callback; a ring runs only the rung store's.
func TestBellGatesCallback(t *testing.T) {
	engine := newEngine(t, true)
	const n = 2
	var (
		gs    [n]*guest
		ss    [n]signaller
		bells [n]*epoch.Bell
		errs  [n]error
		wg    sync.WaitGroup
	)
	for i := range gs {
		gs[i] = newGuest(t, engine)
		bells[i] = epoch.NewBell()
		h, err := epoch.InstallBell(gs[i].store, bells[i], ss[i].callback(gs[i]))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(h.Close)
	}
	for i := range gs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = gs[i].spin.Call(gs[i].store)
		}()
	}
	k := epoch.NewKicker(engine)
	calls := func() [n]int32 { return [n]int32{ss[0].calls.Load(), ss[1].calls.Load()} }

	// Unrung kicks: both guests pass many deadlines, neither enters Go.
	for i := 0; i < 50; i++ {
		k.Kick()
		time.Sleep(every)
	}
	unrung := calls()

	// A ring for guest 0 only.
	acked0 := ringUntil(k, bells[0], &ss[0], sigusr1)
	afterFirst := calls()
	acked1 := ringUntil(k, bells[1], &ss[1], sigusr1+1)
	wg.Wait()

	type result struct {
		Unrung         [n]int32
		FirstRan       bool
		SecondAtFirst  int32
		Acked          [n]bool
		Counts, Args   [n]int32
		Errs           [n]string
		SecondRanLater bool
	}
	got := result{
		Unrung:         unrung,
		FirstRan:       afterFirst[0] > 0,
		SecondAtFirst:  afterFirst[1],
		Acked:          [n]bool{acked0, acked1},
		SecondRanLater: calls()[1] > 0,
	}
	for i, g := range gs {
		got.Counts[i], got.Args[i] = g.i32(t, g.count), g.i32(t, g.arg)
		if errs[i] != nil {
			got.Errs[i] = errs[i].Error()
		}
	}
	want := result{
		FirstRan:       true,
		Acked:          [n]bool{true, true},
		Counts:         [n]int32{1, 1},
		Args:           [n]int32{sigusr1, sigusr1 + 1},
		SecondRanLater: true,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

// TestBellOutlivesOwner: a bell dropped (and collected) while a store still
// uses it stays valid for that store: no callback runs, nothing crashes,
// until the store goes.
func TestBellOutlivesOwner(t *testing.T) {
	engine := newEngine(t, true)
	g := newGuest(t, engine)
	before := epoch.Registered()
	var calls int
	func() {
		bell := epoch.NewBell()
		if _, err := epoch.InstallBell(g.store, bell, func() (uint64, error) { calls++; return 1, nil }); err != nil {
			t.Fatal(err)
		}
		bell.Ring()
	}()
	runtime.GC()
	runtime.GC()
	stop := kickInBackground(engine)
	// iter runs through many epoch checks while the engine is kicked; the
	// one ring is taken once.
	for i := 0; i < 20; i++ {
		if _, err := g.it.Call(g.store, int32(1_000_000)); err != nil {
			t.Fatal(err)
		}
		runtime.GC()
	}
	stop()
	if calls != 1 {
		t.Errorf("callback ran %d times after one ring, want 1", calls)
	}
	g.store.Close()
	if n := epoch.Registered(); n != before {
		t.Errorf("after store.Close: Registered = %d, want %d", n, before)
	}
}
