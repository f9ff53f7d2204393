package reliability_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wasix-org/wasix-signals-go/host"
	"github.com/wasix-org/wasix-signals-go/wasix"
)

// hostileImport is one import a hostile guest calls with random arguments.
type hostileImport struct {
	module, name string
	params       []argKind
	void         bool // callback_signal has no result
}

type argKind uint8

const (
	argSig argKind = iota
	argTid
	argPid
	argPtr32
	argLen32
	argPtr64
	argLen64
	argInterval
	argRepeat
	argDuration
	argCount
	argAny32
)

// hostileImports is the host's whole guest-facing surface for signals:
// both WASIX namespaces, the preview1 and wasi_unstable proc_raise, and
// the waits the host implements itself.
var hostileImports = func() []hostileImport {
	var out []hostileImport
	for _, ns := range []string{"wasix_32v1", "wasix_64v1"} {
		ptr, n := argPtr32, argLen32
		if ns == "wasix_64v1" {
			ptr, n = argPtr64, argLen64
		}
		out = append(out,
			hostileImport{ns, "callback_signal", []argKind{ptr, n}, true},
			hostileImport{ns, "proc_raise", []argKind{argSig}, false},
			hostileImport{ns, "thread_signal", []argKind{argTid, argSig}, false},
			hostileImport{ns, "proc_signal", []argKind{argPid, argSig}, false},
			hostileImport{ns, "proc_raise_interval", []argKind{argSig, argInterval, argRepeat}, false},
			hostileImport{ns, "proc_signals_sizes_get", []argKind{ptr}, false},
			hostileImport{ns, "proc_signals_get", []argKind{ptr}, false},
			hostileImport{ns, "thread_id", []argKind{ptr}, false},
			hostileImport{ns, "proc_id", []argKind{ptr}, false},
			hostileImport{ns, "thread_sleep", []argKind{argDuration}, false},
		)
	}
	return append(out,
		hostileImport{"wasi_snapshot_preview1", "proc_raise", []argKind{argSig}, false},
		hostileImport{"wasi_unstable", "proc_raise", []argKind{argSig}, false},
		hostileImport{"wasix_32v1", "poll_oneoff", []argKind{argPtr32, argPtr32, argCount, argPtr32}, false},
		hostileImport{"wasix_32v1", "futex_wait", []argKind{argPtr32, argAny32, argPtr32, argPtr32}, false},
		hostileImport{"wasix_32v1", "futex_wake", []argKind{argPtr32, argPtr32}, false},
		hostileImport{"wasix_32v1", "futex_wake_all", []argKind{argPtr32, argPtr32}, false},
	)
}()

func (k argKind) wasmType() string {
	switch k {
	case argPtr64, argLen64, argInterval, argDuration:
		return "i64"
	}
	return "i32"
}

// arg draws a value: mostly edge cases, sometimes anything. SIGKILL is
// rare, so that most programs run to their end.
func (k argKind) arg(r *rand.Rand) string {
	oneOf := func(vs ...int64) int64 { return vs[r.IntN(len(vs))] }
	var v int64
	switch k {
	case argSig:
		if r.IntN(400) == 0 {
			v = 9
		} else if r.IntN(2) == 0 {
			v = oneOf(-1, 0, 32, 33, 64, 255, 256, math.MaxInt32, math.MinInt32, int64(r.Int32()))
		} else if v = int64(1 + r.IntN(31)); v == 9 {
			v = 10
		}
	case argTid:
		v = oneOf(0, 1, 2, 7, -1, 0x3FFFFFFF, 0x40000000, math.MaxInt32, math.MinInt32, int64(r.Int32()))
	case argPid:
		v = oneOf(0, 1, 2, 3, 1000, -1, math.MaxInt32, math.MinInt32, int64(r.Int32()))
	case argPtr32, argPtr64:
		v = oneOf(0, 1, 3, 64, 4096, 65528, 65532, 65533, 65535, 65536, 65537, 0x7FFFFFFF, 0x80000000,
			0xFFFFFFF0, 0xFFFFFFFC, 0xFFFFFFFF, int64(r.IntN(65536)), int64(r.Uint32()))
		if k == argPtr64 && r.IntN(3) == 0 {
			v = oneOf(1<<32, 1<<32+16, math.MaxInt64, math.MinInt64, -1, -16, int64(r.Uint64()))
		}
	case argLen32, argLen64:
		v = oneOf(0, 1, 2, 13, 64, 65535, 65536, 65537, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF, int64(r.IntN(256)), int64(r.Uint32()))
		if k == argLen64 && r.IntN(3) == 0 {
			v = oneOf(1<<32, math.MaxInt64, math.MinInt64, -1, int64(r.Uint64()))
		}
	case argInterval:
		v = oneOf(0, 0, 1, 1000, 1000000, 1000000000, 1<<40, 1<<62, math.MaxInt64, math.MinInt64, -1, int64(r.Uint64()))
	case argRepeat:
		v = oneOf(0, 1, 2, -1, int64(r.Int32()))
	case argDuration:
		// Rarely forever: such a guest is stopped by the test's SIGKILL,
		// and the calls after the wait are never made.
		if r.IntN(200) == 0 {
			v = oneOf(1<<62, math.MaxInt64, -1, math.MinInt64)
		} else {
			v = oneOf(0, 1, 1000, 100000, 1000000)
		}
	case argCount:
		v = oneOf(0, 1, 2, 3, 100, 1365, 1366, 0x80000000, 0xFFFFFFFF, int64(r.Uint32()))
	case argAny32:
		// futex_wait's expected value: 0 matches untouched memory and,
		// with no timeout there, waits forever; keep that rare.
		if r.IntN(20) == 0 {
			v = 0
		} else {
			v = oneOf(1, -1, int64(r.Int32()))
		}
	}
	if k.wasmType() == "i32" {
		return fmt.Sprintf("(i32.const %d)", int32(v))
	}
	return fmt.Sprintf("(i64.const %d)", v)
}

// hostileGuest generates a program that registers a counting handler,
// then makes n calls chosen at random with random arguments. After each
// call it reports a bit per errno returned so far (keySeen for 0..63,
// keySeenHigh for 64..127), how many results were 128 or more (keyHuge),
// and how many calls returned (keyCalls).
func hostileGuest(seed uint64, n int) string {
	r := rand.New(rand.NewPCG(seed, 0xbad))
	var b strings.Builder
	b.WriteString("(module\n" + setImport + "\n")
	for i, imp := range hostileImports {
		fmt.Fprintf(&b, "(import %q %q (func $f%d (param", imp.module, imp.name, i)
		for _, p := range imp.params {
			b.WriteString(" " + p.wasmType())
		}
		b.WriteString(")")
		if !imp.void {
			b.WriteString(" (result i32)")
		}
		b.WriteString("))\n")
	}
	b.WriteString(`(memory (export "memory") 1)
(data (i32.const 0) "h")
(global $seen (mut i64) (i64.const 0))
(global $seenHigh (mut i64) (i64.const 0))
(global $huge (mut i32) (i32.const 0))
(global $calls (mut i32) (i32.const 0))
(global $count (mut i32) (i32.const 0))
(func (export "h") (param i32) (global.set $count (i32.add (global.get $count) (i32.const 1))))
(func $check (param $r i32)
  (global.set $calls (i32.add (global.get $calls) (i32.const 1)))
  (if (i32.lt_u (local.get $r) (i32.const 64))
    (then (global.set $seen (i64.or (global.get $seen) (i64.shl (i64.const 1) (i64.extend_i32_u (local.get $r))))))
    (else (if (i32.lt_u (local.get $r) (i32.const 128))
      (then (global.set $seenHigh (i64.or (global.get $seenHigh)
        (i64.shl (i64.const 1) (i64.extend_i32_u (i32.sub (local.get $r) (i32.const 64)))))))
      (else (global.set $huge (i32.add (global.get $huge) (i32.const 1)))))))
  (call $set (i32.const 1) (global.get $seen))
  (call $set (i32.const 2) (global.get $seenHigh))
  (call $set (i32.const 3) (i64.extend_i32_u (global.get $huge)))
  (call $set (i32.const 4) (i64.extend_i32_u (global.get $calls))))
(func (export "_start")
(call $f0 (i32.const 0) (i32.const 1))
`)
	for range n {
		i := r.IntN(len(hostileImports))
		imp := hostileImports[i]
		var args []string
		for _, p := range imp.params {
			args = append(args, p.arg(r))
		}
		call := fmt.Sprintf("(call $f%d %s)", i, strings.Join(args, " "))
		if imp.void {
			fmt.Fprintf(&b, "%s (call $check (i32.const 0))\n", call)
		} else {
			fmt.Fprintf(&b, "(call $check %s)\n", call)
		}
	}
	b.WriteString("))\n")
	return b.String()
}

// uint128 is a set of errnos 0..127.
type uint128 struct{ low, high uint64 }

// TestHostileArguments runs generated guests that call every signal
// import (both namespaces, preview1's proc_raise, the host's own waits)
// with random and edge-case arguments: out-of-bounds and overflowing
// pointers and lengths, signals -1, 0, 32, 255, 2^31, unknown and negative
// tids and pids, huge intervals and sleeps. None may crash the host or
// trap: every result is an errno of the documented set for its policy
// (default: 0, FAULT, INTR, INVAL, SRCH; wasmer: 0, INTR, INVAL, SRCH,
// MEMVIOLATION), and a guest ends by itself or by SIGKILL (its own random
// proc_raise(9), or the test's after a second, for guests that chose to
// sleep forever). The counters account for every signal.
func TestHostileArguments(t *testing.T) {
	programs := pick(40, 400)
	calls := pick(300, 1000)
	watchdog(t, 120*time.Second)
	rt := sharedRuntime(t)
	errnoSet := func(errnos ...wasix.Errno) (set uint128) {
		for _, e := range errnos {
			if e < 64 {
				set.low |= 1 << e
			} else {
				set.high |= 1 << (e - 64)
			}
		}
		return set
	}
	allowed := map[wasix.Policy]uint128{
		wasix.PolicyDefault: errnoSet(wasix.ESUCCESS, wasix.EFAULT, wasix.EINTR, wasix.EINVAL, wasix.ESRCH),
		wasix.PolicyWasmer:  errnoSet(wasix.ESUCCESS, wasix.EINTR, wasix.EINVAL, wasix.ESRCH, wasix.EMEMVIOLATION),
	}
	began := time.Now()
	var totalCalls, totalSignals, killedByTest atomic.Uint64
	outcomes := map[string]int{}
	var mu sync.Mutex
	sem := make(chan struct{}, 16)
	var wg sync.WaitGroup
	for i := range programs {
		seed := uint64(i)
		policy := []wasix.Policy{wasix.PolicyDefault, wasix.PolicyWasmer}[i%2]
		src := hostileGuest(seed, calls)
		m, err := rt.Compile([]byte(src))
		if err != nil {
			t.Fatalf("seed %d: %v", seed, err)
		}
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			p, err := rt.Start(context.Background(), m, host.Config{Policy: policy})
			if err != nil {
				t.Errorf("seed %d: start: %v", seed, err)
				return
			}
			select {
			case <-p.Done():
			case <-time.After(time.Second):
				if p.Signal(wasix.SIGKILL) == nil {
					killedByTest.Add(1)
				}
			}
			out, ok := waitDone(t, p, 10*time.Second)
			if !ok {
				t.Errorf("seed %d (%v): SIGKILL did not end it", seed, policy)
				return
			}
			what := fmt.Sprintf("seed %d (%v, %s)", seed, policy, describe(out))
			var exit *wasix.ExitError
			killStatus := int32(137)
			if policy == wasix.PolicyWasmer {
				killStatus = 27
			}
			if out != nil && !(errors.As(out, &exit) && exit.Signal == wasix.SIGKILL && exit.Status == killStatus) {
				t.Errorf("%s: want a normal end or SIGKILL; bad arguments must never trap", what)
			}
			seen := uint128{uint64(reported(p, keySeen)), uint64(reported(p, keySeenHigh))}
			var errnos []int
			for e := range 128 {
				bit := seen.low&(1<<e) != 0
				ok := allowed[policy].low&(1<<e) != 0
				if e >= 64 {
					bit, ok = seen.high&(1<<(e-64)) != 0, allowed[policy].high&(1<<(e-64)) != 0
				}
				if bit && !ok {
					errnos = append(errnos, e)
				}
			}
			if huge := reported(p, keyHuge); len(errnos) > 0 || huge != 0 {
				t.Errorf("%s: results outside the documented errno set: %v (and %d of 128 or more)", what, errnos, huge)
			}
			c := p.Env().Counters()
			checkAccounted(t, what, c)
			totalCalls.Add(uint64(reported(p, keyCalls)))
			totalSignals.Add(c.Raised)
			mu.Lock()
			outcomes[outcomeClass(out)]++
			mu.Unlock()
		}()
	}
	wg.Wait()
	figure(t, "%d generated guests, %d import calls returned, %d signals raised and accounted for, %d guests stopped by the test's SIGKILL, outcomes %v, %v",
		programs, totalCalls.Load(), totalSignals.Load(), killedByTest.Load(), outcomes, time.Since(began).Round(time.Millisecond))
}

// TestHostilePollOneoffMisaligned: poll_oneoff with a subscription on a
// descriptor (which the host hands to wasmtime's own poll_oneoff) at
// pointers that are in bounds but not aligned to 8. Found by
// TestHostileArguments in long mode. Like any bad argument it must give an
// errno, not trap.
func TestHostilePollOneoffMisaligned(t *testing.T) {
	watchdog(t, 30*time.Second)
	rt := sharedRuntime(t)
	for _, policy := range []wasix.Policy{wasix.PolicyDefault, wasix.PolicyWasmer} {
		for _, in := range []int{3, 8, 4099} {
			for _, out := range []int{1024, 1027} {
				// One subscription: userdata 0, type 2 (fd_write), fd 1.
				src := fmt.Sprintf(`(module
  %s
  (import "wasix_32v1" "poll_oneoff" (func $poll (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (func (export "_start")
    (i32.store8 (i32.const %d) (i32.const 2))
    (i32.store (i32.const %d) (i32.const 1))
    (call $set (i32.const 7) (i64.extend_i32_u (call $poll (i32.const %d) (i32.const %d) (i32.const 1) (i32.const 2048))))))`,
					setImport, in+8, in+16, in, out)
				name := fmt.Sprintf("%v in=%d out=%d", policy, in, out)
				p, stop := startScoped(t, rt, src, host.Config{Policy: policy})
				res, ok := waitDone(t, p, 10*time.Second)
				errno, reportedOK := reportedOK(p, 7)
				stop()
				if !ok {
					continue
				}
				if res != nil {
					t.Errorf("%s: %s; want an errno", name, describe(res))
					continue
				}
				if !reportedOK {
					t.Errorf("%s: no result", name)
				} else if in%8 == 0 && out%8 == 0 && errno != 0 {
					t.Errorf("%s: aligned poll_oneoff = %d, want 0", name, errno)
				}
			}
		}
	}
}

// sleeper registers a counting handler and sleeps until SIGTERM.
const sleeper = `(module
  (import "wasix_32v1" "callback_signal" (func $cb (param i32 i32)))
  (import "wasix_32v1" "thread_sleep" (func $sleep (param i64) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 0) "h")
  (global $count (export "count") (mut i32) (i32.const 0))
  (global $stop (mut i32) (i32.const 0))
  (func (export "h") (param $sig i32)
    (global.set $count (i32.add (global.get $count) (i32.const 1)))
    (if (i32.eq (local.get $sig) (i32.const 15)) (then (global.set $stop (i32.const 1)))))
  (func (export "_start")
    (call $cb (i32.const 0) (i32.const 1))
    (loop (drop (call $sleep (i64.const 1000000000))) (br_if 0 (i32.eqz (global.get $stop))))))`

// The prober reports the result of proc_signal(pid, sig) for pid
// 1..maxProbe under keyProbe+pid, and for the extreme pids under
// keyExtremes+i.
const (
	maxProbe    = 2000
	keyExtremes = keyProbe + maxProbe + 16
)

var extremePids = []int32{-1, -2, math.MinInt32, math.MaxInt32, maxProbe + 1, 1 << 20}

// prober sends sig to every pid in 1..maxProbe and a few extreme ones and
// records the results.
func prober(sig wasix.Signal) string {
	var ext strings.Builder
	for i, pid := range extremePids {
		fmt.Fprintf(&ext, "(call $set (i32.const %d) (i64.extend_i32_u (call $psig (i32.const %d) (i32.const %d))))\n", keyExtremes+i, pid, sig)
	}
	return fmt.Sprintf(`(module
  %s
  (import "wasix_32v1" "callback_signal" (func $cb (param i32 i32)))
  (import "wasix_32v1" "proc_signal" (func $psig (param i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 0) "h")
  (global $count (mut i32) (i32.const 0))
  (func (export "h") (param i32) (global.set $count (i32.add (global.get $count) (i32.const 1))) %s)
  (func (export "_start") (local $pid i32)
    (call $cb (i32.const 0) (i32.const 1))
    (local.set $pid (i32.const 1))
    (loop
      (call $set (i32.add (i32.const %d) (local.get $pid)) (i64.extend_i32_u (call $psig (local.get $pid) (i32.const %d))))
      (local.set $pid (i32.add (local.get $pid) (i32.const 1)))
      (br_if 0 (i32.le_s (local.get $pid) (i32.const %d))))
    %s))`, setImport, setCount, keyProbe, sig, maxProbe, ext.String())
}

// TestPidProbing: a guest probing every pid from 1 to 2000 with
// proc_signal(pid, 0), and then with a real signal, finds only itself and
// the members of its own group; every other pid, existing or not, answers
// ESRCH alike, and no process outside the group receives anything. A
// process in no group finds only itself. Under the wasmer policy every
// probe answers 0, but still nothing crosses the group boundary.
func TestPidProbing(t *testing.T) {
	watchdog(t, 60*time.Second)
	// A Runtime of its own, so that the pids are small and known.
	rt, err := host.NewRuntime(host.Options{})
	if err != nil {
		t.Fatal(err)
	}
	withReports(t, rt)
	groupA, groupB := host.NewGroup(), host.NewGroup()
	var inA, inB, loners []*host.Process
	for range 3 {
		inA = append(inA, start(t, context.Background(), rt, sleeper, host.Config{Group: groupA}))
	}
	for range 2 {
		inB = append(inB, start(t, context.Background(), rt, sleeper, host.Config{Group: groupB}))
	}
	for range 2 {
		loners = append(loners, start(t, context.Background(), rt, sleeper, host.Config{}))
	}
	all := append(append(append([]*host.Process(nil), inA...), inB...), loners...)
	for _, p := range all {
		waitHandler(t, p)
	}
	pids := func(ps []*host.Process) map[int32]bool {
		m := map[int32]bool{}
		for _, p := range ps {
			m[p.Pid()] = true
		}
		return m
	}
	probe := func(name string, g *host.Group, members []*host.Process, sig wasix.Signal, policy wasix.Policy) {
		t.Helper()
		p := start(t, context.Background(), rt, prober(sig), host.Config{Group: g, Policy: policy})
		out, ok := waitDone(t, p, 20*time.Second)
		if !ok {
			return
		}
		if out != nil {
			t.Fatalf("%s: prober ended with %s", name, describe(out))
		}
		visible := pids(members)
		visible[p.Pid()] = true
		found := 0
		for pid := int32(1); pid <= maxProbe; pid++ {
			want := int64(wasix.ESRCH)
			if visible[pid] || policy == wasix.PolicyWasmer {
				want = 0
			}
			got, ok := reportedOK(p, keyProbe+pid)
			if !ok || got != want {
				t.Errorf("%s: proc_signal(%d, %d) = %d (reported: %v), want %d", name, pid, sig, got, ok, want)
			}
			if got == 0 {
				found++
			}
		}
		for i, pid := range extremePids {
			want := int64(wasix.ESRCH)
			if policy == wasix.PolicyWasmer {
				want = 0
			}
			if got, ok := reportedOK(p, keyExtremes+int32(i)); !ok || got != want {
				t.Errorf("%s: proc_signal(%d, %d) = %d (reported: %v), want %d", name, pid, sig, got, ok, want)
			}
		}
		if n := reported(p, keyCount); sig != 0 && n != 1 {
			t.Errorf("%s: the prober's own signal reached its handler %d times, want 1", name, n)
		}
		forget(p)
		figure(t, "%s: pids 1..%d probed with signal %d, %d answered 0 (itself and %d group members)",
			name, maxProbe, sig, found, len(members))
	}
	probe("group A, probe", groupA, inA, 0, wasix.PolicyDefault)
	probe("group B, probe", groupB, inB, 0, wasix.PolicyDefault)
	probe("no group, probe", nil, nil, 0, wasix.PolicyDefault)
	probe("group A, SIGUSR1", groupA, inA, wasix.SIGUSR1, wasix.PolicyDefault)
	probe("group B, SIGUSR1", groupB, inB, wasix.SIGUSR1, wasix.PolicyDefault)
	probe("no group, SIGUSR1", nil, nil, wasix.SIGUSR1, wasix.PolicyDefault)
	probe("no group, SIGUSR1, wasmer policy", nil, nil, wasix.SIGUSR1, wasix.PolicyWasmer)
	probe("group B, SIGUSR1, wasmer policy", groupB, inB, wasix.SIGUSR1, wasix.PolicyWasmer)

	// Only the signals sent from inside the group arrived: one SIGUSR1
	// from group A's prober to each member of A, two from group B's
	// probers to each member of B, none to the loners. (Members are
	// woken by those signals; a sleeper that did not run in between gets
	// the second coalesced into the first.)
	want := map[*host.Process]uint64{}
	for _, p := range inA {
		want[p] = 1
	}
	for _, p := range inB {
		want[p] = 2
	}
	for _, p := range all {
		// The second SIGUSR1 may find the first still pending: coalesced.
		if !eventually(5*time.Second, func() bool { c := p.Env().Counters(); return c.Delivered+c.Coalesced >= want[p] }) {
			t.Errorf("pid %d: signals not delivered: %+v, want %d", p.Pid(), p.Env().Counters(), want[p])
		}
		if c := p.Env().Counters(); c.Raised != want[p] {
			t.Errorf("pid %d received %d signals, want %d: a signal crossed a group boundary", p.Pid(), c.Raised, want[p])
		}
	}
	for _, p := range all {
		if err := p.Signal(wasix.SIGTERM); err != nil {
			t.Fatal(err)
		}
		if out, _ := waitDone(t, p, 10*time.Second); out != nil {
			t.Errorf("pid %d: %s", p.Pid(), describe(out))
		}
		checkAccounted(t, fmt.Sprintf("pid %d", p.Pid()), p.Env().Counters())
	}
}

// TestHostileNameLengths: callback_signal with names as long as the
// guest's memory (64 MiB... here 4 MiB, zero bytes are valid UTF-8), each
// one different, and with lengths past the end or past 2^32 and 2^63. A
// guest must not make the host keep memory in proportion to what it
// registers: the handler cache may hold a bounded number of entries of a
// bounded size, not 64 copies of 4 MiB names.
func TestHostileNameLengths(t *testing.T) {
	watchdog(t, 60*time.Second)
	rt := sharedRuntime(t)
	const pages = 64
	const size = pages << 16
	src := fmt.Sprintf(`(module
  `+setImport+`
  (import "wasix_32v1" "callback_signal" (func $cb (param i32 i32)))
  (import "wasix_64v1" "callback_signal" (func $cb64 (param i64 i64)))
  (import "wasix_32v1" "proc_raise" (func $raise (param i32) (result i32)))
  (memory (export "memory") %d)
  (data (i32.const 0) "h")
  (global $count (mut i32) (i32.const 0))
  (func (export "h") (param i32) (global.set $count (i32.add (global.get $count) (i32.const 1))) `+setCount+`)
  (func (export "_start") (local $i i32)
    (loop
      (call $cb (i32.const 1) (i32.sub (i32.const %d) (local.get $i)))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if 0 (i32.lt_u (local.get $i) (i32.const 100))))
    (call $cb (i32.const 0) (i32.const -1))
    (call $cb (i32.const 1) (i32.const %d))
    (call $cb (i32.const -1) (i32.const 2))
    (call $cb64 (i64.const 0) (i64.const 0x10000000000))
    (call $cb64 (i64.const 0) (i64.const -1))
    (call $cb64 (i64.const -1) (i64.const 1))
    (call $cb64 (i64.const 1) (i64.const 0x7fffffffffffffff))
    (call $cb (i32.const 0) (i32.const 1))
    (drop (call $raise (i32.const 10)))))`, pages, size-1, size)
	compile(t, rt, src)
	heapBefore, rssBefore := heapInuse(), rss(t)
	p, stop := startScoped(t, rt, src, host.Config{})
	defer stop()
	out, ok := waitDone(t, p, 30*time.Second)
	if !ok {
		return
	}
	if n := reported(p, keyCount); out != nil || n != 1 {
		t.Fatalf("got %s, handler ran %d times; want a normal end after one delivery", describe(out), n)
	}
	heapAfter, rssAfter := heapInuse(), rss(t)
	runtime.KeepAlive(p)
	figure(t, "100 distinct names of ~%s each and 7 out-of-range lengths registered: heap in use %s -> %s, RSS %s -> %s",
		mib(size), mib(heapBefore), mib(heapAfter), mib(rssBefore), mib(rssAfter))
	if heapAfter > heapBefore+32<<20 {
		t.Errorf("the host kept %s of Go heap for the names one guest registered (limit 32 MiB)", mib(heapAfter-heapBefore))
	}
}

// TestHostileManyNames: 100 000 distinct names that are not exports, each
// registered once. The handler cache must stay bounded.
func TestHostileManyNames(t *testing.T) {
	watchdog(t, 120*time.Second)
	rt := sharedRuntime(t)
	n := pick(100000, 1000000)
	// Name: 64 bytes of 'x', then five letters a..p spelling $i in base 16.
	src := fmt.Sprintf(`(module
  `+setImport+`
  (import "wasix_32v1" "callback_signal" (func $cb (param i32 i32)))
  (import "wasix_32v1" "proc_raise" (func $raise (param i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 0) "h")
  (data (i32.const 100) "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx")
  (global $count (mut i32) (i32.const 0))
  (func (export "h") (param i32) (global.set $count (i32.add (global.get $count) (i32.const 1))) `+setCount+`)
  (func (export "_start") (local $i i32) (local $d i32)
    (loop
      (local.set $d (i32.const 0))
      (loop
        (i32.store8 (i32.add (i32.const 164) (local.get $d))
          (i32.add (i32.const 97) (i32.and (i32.shr_u (local.get $i) (i32.shl (local.get $d) (i32.const 2))) (i32.const 15))))
        (local.set $d (i32.add (local.get $d) (i32.const 1)))
        (br_if 0 (i32.lt_u (local.get $d) (i32.const 5))))
      (call $cb (i32.const 100) (i32.const 69))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if 0 (i32.lt_u (local.get $i) (i32.const %d))))
    (call $cb (i32.const 0) (i32.const 1))
    (drop (call $raise (i32.const 10)))))`, n)
	compile(t, rt, src)
	heapBefore := heapInuse()
	began := time.Now()
	p, stop := startScoped(t, rt, src, host.Config{})
	defer stop()
	out, ok := waitDone(t, p, 100*time.Second)
	if !ok {
		return
	}
	took := time.Since(began)
	if n := reported(p, keyCount); out != nil || n != 1 {
		t.Fatalf("got %s, handler ran %d times; want a normal end after one delivery", describe(out), n)
	}
	heapAfter := heapInuse()
	runtime.KeepAlive(p)
	figure(t, "%d distinct missing names registered in %v (%v each): heap in use %s -> %s",
		n, took.Round(time.Millisecond), (took / time.Duration(n)).Round(10*time.Nanosecond), mib(heapBefore), mib(heapAfter))
	if heapAfter > heapBefore+4<<20 {
		t.Errorf("the handler cache grew with the names: %s more heap in use", mib(heapAfter-heapBefore))
	}
}

// TestHostileTimers: re-arming, replacing and cancelling interval timers
// in a tight loop 100 000 times, then a timer every nanosecond for a
// while. Goroutines and heap must not grow with the number of re-arms,
// nothing may stay armed after the exit, and every signal the storm raised
// is accounted for.
func TestHostileTimers(t *testing.T) {
	watchdog(t, 120*time.Second)
	rt := sharedRuntime(t)
	n := pick(100000, 1000000)
	src := fmt.Sprintf(`(module
  `+setImport+`
  (import "wasix_32v1" "callback_signal" (func $cb (param i32 i32)))
  (import "wasix_32v1" "proc_raise_interval" (func $interval (param i32 i64 i32) (result i32)))
  (import "wasix_32v1" "thread_sleep" (func $sleep (param i64) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 0) "h")
  (global $count (mut i32) (i32.const 0))
  (global $bad (mut i32) (i32.const 0))
  (func (export "h") (param i32) (global.set $count (i32.add (global.get $count) (i32.const 1))))
  (func $ok (param i32) (if (local.get 0) (then (global.set $bad (i32.add (global.get $bad) (i32.const 1))))))
  (func (export "_start") (local $i i32)
    (call $cb (i32.const 0) (i32.const 1))
    (loop
      (call $ok (call $interval
        (i32.add (i32.const 10) (i32.shl (i32.and (local.get $i) (i32.const 1)) (i32.const 1)))
        (select (i64.const 0) (i64.add (i64.const 1000000000) (i64.extend_i32_u (local.get $i)))
          (i32.eqz (i32.and (local.get $i) (i32.const 15))))
        (i32.and (local.get $i) (i32.const 2))))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if 0 (i32.lt_u (local.get $i) (i32.const %d))))
    ;; a storm: SIGALRM every nanosecond for 50 sleeps of 1 ms
    (call $ok (call $interval (i32.const 14) (i64.const 1) (i32.const 1)))
    (local.set $i (i32.const 0))
    (loop
      (drop (call $sleep (i64.const 1000000)))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if 0 (i32.lt_u (local.get $i) (i32.const 50))))
    (call $ok (call $interval (i32.const 14) (i64.const 0) (i32.const 0)))
    ;; leave two long timers armed: the exit must stop them
    (call $ok (call $interval (i32.const 10) (i64.const 3600000000000) (i32.const 1)))
    (call $ok (call $interval (i32.const 12) (i64.const 3600000000000) (i32.const 0)))
    (call $set (i32.const 5) (i64.extend_i32_u (global.get $bad)))))`, n)
	compile(t, rt, src)
	before := goroutines()
	heapBefore := heapInuse()
	var peak atomic.Int64
	stopSampling := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		for {
			if g := int64(runtime.NumGoroutine()); g > peak.Load() {
				peak.Store(g)
			}
			select {
			case <-stopSampling:
				return
			case <-time.After(200 * time.Microsecond):
			}
		}
	}()
	began := time.Now()
	p, stop := startScoped(t, rt, src, host.Config{})
	defer stop()
	out, ok := waitDone(t, p, 100*time.Second)
	close(stopSampling)
	<-sampled
	if !ok {
		return
	}
	took := time.Since(began)
	if bad, ok := reportedOK(p, keyBad); out != nil || !ok || bad != 0 {
		t.Fatalf("got %s with %d failed proc_raise_interval calls (reported: %v)", describe(out), bad, ok)
	}
	for sig := wasix.Signal(1); sig < wasix.NSIG; sig++ {
		if _, _, armed := p.Env().Timer(sig); armed {
			t.Errorf("the %v timer is still armed after the exit", sig)
		}
	}
	c := p.Env().Counters()
	checkAccounted(t, "timers", c)
	after := settleGoroutines(t, before)
	heapAfter := heapInuse()
	runtime.KeepAlive(p)
	figure(t, "%d timer re-arms and a 1 ns timer for 50 ms in %v: %d signals raised (%d delivered, %d coalesced), goroutines %d before, peak %d, %d after; heap in use %s -> %s",
		n, took.Round(time.Millisecond), c.Raised, c.Delivered, c.Coalesced, before, peak.Load(), after, mib(heapBefore), mib(heapAfter))
	// A few goroutines for the timer that is firing and the kicker are
	// expected; one per re-arm or per expiry is not.
	if peak.Load() > int64(before)+32 {
		t.Errorf("goroutines peaked at %d (from %d)", peak.Load(), before)
	}
	if heapAfter > heapBefore+4<<20 {
		t.Errorf("heap grew by %s", mib(heapAfter-heapBefore))
	}
}

// TestHandlerCannotHoldTheHost must stay the last test of the package: when
// it fails, a guest that cannot be stopped keeps spinning on one thread.
//
// A handler that never returns, blocked in a wait or spinning in wasm, must
// not hold any host lock: from other goroutines, env.Signal, env.Counters
// and the other queries, and Process.Signal still return promptly, and
// SIGKILL from Go ends the guest.
func TestHandlerCannotHoldTheHost(t *testing.T) {
	watchdog(t, 180*time.Second)
	rt := sharedRuntime(t)
	const sleepForever = `(loop (drop (call $sleep (i64.const -1))) (br 0))`
	const futexForever = `(loop (drop (call $futex (i32.const 128) (i32.const 0) (i32.const 256) (i32.const 300))) (br 0))`
	const spinForever = `(loop (br 0))`
	// Sleeping for an hour at a time: the signal always finds _start
	// inside thread_sleep, never in wasm, so the handler is called from
	// the sleep, not from the epoch callback.
	const mainSleeps = `(loop (drop (call $sleep (i64.const 3600000000000))) (br 0))`
	const mainSpins = `(loop (br 0))`
	variants := []struct {
		name, handler, main string
		second              bool // a second signal reaches the handler while it runs
	}{
		{"handler sleeps forever, main sleeps", sleepForever, mainSleeps, false},
		{"handler sleeps forever, main spins", sleepForever, mainSpins, false},
		{"handler waits on a futex forever, main sleeps", futexForever, mainSleeps, false},
		{"handler waits on a futex forever, main spins", futexForever, mainSpins, false},
		{"handler spins, main sleeps", spinForever, mainSleeps, false},
		{"handler spins, main spins", spinForever, mainSpins, false},
		{"handler spins, a second signal arrives meanwhile", spinForever, mainSleeps, true},
	}
	for _, v := range variants {
		t.Run(v.name, func(t *testing.T) {
			before := goroutines()
			src := wat(
				`(import "wasix_32v1" "callback_signal" (func $cb (param i32 i32)))`,
				`(import "wasix_32v1" "thread_sleep" (func $sleep (param i64) (result i32)))`,
				`(import "wasix_32v1" "futex_wait" (func $futex (param i32 i32 i32 i32) (result i32)))`,
				`(memory (export "memory") 1)`,
				`(data (i32.const 0) "h")`,
				`(func (export "h") (param i32)`, v.handler, `)`,
				`(func (export "_start") (call $cb (i32.const 0) (i32.const 1))`, v.main, `)`)
			p := start(t, context.Background(), rt, src, host.Config{})
			waitHandler(t, p)
			wantDelivered := uint64(1)
			if err := p.Signal(wasix.SIGUSR1); err != nil {
				t.Fatal(err)
			}
			if v.second {
				if !eventually(5*time.Second, func() bool { return p.Env().Counters().Delivered >= 1 }) {
					t.Fatal("the first signal never reached the handler")
				}
				if err := p.Signal(wasix.SIGUSR2); err != nil {
					t.Fatal(err)
				}
				wantDelivered = 2
			}
			if !eventually(5*time.Second, func() bool { return p.Env().Counters().Delivered >= wantDelivered }) {
				t.Fatalf("%d signals sent, not all reached the handler within 5 s: %+v", wantDelivered, p.Env().Counters())
			}
			time.Sleep(10 * time.Millisecond) // well inside the handler

			// From several goroutines at once, calls that take the host's
			// locks. SIGSTOP is the signal sent: it is deliverable (so it
			// wakes the guest and kicks it) but never calls the handler,
			// which would nest another call that never returns.
			var slowest atomic.Int64
			var wg sync.WaitGroup
			callsEach := 250
			for g := range 4 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					e := p.Env()
					for range callsEach {
						t0 := time.Now()
						var err error
						switch g {
						case 0:
							err = e.Signal(wasix.SIGSTOP)
						case 1:
							err = p.Signal(wasix.SIGSTOP)
						case 2:
							c := e.Counters()
							_, _ = e.Handler()
							_ = e.Pending(wasix.SIGUSR1)
							_ = e.Exited()
							if !accounted(c) {
								t.Errorf("a snapshot does not add up: %+v", c)
							}
						case 3:
							err = e.SetTimer(wasix.SIGALRM, time.Hour, false)
							_, _, _ = e.Timer(wasix.SIGALRM)
						}
						if err != nil {
							t.Errorf("call %d: %v", g, err)
						}
						if d := int64(time.Since(t0)); d > slowest.Load() {
							slowest.Store(d)
						}
					}
				}()
			}
			finished := make(chan struct{})
			go func() { wg.Wait(); close(finished) }()
			select {
			case <-finished:
			case <-time.After(10 * time.Second):
				t.Fatal("calls from Go blocked behind the handler")
			}
			if d := time.Duration(slowest.Load()); d > time.Second {
				t.Errorf("slowest call from Go took %v", d)
			}
			began := time.Now()
			if err := p.Signal(wasix.SIGKILL); err != nil {
				t.Fatal(err)
			}
			select {
			case <-p.Done():
			case <-time.After(5 * time.Second):
				t.Fatalf("SIGKILL from Go did not end the guest within 5 s: %+v", p.Env().Counters())
			}
			killed := time.Since(began)
			out := p.Wait()
			var exit *wasix.ExitError
			if !errors.As(out, &exit) || exit.Signal != wasix.SIGKILL || exit.Status != 137 {
				t.Errorf("got %s, want exit 137 by SIGKILL", describe(out))
			}
			checkAccounted(t, v.name, p.Env().Counters())
			after := settleGoroutines(t, before)
			figure(t, "%d calls from 4 goroutines while the handler ran, slowest %v; SIGKILL ended it in %v; goroutines %d before, %d after",
				4*callsEach, time.Duration(slowest.Load()).Round(time.Microsecond), killed.Round(time.Microsecond), before, after)
		})
	}
}
