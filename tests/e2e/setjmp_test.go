package e2e_test

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/bytecodealliance/wasmtime-go/v25"
	"github.com/google/go-cmp/cmp"
	"github.com/wasix-org/wasix-signals-go/host"
	"github.com/wasix-org/wasix-signals-go/wasix"
	"github.com/wasix-org/wasix-signals-go/wasix/env"
	"github.com/wasix-org/wasix-signals-go/wasix/stack"
)

// TestSetjmpCLI runs the setjmp guests (asyncify binaries) through
// wasix-run: nested setjmps, longjmps out of recursion and out of signal
// handlers, and the jmp_bufs that must end the process.
func TestSetjmpCLI(t *testing.T) {
	tests := []struct {
		args   []string
		code   int
		stdout string
		stderr string // a regexp stderr must match; "ADDR" stands for any address
	}{
		{args: []string{"setjmp_basic.wasm", "nested"}, stdout: "outer setjmp returned 0 (step 0)\n" +
			"inner setjmp returned 0 (step 1)\ninner setjmp returned 5 (step 2)\n" +
			"outer setjmp returned 1 (step 3)\nnested done, step 3\n"},
		{args: []string{"setjmp_basic.wasm", "deep", "2"}, stdout: "back from depth 1000 with 41 (round 1)\n" +
			"back from depth 1000 with 42 (round 2)\n"},
		{args: []string{"setjmp_basic.wasm", "loop", "2000"}, stdout: "loop: 2000 pairs\n"},
		// The stack below the data (--stack-first): the asyncify data goes at 0.
		{args: []string{"setjmp_stackfirst.wasm", "deep", "2"}, stdout: "back from depth 1000 with 41 (round 1)\n" +
			"back from depth 1000 with 42 (round 2)\n"},
		{args: []string{"setjmp_stackfirst.wasm", "many", "3000"}, stdout: "many: 3000 setjmps, back to the first with 9\n"},
		// Every setjmp is a new snapshot; the first one is still held in
		// its jmp_buf and survives the evictions.
		{args: []string{"setjmp_basic.wasm", "many", "3000"}, stdout: "many: 3000 setjmps, back to the first with 9\n"},
		{args: []string{"setjmp_basic.wasm", "forged"}, code: 134, stdout: "longjmp to a forged jmp_buf\n",
			stderr: "stack: longjmp to the jmp_buf at ADDR: forged"},
		{args: []string{"setjmp_basic.wasm", "zero"}, code: 134, stdout: "longjmp to a zeroed jmp_buf\n",
			stderr: "stack: longjmp to the jmp_buf at ADDR: forged"},
		{args: []string{"setjmp_basic.wasm", "stale"}, code: 134, stdout: "longjmp to an evicted jmp_buf\n",
			stderr: `stack: longjmp to the jmp_buf at ADDR: stale \(snapshot 1 was evicted`},
		{args: []string{"setjmp_signal.wasm", "raise"}, stdout: "round 1: back with 10\nround 2: back with 10\n" +
			"round 3: back with 10\ndone 3 rounds\n"},
		{args: []string{"setjmp_signal.wasm", "setjmp_in_handler"}, code: 134,
			stderr: "signal handler trapped while delivering SIGUSR2: (?s:.*)stack: setjmp inside a signal handler is not supported"},
		{args: []string{"setjmp_signal.wasm", "sleep"}, stdout: "round 1: back with 14\nround 2: back with 14\n" +
			"round 3: back with 14\ndone 3 rounds\n"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			t.Parallel()
			r := runCLI(t, append([]string{fixture(tt.args[0])}, tt.args[1:]...)...)
			stderr := regexp.MustCompile(strings.ReplaceAll(tt.stderr, "ADDR", "0x[0-9a-f]+"))
			if r.code != tt.code || r.stdout != tt.stdout || !stderr.MatchString(r.stderr) {
				t.Errorf("exit %d, stdout:\n%s\nstderr:\n%s\nwant exit %d, stdout:\n%s\nstderr containing %q",
					r.code, r.stdout, clip(r.stderr), tt.code, tt.stdout, tt.stderr)
			}
		})
	}
}

// TestSetjmpSpinCLI: the host's SIGUSR1 reaches a guest spinning in wasm
// through the epoch callback, and its handler longjmps out of it.
func TestSetjmpSpinCLI(t *testing.T) {
	r := startCLI(t, fixture("setjmp_signal.wasm"), "spin", "3")
	for round := 1; round <= 3; round++ {
		r.waitOutput(t, fmt.Sprintf("spin: ready %d\n", round))
		r.signal(t, syscall.SIGUSR1)
		r.waitOutput(t, fmt.Sprintf("round %d: back with 10\n", round))
	}
	res := r.wait(t)
	if res.code != 0 || !strings.HasSuffix(res.stdout, "done 3 rounds\n") {
		t.Errorf("exit %d, stdout:\n%s\nstderr:\n%s", res.code, res.stdout, clip(res.stderr))
	}
}

// TestSetjmpHost runs the same guests through the host API, with the
// signals sent by Process.Signal.
func TestSetjmpHost(t *testing.T) {
	rt := newRuntime(t)
	t.Run("spin", func(t *testing.T) {
		g := start(t, context.Background(), rt, compile(t, rt, fixture("setjmp_signal.wasm")),
			host.Config{Args: []string{"setjmp_signal", "spin", "3"}})
		for round := 1; round <= 3; round++ {
			g.waitOutput(t, fmt.Sprintf("spin: ready %d\n", round))
			if err := g.Signal(wasix.SIGUSR1); err != nil {
				t.Fatal(err)
			}
			g.waitOutput(t, fmt.Sprintf("round %d: back with 10\n", round))
		}
		checkExit(t, g, g.wait(t), 0)
		if c := g.Env().Counters(); c.Delivered != 3 {
			t.Errorf("%d signals delivered, want 3", c.Delivered)
		}
	})
	t.Run("stale", func(t *testing.T) {
		g := start(t, context.Background(), rt, compile(t, rt, fixture("setjmp_basic.wasm")),
			host.Config{Args: []string{"setjmp_basic", "stale"}})
		err := g.wait(t)
		var je *stack.JumpError
		if !errors.As(err, &je) || !errors.Is(err, stack.ErrStale) || je.Addr == 0 {
			t.Errorf("outcome %v, want a *stack.JumpError for a stale jmp_buf", err)
		}
	})
}

// TestREPL: a line-reading REPL whose SIGINT handler longjmps back to its
// prompt, interrupted while it spins (epoch callback) and while it sleeps
// (a wait), with its input from a file.
func TestREPL(t *testing.T) {
	rt := newRuntime(t)
	in := writeTemp(t, "input", "echo hello\nspin\necho after spin\nsleep\necho after sleep\n")
	g := start(t, context.Background(), rt, compile(t, rt, fixture("repl.wasm")),
		host.Config{Args: []string{"repl"}, Stdin: in})
	for _, busy := range []string{"spinning\n", "sleeping\n"} {
		g.waitOutput(t, busy)
		if err := g.Signal(wasix.SIGINT); err != nil {
			t.Fatal(err)
		}
	}
	checkExit(t, g, g.wait(t), 0)
	want := "> hello\n> spinning\n^C\n> after spin\n> sleeping\n^C\n> after sleep\n> bye (2 interrupts)\n"
	if diff := cmp.Diff(want, g.stdout(t)); diff != "" {
		t.Errorf("stdout (-want +got):\n%s", diff)
	}
}

// TestCompileNeedsAsyncify: a module that imports stack_checkpoint but
// was not built with asyncify fails to compile, with one line saying so.
func TestCompileNeedsAsyncify(t *testing.T) {
	rt := newRuntime(t)
	_, err := rt.Compile([]byte(`(module
	  (import "wasix_32v1" "stack_checkpoint" (func (param i32 i32) (result i32)))
	  (memory (export "memory") 1) (func (export "_start")))`))
	want := "host: stack: the module imports stack_checkpoint but lacks the asyncify export(s) " +
		"[asyncify_start_unwind asyncify_stop_unwind asyncify_start_rewind asyncify_stop_rewind __stack_pointer __data_end]: " +
		"build it with wasm-opt --asyncify and export __stack_pointer and __data_end"
	if err == nil || err.Error() != want {
		t.Errorf("Compile: %v\nwant: %s", err, want)
	}
}

// TestNoHandlerDuringUnwind sends signals from another goroutine while a
// guest does setjmp/longjmp pairs (fixtures/setjmp_stress.wat): the epoch
// callback reaches the guest everywhere, also while its stack is being
// unwound or replayed, yet every handler runs with the stack at rest
// (asyncify state 0) and delivery not suspended.
func TestNoHandlerDuringUnwind(t *testing.T) {
	rt := newRuntime(t)
	var probes, bad atomic.Int64
	var firstBad atomic.Value
	err := rt.Linker().FuncNew("test", "probe", wasmtime.NewFuncType(nil, nil),
		func(c *wasmtime.Caller, _ []wasmtime.Val) ([]wasmtime.Val, *wasmtime.Trap) {
			probes.Add(1)
			st, err := c.GetExport("asyncify_get_state").Func().Call(c)
			e := env.Lookup(c)
			if err != nil || st.(int32) != 0 || e == nil || e.DeliverySuspended() {
				bad.Add(1)
				firstBad.CompareAndSwap(nil, fmt.Sprintf("asyncify state %v (%v), suspended %v", st, err, e != nil && e.DeliverySuspended()))
			}
			return nil, nil
		})
	if err != nil {
		t.Fatal(err)
	}
	g := start(t, context.Background(), rt, compile(t, rt, fixture("setjmp_stress.wasm")), host.Config{Args: []string{"stress"}})
	// Before the guest registers its handler a SIGUSR1 would terminate it.
	waitCond(t, "the handler registered", func() bool {
		_, found := g.Env().Handler()
		return found
	})
	go func() {
		tick := time.NewTicker(20 * time.Microsecond)
		defer tick.Stop()
		for {
			select {
			case <-g.Done():
				return
			case <-tick.C:
				_ = g.Signal(wasix.SIGUSR1)
			}
		}
	}()
	checkExit(t, g, g.wait(t), 0)
	c := g.Env().Counters()
	if bad.Load() != 0 || probes.Load() == 0 || uint64(probes.Load()) != c.Delivered {
		t.Errorf("%d handler calls, %d of them with the stack in flight (first: %v); %d delivered",
			probes.Load(), bad.Load(), firstBad.Load(), c.Delivered)
	}
	t.Logf("%d signals delivered during 20000 setjmp/longjmp pairs (%d raised, %d coalesced)", c.Delivered, c.Raised, c.Coalesced)
}
