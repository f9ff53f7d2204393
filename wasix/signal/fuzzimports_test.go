package signal_test

// Fuzz targets for the imports that read or write guest memory, the ones
// that take signal numbers, tids and pids, and FuzzModel, which runs random
// sequences of operations against a real guest and against a small
// pure-Go model of docs/BEHAVIOUR.md section 4.

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/wasix-org/wasix-signals-go/wasix"
	"github.com/wasix-org/wasix-signals-go/wasix/env"
	"github.com/wasix-org/wasix-signals-go/wasix/signal"
)

// fzPolicy maps a fuzz bool to a policy.
func fzPolicy(wasmer bool) wasix.Policy {
	if wasmer {
		return wasix.PolicyWasmer
	}
	return wasix.PolicyDefault
}

func fzFault(p wasix.Policy) wasix.Errno {
	if p == wasix.PolicyWasmer {
		return wasix.EMEMVIOLATION
	}
	return wasix.EFAULT
}

// fzGuests caches guests across fuzz iterations by a key; a guest that is
// no longer in its initial state is replaced.
type fzGuests struct {
	f     *testing.F
	wat   string
	cache map[string]*fzGuest
}

type fzGuest struct {
	*ihGuest
	snapshot []byte // guest memory in its initial state
}

func newFzGuests(f *testing.F, wat string) *fzGuests {
	c := &fzGuests{f: f, wat: wat, cache: map[string]*fzGuest{}}
	f.Cleanup(func() {
		for _, g := range c.cache {
			g.close()
		}
	})
	return c
}

// get returns the guest for key, made with cfg and init when there is
// none or the last one is dirty.
func (c *fzGuests) get(t *testing.T, key string, cfg env.Config, init func(*ihGuest) error, dirty func(*fzGuest) bool) *fzGuest {
	if g, ok := c.cache[key]; ok {
		if !dirty(g) {
			return g
		}
		g.close()
		delete(c.cache, key)
	}
	if len(c.cache) > 64 {
		for k, g := range c.cache {
			g.close()
			delete(c.cache, k)
		}
	}
	ig, err := ihNew(t, c.wat, cfg)
	if err != nil {
		t.Fatal(err)
	}
	ig.fill(biMask, biNames)
	if init != nil {
		if err := init(ig); err != nil {
			t.Fatal(err)
		}
	}
	g := &fzGuest{ihGuest: ig, snapshot: bytes.Clone(ig.memory())}
	c.cache[key] = g
	return g
}

func fzRegister(name string) func(*ihGuest) error {
	return func(g *ihGuest) error {
		ptr, n := biName(name)
		_, err := g.call(signal.Wasix32+"."+signal.CallbackSignalName, ptr, n)
		return err
	}
}

// fzPointer decodes a fuzzed pointer so that the interesting places (the
// end of memory, 2^32, the top of the address space) are reached often.
func fzPointer(raw uint64, mode uint8, wide bool) uint64 {
	var p uint64
	switch mode % 6 {
	case 0:
		p = raw
	case 1:
		p = raw % (biMemSize + 8)
	case 2:
		p = biMemSize - raw%16
	case 3:
		p = 1<<32 + raw%(biMemSize+8)
	case 4:
		p = math.MaxUint64 - raw%16
	case 5:
		p = 1<<31 + raw%16
	}
	if !wide {
		p = uint64(uint32(p))
	}
	return p
}

// fuzzPointerImport checks an import that writes value(cfg) at a guest
// pointer: the errno, the bytes written, every other byte untouched, the
// warning, and nothing else changed.
func fuzzPointerImport(f *testing.F, imp string, cfgOf func(bits uint32) env.Config, value func(cfg env.Config) []byte) {
	for _, s := range []struct {
		ptr  uint64
		mode uint8
	}{{0, 0}, {biMemSize - 4, 0}, {3, 2}, {0, 2}, {0, 3}, {0, 4}, {3, 4}, {0, 5}, {1 << 32, 0}, {math.MaxUint64, 0}} {
		for _, wide := range []bool{false, true} {
			f.Add(s.ptr, s.mode, wide, false, uint32(0))
			f.Add(s.ptr, s.mode, wide, true, uint32(1<<15|1<<1))
		}
	}
	guests := newFzGuests(f, ihMatrixModule(true))
	f.Fuzz(func(t *testing.T, raw uint64, mode uint8, wide, wasmer bool, bits uint32) {
		p := fzPolicy(wasmer)
		cfg := cfgOf(bits)
		cfg.Policy = p
		g := guests.get(t, fmt.Sprint(p, bits), cfg, fzRegister("__wasm_signal"), func(*fzGuest) bool { return false })
		ptr := fzPointer(raw, mode, wide)
		ns := signal.Wasix32
		if wide {
			ns = signal.Wasix64
		}
		want := value(cfg)
		mem := g.memory()
		copy(mem, g.snapshot)
		g.logs.reset()
		g.resetEvents()
		before := g.env.Counters()
		errno, err := g.call(ns+"."+imp, ptr)
		if err != nil {
			t.Fatalf("%s(%#x): trap: %v", imp, ptr, err)
		}
		end := ptr + uint64(len(want))
		fits := end >= ptr && end <= uint64(len(mem))
		expect := bytes.Clone(g.snapshot)
		wantErrno := fzFault(p)
		if fits {
			copy(expect[ptr:], want)
			wantErrno = 0
		}
		if errno != wantErrno {
			t.Fatalf("%s.%s(%#x): %s, want %s", ns, imp, ptr, errno.Name(), wantErrno.Name())
		}
		if i := biFirstDiff(mem, expect); i >= 0 {
			t.Fatalf("%s.%s(%#x): memory at %d is %#x, want %#x", ns, imp, ptr, i, mem[i], expect[i])
		}
		warns := 0
		for _, l := range g.logs.all() {
			if l.Level >= slog.LevelWarn {
				warns++
				if fits || l.Attrs["ptr"] != biU64(ptr) {
					t.Fatalf("%s.%s(%#x): unexpected warning %v", ns, imp, ptr, l)
				}
			}
		}
		if !fits && warns != 1 {
			t.Fatalf("%s.%s(%#x): %d warnings, want 1", ns, imp, ptr, warns)
		}
		if after := g.env.Counters(); after != before {
			t.Fatalf("counters changed: %+v -> %+v", before, after)
		}
		if set, found := g.env.Handler(); !set || !found {
			t.Fatalf("registration changed: set %v found %v", set, found)
		}
		if ev := g.Events(); len(ev) != 0 {
			t.Fatalf("handler called: %v", ev)
		}
	})
}

func fzIgnored(bits uint32) []wasix.Signal {
	var out []wasix.Signal
	for s := wasix.Signal(1); s < wasix.NSIG; s++ {
		if bits&(1<<s) != 0 {
			out = append(out, s)
		}
	}
	return out
}

// fzDispositions is what proc_signals_get must write for cfg, computed from
// the contract: {u8 sig, u8 1} per ignored signal in signal order, without
// SIGKILL and SIGSTOP, which cannot be ignored.
func fzDispositions(cfg env.Config) []byte {
	var out []byte
	for _, s := range cfg.Ignore {
		if s != wasix.SIGKILL && s != wasix.SIGSTOP {
			out = append(out, byte(s), 1)
		}
	}
	return out
}

func FuzzProcSignalsSizesGet(f *testing.F) {
	fuzzPointerImport(f, signal.ProcSignalsSizesGetName,
		func(bits uint32) env.Config { return env.Config{Ignore: fzIgnored(bits)} },
		func(cfg env.Config) []byte {
			return binary.LittleEndian.AppendUint32(nil, uint32(len(fzDispositions(cfg))/2))
		})
}

func FuzzProcSignalsGet(f *testing.F) {
	fuzzPointerImport(f, signal.ProcSignalsGetName,
		func(bits uint32) env.Config { return env.Config{Ignore: fzIgnored(bits)} }, fzDispositions)
}

func FuzzThreadID(f *testing.F) {
	fuzzPointerImport(f, signal.ThreadIDName,
		func(uint32) env.Config { return env.Config{} },
		func(env.Config) []byte { return binary.LittleEndian.AppendUint32(nil, 1) })
}

func FuzzProcID(f *testing.F) {
	fuzzPointerImport(f, signal.ProcIDName,
		func(bits uint32) env.Config { return env.Config{Pid: int32(bits % 1024)} },
		func(cfg env.Config) []byte {
			pid := cfg.Pid
			if pid == 0 {
				pid = 1
			}
			return binary.LittleEndian.AppendUint32(nil, uint32(pid))
		})
}

// fzState is a registration state a number fuzz target starts from.
type fzState uint8

const (
	fzRegistered fzState = iota
	fzBlocked
	fzUnregistered
	fzStates
)

func fzInit(s fzState) func(*ihGuest) error {
	switch s {
	case fzRegistered:
		return fzRegister("__wasm_signal")
	case fzBlocked:
		return fzRegister("__wasm_signal_blocked")
	}
	return nil
}

// fzDirty: a guest that exited or holds signals is replaced.
func fzDirty(g *fzGuest) bool { return g.env.Exited() != nil || g.env.Counters().Pending != 0 }

// fzRaiseOracle is what raising sig (already checked, 0..31) here does,
// from docs/BEHAVIOUR.md section 4 and the policy table, independently of the model of
// FuzzModel: handler calls, counter change, outcome.
func fzRaiseOracle(p wasix.Policy, s fzState, sig int32) (events []int32, delta env.Counters, outcome string) {
	wasmer := p == wasix.PolicyWasmer
	if sig == 0 && !wasmer {
		return nil, env.Counters{}, "ok"
	}
	delta.Raised = 1
	if sig == 9 {
		delta.TerminatedBy = wasix.SIGKILL
		if wasmer {
			return nil, delta, "exit 27 by SIGKILL"
		}
		return nil, delta, "exit 137 by SIGKILL"
	}
	if sig == 19 && !wasmer {
		delta.Ignored = 1
		return nil, delta, "ok"
	}
	switch s {
	case fzRegistered:
		delta.Delivered = 1
		return []int32{sig}, delta, "ok"
	case fzBlocked:
		delta.Pending = 1
		return nil, delta, "ok"
	}
	status, terminates := int32(0), false
	if wasmer {
		switch sig {
		case 2:
			status, terminates = 27, true
		case 3:
			status, terminates = 0, true
		case 6:
			status, terminates = 134, true
		case 13:
			status, terminates = 64, true
		}
	} else {
		switch sig {
		case 0, 17, 18, 19, 20, 21, 22, 23, 28:
		default:
			status, terminates = 128+sig, true
		}
	}
	if !terminates {
		delta.Ignored = 1
		return nil, delta, "ok"
	}
	delta.TerminatedBy = wasix.Signal(sig)
	return nil, delta, fmt.Sprintf("exit %d by %v", status, wasix.Signal(sig))
}

// fzNumberCase runs one call of a number-taking import and checks it.
type fzNumberCase struct {
	export    string
	args      []uint64
	wantErrno wasix.Errno
	events    []int32
	delta     env.Counters
	outcome   string
	warn      bool // a warning is expected
}

func fzCheckNumber(t *testing.T, g *fzGuest, c fzNumberCase) {
	t.Helper()
	g.logs.reset()
	g.resetEvents()
	before := g.env.Counters()
	var errno wasix.Errno
	var err error
	func() {
		defer func() {
			if r := recover(); r != nil {
				t.Fatalf("%s%v: panic: %v", c.export, c.args, r)
			}
		}()
		errno, err = g.call(c.export, c.args...)
	}()
	if c.outcome == "" {
		c.outcome = "ok"
	}
	if got := outcome(err); got != c.outcome {
		t.Fatalf("%s%v: outcome %q, want %q", c.export, c.args, got, c.outcome)
	}
	if err == nil && errno != c.wantErrno {
		t.Fatalf("%s%v: %s, want %s", c.export, c.args, errno.Name(), c.wantErrno.Name())
	}
	if ev := g.Events(); !biEqual(ev, c.events) {
		t.Fatalf("%s%v: handler calls %v, want %v", c.export, c.args, ev, c.events)
	}
	if after, want := g.env.Counters(), biAddCounters(before, c.delta); after != want {
		t.Fatalf("%s%v: counters %+v, want %+v", c.export, c.args, after, want)
	}
	warns := 0
	for _, l := range g.logs.all() {
		if l.Level >= slog.LevelWarn {
			warns++
		}
	}
	if c.warn && warns != 1 || !c.warn && warns != 0 {
		t.Fatalf("%s%v: %d warnings, want warning %v: %v", c.export, c.args, warns, c.warn, g.logs.all())
	}
	if mem := g.memory(); !bytes.Equal(mem, g.snapshot) {
		i := biFirstDiff(mem, g.snapshot)
		t.Fatalf("%s%v: guest memory changed at %d", c.export, c.args, i)
	}
}

// fzSignalCheck applies the contract's number check: a number outside 0..31 is
// EINVAL under the default policy and signal 0 under the wasmer policy.
func fzSignalCheck(p wasix.Policy, raw int32) (sig int32, ok bool) {
	if raw >= 0 && raw < 32 {
		return raw, true
	}
	if p == wasix.PolicyWasmer {
		return 0, true
	}
	return 0, false
}

// fzSelf is the number target case raising sig here.
func fzSelf(p wasix.Policy, s fzState, c fzNumberCase, sig int32) fzNumberCase {
	c.events, c.delta, c.outcome = fzRaiseOracle(p, s, sig)
	return c
}

func fzNamespace(b uint8) string {
	return []string{signal.Wasix32, signal.Wasix64, signal.Preview1, signal.Unstable}[b%4]
}

func FuzzProcRaise(f *testing.F) {
	for _, s := range []int32{-1, 0, 1, 2, 6, 9, 10, 13, 17, 19, 31, 32, 255, math.MinInt32, math.MaxInt32} {
		f.Add(s, false, uint8(0), uint8(0))
		f.Add(s, true, uint8(2), uint8(2))
		f.Add(s, false, uint8(1), uint8(1))
	}
	guests := newFzGuests(f, ihMatrixModule(true))
	f.Fuzz(func(t *testing.T, raw int32, wasmer bool, state, ns uint8) {
		p, s := fzPolicy(wasmer), fzState(state%uint8(fzStates))
		g := guests.get(t, fmt.Sprint(p, s), env.Config{Policy: p, Pid: biPid}, fzInit(s), fzDirty)
		c := fzNumberCase{export: fzNamespace(ns) + "." + signal.ProcRaiseName, args: []uint64{biI32(raw)}}
		sig, ok := fzSignalCheck(p, raw)
		c.warn = raw < 0 || raw >= 32
		if !ok {
			c.wantErrno = wasix.EINVAL
		} else {
			c = fzSelf(p, s, c, sig)
		}
		fzCheckNumber(t, g, c)
	})
}

func FuzzThreadSignal(f *testing.F) {
	for _, tid := range []int32{0, 1, 0x3FFFFFFF, 2, -1, math.MinInt32} {
		for _, s := range []int32{0, 10, 9, 19, 32, -1} {
			f.Add(tid, s, false, uint8(0), false)
			f.Add(tid, s, true, uint8(2), true)
		}
	}
	guests := newFzGuests(f, ihMatrixModule(true))
	f.Fuzz(func(t *testing.T, tid, raw int32, wasmer bool, state uint8, wide bool) {
		p, s := fzPolicy(wasmer), fzState(state%uint8(fzStates))
		g := guests.get(t, fmt.Sprint(p, s), env.Config{Policy: p, Pid: biPid}, fzInit(s), fzDirty)
		ns := signal.Wasix32
		if wide {
			ns = signal.Wasix64
		}
		c := fzNumberCase{export: ns + "." + signal.ThreadSignalName, args: []uint64{biI32(tid), biI32(raw)}}
		sig, ok := fzSignalCheck(p, raw)
		c.warn = raw < 0 || raw >= 32
		self := tid == 1 || tid == 0x3FFFFFFF || tid == 0 && !wasmer
		switch {
		case !ok:
			c.wantErrno = wasix.EINVAL
		case !self && wasmer:
		case !self:
			c.wantErrno = wasix.ESRCH
		default:
			c = fzSelf(p, s, c, sig)
		}
		fzCheckNumber(t, g, c)
	})
}

func FuzzProcSignal(f *testing.F) {
	for _, pid := range []int32{0, biPid, 6, 1, -1, 999, math.MinInt32} {
		for _, s := range []int32{0, 10, 9, 19, 32, -1} {
			f.Add(pid, s, false, uint8(0), false)
			f.Add(pid, s, true, uint8(2), true)
		}
	}
	guests := newFzGuests(f, ihMatrixModule(true))
	// The peer, pid 6, is a blocked guest that keeps what it receives.
	peers := newFzGuests(f, ihMatrixModule(true))
	f.Fuzz(func(t *testing.T, pid, raw int32, wasmer bool, state uint8, wide bool) {
		p, s := fzPolicy(wasmer), fzState(state%uint8(fzStates))
		peer := peers.get(t, p.String(), env.Config{Policy: p, Pid: 6}, fzRegister("__wasm_signal_blocked"), fzDirty)
		g := guests.get(t, fmt.Sprint(p, s), env.Config{Policy: p, Pid: biPid}, fzInit(s), fzDirty)
		g.env.SetPeers(func(pid int32) (*env.WasiEnv, bool) {
			if pid == 6 {
				return peer.env, true
			}
			return nil, false
		})
		ns := signal.Wasix32
		if wide {
			ns = signal.Wasix64
		}
		c := fzNumberCase{export: ns + "." + signal.ProcSignalName, args: []uint64{biI32(pid), biI32(raw)}}
		sig, ok := fzSignalCheck(p, raw)
		c.warn = raw < 0 || raw >= 32
		peerBefore := peer.env.Counters()
		switch {
		case !ok:
			c.wantErrno = wasix.EINVAL
		case pid == 0 && wasmer:
		case pid == 0 || pid == biPid:
			c = fzSelf(p, s, c, sig)
		case pid == 6:
		case wasmer:
		default:
			c.wantErrno = wasix.ESRCH
		}
		fzCheckNumber(t, g, c)
		// The peer acts on what it received at its next safe point (even
		// SIGKILL and SIGSTOP); until then the signal is pending there.
		wantPeer := peerBefore
		if ok && pid == 6 && sig != 0 {
			wantPeer.Raised++
			wantPeer.Pending++
		}
		if got := peer.env.Counters(); got != wantPeer {
			t.Fatalf("peer counters %+v, want %+v", got, wantPeer)
		}
		if ok && pid == 6 && sig != 0 && !peer.env.Pending(wasix.Signal(sig)) {
			t.Fatalf("peer does not have %v pending", wasix.Signal(sig))
		}
	})
}

func FuzzProcRaiseInterval(f *testing.F) {
	for _, s := range []int32{0, 14, 9, 32, -1, math.MinInt32} {
		for _, iv := range []uint64{0, 1, 1000, math.MaxInt64, math.MaxUint64, 1 << 63, math.MaxInt64/uint64(time.Millisecond) + 1} {
			f.Add(s, iv, int32(1), false, false)
			f.Add(s, iv, int32(0), true, true)
		}
	}
	guests := newFzGuests(f, ihMatrixModule(true))
	f.Fuzz(func(t *testing.T, raw int32, interval uint64, repeat int32, wasmer, wide bool) {
		p := fzPolicy(wasmer)
		g := guests.get(t, p.String(), env.Config{Policy: p, Pid: biPid, Clock: &env.ManualClock{}, MinTimerInterval: -1},
			fzRegister("__wasm_signal"), fzDirty)
		ns := signal.Wasix32
		if wide {
			ns = signal.Wasix64
		}
		c := fzNumberCase{export: ns + "." + signal.ProcRaiseIntervalName, args: []uint64{biI32(raw), interval, biI32(repeat)}}
		sig, ok := fzSignalCheck(p, raw)
		c.warn = raw < 0 || raw >= 32
		if !ok || sig == 0 && !wasmer {
			c.wantErrno = wasix.EINVAL
			c.warn = true
		}
		fzCheckNumber(t, g, c)
		if c.wantErrno == 0 && sig != 0 {
			unit := time.Nanosecond
			if wasmer {
				unit = time.Millisecond
			}
			want := biSaturate(interval, unit)
			got, gotRepeat, armed := g.env.Timer(wasix.Signal(sig))
			if armed != (interval != 0) || armed && (got != want || gotRepeat != (repeat != 0)) {
				t.Fatalf("timer of %v: %v repeat %v armed %v; want %v repeat %v armed %v",
					wasix.Signal(sig), got, gotRepeat, armed, want, repeat != 0, interval != 0)
			}
		}
		// Disarm, so that the next iteration starts without timers.
		if err := g.env.SetTimer(wasix.Signal(sig), 0, false); err != nil {
			t.Fatal(err)
		}
	})
}

// ---------------------------------------------------------------------
// FuzzModel

// modelWat is the module FuzzModel runs. Its handler logs each signal and
// then, for a few signals, does what handlers do: 12 raises 10 (nested
// delivery) and logs 1000+errno, 1 blocks delivery (as libc does), 31
// exits 3, 7 traps. other_handler logs sig+100.
var modelWat = "(module\n" + ihImportsWat() + `
  (memory (export "memory") 1)
  (data (i32.const 0) "__wasm_signal")
  (data (i32.const 32) "__wasm_signal_blocked")
  (data (i32.const 64) "other_handler")
  (data (i32.const 96) "\ff\fe")
  (data (i32.const 112) "memory")
  (func (export "__wasm_signal") (param i32)
    (call $log (local.get 0))
    (if (i32.eq (local.get 0) (i32.const 12))
      (then (call $log (i32.add (i32.const 1000) (call $wasix_32v1.proc_raise (i32.const 10))))))
    (if (i32.eq (local.get 0) (i32.const 1))
      (then (call $wasix_32v1.callback_signal (i32.const 32) (i32.const 21))))
    (if (i32.eq (local.get 0) (i32.const 31)) (then (call $exit (i32.const 3))))
    (if (i32.eq (local.get 0) (i32.const 7)) (then unreachable)))
  (func (export "other_handler") (param i32) (call $log (i32.add (local.get 0) (i32.const 100))))
)`

// model is docs/BEHAVIOUR.md section 4 in plain Go: one process, one thread.
type model struct {
	wasmer  bool
	pid     int32
	ignored uint32
	unit    int64

	set     bool
	handler int // 0 none (blocked when set), 1 __wasm_signal, 2 other_handler
	queue   []int32
	exit    string
	c       env.Counters
	events  []int32

	now    int64
	seq    uint64
	timers map[int32]*modelTimer // by signal; the armed ones
}

type modelTimer struct {
	sig      int32
	interval int64
	repeat   bool
	at       int64
	seq      uint64
}

func newModel(wasmer bool, pid int32, ignore []wasix.Signal) *model {
	m := &model{wasmer: wasmer, pid: pid, unit: 1, timers: map[int32]*modelTimer{}}
	if wasmer {
		m.unit = int64(time.Millisecond)
	}
	for _, s := range ignore {
		if s > 0 && s < 32 && s != 9 && s != 19 {
			m.ignored |= 1 << s
		}
	}
	return m
}

func (m *model) pending(sig int32) bool {
	for _, s := range m.queue {
		if s == sig {
			return true
		}
	}
	return false
}

func (m *model) remove(sig int32) {
	for i, s := range m.queue {
		if s == sig {
			m.queue = append(m.queue[:i], m.queue[i+1:]...)
			return
		}
	}
}

func (m *model) enqueue(sig int32) {
	m.c.Raised++
	if m.pending(sig) {
		m.c.Coalesced++
		return
	}
	m.queue = append(m.queue, sig)
}

func (m *model) recordExit(outcome string) {
	if m.exit == "" {
		m.exit = outcome
		m.timers = map[int32]*modelTimer{}
	}
}

func (m *model) terminate(sig, status int32) {
	m.c.TerminatedBy = wasix.Signal(sig)
	m.recordExit(fmt.Sprintf("exit %d by %v", status, wasix.Signal(sig)))
}

// defaultAction: the status of a default-terminate signal, or false.
func (m *model) defaultAction(sig int32) (int32, bool) {
	if m.wasmer {
		switch sig {
		case 2, 9:
			return 27, true
		case 3:
			return 0, true
		case 6:
			return 134, true
		case 13:
			return 64, true
		}
		return 0, false
	}
	switch sig {
	case 0, 17, 18, 19, 20, 21, 22, 23, 28:
		return 0, false
	}
	return 128 + sig, true
}

// process is a safe point; it reports whether the process has ended.
func (m *model) process() bool {
	for {
		if m.exit != "" {
			return true
		}
		if m.pending(9) {
			m.remove(9)
			status := int32(137)
			if m.wasmer {
				status = 27
			}
			m.terminate(9, status)
			return true
		}
		if !m.wasmer && m.pending(19) {
			m.remove(19)
			m.c.Ignored++
			continue
		}
		if len(m.queue) == 0 || m.set && m.handler == 0 {
			return false
		}
		sig := m.queue[0]
		m.remove(sig)
		switch {
		case m.set:
			m.c.Delivered++
			m.callHandler(sig)
			if m.exit != "" {
				m.c.CutShort++ // the process ended inside this call
			}
		case m.ignored&(1<<uint(sig)) != 0:
			m.c.Ignored++
		default:
			if status, ok := m.defaultAction(sig); ok {
				m.terminate(sig, status)
				return true
			}
			m.c.Ignored++
		}
	}
}

func (m *model) callHandler(sig int32) {
	if m.handler == 2 {
		m.events = append(m.events, sig+100)
		return
	}
	m.events = append(m.events, sig)
	switch sig {
	case 12:
		if errno, dead := m.procRaise(10); !dead {
			m.events = append(m.events, 1000+int32(errno))
		}
	case 1:
		m.register(0)
	case 31:
		m.recordExit("exit 3")
	case 7:
		if m.wasmer {
			m.recordExit(fmt.Sprintf("exit 27 by %v", wasix.Signal(sig)))
		} else {
			m.recordExit(fmt.Sprintf("trap in %v", wasix.Signal(sig)))
		}
	}
}

func (m *model) register(handler int) bool {
	m.set, m.handler = true, handler
	return m.process()
}

func (m *model) guestSignal(raw int32) (int32, bool) {
	if raw >= 0 && raw < 32 {
		return raw, true
	}
	return 0, m.wasmer
}

func (m *model) raise(sig int32) bool {
	if sig != 0 || m.wasmer {
		m.enqueue(sig)
	}
	return m.process()
}

func (m *model) procRaise(raw int32) (wasix.Errno, bool) {
	if m.process() {
		return 0, true
	}
	sig, ok := m.guestSignal(raw)
	if !ok {
		return wasix.EINVAL, false
	}
	return 0, m.raise(sig)
}

func (m *model) threadSignal(tid, raw int32) (wasix.Errno, bool) {
	if m.process() {
		return 0, true
	}
	sig, ok := m.guestSignal(raw)
	if !ok {
		return wasix.EINVAL, false
	}
	if tid == 1 || tid == 0x3FFFFFFF || tid == 0 && !m.wasmer {
		return 0, m.raise(sig)
	}
	if m.wasmer {
		return 0, false
	}
	return wasix.ESRCH, false
}

func (m *model) procSignal(pid, raw int32) (wasix.Errno, bool) {
	if m.process() {
		return 0, true
	}
	sig, ok := m.guestSignal(raw)
	if !ok {
		return wasix.EINVAL, false
	}
	if pid == 0 && m.wasmer {
		return 0, false
	}
	if pid == 0 || pid == m.pid {
		return 0, m.raise(sig)
	}
	if m.wasmer {
		return 0, false
	}
	return wasix.ESRCH, false
}

func (m *model) procRaiseInterval(raw int32, n int64, repeat bool) (wasix.Errno, bool) {
	if m.process() {
		return 0, true
	}
	sig, ok := m.guestSignal(raw)
	if !ok || sig == 0 && !m.wasmer {
		return wasix.EINVAL, false
	}
	delete(m.timers, sig)
	if n > 0 {
		m.seq++
		d := n * m.unit
		m.timers[sig] = &modelTimer{sig: sig, interval: d, repeat: repeat, at: m.now + d, seq: m.seq}
	}
	return 0, m.process()
}

// goSignal is env.Signal from Go: queued, delivered at the next safe point.
func (m *model) goSignal(sig int32) error {
	if sig <= 0 || sig >= 32 {
		return wasix.EINVAL
	}
	if m.exit != "" {
		return env.ErrExited
	}
	m.enqueue(sig)
	return nil
}

// advance moves the clock: due timers fire in (due time, arming order)
// and queue their signal.
func (m *model) advance(d int64) {
	end := m.now + d
	for {
		var next *modelTimer
		for _, t := range m.timers {
			if t.at <= end && (next == nil || t.at < next.at || t.at == next.at && t.seq < next.seq) {
				next = t
			}
		}
		if next == nil {
			break
		}
		m.now = next.at
		if next.repeat {
			m.seq++
			next.at, next.seq = m.now+next.interval, m.seq
		} else {
			delete(m.timers, next.sig)
		}
		if m.exit == "" {
			m.enqueue(next.sig)
		}
	}
	m.now = end
}

// modelProgram decodes fuzz bytes into operations and runs them on both.
type modelRun struct {
	t     *testing.T
	g     *ihGuest
	m     *model
	clock *env.ManualClock
	trace []string
}

func (r *modelRun) fail(format string, args ...interface{}) {
	r.t.Helper()
	mc := r.m.c
	mc.Pending = len(r.m.queue)
	r.t.Fatalf("%s\nafter:\n\t%s\nreal events %v\nmodel events %v\nreal counters %+v\nmodel counters %+v\nmodel queue %v",
		fmt.Sprintf(format, args...), strings.Join(r.trace, "\n\t"), r.g.Events(), r.m.events, r.g.env.Counters(), mc, r.m.queue)
}

// guestCall runs one import through its re-export on both sides and
// compares; it reports whether the process ended.
func (r *modelRun) guestCall(export string, args []uint64, model func() (wasix.Errno, bool)) bool {
	r.t.Helper()
	r.trace = append(r.trace, fmt.Sprintf("%s%v", export, args))
	errno, err := r.g.call(export, args...)
	wantErrno, dead := model()
	got, want := outcome(err), "ok"
	if dead {
		want = r.m.exit
	}
	if got != want {
		r.fail("outcome %q, model %q", got, want)
	}
	if err == nil && errno != wantErrno {
		r.fail("errno %s, model %s", errno.Name(), wantErrno.Name())
	}
	return dead
}

var modelSignals = [...]int32{-1, 32, 255, 64, math.MinInt32, math.MaxInt32, 0, 9}

func modelSig(b byte) int32 {
	if b >= 0xF8 {
		return modelSignals[b-0xF8]
	}
	return int32(b % 32)
}

func FuzzModel(f *testing.F) {
	seeds := [][]byte{
		{0, 4, 10, 4, 12, 4, 1, 4, 31},
		{2, 4, 10, 4, 12, 4, 10, 4, 9, 0},
		{2, 9, 10, 9, 12, 9, 10, 9, 2, 10, 0, 4, 19},
		{7, 14, 5, 1, 8, 5, 8, 5, 10, 0, 10},
		{0, 7, 14, 3, 1, 8, 20, 10, 2, 8, 20, 10, 3, 0},
		{5, 0, 10, 5, 3, 10, 6, 0, 10, 6, 1, 10, 6, 2, 10, 0, 5, 0, 10, 6, 0, 0xF8},
		{1, 4, 12, 0, 4, 12, 4, 7},
		{4, 15, 4, 2},
		{3, 0, 4, 0xF9, 4, 0xFE, 11},
		{0, 9, 19, 9, 19, 11, 9, 12, 9, 1, 10, 4, 12},
		{2, 9, 31, 9, 7, 0},
	}
	for _, s := range seeds {
		f.Add(false, uint32(0), s)
		f.Add(true, uint32(0), s)
		f.Add(false, uint32(1<<15|1<<2|1<<9), s)
	}
	f.Fuzz(func(t *testing.T, wasmer bool, ignore uint32, prog []byte) {
		p := fzPolicy(wasmer)
		clock := &env.ManualClock{}
		ign := fzIgnored(ignore)
		g, err := ihNew(t, modelWat, env.Config{Policy: p, Pid: biPid, Ignore: ign, Clock: clock, MinTimerInterval: -1})
		if err != nil {
			t.Fatal(err)
		}
		defer g.close()
		r := &modelRun{t: t, g: g, m: newModel(wasmer, biPid, ign), clock: clock}
		m := r.m
		const w32 = signal.Wasix32 + "."
		arg := func(i int) byte {
			if i < len(prog) {
				return prog[i]
			}
			return 0
		}
		for i, ops := 0, 0; i < len(prog) && ops < 64; ops++ {
			op, a, b, c := prog[i]%12, arg(i+1), arg(i+2), arg(i+3)
			dead := false
			switch op {
			case 0: // register __wasm_signal
				i++
				dead = r.guestCall(w32+signal.CallbackSignalName, []uint64{0, 13}, func() (wasix.Errno, bool) { return 0, m.register(1) })
			case 1: // register other_handler
				i++
				dead = r.guestCall(w32+signal.CallbackSignalName, []uint64{64, 13}, func() (wasix.Errno, bool) { return 0, m.register(2) })
			case 2: // register a name that blocks
				i += 2
				name := [][2]uint64{{32, 21}, {112, 6}, {0, 0}, {0, 12}}[a%4]
				dead = r.guestCall(w32+signal.CallbackSignalName, name[:], func() (wasix.Errno, bool) { return 0, m.register(0) })
			case 3: // register a bad name: nothing changes, nothing delivered
				i += 2
				name := [][2]uint64{{96, 2}, {65530, 100}, {0xFFFFFFF0, 0x20}}[a%3]
				dead = r.guestCall(w32+signal.CallbackSignalName, name[:], func() (wasix.Errno, bool) { return 0, false })
			case 4: // proc_raise, in one of the namespaces
				i += 2
				sig := modelSig(a)
				ns := fzNamespace(b % 2 * 2) // wasix_32v1 or wasi_snapshot_preview1
				if a%3 == 0 {
					ns = signal.Wasix64
				}
				dead = r.guestCall(ns+"."+signal.ProcRaiseName, []uint64{biI32(sig)}, func() (wasix.Errno, bool) { return m.procRaise(sig) })
			case 5: // thread_signal
				i += 3
				tid := [...]int32{0, 1, 0x3FFFFFFF, 2, -1}[a%5]
				sig := modelSig(b)
				dead = r.guestCall(w32+signal.ThreadSignalName, []uint64{biI32(tid), biI32(sig)}, func() (wasix.Errno, bool) { return m.threadSignal(tid, sig) })
			case 6: // proc_signal
				i += 3
				pid := [...]int32{0, biPid, 7, -1}[a%4]
				sig := modelSig(b)
				dead = r.guestCall(w32+signal.ProcSignalName, []uint64{biI32(pid), biI32(sig)}, func() (wasix.Errno, bool) { return m.procSignal(pid, sig) })
			case 7: // proc_raise_interval
				i += 4
				sig := modelSig(a)
				n := int64(b % 16)
				repeat := c%2 == 1
				dead = r.guestCall(w32+signal.ProcRaiseIntervalName, []uint64{biI32(sig), uint64(n), uint64(c % 2)},
					func() (wasix.Errno, bool) { return m.procRaiseInterval(sig, n, repeat) })
			case 8: // advance the clock (from Go, the guest idle)
				i += 2
				d := int64(a%32) * m.unit
				r.trace = append(r.trace, fmt.Sprintf("advance %v", time.Duration(d)))
				clock.Advance(time.Duration(d))
				m.advance(d)
			case 9: // env.Signal from Go
				i += 2
				sig := modelSig(a)
				r.trace = append(r.trace, fmt.Sprintf("env.Signal(%d)", sig))
				got, want := g.env.Signal(wasix.Signal(sig)), m.goSignal(sig)
				if (got == nil) != (want == nil) || want != nil && !errors.Is(got, want) {
					r.fail("env.Signal(%d) = %v, model %v", sig, got, want)
				}
			case 10: // an embedder safe point
				i++
				dead = r.guestCall("safe", nil, func() (wasix.Errno, bool) { return 0, m.process() })
			case 11: // thread_sleep(0): a safe point that waits for nothing
				i++
				dead = r.guestCall(w32+signal.ThreadSleepName, []uint64{0}, func() (wasix.Errno, bool) { return 0, m.process() })
			}
			if dead {
				break
			}
		}
		if ev := g.Events(); !biEqual(ev, m.events) {
			r.fail("handler calls differ")
		}
		mc := m.c
		mc.Pending = len(m.queue)
		if c := g.env.Counters(); c != mc {
			r.fail("counters differ")
		}
		for s := int32(0); s < 32; s++ {
			if got, want := g.env.Pending(wasix.Signal(s)), m.pending(s); got != want {
				r.fail("Pending(%v) = %v, model %v", wasix.Signal(s), got, want)
			}
		}
		for s := int32(1); s < 32; s++ {
			iv, rep, armed := g.env.Timer(wasix.Signal(s))
			mt := m.timers[s]
			if armed != (mt != nil) || mt != nil && (int64(iv) != mt.interval || rep != mt.repeat) {
				r.fail("Timer(%v) = %v %v %v, model %+v", wasix.Signal(s), iv, rep, armed, mt)
			}
		}
		set, found := g.env.Handler()
		if set != m.set || found != (m.handler != 0) {
			r.fail("registration (%v, %v), model (%v, %d)", set, found, m.set, m.handler)
		}
		// Nothing is lost silently.
		c := g.env.Counters()
		accounted := c.Delivered + c.Coalesced + c.Ignored + uint64(c.Pending)
		if c.TerminatedBy != 0 {
			accounted++
		}
		if accounted != c.Raised {
			r.fail("counters do not add up: %+v", c)
		}
	})
}
