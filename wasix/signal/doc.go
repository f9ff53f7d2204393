// Package signal provides the WASIX signal imports for wasmtime-go: install
// them into a *wasmtime.Linker and WASIX programs get working signal(),
// sigaction(), raise(), kill(), setitimer() and interruptible sleeps.
//
// This comment summarises the behaviour; docs/BEHAVIOUR.md in the
// repository is the full contract (sections 2 to 6 for these imports,
// section 8 for bad input), with the reasons for each decision.
//
// # Installing
//
// [Install] defines every import once per Linker; one Linker serves any
// number of Stores at once. Each Store needs an [env.WasiEnv] (env.New)
// before the guest runs, and env.WasiEnv.Bind after instantiation:
//
//	linker.DefineWasi()
//	signal.Install(linker)          // after DefineWasi: it shadows proc_raise
//	proc := env.New(store, env.Config{})
//	inst, _ := linker.Instantiate(store, module)
//	proc.Bind(inst)
//	_, err := inst.GetFunc(store, "_start").Call(store)
//	err = proc.Resolve(err)         // *wasix.ExitError, *wasix.HandlerTrapError, a trap, or nil
//
// # Imports
//
// Install defines every import below in both wasix_32v1 and wasix_64v1
// ([Names] lists them). Pointers and lengths are i32 in wasix_32v1 and i64
// in wasix_64v1; pids, tids, signal numbers and durations have the same
// type in both. errno is an i32 WASI errno; callback_signal has no result.
//
//	wasix_32v1
//	  callback_signal         (name_ptr i32, name_len i32) -> ()
//	  proc_raise              (sig i32) -> errno
//	  thread_signal           (tid i32, sig i32) -> errno
//	  proc_signal             (pid i32, sig i32) -> errno
//	  proc_raise_interval     (sig i32, interval i64, repeat i32) -> errno
//	  proc_raise_interval2    (sig i32, new_ptr i32, old_ptr i32) -> errno
//	  proc_signals_sizes_get  (count_ptr i32) -> errno
//	  proc_signals_get        (buf_ptr i32) -> errno
//	  thread_id               (tid_ptr i32) -> errno
//	  proc_id                 (pid_ptr i32) -> errno
//	  thread_sleep            (duration_ns i64) -> errno
//
//	wasix_64v1
//	  callback_signal         (name_ptr i64, name_len i64) -> ()
//	  proc_raise              (sig i32) -> errno
//	  thread_signal           (tid i32, sig i32) -> errno
//	  proc_signal             (pid i32, sig i32) -> errno
//	  proc_raise_interval     (sig i32, interval i64, repeat i32) -> errno
//	  proc_raise_interval2    (sig i32, new_ptr i64, old_ptr i64) -> errno
//	  proc_signals_sizes_get  (count_ptr i64) -> errno
//	  proc_signals_get        (buf_ptr i64) -> errno
//	  thread_id               (tid_ptr i64) -> errno
//	  proc_id                 (pid_ptr i64) -> errno
//	  thread_sleep            (duration_ns i64) -> errno
//
// proc_raise (sig i32) -> errno is also defined in wasi_snapshot_preview1
// and wasi_unstable, replacing wasmtime's own, which answers ENOTSUP.
// Every namespace, preview1 included, uses the WASIX signal numbers (the
// Linux ones); plain preview1 numbers differ from 16 up, and the
// reference runtime also reads them as WASIX numbers.
//
// Only a trap (the process ended) can come out of callback_signal. Every
// guest pointer is checked against the memory bounds (EFAULT); no input
// makes the host panic.
//
// # Registration
//
// callback_signal(name_ptr, name_len) reads exactly name_len bytes (no NUL
// terminator). Out of bounds, a ptr+len that overflows, or bytes that are
// not UTF-8: a warning is logged and nothing changes. Otherwise the name is
// looked up among the instance's exports (the caller's exports while a
// start function runs, before Bind); only a function of type (i32)->()
// counts. The result, found or not, replaces the registration: a name that
// finds nothing leaves the process blocked, with signals queued, until a
// valid name is registered. wasix-libc blocks this way by registering
// __wasm_signal_blocked, which it does not export. Pending signals are then
// delivered before callback_signal returns. Each call is logged at
// wasix.LevelTrace with the attributes name and funct_is_some. Lookups are
// cached per instance and name, so re-registering costs little more than
// the host call.
//
// # Dispatch
//
// Signals are delivered at safe points (docs/BEHAVIOUR.md sections 4 and
// 6), on the guest's goroutine: on entry
// to every import here and after it queues a signal, in functions wrapped
// with [SafePoint], in thread_sleep (which a deliverable signal interrupts,
// returning EINTR after the handler ran), and, when the host enables it,
// in running wasm through epoch interruption. The pending queue holds each
// signal at most once, in arrival order; raising one already pending
// coalesces. Then:
//
//   - SIGKILL cannot be caught or blocked and overtakes the queue: exit
//     status 137. SIGSTOP cannot be caught and there is no job control: it
//     is dropped and logged.
//   - With a handler registered, it is called once per signal, in order.
//     Signals raised inside it are delivered re-entrantly by the nested
//     safe point; masking is the guest libc's business. proc_exit in the
//     handler ends the process with that status (the first exit recorded
//     wins). A trap ends the run with a *wasix.HandlerTrapError naming the
//     signal; the rest of the batch stays undelivered.
//   - Blocked: nothing is delivered and the queue is kept.
//   - Nothing registered: a host ignore disposition (env.Config.Ignore, the
//     list proc_signals_get reports) drops the signal; otherwise the POSIX
//     default applies: CHLD, URG, WINCH, CONT, STOP, TSTP, TTIN and TTOU are
//     ignored, every other signal terminates with status 128+sig.
//
// Nothing is lost silently: every signal raised is delivered, coalesced,
// ignored, the cause of the exit, or still pending, and env.Counters tells
// which. Deliveries, coalescing and drops are logged at debug level. A
// signal sent from Go after the exit is refused with env.ErrExited, not
// dropped.
//
// Every bad argument (a signal number out of range, a pointer out of
// bounds, a handler name out of bounds or not UTF-8) is logged at warn
// level through the process's logger, which rate limits repeated warnings
// per message and counts what it holds back (see the env package, Logging),
// so a guest making bad calls in a loop cannot flood the log.
//
// # Targets and numbers
//
// thread_signal accepts tid 0, 1 and 0x3FFFFFFF (wasix-libc's alias for the
// main thread) as the calling thread; proc_signal accepts pid 0 and the
// process's own pid as itself, and other pids only when the host put that
// process in the caller's group (env.WasiEnv.SetPeers). Unknown, negative,
// exited or out-of-group targets are ESRCH, so a guest cannot learn of a
// process it may not signal. Signal 0 is an existence probe: 0 or ESRCH,
// nothing delivered. Numbers outside 0..31 are EINVAL.
//
// proc_raise_interval counts nanoseconds, as the witx timestamp type says;
// interval 0 cancels; one timer per signal; huge intervals saturate. A due
// timer queues its signal and wakes the guest without waiting for another
// system call. wasix-libc's setitimer passes it_interval in nanoseconds
// with repeat 1, and its alarm() passes interval 0, which cancels: alarm()
// does not work with wasix-libc as it stands, a libc limitation.
//
// # Cost
//
// Registering, raising and the other imports are defined through
// wasmtime's C API directly (internal/fastcall): one cgo crossing per call,
// arguments unpacked in C, no allocation; a cached handler is called with
// wasmtime_func_call. Re-registering the same name costs about what a no-op
// host function defined with Linker.FuncNew costs, and a proc_raise
// delivered to a handler a fifth of a wasmtime-go Func.Call. The layouts
// this relies on are checked at run time; if they ever differ, Install
// falls back to Linker.FuncNew and Func.Call (also forced by setting the
// environment variable WASIX_NO_FASTCALL). docs/PERFORMANCE.md has the
// figures.
//
// # Differences from the reference runtime
//
// The default policy (wasix.PolicyDefault) follows POSIX where the
// reference runtime (Wasmer's lib/wasix) does not; wasix.PolicyWasmer,
// chosen per process in env.Config, reproduces the reference for
// side-by-side comparison:
//
//	point                               default                 wasmer
//	nothing registered: what terminates all but the ignored set   INT, QUIT, KILL, ABRT, PIPE only
//	status of that termination          128+sig                 INT, KILL: 27; QUIT: 0; ABRT: 134; PIPE: 64
//	SIGKILL with a handler              137, handler not called 27, handler not called
//	SIGSTOP with a handler              dropped                 passed to the handler
//	handler traps                       HandlerTrapError        exit status 27
//	signal number outside 0..31         EINVAL                  treated as signal 0
//	signal 0                            probe, nothing delivered handler called with 0
//	unknown tid or pid                  ESRCH                   0, nothing delivered
//	thread_signal tid 0                 the calling thread      0, nothing delivered
//	proc_signal pid 0                   this process            0, nothing delivered
//	proc_raise_interval unit            nanoseconds             milliseconds
//	pointer out of bounds               EFAULT (21)             EMEMVIOLATION (78)
//
// The wasmer column is what @wasmer/sdk 0.16.0 measurably does; it corrects
// the contract's table in three places: SIGABRT exits 134 (not 0), SIGPIPE
// terminates with 64 (not discarded), and bad pointers answer 78 (not 21).
// The conformance suite in tests/conformance holds both policies to this.
// Neither policy reproduces the reference runtime's bugs: its
// self-deadlock when an interval timer falls due, its ignored repeat flag,
// timers that fire only when some other system call happens to run, and its
// ignoring of callback_signal while a handler runs (the old handler stays,
// so wasix-libc's abort() recurses until the guest's stack runs into its
// data; here libc blocks as it means to, and abort() exits 127).
// Two choices of ours where the contract was silent: SIGKILL overtakes
// signals queued before it (as it does on Linux), and the default policy
// drops SIGSTOP even while delivery is blocked, because POSIX does not let
// it be blocked either. docs/BEHAVIOUR.md gives the reason for each row
// (section 4.8 and its closing section on the differences from Wasmer).
package signal
