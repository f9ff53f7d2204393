package signal_test

import (
	"fmt"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/wasix-org/wasix-signals-go/wasix"
	"github.com/wasix-org/wasix-signals-go/wasix/env"
)

// result is what a guest run produced: the values it logged (handler calls
// log the signal number, and bodies log import results) and its outcome.
type result struct {
	Events  []int32
	Outcome string
}

func res(outcome string, events ...int32) result { return result{Events: events, Outcome: outcome} }

type dispatchCase struct {
	name    string
	handler string
	body    string
	ignore  []wasix.Signal
	want    result // under both policies, unless wasmer is set
	wasmer  *result
}

func wasmer(r result) *result { return &r }

// raise logs the result of proc_raise(sig).
func raise(sig int32) string { return fmt.Sprintf("(call $log (call $raise (i32.const %d)))", sig) }

func mark(v int32) string { return fmt.Sprintf("(call $log (i32.const %d))", v) }

func cb(ptr, n uint32) string {
	return fmt.Sprintf("(call $cb (i32.const %d) (i32.const %d))", int32(ptr), int32(n))
}

// dispatchCases cover docs/BEHAVIOUR.md sections 3 and 4, step by step, in both policies.
var dispatchCases = []dispatchCase{
	// Section 3 step 2-3: what a registration finds.
	{name: "registration found", body: "(call $reg)" + raise(10), want: res("ok", 10, 0)},
	{name: "registration of a missing name blocks", body: cb(112, 3) + raise(10), want: res("ok", 0)},
	{name: "registration of (i32)->(i32) blocks", body: cb(96, 10) + raise(10), want: res("ok", 0)},
	{name: "registration of ()->() blocks", body: cb(200, 9) + raise(10), want: res("ok", 0)},
	{name: "registration of a memory export blocks", body: cb(112, 6) + raise(10), want: res("ok", 0)},
	{name: "registration of a global export blocks", body: cb(144, 8) + raise(10), want: res("ok", 0)},
	{name: "registration of the empty name blocks", body: cb(160, 0) + raise(10), want: res("ok", 0)},
	{name: "registration of a name with NUL blocks", body: cb(176, 15) + raise(10), want: res("ok", 0)},
	{name: "registration clears the previous handler", body: "(call $reg)" + cb(112, 3) + raise(10), want: res("ok", 0)},
	// Section 3 step 1: bad names change nothing.
	{name: "name out of bounds keeps the handler", body: "(call $reg)" + cb(65530, 100) + raise(10), want: res("ok", 10, 0)},
	{name: "name ptr+len overflowing keeps the handler", body: "(call $reg)" + cb(0xFFFFFFF0, 0x20) + raise(10), want: res("ok", 10, 0)},
	{name: "name length huge keeps the handler", body: "(call $reg)" + cb(0, 0xFFFFFFFF) + raise(10), want: res("ok", 10, 0)},
	{name: "invalid UTF-8 keeps the handler", body: "(call $reg)" + cb(128, 2) + raise(10), want: res("ok", 10, 0)},
	{name: "bad name before any registration stays unregistered", body: cb(128, 2) + raise(15), want: res("exit 143 by SIGTERM"), wasmer: wasmer(res("ok", 0))},
	// Section 3 step 4 and section 4 step 5: blocked state.
	{name: "blocked keeps signals until registration delivers them before it returns",
		body: "(call $reg)(call $block)" + raise(10) + raise(12) + mark(-1) + "(call $reg)" + mark(-2),
		want: res("ok", 0, 0, -1, 10, 12, -2)},
	{name: "latest registration wins", body: "(call $reg)(call $other)" + raise(10), want: res("ok", 110, 0)},
	{name: "FIFO order", body: "(call $block)" + raise(12) + raise(10) + raise(2) + "(call $reg)", want: res("ok", 0, 0, 0, 12, 10, 2)},
	{name: "coalescing", body: "(call $block)" + raise(10) + raise(10) + raise(12) + raise(10) + "(call $reg)", want: res("ok", 0, 0, 0, 0, 10, 12)},
	{name: "blocked signals are delivered to the handler registered later",
		body: "(call $block)" + raise(10) + "(call $other)", want: res("ok", 0, 110)},
	// Section 4 step 4: handler behaviour.
	{name: "nested raise inside a handler is delivered re-entrantly",
		handler: `(call $log (local.get 0))
			(if (i32.eq (local.get 0) (i32.const 10)) (then (call $log (call $raise (i32.const 12)))))
			(call $log (i32.sub (i32.const 0) (local.get 0)))`,
		body: "(call $reg)" + raise(10), want: res("ok", 10, 12, -12, 0, -10, 0)},
	{name: "handler calling proc_exit exits", handler: "(call $log (local.get 0)) (call $exit (i32.const 7))",
		body: "(call $reg)" + raise(10) + mark(99), want: res("exit 7", 10)},
	{name: "handler calling proc_exit 0 exits", handler: "(call $exit (i32.const 0))",
		body: "(call $reg)" + raise(10) + mark(99), want: res("exit 0")},
	{name: "handler trapping ends the run and the batch", handler: "(call $log (local.get 0)) unreachable",
		body: "(call $block)" + raise(10) + raise(12) + "(call $reg)" + mark(99),
		want: res("trap in SIGUSR1", 0, 0, 10), wasmer: wasmer(res("exit 27 by SIGUSR1", 0, 0, 10))},
	{name: "handler re-registering another handler", handler: "(call $log (local.get 0)) (call $other)",
		body: "(call $reg)" + raise(10) + raise(12), want: res("ok", 10, 0, 112, 0)},
	{name: "handler blocking leaves the rest of the batch queued", handler: "(call $log (local.get 0)) (call $block)",
		body: "(call $block)" + raise(10) + raise(12) + "(call $reg)" + mark(-1) + "(call $reg)",
		want: res("ok", 0, 0, 10, -1, 12)},
	// Section 4 step 3: SIGKILL and SIGSTOP.
	{name: "SIGKILL with a handler", body: "(call $reg)" + raise(9) + mark(99),
		want: res("exit 137 by SIGKILL"), wasmer: wasmer(res("exit 27 by SIGKILL"))},
	{name: "SIGKILL without a handler", body: raise(9) + mark(99),
		want: res("exit 137 by SIGKILL"), wasmer: wasmer(res("exit 27 by SIGKILL"))},
	{name: "SIGKILL while blocked overtakes the queue", body: "(call $block)" + raise(10) + raise(9) + mark(99),
		want: res("exit 137 by SIGKILL", 0), wasmer: wasmer(res("exit 27 by SIGKILL", 0))},
	{name: "SIGKILL ignored by the host still kills", ignore: []wasix.Signal{wasix.SIGKILL}, body: raise(9),
		want: res("exit 137 by SIGKILL"), wasmer: wasmer(res("exit 27 by SIGKILL"))},
	{name: "SIGSTOP with a handler", body: "(call $reg)" + raise(19), want: res("ok", 0), wasmer: wasmer(res("ok", 19, 0))},
	{name: "SIGSTOP while blocked is dropped, not kept", body: "(call $block)" + raise(19) + "(call $reg)",
		want: res("ok", 0), wasmer: wasmer(res("ok", 0, 19))},
	// Section 4 step 6: nothing registered.
	{name: "default SIGINT", body: raise(2) + mark(99), want: res("exit 130 by SIGINT"), wasmer: wasmer(res("exit 27 by SIGINT"))},
	{name: "default SIGQUIT", body: raise(3) + mark(99), want: res("exit 131 by SIGQUIT"), wasmer: wasmer(res("exit 0 by SIGQUIT"))},
	{name: "default SIGABRT", body: raise(6) + mark(99), want: res("exit 134 by SIGABRT"), wasmer: wasmer(res("exit 134 by SIGABRT"))},
	{name: "default SIGTERM", body: raise(15) + mark(99), want: res("exit 143 by SIGTERM"), wasmer: wasmer(res("ok", 0, 99))},
	{name: "default SIGPIPE", body: raise(13) + mark(99), want: res("exit 141 by SIGPIPE"), wasmer: wasmer(res("exit 64 by SIGPIPE"))},
	{name: "default SIGALRM", body: raise(14) + mark(99), want: res("exit 142 by SIGALRM"), wasmer: wasmer(res("ok", 0, 99))},
	{name: "default SIGHUP", body: raise(1) + mark(99), want: res("exit 129 by SIGHUP"), wasmer: wasmer(res("ok", 0, 99))},
	{name: "default SIGUSR1", body: raise(10) + mark(99), want: res("exit 138 by SIGUSR1"), wasmer: wasmer(res("ok", 0, 99))},
	{name: "default SIGSYS", body: raise(31) + mark(99), want: res("exit 159 by SIGSYS"), wasmer: wasmer(res("ok", 0, 99))},
	{name: "default-ignored signals", body: raise(17) + raise(23) + raise(28) + raise(18) + raise(19) + raise(20) + raise(21) + raise(22) + mark(99),
		want: res("ok", 0, 0, 0, 0, 0, 0, 0, 0, 99)},
	{name: "host ignore disposition drops", ignore: []wasix.Signal{wasix.SIGTERM, wasix.SIGINT}, body: raise(15) + raise(2) + mark(99),
		want: res("ok", 0, 0, 99)},
	{name: "host ignore disposition does not stop a handler", ignore: []wasix.Signal{wasix.SIGTERM}, body: "(call $reg)" + raise(15),
		want: res("ok", 15, 0)},
	// Section 2 and 5: targets and numbers.
	{name: "thread_signal tid 0", body: "(call $reg)(call $log (call $tsig (i32.const 0) (i32.const 10)))",
		want: res("ok", 10, 0), wasmer: wasmer(res("ok", 0))},
	{name: "thread_signal tid 1", body: "(call $reg)(call $log (call $tsig (i32.const 1) (i32.const 10)))", want: res("ok", 10, 0)},
	{name: "thread_signal main thread alias", body: "(call $reg)(call $log (call $tsig (i32.const 0x3FFFFFFF) (i32.const 10)))", want: res("ok", 10, 0)},
	{name: "thread_signal unknown tid", body: "(call $reg)(call $log (call $tsig (i32.const 7) (i32.const 10)))",
		want: res("ok", 71), wasmer: wasmer(res("ok", 0))},
	{name: "thread_signal negative tid", body: "(call $reg)(call $log (call $tsig (i32.const -1) (i32.const 10)))",
		want: res("ok", 71), wasmer: wasmer(res("ok", 0))},
	{name: "thread_signal sig 0 probes", body: "(call $reg)(call $log (call $tsig (i32.const 1) (i32.const 0)))",
		want: res("ok", 0), wasmer: wasmer(res("ok", 0, 0))},
	{name: "proc_signal own pid", body: "(call $reg)(call $log (call $psig (i32.const 5) (i32.const 10)))", want: res("ok", 10, 0)},
	{name: "proc_signal pid 0", body: "(call $reg)(call $log (call $psig (i32.const 0) (i32.const 10)))",
		want: res("ok", 10, 0), wasmer: wasmer(res("ok", 0))},
	{name: "proc_signal unknown pid", body: "(call $reg)(call $log (call $psig (i32.const 999) (i32.const 10)))",
		want: res("ok", 71), wasmer: wasmer(res("ok", 0))},
	{name: "proc_signal negative pid", body: "(call $reg)(call $log (call $psig (i32.const -1) (i32.const 10)))",
		want: res("ok", 71), wasmer: wasmer(res("ok", 0))},
	{name: "proc_signal sig 0 on self", body: "(call $reg)(call $log (call $psig (i32.const 5) (i32.const 0)))",
		want: res("ok", 0), wasmer: wasmer(res("ok", 0, 0))},
	{name: "proc_signal sig 0 on unknown pid", body: "(call $log (call $psig (i32.const 999) (i32.const 0)))",
		want: res("ok", 71), wasmer: wasmer(res("ok", 0))},
	{name: "signal 0", body: "(call $reg)" + raise(0), want: res("ok", 0), wasmer: wasmer(res("ok", 0, 0))},
	{name: "signal 32", body: "(call $reg)" + raise(32), want: res("ok", 28), wasmer: wasmer(res("ok", 0, 0))},
	{name: "signal 255", body: "(call $reg)" + raise(255), want: res("ok", 28), wasmer: wasmer(res("ok", 0, 0))},
	{name: "signal -1", body: "(call $reg)" + raise(-1), want: res("ok", 28), wasmer: wasmer(res("ok", 0, 0))},
	{name: "signal 2^31", body: "(call $reg)" + raise(-2147483648), want: res("ok", 28), wasmer: wasmer(res("ok", 0, 0))},
	{name: "thread_signal signal 64", body: "(call $reg)(call $log (call $tsig (i32.const 1) (i32.const 64)))",
		want: res("ok", 28), wasmer: wasmer(res("ok", 0, 0))},
	{name: "proc_signal signal 32", body: "(call $reg)(call $log (call $psig (i32.const 5) (i32.const 32)))",
		want: res("ok", 28), wasmer: wasmer(res("ok", 0, 0))},
	{name: "proc_raise_interval signal 32", body: "(call $log (call $interval (i32.const 32) (i64.const 60000000000) (i32.const 0)))",
		want: res("ok", 28), wasmer: wasmer(res("ok", 0))},
	{name: "proc_raise_interval signal 0", body: "(call $log (call $interval (i32.const 0) (i64.const 60000000000) (i32.const 0)))",
		want: res("ok", 28), wasmer: wasmer(res("ok", 0))},
	{name: "wasi_snapshot_preview1.proc_raise is shadowed", body: "(call $reg)(call $log (call $p1raise (i32.const 10)))", want: res("ok", 10, 0)},
	{name: "ids", body: `(call $log (call $tid (i32.const 300))) (call $log (i32.load (i32.const 300)))
		(call $log (call $pid (i32.const 304))) (call $log (i32.load (i32.const 304)))`, want: res("ok", 0, 1, 0, 5)},
	{name: "ids out of bounds fault", body: `(call $log (call $tid (i32.const 65534))) (call $log (call $pid (i32.const -1)))`,
		want: res("ok", 21, 21), wasmer: wasmer(res("ok", 78, 78))},
	{name: "dispositions when none are configured", body: `(i32.store (i32.const 300) (i32.const 77))
		(call $log (call $sizes (i32.const 300))) (call $log (i32.load (i32.const 300)))
		(call $log (call $sigget (i32.const 65536)))`, want: res("ok", 0, 0, 0)},
	{name: "dispositions report host ignores", ignore: []wasix.Signal{wasix.SIGTERM, wasix.SIGHUP},
		body: `(call $log (call $sizes (i32.const 300))) (call $log (i32.load (i32.const 300)))
		(call $log (call $sigget (i32.const 310))) (call $log (i32.load (i32.const 310)))`,
		want: res("ok", 0, 2, 0, 0x010F0101)},
	{name: "dispositions out of bounds fault", ignore: []wasix.Signal{wasix.SIGTERM},
		body: `(call $log (call $sizes (i32.const 65533))) (call $log (call $sigget (i32.const 65535)))`, want: res("ok", 21, 21),
		wasmer: wasmer(res("ok", 78, 78))},
}

func TestDispatch(t *testing.T) {
	for _, policy := range []wasix.Policy{wasix.PolicyDefault, wasix.PolicyWasmer} {
		for _, tc := range dispatchCases {
			t.Run(policy.String()+"/"+tc.name, func(t *testing.T) {
				g := newGuest(t, guestOpts{
					cfg:     env.Config{Policy: policy, Pid: 5, Ignore: tc.ignore},
					handler: tc.handler,
					body:    tc.body,
				})
				err := g.run()
				got := result{Events: g.Events(), Outcome: outcome(err)}
				want := tc.want
				if policy == wasix.PolicyWasmer && tc.wasmer != nil {
					want = *tc.wasmer
				}
				if diff := cmp.Diff(want, got); diff != "" {
					t.Errorf("(-want +got)\n%s", diff)
				}
				// Nothing is lost silently.
				c := g.env.Counters()
				accounted := c.Delivered + c.Coalesced + c.Ignored + uint64(c.Pending)
				if c.TerminatedBy != 0 {
					accounted++
				}
				if accounted != c.Raised {
					t.Errorf("counters do not add up: %+v", c)
				}
			})
		}
	}
}
