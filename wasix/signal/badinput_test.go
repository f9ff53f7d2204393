package signal_test

// The bad-input matrix of docs/BEHAVIOUR.md section 8: every import, in every namespace
// it is defined in, against every class of bad argument that applies to
// it, under both policies. Each cell checks the errno (or the documented
// no-op of callback_signal), the log line, the registration state, the
// counters, the guest memory outside the intended write (filled with a
// mask byte first), the handler calls, and that nothing panics or traps.

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"math/big"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/wasix-org/wasix-signals-go/wasix"
	"github.com/wasix-org/wasix-signals-go/wasix/env"
	"github.com/wasix-org/wasix-signals-go/wasix/signal"
)

const (
	biMask    = 0xAA
	biMemSize = 65536
	biPid     = 5
	// biEmpty is an offset where an empty name is read.
	biEmpty = 256
	// biEndName is where "__wasm_signal" ends exactly at the end of memory.
	biEndName = biMemSize - 13
)

// biNames are written into guest memory (over the mask) before each cell.
var biNames = map[uint64]string{
	0:         "__wasm_signal",
	32:        "__wasm_signal_blocked",
	64:        "memory",
	80:        "a_global",
	96:        "a_table",
	112:       "wrong_result",
	128:       "no_params",
	144:       "i64_param",
	160:       "two_params",
	176:       "\xff\xfe",
	184:       "\xed\xa0\x80", // a UTF-16 surrogate, not UTF-8
	192:       "__wasm_signal\x00x",
	216:       "\xc0\xaf", // an overlong encoding of '/'
	224:       "__wasm_signal\xe2\x82",
	240:       "missing_handler",
	biEndName: "__wasm_signal",
}

// biName returns the pointer and length of a name in biNames.
func biName(s string) (uint64, uint64) {
	for off, n := range biNames {
		if n == s && off != biEndName {
			return off, uint64(len(s))
		}
	}
	panic("no such name " + strconv.Quote(s))
}

// biInit is the state a cell starts from.
type biInit uint8

const (
	biRegistered    biInit = iota // __wasm_signal registered
	biUnregistered                // callback_signal never called
	biBlockedSigusr               // blocked, with SIGUSR1 pending
)

func (i biInit) String() string {
	return [...]string{"registered", "unregistered", "blocked+pending"}[i]
}

// biLog is a log line a cell expects: its level, a part of its message
// and a subset of its attributes.
type biLog struct {
	level slog.Level
	msg   string
	attrs map[string]string
}

func (l biLog) matches(line logLine) bool {
	if line.Level != l.level || !strings.Contains(line.Msg, l.msg) {
		return false
	}
	for k, v := range l.attrs {
		if line.Attrs[k] != v {
			return false
		}
	}
	return true
}

type biWant struct {
	errno   wasix.Errno
	events  []int32      // handler calls (the handler logs its signal)
	delta   env.Counters // added to the counters before the call
	handler *[2]bool     // registration after the call (set, found); nil: unchanged
	logs    []biLog      // lines that must be there
	// write is what the call writes at writeAt; every other byte of guest
	// memory must keep its value.
	write   []byte
	writeAt uint64
}

type biCell struct {
	ns, imp, class string
	args           []uint64
	noMemory       bool
	init           biInit
	ignore         []wasix.Signal
	// setup runs after the initial state is reached (peers, timers).
	setup func(t *testing.T, g *ihGuest)
	// async: the call blocks (thread_sleep); run releases it.
	async func(t *testing.T, g *ihGuest, clock *env.ManualClock)
	want  biWant
	// check runs after the call (timers, peers).
	check func(t *testing.T, g *ihGuest, clock *env.ManualClock)
}

func (c biCell) name() string {
	n := c.ns + "." + c.imp + "/" + c.class
	if c.imp == signal.CallbackSignalName {
		n += "/from_" + c.init.String()
	}
	return n
}

func biWarn(msg string, attrs ...string) biLog {
	return biLog{level: slog.LevelWarn, msg: msg, attrs: biPairs(attrs)}
}

func biDebug(msg string, attrs ...string) biLog {
	return biLog{level: slog.LevelDebug, msg: msg, attrs: biPairs(attrs)}
}

func biTrace(name string, found bool) biLog {
	return biLog{level: wasix.LevelTrace, msg: "callback_signal",
		attrs: map[string]string{"name": name, "funct_is_some": strconv.FormatBool(found)}}
}

func biPairs(kv []string) map[string]string {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return m
}

func biU64(v uint64) string { return strconv.FormatUint(v, 10) }

// biI32 returns the argument bits of an i32.
func biI32(v int32) uint64 { return uint64(uint32(v)) }

// biDelivered is the counter change of one signal raised and delivered.
var biDelivered = env.Counters{Raised: 1, Delivered: 1}

// biBadSignals are signal numbers outside 0..31.
var biBadSignals = []int32{-1, 32, 64, 255, math.MaxInt32, math.MinInt32, -31}

func biCells(p wasix.Policy) []biCell {
	wasmer := p == wasix.PolicyWasmer
	faultErrno := wasix.EFAULT
	if wasmer {
		faultErrno = wasix.EMEMVIOLATION
	}
	var cells []biCell

	// badSig is the expectation for a signal number outside 0..31 given to
	// an import that otherwise raises it here: EINVAL and a warning, or,
	// under the wasmer policy, signal 0, which the handler receives. The
	// warning is required under both policies (docs/BEHAVIOUR.md section 8: "a clear
	// errno or a documented no-op, a log line").
	badSig := func(call string, raw int32, deliversZero bool) biWant {
		l := biWarn(call+": signal number out of range", "signal", strconv.Itoa(int(raw)))
		if !wasmer {
			l.attrs["errno"] = "EINVAL"
			return biWant{errno: wasix.EINVAL, logs: []biLog{l}}
		}
		w := biWant{logs: []biLog{l}}
		if deliversZero {
			w.events, w.delta = []int32{0}, biDelivered
		}
		return w
	}
	// zero is signal 0 to this process: a probe under the default policy,
	// delivered to the handler under the wasmer policy.
	zero := func() biWant {
		if wasmer {
			return biWant{events: []int32{0}, delta: biDelivered}
		}
		return biWant{}
	}
	deliver := func(sig int32) biWant {
		return biWant{events: []int32{sig}, delta: biDelivered}
	}

	// callback_signal.
	type cbCase struct {
		class    string
		ptr, n   uint64
		noMemory bool
		// kind: "oob", "nomem" (no memory at all, not even for an empty
		// name) and "utf8" change nothing; "block" registers nothing
		// found; "found" registers __wasm_signal.
		kind, name string
	}
	var cbCases = map[string][]cbCase{
		signal.Wasix32: {
			{class: "ptr_out_of_bounds", ptr: 65530, n: 100, kind: "oob"},
			{class: "ptr_past_end", ptr: biMemSize + 1, n: 0, kind: "oob"},
			{class: "ptr_at_end_len_1", ptr: biMemSize, n: 1, kind: "oob"},
			{class: "ptr_len_overflow_u32", ptr: 0xFFFFFFF0, n: 0x20, kind: "oob"},
			{class: "len_max_u32", ptr: 0, n: 0xFFFFFFFF, kind: "oob"},
			{class: "ptr_high_bit", ptr: 0x80000000, n: 13, kind: "oob"},
			{class: "name_one_past_end", ptr: biEndName, n: 14, kind: "oob"},
			{class: "no_memory", ptr: 0, n: 13, noMemory: true, kind: "nomem"},
			{class: "invalid_utf8", ptr: 176, n: 2, kind: "utf8"},
			{class: "utf16_surrogate", ptr: 184, n: 3, kind: "utf8"},
			{class: "overlong_utf8", ptr: 216, n: 2, kind: "utf8"},
			{class: "truncated_utf8", ptr: 224, n: 15, kind: "utf8"},
			{class: "empty_name", ptr: biEmpty, n: 0, kind: "block", name: ""},
			{class: "empty_name_at_end", ptr: biMemSize, n: 0, kind: "block", name: ""},
			{class: "empty_name_no_memory", ptr: 0, n: 0, noMemory: true, kind: "nomem"},
			{class: "name_with_nul", ptr: 192, n: 15, kind: "block", name: "__wasm_signal\x00x"},
			{class: "name_with_trailing_nul", ptr: 192, n: 14, kind: "block", name: "__wasm_signal\x00"},
			{class: "name_prefix", ptr: 0, n: 12, kind: "block", name: "__wasm_signa"},
			{class: "missing_name", ptr: 240, n: 15, kind: "block", name: "missing_handler"},
			{class: "libc_blocked_name", ptr: 32, n: 21, kind: "block", name: "__wasm_signal_blocked"},
			{class: "export_memory", ptr: 64, n: 6, kind: "block", name: "memory"},
			{class: "export_global", ptr: 80, n: 8, kind: "block", name: "a_global"},
			{class: "export_table", ptr: 96, n: 7, kind: "block", name: "a_table"},
			{class: "handler_i32_to_i32", ptr: 112, n: 12, kind: "block", name: "wrong_result"},
			{class: "handler_no_params", ptr: 128, n: 9, kind: "block", name: "no_params"},
			{class: "handler_i64_param", ptr: 144, n: 9, kind: "block", name: "i64_param"},
			{class: "handler_two_params", ptr: 160, n: 10, kind: "block", name: "two_params"},
			{class: "name_ending_at_end", ptr: biEndName, n: 13, kind: "found", name: "__wasm_signal"},
		},
		signal.Wasix64: {
			{class: "ptr_out_of_bounds", ptr: 65530, n: 100, kind: "oob"},
			{class: "ptr_at_end_len_1", ptr: biMemSize, n: 1, kind: "oob"},
			{class: "ptr_2^32_truncates_to_a_name", ptr: 1 << 32, n: 13, kind: "oob"},
			{class: "len_2^32+13_truncates", ptr: 0, n: 1<<32 + 13, kind: "oob"},
			{class: "ptr_2^63", ptr: 1 << 63, n: 0, kind: "oob"},
			{class: "ptr_len_overflow_u64", ptr: math.MaxUint64 - 15, n: 32, kind: "oob"},
			{class: "ptr_max_u64", ptr: math.MaxUint64, n: 2, kind: "oob"},
			{class: "len_max_u64", ptr: 1, n: math.MaxUint64, kind: "oob"},
			{class: "no_memory", ptr: 0, n: 13, noMemory: true, kind: "nomem"},
			{class: "invalid_utf8", ptr: 176, n: 2, kind: "utf8"},
			{class: "empty_name", ptr: biEmpty, n: 0, kind: "block", name: ""},
			{class: "empty_name_at_end", ptr: biMemSize, n: 0, kind: "block", name: ""},
			{class: "name_with_nul", ptr: 192, n: 15, kind: "block", name: "__wasm_signal\x00x"},
			{class: "missing_name", ptr: 240, n: 15, kind: "block", name: "missing_handler"},
			{class: "export_memory", ptr: 64, n: 6, kind: "block", name: "memory"},
			{class: "export_global", ptr: 80, n: 8, kind: "block", name: "a_global"},
			{class: "export_table", ptr: 96, n: 7, kind: "block", name: "a_table"},
			{class: "handler_i32_to_i32", ptr: 112, n: 12, kind: "block", name: "wrong_result"},
			{class: "handler_no_params", ptr: 128, n: 9, kind: "block", name: "no_params"},
			{class: "name_ending_at_end", ptr: biEndName, n: 13, kind: "found", name: "__wasm_signal"},
		},
	}
	for _, ns := range ihNamespaces {
		for _, cc := range cbCases[ns] {
			for _, init := range []biInit{biRegistered, biUnregistered, biBlockedSigusr} {
				if cc.noMemory && init != biUnregistered {
					continue // a handler cannot be registered without memory
				}
				c := biCell{ns: ns, imp: signal.CallbackSignalName, class: cc.class,
					args: []uint64{cc.ptr, cc.n}, noMemory: cc.noMemory, init: init}
				attrs := []string{"name_ptr", biU64(cc.ptr), "name_len", biU64(cc.n)}
				switch cc.kind {
				case "oob":
					c.want.logs = []biLog{biWarn("callback_signal: name out of bounds", attrs...)}
				case "nomem":
					c.want.logs = []biLog{biWarn("callback_signal: guest memory not reachable: the guest exports no memory", attrs...)}
				case "utf8":
					c.want.logs = []biLog{biWarn("callback_signal: name is not valid UTF-8", attrs...)}
				case "block":
					c.want.handler = &[2]bool{true, false}
					c.want.logs = []biLog{biTrace(cc.name, false)}
				case "found":
					c.want.handler = &[2]bool{true, true}
					c.want.logs = []biLog{biTrace(cc.name, true)}
					if init == biBlockedSigusr {
						// Registering delivers what was pending.
						c.want.events = []int32{10}
						c.want.delta = env.Counters{Delivered: 1, Pending: -1}
					}
				}
				cells = append(cells, c)
			}
		}
	}

	// Signal numbers, for every import that takes one.
	const raise, tsig, psig, interval = signal.ProcRaiseName, signal.ThreadSignalName, signal.ProcSignalName, signal.ProcRaiseIntervalName
	for _, ns := range []string{signal.Wasix32, signal.Wasix64, signal.Preview1, signal.Unstable} {
		for _, s := range biBadSignals {
			cells = append(cells, biCell{ns: ns, imp: raise, class: "sig_" + strconv.Itoa(int(s)),
				args: []uint64{biI32(s)}, want: badSig(raise, s, true)})
		}
		cells = append(cells,
			biCell{ns: ns, imp: raise, class: "sig_0", args: []uint64{0}, want: zero()},
			biCell{ns: ns, imp: raise, class: "sig_31", args: []uint64{31}, want: deliver(31)})
	}
	for _, ns := range ihNamespaces {
		for _, s := range biBadSignals {
			cells = append(cells,
				biCell{ns: ns, imp: tsig, class: "tid_1_sig_" + strconv.Itoa(int(s)),
					args: []uint64{1, biI32(s)}, want: badSig(tsig, s, true)},
				biCell{ns: ns, imp: psig, class: "own_pid_sig_" + strconv.Itoa(int(s)),
					args: []uint64{biPid, biI32(s)}, want: badSig(psig, s, true)},
				biCell{ns: ns, imp: interval, class: "sig_" + strconv.Itoa(int(s)),
					args: []uint64{biI32(s), 1_000_000, 1}, want: badSig(interval, s, false)})
		}
		cells = append(cells,
			biCell{ns: ns, imp: tsig, class: "tid_1_sig_0", args: []uint64{1, 0}, want: zero()},
			biCell{ns: ns, imp: psig, class: "own_pid_sig_0", args: []uint64{biPid, 0}, want: zero()})
		sig0 := biWant{}
		if !wasmer {
			sig0 = biWant{errno: wasix.EINVAL, logs: []biLog{biWarn("proc_raise_interval: signal 0", "errno", "EINVAL")}}
		}
		cells = append(cells, biCell{ns: ns, imp: interval, class: "sig_0", args: []uint64{0, 1_000_000, 1}, want: sig0})
	}

	// Targets: tids and pids.
	for _, ns := range ihNamespaces {
		// tid: the calling thread, under its three names.
		for _, tid := range []int32{0, 1, 0x3FFFFFFF} {
			w := deliver(10)
			if tid == 0 && wasmer {
				w = biWant{logs: []biLog{biDebug("thread_signal", "tid", "0", "signal", "SIGUSR1")}}
			}
			cells = append(cells, biCell{ns: ns, imp: tsig, class: fmt.Sprintf("tid_%#x", tid),
				args: []uint64{biI32(tid), 10}, want: w})
		}
		for _, tid := range []int32{-1, 2, 7, 0x3FFFFFFE, 0x40000000, math.MaxInt32, math.MinInt32} {
			for _, sig := range []int32{10, 0, 9} {
				w := biWant{errno: wasix.ESRCH}
				if wasmer {
					w.errno = 0
				}
				w.logs = []biLog{biDebug("thread_signal: no such thread", "tid", strconv.Itoa(int(tid)),
					"signal", wasix.Signal(sig).String())}
				cells = append(cells, biCell{ns: ns, imp: tsig, class: fmt.Sprintf("tid_%d_sig_%d", tid, sig),
					args: []uint64{biI32(tid), uint64(sig)}, want: w})
			}
			// A bad number and a bad tid: the number is checked first.
			w := badSig(tsig, 255, false)
			if wasmer {
				w.logs = append(w.logs, biDebug("thread_signal: no such thread", "tid", strconv.Itoa(int(tid))))
			}
			cells = append(cells, biCell{ns: ns, imp: tsig, class: fmt.Sprintf("tid_%d_sig_255", tid),
				args: []uint64{biI32(tid), 255}, want: w})
		}
		// pid: this process, as 0 and as its pid.
		cells = append(cells, biCell{ns: ns, imp: psig, class: "own_pid", args: []uint64{biPid, 10}, want: deliver(10)})
		if wasmer {
			// The reference runtime answers 0 and delivers nothing; the
			// signal is dropped, so a debug line must say so (docs/BEHAVIOUR.md
			// section 4: drops are logged at debug level).
			cells = append(cells, biCell{ns: ns, imp: psig, class: "pid_0", args: []uint64{0, 10},
				want: biWant{logs: []biLog{biDebug("proc_signal", "pid", "0", "signal", "SIGUSR1")}}})
		} else {
			cells = append(cells, biCell{ns: ns, imp: psig, class: "pid_0", args: []uint64{0, 10}, want: deliver(10)})
		}
		for _, pid := range []int32{-1, 1, 999, 0x3FFFFFFF, math.MaxInt32, math.MinInt32} {
			for _, sig := range []int32{10, 0, 9} {
				w := biWant{errno: wasix.ESRCH}
				if wasmer {
					w.errno = 0
				}
				w.logs = []biLog{biDebug("proc_signal: no such process", "pid", strconv.Itoa(int(pid)),
					"signal", wasix.Signal(sig).String())}
				cells = append(cells, biCell{ns: ns, imp: psig, class: fmt.Sprintf("pid_%d_sig_%d", pid, sig),
					args: []uint64{biI32(pid), uint64(sig)}, want: w})
			}
		}
		// Peers: alive, exited, closed.
		for _, peer := range []string{"alive", "exited", "closed"} {
			for _, sig := range []int32{10, 0} {
				c := biCell{ns: ns, imp: psig, class: fmt.Sprintf("peer_%s_sig_%d", peer, sig),
					args: []uint64{6, uint64(sig)}}
				var target *ihGuest
				c.setup = func(t *testing.T, g *ihGuest) {
					target = ihNewT(t, ihMatrixModule(true), env.Config{Pid: 6, Policy: p})
					switch peer {
					case "exited":
						target.env.Exit(3)
					case "closed":
						target.env.Close()
					}
					g.env.SetPeers(func(pid int32) (*env.WasiEnv, bool) {
						if pid == 6 {
							return target.env, true
						}
						return nil, false
					})
				}
				if peer == "alive" {
					c.check = func(t *testing.T, g *ihGuest, _ *env.ManualClock) {
						if got, want := target.env.Pending(wasix.SIGUSR1), sig == 10; got != want {
							t.Errorf("peer has SIGUSR1 pending: %v, want %v", got, want)
						}
					}
				} else {
					c.want.errno = wasix.ESRCH
					if wasmer {
						c.want.errno = 0
					}
					c.want.logs = []biLog{biDebug("proc_signal: no such process", "pid", "6")}
				}
				cells = append(cells, c)
			}
		}
	}

	// proc_raise_interval: intervals and repeat flags. Every cell runs
	// with a ManualClock; check looks at the timer.
	unit := time.Nanosecond
	if wasmer {
		unit = time.Millisecond
	}
	for _, ns := range ihNamespaces {
		type ivCase struct {
			class    string
			interval uint64
			repeat   int32
		}
		for _, iv := range []ivCase{
			{"interval_u64_max", math.MaxUint64, 1},
			{"interval_i64_min", 1 << 63, 1},
			{"interval_negative", biI64(-1000), 0},
			{"interval_i64_max", math.MaxInt64, 1},
			{"interval_just_past_ms_saturation", math.MaxInt64/uint64(time.Millisecond) + 1, 1},
			{"interval_at_ms_saturation", math.MaxInt64 / uint64(time.Millisecond), 1},
			{"interval_1", 1, 1},
			{"repeat_2", 1000, 2},
			{"repeat_-1", 1000, -1},
			{"repeat_0", 1000, 0},
		} {
			want := biSaturate(iv.interval, unit)
			repeat := iv.repeat != 0
			cells = append(cells, biCell{ns: ns, imp: interval, class: iv.class,
				args: []uint64{14, iv.interval, biI32(iv.repeat)},
				check: func(t *testing.T, g *ihGuest, clock *env.ManualClock) {
					got, gotRepeat, armed := g.env.Timer(wasix.SIGALRM)
					if got != want || gotRepeat != repeat || !armed {
						t.Errorf("timer: %v repeat %v armed %v, want %v repeat %v armed", got, gotRepeat, armed, want, repeat)
					}
					// It falls due exactly after its interval, not before:
					// nothing overflowed into a short duration.
					before := g.env.Counters()
					if want > 1 {
						clock.Advance(want - 1)
						if c := g.env.Counters(); c != before {
							t.Errorf("timer of %v fired early: %+v", want, c)
						}
					}
					if want == math.MaxInt64 {
						// The end of time: ManualClock clamps every later
						// expiry to it too, so a repeating timer would fire
						// forever within this Advance.
						return
					}
					clock.Advance(want - max(want-1, 0))
					if c := g.env.Counters(); c.Raised != before.Raised+1 || !g.env.Pending(wasix.SIGALRM) {
						t.Errorf("timer of %v did not fire after its interval: %+v", want, c)
					}
				}})
		}
		cells = append(cells,
			biCell{ns: ns, imp: interval, class: "interval_0_nothing_armed", args: []uint64{14, 0, 1},
				check: func(t *testing.T, g *ihGuest, _ *env.ManualClock) {
					if _, _, armed := g.env.Timer(wasix.SIGALRM); armed {
						t.Error("interval 0 armed a timer")
					}
				}},
			biCell{ns: ns, imp: interval, class: "interval_0_cancels", args: []uint64{14, 0, 0},
				setup: func(t *testing.T, g *ihGuest) {
					if err := g.env.SetTimer(wasix.SIGALRM, time.Second, true); err != nil {
						t.Fatal(err)
					}
				},
				check: func(t *testing.T, g *ihGuest, clock *env.ManualClock) {
					if _, _, armed := g.env.Timer(wasix.SIGALRM); armed {
						t.Error("interval 0 did not cancel the timer")
					}
					clock.Advance(time.Hour)
					if c := g.env.Counters(); c.Raised != 0 {
						t.Errorf("cancelled timer fired: %+v", c)
					}
				}},
		)
	}

	// Pointer imports: sizes, dispositions, ids.
	type ptrCase struct {
		class    string
		ptr      uint64
		noMemory bool
	}
	ptrCases := map[string][]ptrCase{
		signal.Wasix32: {
			{class: "ptr_0", ptr: 0},
			{class: "ptr_last_fit", ptr: biMemSize - 4},
			{class: "ptr_straddles_end", ptr: biMemSize - 3},
			{class: "ptr_last_byte", ptr: biMemSize - 1},
			{class: "ptr_at_end", ptr: biMemSize},
			{class: "ptr_past_end", ptr: biMemSize + 1},
			{class: "ptr_i32_max", ptr: math.MaxInt32},
			{class: "ptr_high_bit", ptr: 0x80000000},
			{class: "ptr_wraps_u32", ptr: 0xFFFFFFFC},
			{class: "ptr_u32_max", ptr: 0xFFFFFFFF},
			{class: "no_memory", ptr: 0, noMemory: true},
		},
		signal.Wasix64: {
			{class: "ptr_0", ptr: 0},
			{class: "ptr_last_fit", ptr: biMemSize - 4},
			{class: "ptr_straddles_end", ptr: biMemSize - 3},
			{class: "ptr_at_end", ptr: biMemSize},
			{class: "ptr_u32_max", ptr: 0xFFFFFFFF},
			{class: "ptr_2^32_truncates_to_0", ptr: 1 << 32},
			{class: "ptr_2^32+last_fit", ptr: 1<<32 + biMemSize - 4},
			{class: "ptr_2^63", ptr: 1 << 63},
			{class: "ptr_wraps_u64", ptr: math.MaxUint64 - 3},
			{class: "ptr_u64_max", ptr: math.MaxUint64},
			{class: "no_memory", ptr: 0, noMemory: true},
		},
	}
	ignore := []wasix.Signal{wasix.SIGTERM, wasix.SIGHUP}
	u32le := func(v uint32) []byte { return binary.LittleEndian.AppendUint32(nil, v) }
	ptrImports := []struct {
		name  string
		write []byte
	}{
		{signal.ProcSignalsSizesGetName, u32le(2)},
		{signal.ProcSignalsGetName, []byte{1, 1, 15, 1}},
		{signal.ThreadIDName, u32le(1)},
		{signal.ProcIDName, u32le(biPid)},
	}
	for _, ns := range ihNamespaces {
		for _, pi := range ptrImports {
			for _, pc := range ptrCases[ns] {
				c := biCell{ns: ns, imp: pi.name, class: pc.class, args: []uint64{pc.ptr},
					noMemory: pc.noMemory, ignore: ignore}
				if pc.noMemory {
					c.init = biUnregistered
				}
				if !pc.noMemory && pc.ptr+uint64(len(pi.write)) >= pc.ptr && pc.ptr+uint64(len(pi.write)) <= biMemSize {
					c.want.write, c.want.writeAt = pi.write, pc.ptr
				} else if pc.noMemory {
					c.want.errno = faultErrno
					c.want.logs = []biLog{biWarn(pi.name+": guest memory not reachable: the guest exports no memory", "ptr", biU64(pc.ptr), "errno", faultErrno.Name())}
				} else {
					c.want.errno = faultErrno
					c.want.logs = []biLog{biWarn(pi.name+": pointer out of bounds", "ptr", biU64(pc.ptr), "errno", faultErrno.Name())}
				}
				cells = append(cells, c)
			}
		}
		// proc_signals_get with nothing configured writes nothing: a
		// pointer at the end is still in bounds, one past it is not.
		cells = append(cells,
			biCell{ns: ns, imp: signal.ProcSignalsGetName, class: "nothing_configured_ptr_at_end", args: []uint64{biMemSize}},
			biCell{ns: ns, imp: signal.ProcSignalsGetName, class: "nothing_configured_ptr_past_end", args: []uint64{biMemSize + 1},
				want: biWant{errno: faultErrno, logs: []biLog{biWarn("proc_signals_get: pointer out of bounds",
					"ptr", biU64(biMemSize+1), "errno", faultErrno.Name())}}},
			biCell{ns: ns, imp: signal.ProcSignalsSizesGetName, class: "nothing_configured", args: []uint64{100},
				want: biWant{write: u32le(0), writeAt: 100}},
		)
	}
	// Non-pointer imports work in a module without memory.
	cells = append(cells,
		biCell{ns: signal.Wasix32, imp: raise, class: "no_memory_sig_17", args: []uint64{17}, noMemory: true,
			init: biUnregistered, want: biWant{delta: env.Counters{Raised: 1, Ignored: 1}}},
		biCell{ns: signal.Wasix32, imp: tsig, class: "no_memory_unknown_tid", args: []uint64{2, 10}, noMemory: true,
			init: biUnregistered, want: biWant{errno: map[bool]wasix.Errno{false: wasix.ESRCH, true: 0}[wasmer],
				logs: []biLog{biDebug("thread_signal: no such thread", "tid", "2")}}},
	)

	// thread_sleep: durations that must not overflow into a short sleep,
	// interrupted by a signal from Go.
	for _, ns := range ihNamespaces {
		for _, d := range []struct {
			class string
			ns    uint64
		}{
			{"duration_u64_max", math.MaxUint64},
			{"duration_i64_min", 1 << 63},
			{"duration_negative", biI64(-1)},
			{"duration_i64_max", math.MaxInt64},
		} {
			cells = append(cells, biCell{ns: ns, imp: signal.ThreadSleepName, class: d.class, args: []uint64{d.ns},
				async: func(t *testing.T, g *ihGuest, clock *env.ManualClock) {
					clock.BlockUntil(1)
					clock.Advance(1000 * time.Hour)
					if clock.Pending() != 1 {
						t.Errorf("sleep of %d ns ended after 1000h", d.ns)
					}
					if err := g.env.Signal(wasix.SIGUSR1); err != nil {
						t.Error(err)
					}
				},
				want: biWant{errno: wasix.EINTR, events: []int32{10}, delta: biDelivered}})
		}
		cells = append(cells, biCell{ns: ns, imp: signal.ThreadSleepName, class: "duration_0", args: []uint64{0}})
	}
	return cells
}

func biI64(v int64) uint64 { return uint64(v) }

// biSaturate is n*unit, or the largest time.Duration when that is larger.
func biSaturate(n uint64, unit time.Duration) time.Duration {
	p := new(big.Int).Mul(new(big.Int).SetUint64(n), big.NewInt(int64(unit)))
	if p.Cmp(big.NewInt(math.MaxInt64)) > 0 {
		return math.MaxInt64
	}
	return time.Duration(p.Int64())
}

func biAddCounters(a, d env.Counters) env.Counters {
	a.Raised += d.Raised
	a.Delivered += d.Delivered
	a.Coalesced += d.Coalesced
	a.Ignored += d.Ignored
	a.Pending += d.Pending
	if d.TerminatedBy != 0 {
		a.TerminatedBy = d.TerminatedBy
	}
	return a
}

func TestBadInputMatrix(t *testing.T) {
	total := 0
	perImport := map[string]int{}
	for _, p := range []wasix.Policy{wasix.PolicyDefault, wasix.PolicyWasmer} {
		cells := biCells(p)
		seen := map[string]bool{}
		for _, c := range cells {
			name := c.name()
			if seen[name] {
				t.Fatalf("duplicate cell %s", name)
			}
			seen[name] = true
			total++
			perImport[c.ns+"."+c.imp]++
			t.Run(p.String()+"/"+name, func(t *testing.T) { biRun(t, p, c) })
		}
	}
	var keys []string
	for k := range perImport {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&b, " %s=%d", k, perImport[k])
	}
	t.Logf("%d cells (both policies):%s", total, b.String())
}

func biRun(t *testing.T, p wasix.Policy, c biCell) {
	clock := &env.ManualClock{}
	g := ihNewT(t, ihMatrixModule(!c.noMemory), env.Config{Policy: p, Pid: biPid, Ignore: c.ignore, Clock: clock, MinTimerInterval: -1})
	if !c.noMemory {
		g.fill(biMask, biNames)
	}
	reg := func(name string) {
		t.Helper()
		ptr, n := biName(name)
		if _, err := g.call(signal.Wasix32+"."+signal.CallbackSignalName, ptr, n); err != nil {
			t.Fatal(err)
		}
	}
	switch c.init {
	case biRegistered:
		reg("__wasm_signal")
	case biBlockedSigusr:
		reg("__wasm_signal_blocked")
		if err := g.env.Signal(wasix.SIGUSR1); err != nil {
			t.Fatal(err)
		}
	}
	if c.setup != nil {
		c.setup(t, g)
	}
	g.resetEvents()
	g.logs.reset()
	set0, found0 := g.env.Handler()
	before := g.env.Counters()
	var snapshot []byte
	if mem := g.memory(); mem != nil {
		snapshot = bytes.Clone(mem)
	}

	var (
		errno wasix.Errno
		err   error
	)
	func() {
		defer func() {
			if r := recover(); r != nil {
				t.Fatalf("panic: %v", r)
			}
		}()
		export := c.ns + "." + c.imp
		if c.async == nil {
			errno, err = g.call(export, c.args...)
			return
		}
		type out struct {
			errno wasix.Errno
			err   error
		}
		done := make(chan out, 1)
		go func() {
			e, err := g.call(export, c.args...)
			done <- out{e, err}
		}()
		c.async(t, g, clock)
		select {
		case o := <-done:
			errno, err = o.errno, o.err
		case <-time.After(10 * time.Second):
			t.Fatal("the call never returned")
		}
	}()

	if err != nil {
		t.Fatalf("the call ended the process or trapped: %v", err)
	}
	if c.imp != signal.CallbackSignalName && errno != c.want.errno {
		t.Errorf("errno %s, want %s", errno.Name(), c.want.errno.Name())
	}
	if got := g.Events(); !biEqual(got, c.want.events) {
		t.Errorf("handler calls %v, want %v", got, c.want.events)
	}
	set, found := g.env.Handler()
	wantSet, wantFound := set0, found0
	if c.want.handler != nil {
		wantSet, wantFound = c.want.handler[0], c.want.handler[1]
	}
	if set != wantSet || found != wantFound {
		t.Errorf("registration (set %v, found %v), want (set %v, found %v)", set, found, wantSet, wantFound)
	}
	if after, want := g.env.Counters(), biAddCounters(before, c.want.delta); after != want {
		t.Errorf("counters %+v, want %+v", after, want)
	}
	if ex := g.env.Exited(); ex != nil {
		t.Errorf("process exited: %v", ex)
	}
	lines := g.logs.all()
	for _, w := range c.want.logs {
		ok := false
		for _, l := range lines {
			ok = ok || w.matches(l)
		}
		if !ok {
			t.Errorf("no log line at %v containing %q with %v; got:\n%s", w.level, w.msg, w.attrs, ihLines(lines))
		}
	}
	wantWarn := 0
	for _, w := range c.want.logs {
		if w.level >= slog.LevelWarn {
			wantWarn++
		}
	}
	gotWarn := 0
	for _, l := range lines {
		if l.Level >= slog.LevelWarn {
			gotWarn++
		}
	}
	if gotWarn != wantWarn {
		t.Errorf("%d warnings, want %d:\n%s", gotWarn, wantWarn, ihLines(lines))
	}
	if snapshot != nil {
		mem := g.memory()
		want := bytes.Clone(snapshot)
		copy(want[c.want.writeAt:], c.want.write)
		if i := biFirstDiff(mem, want); i >= 0 {
			t.Errorf("guest memory at %d is %#x, want %#x (intended write: %x at %d)", i, mem[i], want[i], c.want.write, c.want.writeAt)
		}
	}
	if c.check != nil {
		c.check(t, g, clock)
	}
}

func ihLines(lines []logLine) string {
	var b strings.Builder
	for _, l := range lines {
		b.WriteString("\t" + l.String() + "\n")
	}
	return b.String()
}

func biEqual(a, b []int32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func biFirstDiff(a, b []byte) int {
	if len(a) != len(b) {
		return min(len(a), len(b))
	}
	for i := range a {
		if a[i] != b[i] {
			return i
		}
	}
	return -1
}

// TestBadInputGoAPI: the Go-side API takes signal numbers too; a number
// outside 1..31 is an error, never a panic.
func TestBadInputGoAPI(t *testing.T) {
	for _, p := range []wasix.Policy{wasix.PolicyDefault, wasix.PolicyWasmer} {
		g := ihNewT(t, ihMatrixModule(true), env.Config{Policy: p, Clock: &env.ManualClock{}, MinTimerInterval: -1})
		for _, s := range []wasix.Signal{-1, 32, 255, math.MaxInt32, math.MinInt32} {
			t.Run(fmt.Sprintf("%v/%d", p, s), func(t *testing.T) {
				defer func() {
					if r := recover(); r != nil {
						t.Errorf("panic: %v", r)
					}
				}()
				if err := g.env.Signal(s); !errors.Is(err, wasix.EINVAL) {
					t.Errorf("Signal(%d) = %v, want EINVAL", s, err)
				}
				if g.env.Pending(s) {
					t.Errorf("Pending(%d) is true", s)
				}
				if _, _, armed := g.env.Timer(s); armed {
					t.Errorf("Timer(%d) armed", s)
				}
				if err := g.env.SetTimer(s, time.Second, true); !errors.Is(err, wasix.EINVAL) {
					t.Errorf("SetTimer(%d) = %v, want EINVAL", s, err)
				}
			})
		}
		if c := g.env.Counters(); c != (env.Counters{}) {
			t.Errorf("%v: counters changed: %+v", p, c)
		}
	}
}
