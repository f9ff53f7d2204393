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
// # Unwinding stacks (setjmp/longjmp)
//
// Package wasix/stack unwinds and rewinds the guest's stack for setjmp and
// longjmp. Meanwhile no handler may run: [WasiEnv.SuspendDelivery] holds
// handled signals back (exits, SIGKILL and default actions still apply)
// until [WasiEnv.ResumeDelivery]. A longjmp out of a handler leaves by a
// trap after [WasiEnv.BeginJump], which ProcessSignals passes on unchanged
// instead of recording a handler trap. docs/SETJMP.md has the details.
//
// # Time
//
// Interval timers and sleeps use a [Clock]; [ManualClock] makes them
// deterministic in tests.
package env
