package e2e_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/wasix-org/wasix-signals-go/host"
	"github.com/wasix-org/wasix-signals-go/wasix"
)

func newRuntime(t *testing.T) *host.Runtime {
	t.Helper()
	rt, err := host.NewRuntime(host.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return rt
}

func compile(t *testing.T, rt *host.Runtime, path string) *host.Module {
	t.Helper()
	wasm, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	m, err := rt.Compile(wasm)
	if err != nil {
		t.Fatalf("compile %s: %v", filepath.Base(path), err)
	}
	return m
}

// guest is a process started through the host API, its stdout and stderr
// going to files.
type guest struct {
	*host.Process
	stdoutPath, stderrPath string
}

// start starts m with args (program name first). The process is killed at
// the end of the test if it still runs.
func start(t *testing.T, ctx context.Context, rt *host.Runtime, m *host.Module, cfg host.Config) *guest {
	t.Helper()
	dir := t.TempDir()
	g := &guest{stdoutPath: filepath.Join(dir, "stdout"), stderrPath: filepath.Join(dir, "stderr")}
	for _, p := range []string{g.stdoutPath, g.stderrPath} {
		if err := os.WriteFile(p, nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cfg.Stdout, cfg.Stderr = g.stdoutPath, g.stderrPath
	p, err := rt.Start(ctx, m, cfg)
	if err != nil {
		t.Fatalf("start %q: %v", cfg.Args, err)
	}
	g.Process = p
	t.Cleanup(func() {
		_ = p.Signal(wasix.SIGKILL)
		select {
		case <-p.Done():
		case <-time.After(timeout):
			t.Errorf("%q did not end after SIGKILL", cfg.Args)
		}
	})
	return g
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func (g *guest) stdout(t *testing.T) string { t.Helper(); return readFile(t, g.stdoutPath) }
func (g *guest) stderr(t *testing.T) string { t.Helper(); return readFile(t, g.stderrPath) }

// waitOutput waits until the guest's stdout contains want.
func (g *guest) waitOutput(t *testing.T, want string) {
	t.Helper()
	waitCond(t, fmt.Sprintf("%q on stdout", want), func() bool {
		select {
		case <-g.Done():
			return true // checked below
		default:
		}
		return strings.Contains(g.stdout(t), want)
	})
	if !strings.Contains(g.stdout(t), want) {
		t.Fatalf("guest ended (%v) without %q on stdout:\n%s\nstderr:\n%s", g.Wait(), want, g.stdout(t), g.stderr(t))
	}
}

// wait waits for the end of the guest and returns its outcome.
func (g *guest) wait(t *testing.T) error {
	t.Helper()
	select {
	case <-g.Done():
	case <-time.After(timeout):
		t.Fatalf("guest still running after %v; stdout:\n%s", timeout, g.stdout(t))
	}
	return g.Wait()
}

// checkExit compares an outcome with the exit status expected.
func checkExit(t *testing.T, g *guest, outcome error, want int) {
	t.Helper()
	if got := host.ExitCode(outcome); got != want {
		t.Errorf("exit status %d (outcome %v), want %d\nstdout:\n%s\nstderr:\n%s", got, outcome, want, g.stdout(t), g.stderr(t))
	}
}

// TestPeerSignal: a guest signals another by pid, only inside its group.
func TestPeerSignal(t *testing.T) {
	for _, c := range []struct {
		name   string
		same   bool // kill_peer in the peer's group
		group  bool // else in a group of its own (or none)
		sig    string
		errno  int
		reach  bool // the peer gets SIGUSR1 from kill_peer
		target func(peer int32) int32
	}{
		{name: "same group", same: true, sig: "10", errno: 0, reach: true},
		{name: "same group/probe", same: true, sig: "0", errno: 0},
		{name: "same group/unknown pid", same: true, sig: "10", errno: 71,
			target: func(peer int32) int32 { return peer + 1000 }},
		{name: "other group", group: true, sig: "10", errno: 71},
		{name: "other group/probe", group: true, sig: "0", errno: 71},
		{name: "no group", sig: "10", errno: 71},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			rt := newRuntime(t)
			g := host.NewGroup()
			peer := start(t, context.Background(), rt, compile(t, rt, fixture("peer_wait.wasm")),
				host.Config{Args: []string{"peer_wait", "400"}, Group: g})
			waiting := fmt.Sprintf("peer_wait: pid %d waiting\n", peer.Pid())
			peer.waitOutput(t, waiting)

			pid := peer.Pid()
			if c.target != nil {
				pid = c.target(pid)
			}
			cfg := host.Config{Args: []string{"kill_peer", strconv.Itoa(int(pid)), c.sig}}
			switch {
			case c.same:
				cfg.Group = g
			case c.group:
				cfg.Group = host.NewGroup()
			}
			killer := start(t, context.Background(), rt, compile(t, rt, fixture("kill_peer.wasm")), cfg)
			checkExit(t, killer, killer.wait(t), 0)
			want := fmt.Sprintf("kill_peer: proc_signal(%d, %s) = %d\n", pid, c.sig, c.errno)
			if got := killer.stdout(t); got != want {
				t.Errorf("kill_peer stdout = %q, want %q", got, want)
			}

			if !c.reach {
				// Untouched: nothing was raised in it, it still waits.
				if n := peer.Env().Counters().Raised; n != 0 {
					t.Errorf("peer had %d signals raised, want none", n)
				}
				select {
				case <-peer.Done():
					t.Fatalf("peer ended: %v\nstdout:\n%s", peer.Wait(), peer.stdout(t))
				default:
				}
				if err := peer.Signal(wasix.SIGUSR1); err != nil {
					t.Fatalf("Signal: %v", err)
				}
			}
			checkExit(t, peer, peer.wait(t), 0)
			if diff := cmp.Diff(waiting+"peer got SIGUSR1\n", peer.stdout(t)); diff != "" {
				t.Errorf("peer stdout (-want +got):\n%s", diff)
			}
		})
	}
}

// stubbornWAT (signals_test.go) takes every signal and spins.

// TestCancel: cancelling the context of a run sends SIGTERM, then SIGKILL
// after the grace period.
func TestCancel(t *testing.T) {
	for _, c := range []struct {
		name    string
		guest   func(t *testing.T) string
		ready   string
		grace   time.Duration
		code    int
		signal  wasix.Signal // ExitError.Signal
		stdout  []string     // after the ready line
		stderr  string
		atLeast time.Duration // between cancel and the end
	}{
		// sleeper handles SIGTERM and returns from main.
		{name: "sleeper", guest: fix("sleeper.wasm"), ready: "ready\n",
			stdout: []string{"stopped by signal 15"}},
		// spin handles only SIGUSR1: SIGTERM reaches (by epoch) the
		// registered dispatcher, which runs libc's default action for
		// it: the message, abort() with SIGABRT left blocked, _Exit(127).
		// All of this is well within the grace, so no SIGKILL.
		{name: "spin", guest: fix("spin.wasm"), ready: "spinning\n", grace: 100 * time.Millisecond,
			code: 127, stderr: "Program recieved termination signal: Terminated\n"},
		// Negative grace: SIGKILL at once.
		{name: "sleeper/no grace", guest: fix("sleeper.wasm"), ready: "ready\n", grace: -1,
			code: 137, signal: wasix.SIGKILL},
		// A handler that does not stop the guest: SIGKILL after the grace.
		{name: "stubborn", guest: wat("stubborn.wat", stubbornWAT), ready: "ready\n", grace: 100 * time.Millisecond,
			code: 137, signal: wasix.SIGKILL, stdout: []string{"handled"}, atLeast: 100 * time.Millisecond},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			rt := newRuntime(t)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			g := start(t, ctx, rt, compile(t, rt, c.guest(t)), host.Config{Args: []string{"guest"}, Grace: c.grace})
			g.waitOutput(t, c.ready)
			before := len(lines(g.stdout(t)))
			cancelled := time.Now()
			cancel()
			outcome := g.wait(t)
			took := time.Since(cancelled)
			checkExit(t, g, outcome, c.code)
			var exit *wasix.ExitError
			if c.code != 0 && (!errors.As(outcome, &exit) || exit.Signal != c.signal) {
				t.Errorf("outcome %#v, want an ExitError with Signal %v", outcome, c.signal)
			}
			if diff := cmp.Diff(c.stdout, lines(g.stdout(t))[before:], cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("stdout after cancel (-want +got):\n%s", diff)
			}
			if got := g.stderr(t); got != c.stderr {
				t.Errorf("stderr = %q, want %q", got, c.stderr)
			}
			if took < c.atLeast {
				t.Errorf("ended %v after cancel, want at least %v", took, c.atLeast)
			}
		})
	}
}

func fix(name string) func(*testing.T) string {
	return func(*testing.T) string { return fixture(name) }
}

func wat(name, text string) func(*testing.T) string {
	return func(t *testing.T) string { return writeTemp(t, name, text) }
}

// countWAT counts the signals its handler receives (SIGTERM aside, which
// stops it) while it loops on 1 ms sleeps, then prints the count.
const countWAT = `(module
  (import "wasix_32v1" "callback_signal" (func $callback_signal (param i32 i32)))
  (import "wasix_32v1" "thread_sleep" (func $sleep (param i64) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write" (func $write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (global $count (mut i32) (i32.const 0))
  (global $stop (mut i32) (i32.const 0))
  (data (i32.const 16) "on_signal")
  (data (i32.const 64) "ready\n")
  (func $print (param $p i32) (param $n i32)
    (i32.store (i32.const 0) (local.get $p))
    (i32.store (i32.const 4) (local.get $n))
    (drop (call $write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8))))
  (func (export "on_signal") (param $sig i32)
    (if (i32.eq (local.get $sig) (i32.const 15))
      (then (global.set $stop (i32.const 1)))
      (else (global.set $count (i32.add (global.get $count) (i32.const 1))))))
  (func (export "_start") (local $n i32) (local $p i32)
    (call $callback_signal (i32.const 16) (i32.const 9))
    (call $print (i32.const 64) (i32.const 6))
    (block $done
      (loop $wait
        (br_if $done (global.get $stop))
        (drop (call $sleep (i64.const 1000000)))
        (br $wait)))
    (local.set $p (i32.const 200))
    (i32.store8 (i32.const 200) (i32.const 10))
    (local.set $n (global.get $count))
    (loop $digit
      (local.set $p (i32.sub (local.get $p) (i32.const 1)))
      (i32.store8 (local.get $p) (i32.add (i32.const 48) (i32.rem_u (local.get $n) (i32.const 10))))
      (local.set $n (i32.div_u (local.get $n) (i32.const 10)))
      (br_if $digit (local.get $n)))
    (call $print (local.get $p) (i32.sub (i32.const 201) (local.get $p)))))
`

// TestConcurrentSignals: 8 goroutines signal one running guest; every
// signal is accounted for.
func TestConcurrentSignals(t *testing.T) {
	t.Parallel()
	const senders, each = 8, 250
	rt := newRuntime(t)
	g := start(t, context.Background(), rt, compile(t, rt, writeTemp(t, "count.wat", countWAT)),
		host.Config{Args: []string{"count"}})
	g.waitOutput(t, "ready\n")
	sigs := []wasix.Signal{wasix.SIGHUP, wasix.SIGINT, wasix.SIGUSR1, wasix.SIGUSR2,
		wasix.SIGALRM, wasix.SIGCHLD, wasix.SIGWINCH, wasix.SIGPIPE}
	var wg sync.WaitGroup
	errs := make(chan error, senders*each)
	for i := range senders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range each {
				if err := g.Signal(sigs[(i+j)%len(sigs)]); err != nil {
					errs <- err
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("Signal: %v", err)
	}
	if err := g.Signal(wasix.SIGTERM); err != nil {
		t.Fatalf("Signal(SIGTERM): %v", err)
	}
	checkExit(t, g, g.wait(t), 0)
	got := lines(g.stdout(t))
	if len(got) != 2 || got[0] != "ready" {
		t.Fatalf("stdout = %q, want ready and a count", got)
	}
	handled, err := strconv.ParseUint(got[1], 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	c := g.Env().Counters()
	t.Logf("counters %+v, handler count %d", c, handled)
	if c.Raised != senders*each+1 {
		t.Errorf("Raised = %d, want %d", c.Raised, senders*each+1)
	}
	terminated := uint64(0)
	if c.TerminatedBy != 0 {
		terminated = 1
	}
	if sum := c.Delivered + c.Coalesced + c.Ignored + uint64(c.Pending) + terminated; sum != c.Raised {
		t.Errorf("Delivered+Coalesced+Ignored+Pending(+Terminated) = %d, Raised = %d", sum, c.Raised)
	}
	// Everything raised before SIGTERM was delivered or coalesced before it.
	want := c
	want.Delivered, want.Coalesced = handled+1, c.Raised-handled-1
	want.Ignored, want.Pending, want.TerminatedBy = 0, 0, 0
	if diff := cmp.Diff(want, c); diff != "" {
		t.Errorf("counters (-want +got):\n%s", diff)
	}
	if handled == 0 {
		t.Error("the handler ran for no signal but SIGTERM")
	}
}
