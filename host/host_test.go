package host_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/bytecodealliance/wasmtime-go/v25"
	"github.com/google/go-cmp/cmp"
	"github.com/wasix-org/wasix-signals-go/host"
	"github.com/wasix-org/wasix-signals-go/wasix"
)

var (
	rtOnce sync.Once
	rt     *host.Runtime
)

// runtime returns one Runtime shared by the tests, as an application would.
func runtime(t *testing.T) *host.Runtime {
	t.Helper()
	rtOnce.Do(func() {
		var err error
		rt, err = host.NewRuntime(host.Options{})
		if err != nil {
			panic(err)
		}
	})
	return rt
}

// start compiles src (WAT or wasm) and starts it with its stdout in a file
// it returns.
func start(t *testing.T, ctx context.Context, src string, cfg host.Config) (*host.Process, string) {
	t.Helper()
	r := runtime(t)
	m, err := r.Compile([]byte(src))
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "stdout")
	if cfg.Stdout == "" {
		cfg.Stdout = out
	}
	p, err := r.Start(ctx, m, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if p.Signal(wasix.SIGKILL) == nil {
			<-p.Done()
		}
	})
	return p, out
}

func wait(t *testing.T, p *host.Process) error {
	t.Helper()
	select {
	case <-p.Done():
		return p.Wait()
	case <-time.After(20 * time.Second):
		t.Fatal("the guest did not end")
		return nil
	}
}

// waitHandler waits until the guest has registered a handler.
func waitHandler(t *testing.T, p *host.Process) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, found := p.Env().Handler(); found {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("the guest never registered its handler")
		}
		time.Sleep(time.Millisecond)
	}
}

func describe(err error) string {
	var exit *wasix.ExitError
	if errors.As(err, &exit) {
		if exit.Signal != 0 {
			return "exit " + itoa32(exit.Status) + " by " + exit.Signal.String()
		}
		return "exit " + itoa32(exit.Status)
	}
	if err == nil {
		return "ok"
	}
	return "error: " + err.Error()
}

// spinner registers a handler that sets a flag, then spins in wasm, with
// no host calls, until the flag is set; it returns normally.
const spinner = `(module
  (import "wasix_32v1" "callback_signal" (func $cb (param i32 i32)))
  (memory (export "memory") 1)
  (data (i32.const 0) "__wasm_signal")
  (global $got (mut i32) (i32.const 0))
  (func (export "__wasm_signal") (param i32) (global.set $got (local.get 0)))
  (func (export "_start")
    (call $cb (i32.const 0) (i32.const 13))
    (loop (br_if 0 (i32.eqz (global.get $got))))))`

// ignorer registers a handler that does nothing, then spins with no host
// calls: only SIGKILL ends it.
const ignorer = `(module
  (import "wasix_32v1" "callback_signal" (func $cb (param i32 i32)))
  (memory (export "memory") 1)
  (data (i32.const 0) "h")
  (func (export "h") (param i32))
  (func (export "_start") (call $cb (i32.const 0) (i32.const 1)) (loop (br 0))))`

// forever spins with no handler and no host calls.
const forever = `(module (memory (export "memory") 1)
  (func (export "_start") (loop (br 0))))`

func TestSpinningGuestRunsHandlerAndCarriesOn(t *testing.T) {
	p, _ := start(t, context.Background(), spinner, host.Config{})
	waitHandler(t, p)
	if err := p.Signal(wasix.SIGUSR1); err != nil {
		t.Fatal(err)
	}
	if got := describe(wait(t, p)); got != "ok" {
		t.Fatalf("got %s", got)
	}
	if c := p.Env().Counters(); c.Delivered != 1 {
		t.Errorf("counters %+v", c)
	}
}

func TestSpinningGuestTerminatedBySignal(t *testing.T) {
	for _, tc := range []struct {
		sig  wasix.Signal
		want string
	}{
		{wasix.SIGTERM, "exit 143 by SIGTERM"},
		{wasix.SIGINT, "exit 130 by SIGINT"},
		{wasix.SIGKILL, "exit 137 by SIGKILL"},
	} {
		p, _ := start(t, context.Background(), forever, host.Config{})
		time.Sleep(5 * time.Millisecond) // let it reach the loop; either way it must end
		if err := p.Signal(tc.sig); err != nil {
			t.Fatal(err)
		}
		if got := describe(wait(t, p)); got != tc.want {
			t.Errorf("%v: got %s, want %s", tc.sig, got, tc.want)
		}
	}
}

func TestSpinningGuestWithHandlerKilled(t *testing.T) {
	p, _ := start(t, context.Background(), ignorer, host.Config{})
	waitHandler(t, p)
	for i := 0; i < 3; i++ {
		_ = p.Signal(wasix.SIGTERM) // handled, ignored by the guest
	}
	if err := p.Signal(wasix.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if got := describe(wait(t, p)); got != "exit 137 by SIGKILL" {
		t.Fatalf("got %s", got)
	}
}

func TestCancelSendsTermThenKill(t *testing.T) {
	// No handler: SIGTERM's default action ends it.
	ctx, cancel := context.WithCancel(context.Background())
	p, _ := start(t, ctx, forever, host.Config{})
	cancel()
	if got := describe(wait(t, p)); got != "exit 143 by SIGTERM" {
		t.Errorf("got %s", got)
	}
	// A handler that ignores SIGTERM: SIGKILL after the grace period.
	ctx, cancel = context.WithCancel(context.Background())
	p, _ = start(t, ctx, ignorer, host.Config{Grace: 50 * time.Millisecond})
	waitHandler(t, p)
	began := time.Now()
	cancel()
	if got := describe(wait(t, p)); got != "exit 137 by SIGKILL" {
		t.Errorf("got %s", got)
	}
	if since := time.Since(began); since < 50*time.Millisecond {
		t.Errorf("killed after %v, before the grace period", since)
	}
	if c := p.Env().Counters(); c.Delivered != 1 {
		t.Errorf("SIGTERM should have reached the handler first: %+v", c)
	}
}

func TestAlarmFiresDuringLongSleep(t *testing.T) {
	// SIGALRM after 100 ms, then thread_sleep(10 s); the handler records
	// the signal and the program exits with thread_sleep's result.
	p, _ := start(t, context.Background(), `(module
	  (import "wasix_32v1" "callback_signal" (func $cb (param i32 i32)))
	  (import "wasix_32v1" "proc_raise_interval" (func $alarm (param i32 i64 i32) (result i32)))
	  (import "wasix_32v1" "thread_sleep" (func $sleep (param i64) (result i32)))
	  (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
	  (memory (export "memory") 1)
	  (data (i32.const 0) "h")
	  (global $got (mut i32) (i32.const 0))
	  (func (export "h") (param i32) (global.set $got (local.get 0)))
	  (func (export "_start")
	    (call $cb (i32.const 0) (i32.const 1))
	    (drop (call $alarm (i32.const 14) (i64.const 100000000) (i32.const 0)))
	    (call $exit (i32.add (call $sleep (i64.const 10000000000)) (i32.mul (global.get $got) (i32.const 1000))))))`, host.Config{})
	began := time.Now()
	err := wait(t, p)
	if got := describe(err); got != "exit 14027" {
		t.Errorf("got %s, want SIGALRM handled and EINTR", got)
	}
	if since := time.Since(began); since > 5*time.Second {
		t.Errorf("the alarm did not cut the 10 s sleep short: %v", since)
	}
}

func TestProcSignalWithinGroupOnly(t *testing.T) {
	receiver := `(module
	  (import "wasix_32v1" "callback_signal" (func $cb (param i32 i32)))
	  (import "wasix_32v1" "thread_sleep" (func $sleep (param i64) (result i32)))
	  (memory (export "memory") 1)
	  (data (i32.const 0) "h")
	  (global $got (mut i32) (i32.const 0))
	  (func (export "h") (param i32) (global.set $got (local.get 0)))
	  (func (export "_start")
	    (call $cb (i32.const 0) (i32.const 1))
	    (loop (drop (call $sleep (i64.const 1000000000))) (br_if 0 (i32.eqz (global.get $got))))))`
	sender := func(pid int32) string {
		return `(module
	  (import "wasix_32v1" "proc_signal" (func $kill (param i32 i32) (result i32)))
	  (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
	  (memory (export "memory") 1)
	  (func (export "_start")
	    (call $exit (i32.add (i32.mul (call $kill (i32.const ` + itoa32(pid) + `) (i32.const 0)) (i32.const 100))
	                         (call $kill (i32.const ` + itoa32(pid) + `) (i32.const 10))))))`
	}
	group, other := host.NewGroup(), host.NewGroup()
	recv, _ := start(t, context.Background(), receiver, host.Config{Group: group})
	waitHandler(t, recv)

	// Outside the group, and with no group at all: ESRCH for the probe and
	// for the signal, exactly as for a pid that does not exist.
	for _, g := range []*host.Group{other, nil} {
		p, _ := start(t, context.Background(), sender(recv.Pid()), host.Config{Group: g})
		if got, want := describe(wait(t, p)), "exit "+itoa32(71*100+71); got != want {
			t.Errorf("outside the group: got %s, want %s", got, want)
		}
	}
	p, _ := start(t, context.Background(), sender(999), host.Config{Group: group})
	if got := describe(wait(t, p)); got != "exit "+itoa32(71*100+71) {
		t.Errorf("unknown pid: got %s", got)
	}
	if c := recv.Env().Counters(); c.Raised != 0 {
		t.Fatalf("a signal crossed the group boundary: %+v", c)
	}
	p, _ = start(t, context.Background(), sender(recv.Pid()), host.Config{Group: group})
	if got := describe(wait(t, p)); got != "exit 0" {
		t.Errorf("in the group: got %s", got)
	}
	if got := describe(wait(t, recv)); got != "ok" {
		t.Errorf("receiver: got %s", got)
	}
}

func itoa32(n int32) string {
	if n == 0 {
		return "0"
	}
	neg := n < 0
	if neg {
		n = -n
	}
	var b []byte
	for ; n > 0; n /= 10 {
		b = append([]byte{byte('0' + n%10)}, b...)
	}
	if neg {
		b = append([]byte{'-'}, b...)
	}
	return string(b)
}

func TestUnknownImports(t *testing.T) {
	p, _ := start(t, context.Background(), `(module
	  (import "wasix_32v1" "sock_frobnicate" (func $errno (param i32) (result i32)))
	  (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
	  (memory (export "memory") 1)
	  (func (export "_start") (call $exit (call $errno (i32.const 1)))))`, host.Config{})
	if got := describe(wait(t, p)); got != "exit 52" {
		t.Errorf("errno-only unknown import: got %s, want exit 52 (NOSYS)", got)
	}
	p, _ = start(t, context.Background(), `(module
	  (import "wasix_32v1" "thread_frobnicate" (func $other (param i32 i32)))
	  (memory (export "memory") 1)
	  (func (export "_start") (call $other (i32.const 1) (i32.const 2))))`, host.Config{})
	err := wait(t, p)
	if err == nil || !strings.Contains(err.Error(), "wasix_32v1.thread_frobnicate is not implemented") {
		t.Errorf("other unknown import: got %v", err)
	}
	if host.ExitCode(err) != 134 {
		t.Errorf("a trap maps to 134, got %d", host.ExitCode(err))
	}
}

func TestExitCode(t *testing.T) {
	cases := []struct {
		err  error
		want int
	}{
		{nil, 0},
		{&wasix.ExitError{Status: 3}, 3},
		{&wasix.ExitError{Status: 130, Signal: wasix.SIGINT}, 130},
		{&wasix.ExitError{Status: 256 + 7}, 7},
		{&wasix.HandlerTrapError{Signal: wasix.SIGUSR1, Err: errors.New("unreachable")}, 134},
		{errors.New("trap"), 134},
	}
	for _, tc := range cases {
		if got := host.ExitCode(tc.err); got != tc.want {
			t.Errorf("ExitCode(%v) = %d, want %d", tc.err, got, tc.want)
		}
	}
}

func TestStdoutAndArgs(t *testing.T) {
	p, out := start(t, context.Background(), `(module
	  (import "wasi_snapshot_preview1" "fd_write" (func $write (param i32 i32 i32 i32) (result i32)))
	  (memory (export "memory") 1)
	  (data (i32.const 100) "hello\n")
	  (func (export "_start")
	    (i32.store (i32.const 0) (i32.const 100)) (i32.store (i32.const 4) (i32.const 6))
	    (drop (call $write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))))`, host.Config{Args: []string{"x"}})
	if err := wait(t, p); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff("hello\n", string(b)); diff != "" {
		t.Error(diff)
	}
}

func TestCompileErrors(t *testing.T) {
	r := runtime(t)
	for _, src := range []string{"not wasm at all (", "\x00asm\x01\x00\x00\x00\x01\xff"} {
		if _, err := r.Compile([]byte(src)); err == nil {
			t.Errorf("Compile(%q) succeeded", src)
		}
	}
	m, err := r.Compile([]byte(`(module)`))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Start(context.Background(), m, host.Config{}); err == nil || !strings.Contains(err.Error(), "_start") {
		t.Errorf("a module without _start: %v", err)
	}
	if _, err := r.Start(context.Background(), m, host.Config{Env: []string{"NOEQUALS"}}); err == nil {
		t.Error("a bad environment entry was accepted")
	}
}

func TestEmbedderImportsAreKept(t *testing.T) {
	r, err := host.NewRuntime(host.Options{})
	if err != nil {
		t.Fatal(err)
	}
	err = r.Linker().FuncNew("app", "answer", wasmtime.NewFuncType(nil, []*wasmtime.ValType{wasmtime.NewValType(wasmtime.KindI32)}),
		func(*wasmtime.Caller, []wasmtime.Val) ([]wasmtime.Val, *wasmtime.Trap) {
			return []wasmtime.Val{wasmtime.ValI32(42)}, nil
		})
	if err != nil {
		t.Fatal(err)
	}
	m, err := r.Compile([]byte(`(module
	  (import "app" "answer" (func $answer (result i32)))
	  (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
	  (memory (export "memory") 1)
	  (func (export "_start") (call $exit (call $answer))))`))
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ { // the scratch store must not bind the Linker
		p, err := r.Start(context.Background(), m, host.Config{})
		if err != nil {
			t.Fatal(err)
		}
		if got := describe(wait(t, p)); got != "exit 42" {
			t.Fatalf("run %d: got %s; the embedder's import was replaced", i, got)
		}
	}
}

// pollGuest calls poll_oneoff (imported from ns) with one subscription
// written at 0: a relative clock of ns nanoseconds (tag 0) or fd_write on
// stdout (tag 2), userdata 7. It exits with errno*1000 + nevents*100 +
// the first event's type*10 + (userdata == 7).
func pollGuest(ns string, tag int, timeout int64) string {
	return `(module
	  (import "` + ns + `" "poll_oneoff" (func $poll (param i32 i32 i32 i32) (result i32)))
	  (import "wasix_32v1" "callback_signal" (func $cb (param i32 i32)))
	  (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
	  (memory (export "memory") 1)
	  (data (i32.const 500) "h")
	  (func (export "h") (param i32))
	  (func (export "_start") (local $errno i32)
	    (call $cb (i32.const 500) (i32.const 1))
	    (i64.store (i32.const 0) (i64.const 7))
	    (i32.store8 (i32.const 8) (i32.const ` + itoa32(int32(tag)) + `))
	    (i32.store (i32.const 16) (i32.const 1))
	    (i64.store (i32.const 24) (i64.const ` + strconv.FormatInt(timeout, 10) + `))
	    (local.set $errno (call $poll (i32.const 0) (i32.const 104) (i32.const 1) (i32.const 200)))
	    (call $exit (i32.add (i32.mul (local.get $errno) (i32.const 1000))
	      (i32.add (i32.mul (i32.load (i32.const 200)) (i32.const 100))
	        (i32.add (i32.mul (i32.load8_u (i32.const 114)) (i32.const 10))
	          (i64.eq (i64.load (i32.const 104)) (i64.const 7))))))))`
}

func TestPollOneoff(t *testing.T) {
	for _, ns := range []string{"wasi_snapshot_preview1", "wasix_32v1"} {
		t.Run(ns, func(t *testing.T) {
			// A clock that falls due: one clock event (type 0) with the userdata.
			p, _ := start(t, context.Background(), pollGuest(ns, 0, 20_000_000), host.Config{})
			if got := describe(wait(t, p)); got != "exit 101" {
				t.Errorf("clock: got %s, want exit 101", got)
			}
			// A long clock wait interrupted by a signal: EINTR (27), no events.
			p, _ = start(t, context.Background(), pollGuest(ns, 0, 60_000_000_000), host.Config{})
			waitHandler(t, p)
			began := time.Now()
			time.Sleep(10 * time.Millisecond)
			if err := p.Signal(wasix.SIGUSR1); err != nil {
				t.Fatal(err)
			}
			if got := describe(wait(t, p)); got != "exit 27000" {
				t.Errorf("interrupted clock: got %s, want exit 27000", got)
			}
			if time.Since(began) > 10*time.Second {
				t.Error("the signal did not cut the wait short")
			}
			// A descriptor: wasmtime's own poll says stdout is writable
			// (one fd_write event, type 2).
			p, _ = start(t, context.Background(), pollGuest(ns, 2, 0), host.Config{})
			if got := describe(wait(t, p)); got != "exit 121" {
				t.Errorf("descriptor: got %s, want exit 121", got)
			}
		})
	}
}

func TestFutexWait(t *testing.T) {
	// futex_wait(addr 0, expected, timeout at 16, woken at 40): exit with
	// errno*10 + woken.
	guest := func(expected int32, timeoutNs int64, handler bool) string {
		reg := ""
		if handler {
			reg = `(call $cb (i32.const 500) (i32.const 1))`
		}
		tag := "1"
		if timeoutNs < 0 {
			tag = "0"
		}
		return `(module
		  (import "wasix_32v1" "futex_wait" (func $wait (param i32 i32 i32 i32) (result i32)))
		  (import "wasix_32v1" "futex_wake_all" (func $wake (param i32 i32) (result i32)))
		  (import "wasix_32v1" "callback_signal" (func $cb (param i32 i32)))
		  (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
		  (memory (export "memory") 1)
		  (data (i32.const 500) "h")
		  (func (export "h") (param i32))
		  (func (export "_start") ` + reg + `
		    (drop (call $wake (i32.const 0) (i32.const 40)))
		    (i32.store (i32.const 0) (i32.const 5))
		    (i32.store8 (i32.const 16) (i32.const ` + tag + `))
		    (i64.store (i32.const 24) (i64.const ` + strconv.FormatInt(timeoutNs, 10) + `))
		    (call $exit (i32.add (i32.mul (call $wait (i32.const 0) (i32.const ` + itoa32(expected) + `) (i32.const 16) (i32.const 40)) (i32.const 10))
		      (i32.load8_u (i32.const 40))))))`
	}
	// The value changed: no wait, woken.
	p, _ := start(t, context.Background(), guest(4, -1, false), host.Config{})
	if got := describe(wait(t, p)); got != "exit 1" {
		t.Errorf("changed value: got %s", got)
	}
	// Nobody wakes a lone thread: the timeout ends it, not woken.
	p, _ = start(t, context.Background(), guest(5, 20_000_000, false), host.Config{})
	if got := describe(wait(t, p)); got != "exit 0" {
		t.Errorf("timeout: got %s", got)
	}
	// Waiting forever: a signal delivers and returns EINTR.
	p, _ = start(t, context.Background(), guest(5, -1, true), host.Config{})
	waitHandler(t, p)
	time.Sleep(5 * time.Millisecond)
	if err := p.Signal(wasix.SIGUSR1); err != nil {
		t.Fatal(err)
	}
	if got := describe(wait(t, p)); got != "exit 270" {
		t.Errorf("interrupted: got %s", got)
	}
}

func TestForwardHostSignals(t *testing.T) {
	p, _ := start(t, context.Background(), spinner, host.Config{})
	waitHandler(t, p)
	stop := p.Forward(syscall.SIGUSR2)
	defer stop()
	if err := syscall.Kill(os.Getpid(), syscall.SIGUSR2); err != nil {
		t.Fatal(err)
	}
	if got := describe(wait(t, p)); got != "ok" {
		t.Fatalf("got %s", got)
	}
	if c := p.Env().Counters(); c.Delivered != 1 {
		t.Errorf("counters %+v", c)
	}
	for hs, want := range map[syscall.Signal]wasix.Signal{syscall.SIGINT: wasix.SIGINT, syscall.SIGUSR1: wasix.SIGUSR1, syscall.SIGWINCH: wasix.SIGWINCH} {
		if got, ok := host.FromHost(hs); !ok || got != want {
			t.Errorf("FromHost(%v) = %v %v", hs, got, ok)
		}
	}
	if _, ok := host.FromHost(syscall.SIGKILL); ok {
		t.Error("SIGKILL cannot be caught, so it is not forwarded")
	}
}

func TestSecondInterruptKills(t *testing.T) {
	// A guest that blocks delivery and spins: the first SIGINT stays
	// pending, the second one becomes SIGKILL.
	p, _ := start(t, context.Background(), `(module
	  (import "wasix_32v1" "callback_signal" (func $cb (param i32 i32)))
	  (memory (export "memory") 1)
	  (data (i32.const 0) "blocked")
	  (func (export "_start") (call $cb (i32.const 0) (i32.const 7)) (loop (br 0))))`, host.Config{})
	for {
		if set, _ := p.Env().Handler(); set {
			break
		}
		time.Sleep(time.Millisecond)
	}
	stop := p.Forward(syscall.SIGINT)
	defer stop()
	if err := syscall.Kill(os.Getpid(), syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for !p.Env().Pending(wasix.SIGINT) {
		if time.Now().After(deadline) {
			t.Fatal("the first SIGINT never arrived")
		}
		time.Sleep(time.Millisecond)
	}
	if err := syscall.Kill(os.Getpid(), syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	if got := describe(wait(t, p)); got != "exit 137 by SIGKILL" {
		t.Fatalf("got %s", got)
	}
}

func TestCancelDuringStartFunction(t *testing.T) {
	r := runtime(t)
	m, err := r.Compile([]byte(`(module (memory (export "memory") 1)
	  (start $spin) (func $spin (loop (br 0)))
	  (func (export "_start")))`))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(20*time.Millisecond, cancel)
	p, err := r.Start(ctx, m, host.Config{})
	if err != nil {
		t.Fatal(err)
	}
	if got := describe(wait(t, p)); got != "exit 143 by SIGTERM" {
		t.Errorf("got %s", got)
	}
}
