// Package reliability_test holds the reliability tests of the signal
// system: many guests at once, faults and races, and hostile guests. See
// docs/RELIABILITY.md for what each test covers and how to run it.
//
// Every test is short by default. WASIX_LONG=1 in the environment, or the
// -long flag of this package (go test ./tests/reliability/ -args -long),
// selects the long variants: more rounds, more guests per round, more
// iterations. Every test arms a watchdog: a test that makes no progress
// within its deadline dumps every goroutine's stack and aborts the test
// binary, so a hang is a failure, never a stuck CI job.
package reliability_test

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bytecodealliance/wasmtime-go/v25"
	"github.com/wasix-org/wasix-signals-go/host"
	"github.com/wasix-org/wasix-signals-go/wasix"
	"github.com/wasix-org/wasix-signals-go/wasix/env"
)

var longFlag = flag.Bool("long", false, "run the long variants of the reliability tests (same as WASIX_LONG=1)")

// long reports whether the long variants were asked for.
func long() bool { return *longFlag || os.Getenv("WASIX_LONG") == "1" }

// pick returns short or, in long mode, long.
func pick[T any](short, long_ T) T {
	if long() {
		return long_
	}
	return short
}

var shared struct {
	once sync.Once
	rt   *host.Runtime
	err  error
}

// sharedRuntime returns the Runtime most tests share, as an application
// running many guests would.
func sharedRuntime(t testing.TB) *host.Runtime {
	t.Helper()
	shared.once.Do(func() { shared.rt, shared.err = host.NewRuntime(host.Options{}) })
	if shared.err != nil {
		t.Fatal(shared.err)
	}
	return withReports(t, shared.rt)
}

var modules sync.Map // "runtime pointer\x00source" -> *host.Module

// compile compiles src once per Runtime.
func compile(t testing.TB, rt *host.Runtime, src string) *host.Module {
	t.Helper()
	key := fmt.Sprintf("%p\x00%s", rt, src)
	if m, ok := modules.Load(key); ok {
		return m.(*host.Module)
	}
	m, err := rt.Compile([]byte(src))
	if err != nil {
		t.Fatalf("compile: %v\n%s", err, src)
	}
	modules.Store(key, m)
	return m
}

// start starts a guest on rt; a process still running when the test ends
// gets SIGKILL and is waited for.
func start(t testing.TB, ctx context.Context, rt *host.Runtime, src string, cfg host.Config) *host.Process {
	t.Helper()
	p, err := rt.Start(ctx, compile(t, rt, src), cfg)
	if err != nil {
		t.Fatalf("start: %v", err)
	}
	t.Cleanup(func() {
		if p.Signal(wasix.SIGKILL) == nil {
			wait := 10 * time.Second
			if t.Failed() {
				wait = time.Second // most likely the very guest the test failed on
			}
			select {
			case <-p.Done():
			case <-time.After(wait):
				t.Errorf("pid %d: SIGKILL at the end of the test did not end it", p.Pid())
			}
		}
	})
	return p
}

// startScoped starts a guest whose lifetime ends with the caller's: the
// returned stop kills it if it still runs. Unlike start it leaves nothing
// referring to the process once the test is over, for tests that measure
// memory.
func startScoped(t testing.TB, rt *host.Runtime, src string, cfg host.Config) (*host.Process, func()) {
	t.Helper()
	p, err := rt.Start(context.Background(), compile(t, rt, src), cfg)
	if err != nil {
		t.Fatalf("start: %v", err)
	}
	return p, func() {
		if p.Signal(wasix.SIGKILL) == nil {
			select {
			case <-p.Done():
			case <-time.After(10 * time.Second):
				t.Errorf("pid %d: SIGKILL did not end it", p.Pid())
			}
		}
		forget(p)
	}
}

// watchdog is the per-test deadline. Past it, every goroutine's stack is
// written to stderr and the test binary aborts: a hang fails loudly. The
// deadline is stretched under the race detector and in long mode.
func watchdog(t testing.TB, d time.Duration) {
	t.Helper()
	if raceEnabled {
		d *= 3
	}
	if long() {
		d *= 4
	}
	name := t.Name()
	timer := time.AfterFunc(d, func() {
		buf := make([]byte, 1<<22)
		buf = buf[:runtime.Stack(buf, true)]
		fmt.Fprintf(os.Stderr, "\n%s: no progress within its %v deadline; goroutines:\n%s\n", name, d, buf)
		panic(name + ": hung (watchdog deadline passed)")
	})
	t.Cleanup(func() { timer.Stop() })
}

// waitDone waits for p to end, failing the test after d.
func waitDone(t testing.TB, p *host.Process, d time.Duration) (error, bool) {
	t.Helper()
	select {
	case <-p.Done():
		return p.Wait(), true
	case <-time.After(d):
		t.Errorf("pid %d did not end within %v", p.Pid(), d)
		return nil, false
	}
}

// waitHandler waits until the guest has registered a handler.
func waitHandler(t testing.TB, p *host.Process) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, found := p.Env().Handler(); found {
			return
		}
		select {
		case <-p.Done():
			t.Fatalf("pid %d ended before registering its handler: %v", p.Pid(), p.Wait())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("pid %d never registered its handler", p.Pid())
		}
		time.Sleep(200 * time.Microsecond)
	}
}

// eventually polls cond until it holds or d passes.
func eventually(d time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(time.Millisecond)
	}
	return true
}

// accounted reports whether the counters account for every signal raised:
// delivered, coalesced, ignored, still pending, or the one that ended the
// process.
func accounted(c env.Counters) bool {
	var term uint64
	if c.TerminatedBy != 0 {
		term = 1
	}
	return c.Raised == c.Delivered+c.Coalesced+c.Ignored+uint64(c.Pending)+term
}

func checkAccounted(t testing.TB, what string, c env.Counters) {
	t.Helper()
	if !accounted(c) {
		t.Errorf("%s: signals unaccounted for: raised %d != delivered %d + coalesced %d + ignored %d + pending %d + terminated-by %v",
			what, c.Raised, c.Delivered, c.Coalesced, c.Ignored, c.Pending, c.TerminatedBy)
	}
}

// refused reports whether err is what a signal sent to an ended process
// must get.
func refused(err error) bool { return errors.Is(err, env.ErrExited) || errors.Is(err, env.ErrClosed) }

// goroutines counts goroutines at the start of a test.
func goroutines() int {
	runtime.GC()
	return runtime.NumGoroutine()
}

// settleGoroutines waits until no more goroutines run than before (the
// count taken at the start of the test) and fails with their stacks
// otherwise.
func settleGoroutines(t testing.TB, before int) int {
	t.Helper()
	var n int
	ok := eventually(10*time.Second, func() bool {
		n = runtime.NumGoroutine()
		return n <= before
	})
	if !ok {
		buf := make([]byte, 1<<20)
		buf = buf[:runtime.Stack(buf, true)]
		t.Errorf("goroutines left behind: %d before, %d after 10 s of settling\n%s", before, n, buf)
	}
	return n
}

// heapInuse returns HeapInuse after collecting twice, so that finalizers
// (wasmtime stores) have run.
func heapInuse() uint64 {
	var ms runtime.MemStats
	for range 3 {
		runtime.GC()
		time.Sleep(10 * time.Millisecond)
	}
	runtime.ReadMemStats(&ms)
	return ms.HeapInuse
}

// rss returns the resident set size of this process, which includes
// wasmtime's memory (outside the Go heap), from /proc/self/statm.
func rss(t testing.TB) uint64 {
	t.Helper()
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		t.Skipf("no /proc/self/statm: %v", err)
	}
	f := bytes.Fields(b)
	if len(f) < 2 {
		t.Fatalf("/proc/self/statm: %q", b)
	}
	pages, err := strconv.ParseUint(string(f[1]), 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	return pages * uint64(os.Getpagesize())
}

func mib(n uint64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }

// figure logs a measured figure in a form docs/RELIABILITY.md quotes and
// `go test -v ... | grep FIGURE` collects.
func figure(t testing.TB, format string, args ...any) {
	t.Helper()
	t.Logf("FIGURE %s: "+format, append([]any{t.Name()}, args...)...)
}

// The guests report what they saw through an import of the test's own,
// reliability.set(key, value): the host closes a guest's store when it
// ends, so nothing can be read from the guest afterwards.
const setImport = `(import "reliability" "set" (func $set (param i32 i64)))`

// Keys the guests report under.
const (
	keyCount    = 0    // handler calls
	keySeen     = 1    // hostile guests: a bit per errno 0..63 seen
	keySeenHigh = 2    // ... and per errno 64..127
	keyHuge     = 3    // ... and how many results were 128 or more
	keyCalls    = 4    // ... and how many calls returned
	keyBad      = 5    // TestHostileTimers: failed calls
	keyTally    = 1000 // + signal: handler calls for that signal
	keyProbe    = 2000 // + pid: what proc_signal answered
)

// setCount is the WAT that reports the handler's call count.
const setCount = `(call $set (i32.const 0) (i64.extend_i32_u (global.get $count)))`

var guestReports struct {
	mu      sync.Mutex
	m       map[*env.WasiEnv]map[int32]int64
	defined map[*host.Runtime]bool
}

// withReports defines reliability.set on rt, once, before any module
// importing it is compiled.
func withReports(t testing.TB, rt *host.Runtime) *host.Runtime {
	t.Helper()
	guestReports.mu.Lock()
	defer guestReports.mu.Unlock()
	if guestReports.defined[rt] {
		return rt
	}
	i32, i64 := wasmtime.NewValType(wasmtime.KindI32), wasmtime.NewValType(wasmtime.KindI64)
	err := rt.Linker().FuncNew("reliability", "set", wasmtime.NewFuncType([]*wasmtime.ValType{i32, i64}, nil),
		func(c *wasmtime.Caller, a []wasmtime.Val) ([]wasmtime.Val, *wasmtime.Trap) {
			e := env.Lookup(c)
			if e == nil {
				return nil, wasmtime.NewTrap("reliability.set: no WasiEnv")
			}
			guestReports.mu.Lock()
			defer guestReports.mu.Unlock()
			if guestReports.m[e] == nil {
				guestReports.m[e] = map[int32]int64{}
			}
			guestReports.m[e][a[0].I32()] = a[1].I64()
			return nil, nil
		})
	if err != nil {
		t.Fatal(err)
	}
	if guestReports.m == nil {
		guestReports.m = map[*env.WasiEnv]map[int32]int64{}
		guestReports.defined = map[*host.Runtime]bool{}
	}
	guestReports.defined[rt] = true
	return rt
}

// reported returns what p reported under key (0 when nothing).
func reported(p *host.Process, key int32) int64 {
	guestReports.mu.Lock()
	defer guestReports.mu.Unlock()
	return guestReports.m[p.Env()][key]
}

// reportedOK is reported, and whether p reported key at all.
func reportedOK(p *host.Process, key int32) (int64, bool) {
	guestReports.mu.Lock()
	defer guestReports.mu.Unlock()
	v, ok := guestReports.m[p.Env()][key]
	return v, ok
}

// forget drops p's reports.
func forget(p *host.Process) {
	guestReports.mu.Lock()
	defer guestReports.mu.Unlock()
	delete(guestReports.m, p.Env())
}

// describe names an outcome for messages.
func describe(err error) string {
	var exit *wasix.ExitError
	var ht *wasix.HandlerTrapError
	switch {
	case err == nil:
		return "ok"
	case errors.As(err, &ht):
		return "handler trap on " + ht.Signal.String()
	case errors.As(err, &exit) && exit.Signal != 0:
		return fmt.Sprintf("exit %d by %v", exit.Status, exit.Signal)
	case errors.As(err, &exit):
		return fmt.Sprintf("exit %d", exit.Status)
	}
	return "error: " + err.Error()
}

// isWasmTrap reports whether err is a trap the guest's own code raised
// (not an exit, not a handler trap).
func isWasmTrap(err error) bool {
	var trap *wasmtime.Trap
	var ht *wasix.HandlerTrapError
	var exit *wasix.ExitError
	return errors.As(err, &trap) && !errors.As(err, &ht) && !errors.As(err, &exit)
}

// wat joins lines of a module body.
func wat(lines ...string) string { return "(module\n" + strings.Join(lines, "\n") + ")" }
