package host_test

import (
	"context"
	"errors"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bytecodealliance/wasmtime-go/v25"
	"github.com/wasix-org/wasix-signals-go/host"
	"github.com/wasix-org/wasix-signals-go/wasix"
)

// stdioGuest imports what wasix-libc imports for I/O and runs body in
// _start; with handler it first registers a handler that records the
// signal in memory at 2000. Memory: iovec at 16, buffer at 1024, nread at
// 8, subscriptions at 4096, events at 8192.
func stdioGuest(handler bool, body string) string {
	reg := ""
	if handler {
		reg = "(call $cb (i32.const 0) (i32.const 13))"
	}
	return `(module
  (import "wasix_32v1" "callback_signal" (func $cb (param i32 i32)))
  (import "wasix_32v1" "fd_read" (func $read (param i32 i32 i32 i32) (result i32)))
  (import "wasix_32v1" "fd_write" (func $write (param i32 i32 i32 i32) (result i32)))
  (import "wasix_32v1" "poll_oneoff" (func $poll (param i32 i32 i32 i32) (result i32)))
  (import "wasix_32v1" "thread_sleep" (func $sleep (param i64) (result i32)))
  (import "wasix_32v1" "proc_exit" (func $exit (param i32)))
  (memory (export "memory") 1)
  (data (i32.const 0) "__wasm_signal")
  (func (export "__wasm_signal") (param i32) (i32.store (i32.const 2000) (local.get 0)))
  (func (export "_start") (local $r i32)
    ` + reg + `
    (i32.store (i32.const 16) (i32.const 1024))
    (i32.store (i32.const 20) (i32.const 100))
    ` + body + `))`
}

// readOnce reads fd 0 once; it exits with the errno, or 100+nread.
const readOnce = `(local.set $r (call $read (i32.const 0) (i32.const 16) (i32.const 1) (i32.const 8)))
    (if (local.get $r) (then (call $exit (local.get $r))))
    (call $exit (i32.add (i32.const 100) (i32.load (i32.const 8))))`

// writeForever writes 100 bytes to fd 1 until a write fails; it exits with
// the errno.
const writeForever = `(loop
      (local.set $r (call $write (i32.const 1) (i32.const 16) (i32.const 1) (i32.const 8)))
      (br_if 0 (i32.eqz (local.get $r))))
    (call $exit (local.get $r))`

// pollStdin waits on fd 0 with poll_oneoff; it exits with the errno, or
// 100 + 10*nevents + the first event's type.
const pollStdin = `(i64.store (i32.const 4096) (i64.const 7))
    (i32.store8 (i32.const 4104) (i32.const 1))
    (i32.store (i32.const 4112) (i32.const 0))
    (local.set $r (call $poll (i32.const 4096) (i32.const 8192) (i32.const 1) (i32.const 8)))
    (if (local.get $r) (then (call $exit (local.get $r))))
    (call $exit (i32.add (i32.add (i32.const 100) (i32.mul (i32.const 10) (i32.load (i32.const 8))))
      (i32.load8_u (i32.const 8202))))`

func pipe(t *testing.T) (r, w *os.File) {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close(); w.Close() })
	return r, w
}

// waitBlocked gives the guest time to reach its wait. The outcome does not
// depend on it: a signal that comes first ends the guest the same way.
func waitBlocked() { time.Sleep(50 * time.Millisecond) }

// A guest blocked on a standard stream the host owns is stopped by every
// way of stopping it, and a handled signal makes the call return EINTR.
func TestBlockedOnStdioIsStoppable(t *testing.T) {
	type stop func(*testing.T, *host.Process, context.CancelFunc)
	signal := func(sig wasix.Signal) stop {
		return func(t *testing.T, p *host.Process, _ context.CancelFunc) {
			if err := p.Signal(sig); err != nil {
				t.Fatal(err)
			}
		}
	}
	cancel := func(t *testing.T, _ *host.Process, cancel context.CancelFunc) { cancel() }
	for _, tc := range []struct {
		name    string
		handler bool
		body    string
		fill    bool // stdout is a full pipe
		stop    stop
		want    string
	}{
		{"read/SIGINT", false, readOnce, false, signal(wasix.SIGINT), "exit 130 by SIGINT"},
		{"read/SIGTERM", false, readOnce, false, signal(wasix.SIGTERM), "exit 143 by SIGTERM"},
		{"read/SIGQUIT", false, readOnce, false, signal(wasix.SIGQUIT), "exit 131 by SIGQUIT"},
		{"read/SIGKILL", false, readOnce, false, signal(wasix.SIGKILL), "exit 137 by SIGKILL"},
		{"read/cancel", false, readOnce, false, cancel, "exit 143 by SIGTERM"},
		{"read/handled", true, readOnce, false, signal(wasix.SIGUSR1), "exit 27"},
		{"read/handler killed", true, readOnce, false, signal(wasix.SIGKILL), "exit 137 by SIGKILL"},
		{"write full pipe/SIGINT", false, writeForever, true, signal(wasix.SIGINT), "exit 130 by SIGINT"},
		{"write full pipe/handled", true, writeForever, true, signal(wasix.SIGUSR1), "exit 27"},
		{"poll/SIGINT", false, pollStdin, false, signal(wasix.SIGINT), "exit 130 by SIGINT"},
		{"poll/handled", true, pollStdin, false, signal(wasix.SIGUSR1), "exit 27"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in, _ := pipe(t) // nobody writes: a read waits forever
			outR, outW := pipe(t)
			_ = outR // kept open and never read: writes fill the pipe
			ctx, cancelCtx := context.WithCancel(context.Background())
			defer cancelCtx()
			cfg := host.Config{Stdio: [3]*os.File{in, outW, nil}, Grace: 20 * time.Millisecond}
			p, _ := start(t, ctx, stdioGuest(tc.handler, tc.body), cfg)
			if tc.handler {
				waitHandler(t, p)
			}
			waitBlocked()
			began := time.Now()
			tc.stop(t, p, cancelCtx)
			if got := describe(wait(t, p)); got != tc.want {
				t.Fatalf("got %s, want %s", got, tc.want)
			}
			if d := time.Since(began); d > 5*time.Second {
				t.Errorf("took %v to stop", d)
			}
		})
	}
}

// Reads, writes and polls on owned streams still move data.
func TestOwnedStdioMovesData(t *testing.T) {
	t.Run("read", func(t *testing.T) {
		in, w := pipe(t)
		p, _ := start(t, context.Background(), stdioGuest(false, readOnce), host.Config{Stdio: [3]*os.File{in}})
		waitBlocked()
		w.WriteString("hello")
		if got := describe(wait(t, p)); got != "exit 105" {
			t.Fatalf("got %s, want exit 105 (5 bytes read)", got)
		}
	})
	t.Run("read EOF", func(t *testing.T) {
		in, w := pipe(t)
		w.Close()
		p, _ := start(t, context.Background(), stdioGuest(false, readOnce), host.Config{Stdio: [3]*os.File{in}})
		if got := describe(wait(t, p)); got != "exit 100" {
			t.Fatalf("got %s, want exit 100 (end of file)", got)
		}
	})
	t.Run("poll", func(t *testing.T) {
		in, w := pipe(t)
		p, _ := start(t, context.Background(), stdioGuest(false, pollStdin), host.Config{Stdio: [3]*os.File{in}})
		waitBlocked()
		w.WriteString("x")
		if got := describe(wait(t, p)); got != "exit 111" {
			t.Fatalf("got %s, want exit 111 (one fd_read event)", got)
		}
	})
	t.Run("write", func(t *testing.T) {
		r, w := pipe(t)
		once := stdioGuest(false, `(drop (call $write (i32.const 1) (i32.const 16) (i32.const 1) (i32.const 8)))
    (call $exit (i32.load (i32.const 8)))`)
		src := strings.Replace(once, `(data (i32.const 0) "__wasm_signal")`,
			`(data (i32.const 0) "__wasm_signal") (data (i32.const 1024) "0123456789")`, 1)
		src = strings.Replace(src, "(i32.store (i32.const 20) (i32.const 100))", "(i32.store (i32.const 20) (i32.const 10))", 1)
		p, _ := start(t, context.Background(), src, host.Config{Stdio: [3]*os.File{nil, w}})
		if got := describe(wait(t, p)); got != "exit 10" {
			t.Fatalf("got %s, want exit 10 (bytes written)", got)
		}
		buf := make([]byte, 10)
		if _, err := r.Read(buf); err != nil || string(buf) != "0123456789" {
			t.Fatalf("read %q, %v", buf, err)
		}
	})
}

// A write to a pipe without a reader raises SIGPIPE: the default action
// ends the guest with 141; with a handler the write returns EPIPE.
func TestWriteToClosedPipeRaisesSIGPIPE(t *testing.T) {
	for _, tc := range []struct {
		handler bool
		want    string
	}{
		{false, "exit 141 by SIGPIPE"},
		{true, "exit 64"},
	} {
		r, w := pipe(t)
		r.Close()
		p, _ := start(t, context.Background(), stdioGuest(tc.handler, writeForever), host.Config{Stdio: [3]*os.File{nil, w}})
		if got := describe(wait(t, p)); got != tc.want {
			t.Errorf("handler %v: got %s, want %s", tc.handler, got, tc.want)
		}
		if tc.handler {
			if c := p.Env().Counters(); c.Delivered != 1 {
				t.Errorf("SIGPIPE should reach the handler once: %+v", c)
			}
		}
	}
}

// Only a signal that is delivered, or that ends the process, interrupts a
// wait: dropped ones (default-ignored, host-ignored, SIGSTOP) do not.
func TestDroppedSignalsDoNotInterruptWaits(t *testing.T) {
	for name, body := range map[string]string{
		"thread_sleep": `(call $exit (call $sleep (i64.const 300000000)))`,
		"read":         readOnce,
	} {
		t.Run(name, func(t *testing.T) {
			in, w := pipe(t)
			p, _ := start(t, context.Background(), stdioGuest(false, body),
				host.Config{Stdio: [3]*os.File{in}, Ignore: []wasix.Signal{wasix.SIGUSR2}})
			waitBlocked()
			for _, sig := range []wasix.Signal{wasix.SIGWINCH, wasix.SIGCHLD, wasix.SIGUSR2, wasix.SIGSTOP, wasix.SIGURG} {
				if err := p.Signal(sig); err != nil {
					t.Fatal(err)
				}
			}
			if name == "read" {
				time.Sleep(100 * time.Millisecond)
				w.WriteString("ab")
			}
			want := map[string]string{"thread_sleep": "ok", "read": "exit 102"}[name]
			if name == "thread_sleep" {
				want = "exit 0"
			}
			if got := describe(wait(t, p)); got != want {
				t.Fatalf("got %s, want %s", got, want)
			}
			if c := p.Env().Counters(); c.Ignored != 5 {
				t.Errorf("want the 5 signals dropped: %+v", c)
			}
		})
	}
}

var (
	blockOnce sync.Once
	blockGate = make(chan struct{})
)

// blockingImport defines test.block on the shared Linker: a host function
// that returns only when blockGate is closed.
func blockingImport(t *testing.T) {
	blockOnce.Do(func() {
		l := runtime(t).Linker()
		ty := wasmtime.NewFuncType(nil, nil)
		if err := l.FuncNew("test", "block", ty, func(*wasmtime.Caller, []wasmtime.Val) ([]wasmtime.Val, *wasmtime.Trap) {
			<-blockGate
			return nil, nil
		}); err != nil {
			panic(err)
		}
	})
}

// SIGKILL ends Wait within the bound even when the guest sits in an
// embedder's host function that does not return; Wait names it.
func TestKillBoundedInStuckHostFunction(t *testing.T) {
	blockingImport(t)
	src := `(module (import "test" "block" (func $block))
  (memory (export "memory") 1)
  (func (export "_start") (call $block)))`
	p, _ := start(t, context.Background(), src, host.Config{})
	waitBlocked()
	began := time.Now()
	if err := p.Signal(wasix.SIGKILL); err != nil {
		t.Fatal(err)
	}
	err := wait(t, p)
	if d := time.Since(began); d > host.KillBound+2*time.Second {
		t.Errorf("Wait returned after %v", d)
	}
	var stuck *host.StuckError
	if !errors.As(err, &stuck) {
		t.Fatalf("got %v, want a StuckError", err)
	}
	if !strings.Contains(stuck.Call, "TestKillBoundedInStuckHostFunction") && !strings.Contains(stuck.Call, "blockingImport") {
		t.Errorf("the error does not name the host function: %q", stuck.Call)
	}
	t.Logf("Wait: %v", err)
	if code := host.ExitCode(err); code != 137 {
		t.Errorf("exit code %d, want 137", code)
	}
	close(blockGate) // let the goroutine finish: the pending SIGKILL ends it
}

// Closing the env of a running guest stops it as SIGKILL would.
func TestEnvCloseStopsRunningGuest(t *testing.T) {
	for name, src := range map[string]string{
		"sleeping": stdioGuest(false, `(drop (call $sleep (i64.const 60000000000)))`),
		"spinning": forever,
		"reading":  stdioGuest(false, readOnce),
	} {
		t.Run(name, func(t *testing.T) {
			in, _ := pipe(t)
			p, _ := start(t, context.Background(), src, host.Config{Stdio: [3]*os.File{in}})
			waitBlocked()
			p.Env().Close()
			if got := describe(wait(t, p)); got != "exit 137 by SIGKILL" {
				t.Fatalf("got %s", got)
			}
		})
	}
}
