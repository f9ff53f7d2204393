package e2e_test

import (
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// TestHostSignal: a real signal to the wasix-run process reaches the guest.
func TestHostSignal(t *testing.T) {
	for _, c := range []struct {
		name   string
		guest  string
		ready  string // wait for this on stdout before signalling
		sig    syscall.Signal
		code   int
		stdout []string // the lines after ready's
		stderr string
	}{
		{"sleeper/INT", "sleeper.wasm", "ready\n", syscall.SIGINT, 0, []string{"stopped by signal 2"}, ""},
		{"sleeper/TERM", "sleeper.wasm", "ready\n", syscall.SIGTERM, 0, []string{"stopped by signal 15"}, ""},
		// No handler for these: libc's default action, then exit 127.
		{"sleeper/HUP", "sleeper.wasm", "ready\n", syscall.SIGHUP, 127, nil,
			"Program recieved termination signal: Hangup\n"},
		{"sleeper/USR2", "sleeper.wasm", "ready\n", syscall.SIGUSR2, 127, nil,
			"Program recieved termination signal: User defined signal 2\n"},
		{"sleeper/QUIT", "sleeper.wasm", "ready\n", syscall.SIGQUIT, 127, nil,
			"Program recieved fatal signal: Quit\n"},
		// A guest spinning in wasm, with no host call: epoch delivery.
		{"spin/USR1", "spin.wasm", "spinning\n", syscall.SIGUSR1, 0, []string{"spin: handled"}, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			r := startCLI(t, fixture(c.guest))
			r.waitOutput(t, c.ready)
			before := len(lines(r.stdout()))
			r.signal(t, c.sig)
			res := r.wait(t)
			if res.code != c.code {
				t.Errorf("exit status %d, want %d\nstderr:\n%s", res.code, c.code, clip(res.stderr))
			}
			if diff := cmp.Diff(c.stdout, lines(res.stdout)[before:], cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("stdout after the signal (-want +got):\n%s", diff)
			}
			if res.stderr != c.stderr {
				t.Errorf("stderr = %q, want %q", clip(res.stderr), c.stderr)
			}
		})
	}
}

// TestDemo: the demo ticks on its interval timer and stops on Ctrl-C.
func TestDemo(t *testing.T) {
	t.Parallel()
	r := startCLI(t, fixture("demo.wasm"))
	r.waitOutput(t, "tick\n")
	r.signal(t, syscall.SIGINT)
	res := r.wait(t)
	if res.code != 0 {
		t.Errorf("exit status %d, want 0\nstderr:\n%s", res.code, clip(res.stderr))
	}
	got := lines(res.stdout)
	want := []string{"demo: pid 1, press Ctrl-C", "got SIGUSR1"}
	for _, l := range got {
		if l == "tick" {
			want = append(want, l)
		}
	}
	want = append(want, "got SIGINT, exiting")
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("stdout (-want +got):\n%s", diff)
	}
}

// blockedWAT blocks delivery as wasix-libc does (registers a name it does
// not export), says "ready" and sleeps forever: every signal stays pending.
const blockedWAT = `(module
  (import "wasix_32v1" "callback_signal" (func $callback_signal (param i32 i32)))
  (import "wasix_32v1" "thread_sleep" (func $sleep (param i64) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write" (func $write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 16) "__wasm_signal_blocked")
  (data (i32.const 64) "ready\n")
  (func (export "_start")
    (call $callback_signal (i32.const 16) (i32.const 21))
    (i32.store (i32.const 0) (i32.const 64))
    (i32.store (i32.const 4) (i32.const 6))
    (drop (call $write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))
    (loop $forever
      (drop (call $sleep (i64.const 50000000)))
      (br $forever))))
`

// TestSecondInterrupt: a SIGINT while the previous one is still pending
// in the guest kills it (137).
func TestSecondInterrupt(t *testing.T) {
	t.Parallel()
	r := startCLI(t, writeTemp(t, "blocked.wat", blockedWAT))
	r.waitOutput(t, "ready\n")
	r.signal(t, syscall.SIGINT)
	// The first one stays pending: the guest goes on. (Not needed for
	// correctness: a check that it did not end on the first.)
	if r.exited(300 * time.Millisecond) {
		res := r.wait(t)
		t.Fatalf("guest ended on the first SIGINT: status %d\nstderr:\n%s", res.code, clip(res.stderr))
	}
	// The kernel may merge two SIGINTs sent back to back; repeat until it
	// ends. Any SIGINT after the first must kill it.
	for !r.exited(100 * time.Millisecond) {
		r.signal(t, syscall.SIGINT)
	}
	res := r.wait(t)
	if res.code != 137 {
		t.Errorf("exit status %d, want 137\nstderr:\n%s", res.code, clip(res.stderr))
	}
	if diff := cmp.Diff([]string{"ready"}, lines(res.stdout)); diff != "" {
		t.Errorf("stdout (-want +got):\n%s", diff)
	}
}

// stubbornWAT takes every signal in a handler that only says so, and spins
// in wasm with no host call.
const stubbornWAT = `(module
  (import "wasix_32v1" "callback_signal" (func $callback_signal (param i32 i32)))
  (import "wasi_snapshot_preview1" "fd_write" (func $write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 16) "on_signal")
  (data (i32.const 64) "ready\n")
  (data (i32.const 80) "handled\n")
  (func $print (param $p i32) (param $n i32)
    (i32.store (i32.const 0) (local.get $p))
    (i32.store (i32.const 4) (local.get $n))
    (drop (call $write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8))))
  (func (export "on_signal") (param $sig i32)
    (call $print (i32.const 80) (i32.const 8)))
  (func (export "_start")
    (call $callback_signal (i32.const 16) (i32.const 9))
    (call $print (i32.const 64) (i32.const 6))
    (loop $forever (br $forever))))
`

// TestTermGrace: SIGTERM to the runner goes to the guest; a guest that
// does not stop is killed after --grace.
func TestTermGrace(t *testing.T) {
	t.Parallel()
	const grace = 200 * time.Millisecond
	r := startCLI(t, "--grace", grace.String(), writeTemp(t, "stubborn.wat", stubbornWAT))
	r.waitOutput(t, "ready\n")
	sent := time.Now()
	r.signal(t, syscall.SIGTERM)
	res := r.wait(t)
	took := time.Since(sent)
	if res.code != 137 {
		t.Errorf("exit status %d, want 137\nstderr:\n%s", res.code, clip(res.stderr))
	}
	if took < grace || took > 5*time.Second {
		t.Errorf("ended %v after SIGTERM, want --grace %v (and not much more)", took, grace)
	}
	if diff := cmp.Diff([]string{"ready", "handled"}, lines(res.stdout)); diff != "" {
		t.Errorf("stdout (-want +got):\n%s", diff)
	}
	if strings.Contains(res.stderr, "panic") {
		t.Errorf("stderr:\n%s", clip(res.stderr))
	}
}
