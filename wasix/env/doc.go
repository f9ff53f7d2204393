// Package env holds the state of one WASIX process: [WasiEnv] wraps a
// *wasmtime.Store, the *wasmtime.Instance bound after instantiation and the
// guest memory (exported, or given by the host when the guest imports it),
// with an inner data block behind a mutex: the registered handler and
// signal_set, a pending queue per thread, the interval timers and the
// recorded exit.
//
// # Goroutines
//
// The store, the instance and the handler cache belong to the goroutine
// that runs the guest. Everything else is goroutine-safe: [WasiEnv.Signal]
// and [WasiEnv.SetTimer] may be called from anywhere; they queue under the
// mutex, wake a guest blocked in [WasiEnv.Sleep] and call the notifier the
// host installed with [WasiEnv.SetNotify] (epoch interruption for a guest
// running wasm). [WasiEnv.ProcessSignals] runs on the guest goroutine and
// never holds the mutex while calling into the guest, so a handler may
// re-enter any host function. With nothing to do it costs one atomic load;
// [AnyAttention] answers the same for every process at once.
//
// # Finding the process of a call
//
// Host functions defined on a shared Linker do not know their Store. [New]
// registers each WasiEnv under its store's context pointer, which
// [Lookup] finds again from the *wasmtime.Caller of a host call. [WasiEnv.Close]
// unregisters it and stops its timers.
//
// # Configuration and memory
//
// [New] panics on a configuration [Config.Validate] rejects (an unknown
// Policy); [NewChecked] returns the error instead, for configurations that
// come from outside the program. Guest memory is the host-provided one or
// the instance's "memory" export; when [WasiEnv.Bind] finds neither,
// every access fails (an empty range included) and [WasiEnv.MemoryError]
// says why: no memory, one exported under another name, or a shared
// memory, which wasmtime-go gives no handle for.
//
// # Outcome
//
// A process ends by proc_exit, by a signal's default action, by SIGKILL,
// or by a trap in its handler. The first end recorded wins and every later
// safe point returns it, so an exit unwinds through nested handlers. The
// host function that sees it returns a trap ([WasiEnv.ProcessSignalsAndExit]);
// whoever called into the guest passes the error it got to
// [WasiEnv.Resolve], which returns the typed outcome: *wasix.ExitError,
// *wasix.HandlerTrapError, a trap outside any handler, or nil.
//
// # Logging
//
// [Config.Logger] receives a warning for each bad argument a guest passes
// (out-of-bounds pointers, signal numbers out of range, bad handler names),
// debug lines saying what became of each signal (delivered to the handler,
// coalesced, dropped, or the cause of the exit) and trace lines for every
// registration. A guest can make every call a bad one, so the warnings of
// each process are rate limited per message: the first [WarnBurst] lines
// of a message are written, then at most one every [WarnInterval], with an
// attribute suppressed=N counting the lines of that message left out since
// the previous one written. [WasiEnv.Close] writes the last line held back
// of each message, counted the same way, so that every warning is written
// or counted. [Config.WarnLimit] changes the limit or turns it off. Debug
// and trace lines are not limited, and a process that logs nothing pays
// nothing for the limit.
//
// # Unwinding stacks (setjmp/longjmp)
//
// Package wasix/stack unwinds and rewinds the guest's stack for setjmp and
// longjmp. Meanwhile no handler may run: [WasiEnv.SuspendDelivery] holds
// handled signals back (exits, SIGKILL and default actions still apply)
// until [WasiEnv.ResumeDelivery]. A longjmp out of a handler leaves by a
// trap after [WasiEnv.BeginJump], which ProcessSignals passes on unchanged
// instead of recording a handler trap. docs/SETJMP.md has the details.
//
// # Processes (fork and exec)
//
// Package wasix/proc forks and execs processes. A forked child's env gets
// its parent's callback_signal registration with [WasiEnv.Inherit] (looked
// up again among the child's exports; [WasiEnv.Registration] reads it);
// [WasiEnv.Exec] binds the env to an exec'd program's instance and resets
// handled signals to their default, keeping pending ones and a blocked
// delivery. SIGCHLD runs its handler without interrupting a wait
// ([WasiEnv.Interrupted]). docs/PROCESSES.md has the details.
//
// # Time
//
// Interval timers and sleeps use a [Clock]; [ManualClock] makes them
// deterministic in tests.
package env
