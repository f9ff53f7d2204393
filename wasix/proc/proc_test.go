package proc_test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/bytecodealliance/wasmtime-go/v25"
	"github.com/google/go-cmp/cmp"
	"github.com/wasix-org/wasix-signals-go/wasix"
	"github.com/wasix-org/wasix-signals-go/wasix/env"
	"github.com/wasix-org/wasix-signals-go/wasix/proc"
)

func TestStatusOf(t *testing.T) {
	tests := []struct {
		outcome      error
		want         proc.Status
		wait, dollar int
	}{
		{nil, proc.Status{}, 0, 0},
		{&wasix.ExitError{Status: 3}, proc.Status{Code: 3}, 3 << 8, 3},
		{&wasix.ExitError{Status: 300}, proc.Status{Code: 44}, 44 << 8, 44},
		{&wasix.ExitError{Status: 143, Signal: wasix.SIGTERM}, proc.Status{Signal: wasix.SIGTERM}, 15, 143},
		{fmt.Errorf("stuck: %w", &wasix.ExitError{Status: 137, Signal: wasix.SIGKILL}), proc.Status{Signal: wasix.SIGKILL}, 9, 137},
		{&wasix.HandlerTrapError{Signal: wasix.SIGUSR1, Err: errors.New("trap")}, proc.Status{Signal: wasix.SIGABRT}, 6, 134},
		{errors.New("wasm trap: unreachable"), proc.Status{Signal: wasix.SIGABRT}, 6, 134},
	}
	for _, tt := range tests {
		got := proc.StatusOf(tt.outcome)
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("StatusOf(%v) (-want +got):\n%s", tt.outcome, diff)
		}
		if w := got.WaitStatus(); w != uint32(tt.wait) {
			t.Errorf("WaitStatus of %v = %#x, want %#x", tt.outcome, w, tt.wait)
		}
		if s := got.ShellStatus(); s != tt.dollar {
			t.Errorf("ShellStatus of %v = %d, want %d", tt.outcome, s, tt.dollar)
		}
	}
}

// nopHost is a Host that is never asked anything in these tests.
type nopHost struct{}

func (nopHost) Fork(*proc.Proc, *proc.Fork) (*proc.Proc, error) { return nil, errors.New("no") }
func (nopHost) Load(*proc.Proc, string) (any, error)            { return nil, proc.ErrNotFound }

func newEnv(t *testing.T, pid int32) *env.WasiEnv {
	t.Helper()
	store := wasmtime.NewStore(wasmtime.NewEngine())
	e := env.New(store, env.Config{Pid: pid})
	t.Cleanup(func() { e.Close(); store.Close() })
	return e
}

// TestTree: the limit, joining, zombies and orphans, without any guest.
func TestTree(t *testing.T) {
	tree := proc.NewTree(2)
	root := tree.Root(newEnv(t, 1), 1, nopHost{})
	a, err := tree.Child(root, newEnv(t, 2), 2, nopHost{})
	if err != nil {
		t.Fatal(err)
	}
	b, err := tree.Child(root, newEnv(t, 3), 3, nopHost{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tree.Child(root, newEnv(t, 4), 4, nopHost{}); !errors.Is(err, proc.ErrLimit) {
		t.Fatalf("third child: %v, want ErrLimit", err)
	}
	store := root.Env().Store()
	if c, errno, err := root.Join(store, 0, false); c != nil || errno != 0 || err != nil {
		t.Fatalf("WNOHANG with none ended: %v %v %v", c, errno, err)
	}
	gc, err := tree.Child(b, newEnv(t, 5), 5, nopHost{})
	if !errors.Is(err, proc.ErrLimit) || gc != nil {
		t.Fatalf("grandchild at the limit: %v", err)
	}
	a.End(&wasix.ExitError{Status: 143, Signal: wasix.SIGTERM})
	if got := tree.Zombies(); got != 1 {
		t.Errorf("zombies %d, want 1", got)
	}
	if a.Env().Pending(wasix.SIGCHLD) || !root.Env().Pending(wasix.SIGCHLD) {
		t.Error("SIGCHLD should be pending in the parent only")
	}
	c, errno, err := root.Join(store, 2, true)
	if err != nil || errno != 0 || c != a {
		t.Fatalf("join 2: %v %v %v", c, errno, err)
	}
	if diff := cmp.Diff(proc.Status{Signal: wasix.SIGTERM}, c.Status()); diff != "" {
		t.Error(diff)
	}
	if c, errno, _ := root.Join(store, 2, true); c != nil || errno != wasix.ECHILD {
		t.Errorf("second join of 2: %v %v, want ECHILD", c, errno)
	}
	if got := tree.Count(); got != 1 {
		t.Errorf("count %d, want 1", got)
	}
	// The slot is free again; b's own child is orphaned when b ends, and
	// reaped when it ends in turn, since nobody will join it.
	gc, err = tree.Child(b, newEnv(t, 5), 5, nopHost{})
	if err != nil {
		t.Fatal(err)
	}
	if gc.Parent() != 3 {
		t.Errorf("grandchild's parent %d, want 3", gc.Parent())
	}
	b.End(nil)
	if gc.Parent() != 0 {
		t.Errorf("orphan's parent %d, want 0", gc.Parent())
	}
	gc.End(&wasix.ExitError{Status: 1})
	if c, errno, _ := root.Join(store, 0, true); c != b || errno != 0 {
		t.Fatalf("join any: %v %v", c, errno)
	}
	if n, z := tree.Count(), tree.Zombies(); n != 0 || z != 0 {
		t.Errorf("count %d, zombies %d, want 0 0", n, z)
	}
	if c, errno, _ := root.Join(store, 0, true); c != nil || errno != wasix.ECHILD {
		t.Errorf("join with no child: %v %v, want ECHILD", c, errno)
	}
}
