package reliability_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wasix-org/wasix-signals-go/host"
	"github.com/wasix-org/wasix-signals-go/wasix"
	"github.com/wasix-org/wasix-signals-go/wasix/env"
)

// guestKind describes one kind of guest in the crowd of TestCrowdAccounting.
type guestKind struct {
	name        string
	spin        bool // spin in wasm between checks (epoch delivery) instead of thread_sleep
	noHandler   bool // never registers a handler: default dispositions apply
	timer       bool // arms a repeating SIGALRM timer with proc_raise_interval
	exitAfter   int  // returns from _start once its handler ran this often
	trapHandler int  // the handler traps (unreachable) on its n-th call
	trapMain    int  // _start traps once the handler ran this often
	stubborn    bool // SIGTERM does not make it exit
	cancel      bool // its context is cancelled mid-run
	grace       time.Duration
	kill        bool // SIGKILL from Go mid-run
	iterations  int  // noHandler: number of 1 ms sleeps before returning
}

// crowdGuest is the WAT of a guest of kind k. The handler counts its calls,
// in all and per signal, and reports both (keyCount, keyTally+sig); a
// SIGTERM sets a stop flag (unless stubborn) on which _start calls
// proc_exit(3).
func crowdGuest(k guestKind) string {
	var h, body []string
	h = append(h,
		`(local.set $a (i32.add (i32.const 1024) (i32.shl (local.get $sig) (i32.const 2))))`,
		`(i32.store (local.get $a) (i32.add (i32.load (local.get $a)) (i32.const 1)))`,
		`(global.set $count (i32.add (global.get $count) (i32.const 1)))`,
		`(call $set (i32.add (i32.const 1000) (local.get $sig)) (i64.extend_i32_u (i32.load (local.get $a))))`,
		setCount)
	if k.trapHandler > 0 {
		h = append(h, fmt.Sprintf(`(if (i32.eq (global.get $count) (i32.const %d)) (then unreachable))`, k.trapHandler))
	}
	if !k.stubborn {
		h = append(h, `(if (i32.eq (local.get $sig) (i32.const 15)) (then (global.set $stop (i32.const 1))))`)
	}
	if !k.noHandler {
		body = append(body, `(call $cb (i32.const 0) (i32.const 1))`)
	}
	if k.timer {
		body = append(body, `(drop (call $interval (i32.const 14) (i64.const 2000000) (i32.const 1)))`)
	}
	body = append(body, `(loop $l`)
	if k.spin {
		body = append(body, `(local.set $i (i32.const 0))`,
			`(loop $s (local.set $i (i32.add (local.get $i) (i32.const 1))) (br_if $s (i32.lt_u (local.get $i) (i32.const 200000))))`)
	} else {
		body = append(body, `(drop (call $sleep (i64.const 1000000)))`)
	}
	body = append(body, `(if (global.get $stop) (then (call $exit (i32.const 3))))`)
	if k.trapMain > 0 {
		body = append(body, fmt.Sprintf(`(if (i32.ge_u (global.get $count) (i32.const %d)) (then unreachable))`, k.trapMain))
	}
	body = append(body, `(local.set $n (i32.add (local.get $n) (i32.const 1)))`)
	if k.noHandler {
		body = append(body, fmt.Sprintf(`(br_if $l (i32.lt_u (local.get $n) (i32.const %d))))`, k.iterations))
	} else {
		body = append(body, fmt.Sprintf(`(br_if $l (i32.lt_u (global.get $count) (i32.const %d))))`, k.exitAfter))
	}
	return wat(setImport,
		`(import "wasix_32v1" "callback_signal" (func $cb (param i32 i32)))`,
		`(import "wasix_32v1" "thread_sleep" (func $sleep (param i64) (result i32)))`,
		`(import "wasix_32v1" "proc_raise_interval" (func $interval (param i32 i64 i32) (result i32)))`,
		`(import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))`,
		`(memory (export "memory") 1)`,
		`(data (i32.const 0) "h")`,
		`(global $count (export "count") (mut i32) (i32.const 0))`,
		`(global $stop (mut i32) (i32.const 0))`,
		`(func (export "h") (param $sig i32) (local $a i32)`, strings.Join(h, "\n"), `)`,
		`(func (export "_start") (local $i i32) (local $n i32)`, strings.Join(body, "\n"), `)`)
}

// crowdKinds is the mix of one round: ten kinds, each a tenth of the crowd.
func crowdKinds(k int) []guestKind {
	never := 1 << 30
	return []guestKind{
		{name: "no handler, sleeping", noHandler: true, iterations: 100},
		{name: "spinning, exits on its own", spin: true, exitAfter: k},
		{name: "spinning with a timer, exits on its own", spin: true, timer: true, exitAfter: k},
		{name: "sleeping with a timer, exits on its own", timer: true, exitAfter: k},
		{name: "sleeping, handler traps mid-stream", trapHandler: k / 2, exitAfter: never},
		{name: "spinning, traps mid-stream", spin: true, trapMain: k / 2, exitAfter: never},
		{name: "sleeping, cancelled, exits on SIGTERM", cancel: true, grace: 30 * time.Second, exitAfter: never},
		{name: "spinning, cancelled, ignores SIGTERM", spin: true, stubborn: true, cancel: true, grace: 20 * time.Millisecond, exitAfter: never},
		{name: "sleeping with a timer, cancelled without grace", timer: true, stubborn: true, cancel: true, grace: -1, exitAfter: never},
		{name: "sleeping, SIGKILL from Go", stubborn: true, kill: true, exitAfter: never},
	}
}

// sentSignals are what the senders send: some handled, some ignored by
// default (CHLD, URG, WINCH), SIGSTOP (never caught), none that the guests
// use to end (TERM) or that timers raise (ALRM), and no SIGKILL.
var sentSignals = []wasix.Signal{
	wasix.SIGHUP, wasix.SIGINT, wasix.SIGQUIT, wasix.SIGUSR1, wasix.SIGUSR2, wasix.SIGPIPE,
	wasix.SIGCHLD, wasix.SIGSTOP, wasix.SIGURG, wasix.SIGWINCH,
}

// tracked is one guest of the crowd and what was sent to it.
type tracked struct {
	p        *host.Process
	kind     guestKind
	accepted [wasix.NSIG]atomic.Uint64 // Signal calls that returned nil
	refused  atomic.Uint64             // ErrExited or ErrClosed
}

func (g *tracked) sent() (n uint64) {
	for i := range g.accepted {
		n += g.accepted[i].Load()
	}
	return n
}

type roundStats struct {
	guests, accepted, refused                             uint64
	raised, delivered, coalesced, ignored, pending, ended uint64
	cutShort                                              uint64
	byTimerOrHost                                         uint64 // raised by timers and the host's cancel path
	outcomes                                              map[string]int
	duration                                              time.Duration
}

// TestCrowdAccounting runs rounds of 100 guests at once on one Runtime:
// sleeping and spinning guests with a counting handler, some with an
// interval timer, some exiting on their own, some trapping mid-stream (in
// the handler or in _start), some cancelled through their context, some
// killed from Go, and some with no handler at all. Several goroutines send
// them signals until every guest has ended. For every guest, every signal
// must be accounted for, signals sent after the end must be refused
// (ErrExited/ErrClosed) and not counted, and the handler must have run
// exactly as often as the host says it delivered. Across rounds no
// goroutine may be left behind and neither the Go heap nor the process
// RSS may keep growing.
func TestCrowdAccounting(t *testing.T) {
	rounds := pick(3, 6)
	guests := pick(100, 200)
	perGuest := pick(30, 200) // handler calls before a guest ends on its own
	watchdog(t, time.Duration(rounds)*90*time.Second)
	rt := sharedRuntime(t)
	kinds := crowdKinds(perGuest)
	for _, k := range kinds {
		compile(t, rt, crowdGuest(k))
	}
	goroutinesBefore := goroutines()
	var heaps, rsses []uint64
	var total roundStats
	for round := 1; round <= rounds; round++ {
		st := crowdRound(t, rt, kinds, guests, uint64(round))
		if t.Failed() {
			return
		}
		after := settleGoroutines(t, goroutinesBefore)
		heap, res := heapInuse(), rss(t)
		heaps, rsses = append(heaps, heap), append(rsses, res)
		figure(t, "round %d: %d guests, %v; signals sent %d (accepted %d, refused after exit %d); raised %d = delivered %d (%d cut short) + coalesced %d + ignored %d + pending %d + ended by a signal %d; raised by timers or the cancel path %d; outcomes %v; goroutines %d before, %d after; heap in use %s; RSS %s",
			round, st.guests, st.duration.Round(time.Millisecond), st.accepted+st.refused, st.accepted, st.refused,
			st.raised, st.delivered, st.cutShort, st.coalesced, st.ignored, st.pending, st.ended, st.byTimerOrHost,
			st.outcomes, goroutinesBefore, after, mib(heap), mib(res))
		total.guests += st.guests
		total.accepted += st.accepted
		total.refused += st.refused
		total.raised += st.raised
		total.duration += st.duration
	}
	figure(t, "total: %d rounds, %d guests, %d signals accepted, %d refused after exit, %d raised in all, all accounted for; %v in rounds",
		rounds, total.guests, total.accepted, total.refused, total.raised, total.duration.Round(time.Millisecond))
	// Memory: the last round may not hold much more than the first. The
	// bounds are generous: the point is to catch a leak of every store or
	// every signal, which grows by tens of MiB per round.
	first, last := heaps[0], heaps[len(heaps)-1]
	if last > first+first/2+32<<20 {
		t.Errorf("Go heap keeps growing: %s after round 1, %s after round %d", mib(first), mib(last), rounds)
	}
	firstRSS, lastRSS := rsses[0], rsses[len(rsses)-1]
	if lastRSS > firstRSS+firstRSS/2+128<<20 {
		t.Errorf("RSS keeps growing: %s after round 1, %s after round %d", mib(firstRSS), mib(lastRSS), rounds)
	}
}

// crowdRound runs one round and checks every guest of it.
func crowdRound(t *testing.T, rt *host.Runtime, kinds []guestKind, n int, seed uint64) roundStats {
	t.Helper()
	began := time.Now()
	rng := rand.New(rand.NewPCG(seed, 0x5eed))
	crowd := make([]*tracked, n)
	var cancels []context.CancelFunc
	defer func() {
		for _, c := range cancels {
			c()
		}
	}()
	for i := range crowd {
		k := kinds[i%len(kinds)]
		ctx, cancel := context.WithCancel(context.Background())
		cancels = append(cancels, cancel)
		p, err := rt.Start(ctx, compile(t, rt, crowdGuest(k)), host.Config{Grace: k.grace})
		if err != nil {
			t.Fatalf("start guest %d (%s): %v", i, k.name, err)
		}
		crowd[i] = &tracked{p: p, kind: k}
	}

	// The senders: several goroutines signalling random guests until all
	// have ended. A guest that registers a handler is left alone until it
	// has, so that the first signals do not end it by default action.
	var liveMu sync.Mutex
	live := append([]*tracked(nil), crowd...)
	// next picks a guest at random among those not seen ended yet; after
	// they have all ended, it keeps returning ended ones for a moment, so
	// that refusals after the end are exercised too.
	next := func(r *rand.Rand) (*tracked, bool) {
		liveMu.Lock()
		defer liveMu.Unlock()
		for len(live) > 0 {
			i := r.IntN(len(live))
			g := live[i]
			select {
			case <-g.p.Done():
				live[i] = live[len(live)-1]
				live = live[:len(live)-1]
				if r.IntN(4) == 0 {
					return g, true
				}
				continue
			default:
			}
			return g, true
		}
		return nil, false
	}
	var wg sync.WaitGroup
	for s := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(seed, uint64(s)))
			for {
				g, ok := next(r)
				if !ok {
					return
				}
				if !g.kind.noHandler {
					if _, found := g.p.Env().Handler(); !found {
						select {
						case <-g.p.Done():
						default:
							runtime.Gosched()
							continue
						}
					}
				}
				// A burst of one to four signals, then a pause.
				for range 1 + r.IntN(4) {
					sig := sentSignals[r.IntN(len(sentSignals))]
					switch err := g.p.Signal(sig); {
					case err == nil:
						g.accepted[sig].Add(1)
					case refused(err):
						g.refused.Add(1)
					default:
						t.Errorf("pid %d: Signal(%v) = %v, want nil, ErrExited or ErrClosed", g.p.Pid(), sig, err)
					}
				}
				time.Sleep(50 * time.Microsecond)
			}
		}()
	}
	// Cancellations and kills, at random moments.
	for i, g := range crowd {
		if !g.kind.cancel && !g.kind.kill {
			continue
		}
		delay := time.Duration(5+rng.IntN(60)) * time.Millisecond
		cancel := cancels[i]
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Not before the handler is in place: a SIGTERM before that
			// ends the guest by default action, which is right but not
			// what this guest is for.
			if !eventually(10*time.Second, func() bool { _, found := g.p.Env().Handler(); return found }) {
				t.Errorf("pid %d never registered its handler", g.p.Pid())
			}
			select {
			case <-time.After(delay):
			case <-g.p.Done():
				return
			}
			if g.kind.cancel {
				cancel()
				return
			}
			switch err := g.p.Signal(wasix.SIGKILL); {
			case err == nil:
				g.accepted[wasix.SIGKILL].Add(1)
			case !refused(err):
				t.Errorf("pid %d: SIGKILL: %v", g.p.Pid(), err)
			}
		}()
	}
	ended := make([]time.Duration, len(crowd))
	var endWG sync.WaitGroup
	for i, g := range crowd {
		endWG.Add(1)
		go func() {
			defer endWG.Done()
			<-g.p.Done()
			ended[i] = time.Since(began)
		}()
	}
	endWG.Wait()
	wg.Wait()
	slowest := map[string]time.Duration{}
	for i, g := range crowd {
		slowest[g.kind.name] = max(slowest[g.kind.name], ended[i])
	}
	var kindTimes []string
	for _, k := range kinds {
		kindTimes = append(kindTimes, fmt.Sprintf("%s: %v", k.name, slowest[k.name].Round(time.Millisecond)))
	}
	t.Logf("round %d, the last guest of each kind ended after: %s", seed, strings.Join(kindTimes, "; "))

	st := roundStats{guests: uint64(n), outcomes: map[string]int{}, duration: time.Since(began)}
	for _, g := range crowd {
		checkCrowdGuest(t, g, &st)
	}
	return st
}

// checkCrowdGuest checks one ended guest: outcome, accounting, refusal
// after the end, and the handler's own count against the host's.
func checkCrowdGuest(t *testing.T, g *tracked, st *roundStats) {
	t.Helper()
	p, k := g.p, g.kind
	out := p.Wait()
	what := fmt.Sprintf("pid %d (%s, %s)", p.Pid(), k.name, describe(out))
	st.outcomes[outcomeClass(out)]++
	c := p.Env().Counters()
	checkAccounted(t, what, c)

	// Refused after the end, and not counted.
	if err := p.Signal(wasix.SIGUSR1); !errors.Is(err, env.ErrClosed) {
		t.Errorf("%s: Signal after the end = %v, want ErrClosed", what, err)
	}
	if err := p.Env().SetTimer(wasix.SIGALRM, time.Millisecond, true); !refused(err) {
		t.Errorf("%s: SetTimer after the end = %v, want ErrExited or ErrClosed", what, err)
	}
	if c2 := p.Env().Counters(); c2 != c {
		t.Errorf("%s: counters moved after the end: %+v -> %+v", what, c, c2)
	}

	// Everything sent is in Raised; beyond that only timers (SIGALRM) and
	// the cancel path (SIGTERM, SIGKILL) raise signals.
	sent := g.sent()
	if c.Raised < sent {
		t.Errorf("%s: %d signals accepted but only %d raised: signals lost", what, sent, c.Raised)
	}
	extra := c.Raised - sent
	switch {
	case k.timer:
	case k.cancel && extra > 2, !k.cancel && extra != 0:
		t.Errorf("%s: raised %d, accepted %d: %d signals from nowhere", what, c.Raised, sent, extra)
	}

	// Outcome.
	var exit *wasix.ExitError
	var ht *wasix.HandlerTrapError
	killed := errors.As(out, &exit) && exit.Signal == wasix.SIGKILL && exit.Status == 137
	switch {
	case k.noHandler:
		if out != nil && !(errors.As(out, &exit) && exit.Signal.Valid() && exit.Status == 128+int32(exit.Signal) && c.TerminatedBy == exit.Signal) {
			t.Errorf("%s: want a normal end or a default-action termination", what)
		}
	case k.trapHandler > 0:
		if !errors.As(out, &ht) || !ht.Signal.Valid() || host.ExitCode(out) != 134 {
			t.Errorf("%s: want a *wasix.HandlerTrapError naming the signal", what)
		}
	case k.trapMain > 0:
		if !isWasmTrap(out) {
			t.Errorf("%s: want the guest's own trap", what)
		}
	case k.cancel && !k.stubborn:
		if !(errors.As(out, &exit) && exit.Status == 3 && exit.Signal == 0) {
			t.Errorf("%s: want exit 3 (its SIGTERM handler)", what)
		}
	case k.cancel, k.kill:
		if !killed {
			t.Errorf("%s: want SIGKILL (137)", what)
		}
	default:
		if out != nil {
			t.Errorf("%s: want a normal end", what)
		}
	}
	if killed != (c.TerminatedBy == wasix.SIGKILL) {
		t.Errorf("%s: TerminatedBy %v", what, c.TerminatedBy)
	}

	// The handler's own count against the host's. A call that was cut
	// short before it counted (SIGKILL, or a handler nested inside it that
	// trapped; under load pending signals nest several deep, each call
	// interrupted at its entry) is delivered without the handler counting
	// it, and the host says how many were cut short.
	if !k.noHandler {
		count := uint64(reported(p, keyCount))
		var sum uint64
		for sig := range wasix.Signal(wasix.NSIG) {
			n := uint64(reported(p, keyTally+int32(sig)))
			sum += n
			if sig != wasix.SIGALRM && sig != wasix.SIGTERM && n > g.accepted[sig].Load() {
				t.Errorf("%s: handler saw %v %d times, only %d sent", what, sig, n, g.accepted[sig].Load())
			}
			if sig == wasix.SIGKILL || sig == wasix.SIGSTOP || sig == 0 {
				if n != 0 {
					t.Errorf("%s: handler called with %v", what, sig)
				}
			}
		}
		if sum != count {
			t.Errorf("%s: tally %d != count %d", what, sum, count)
		}
		cutShort := killed || ht != nil
		if count > c.Delivered || c.Delivered > count+c.CutShort {
			t.Errorf("%s: handler ran %d times, host delivered %d of which %d were cut short", what, count, c.Delivered, c.CutShort)
		}
		if !cutShort && c.CutShort != 0 || ht != nil && c.CutShort == 0 {
			t.Errorf("%s: %d handler calls cut short", what, c.CutShort)
		}
	}
	forget(p)

	st.accepted += sent
	st.refused += g.refused.Load()
	st.raised += c.Raised
	st.delivered += c.Delivered
	st.cutShort += c.CutShort
	st.coalesced += c.Coalesced
	st.ignored += c.Ignored
	st.pending += uint64(c.Pending)
	if c.TerminatedBy != 0 {
		st.ended++
	}
	st.byTimerOrHost += extra
}

func outcomeClass(err error) string {
	var exit *wasix.ExitError
	var ht *wasix.HandlerTrapError
	switch {
	case err == nil:
		return "ok"
	case errors.As(err, &ht):
		return "handler-trap"
	case errors.As(err, &exit) && exit.Signal == wasix.SIGKILL:
		return "killed"
	case errors.As(err, &exit) && exit.Signal != 0:
		return "default-action"
	case errors.As(err, &exit):
		return "exit"
	case isWasmTrap(err):
		return "trap"
	}
	return "other"
}
