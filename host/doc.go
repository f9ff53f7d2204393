// Package host runs WASIX programs on wasmtime-go with the WASIX signal
// system wired in: it is what an embedder uses when it wants to run a
// program rather than assemble the parts (wasix/env, wasix/signal,
// wasix/fd) on a Linker of its own. docs/BEHAVIOUR.md in the repository
// describes the behaviour in full; the section numbers below refer to it.
//
// # Types
//
// A [Runtime] holds one wasmtime engine (with epoch interruption unless
// [Options] supply an engine without it), one Linker shared by every
// program (WASI preview1, the signal imports, the descriptor layer of
// wasix/fd, the futexes and proc_exit), and a process table that hands out
// pids. It is safe for concurrent use; embedders may add their own imports
// through [Runtime.Linker], wrapped with signal.SafePoint to make them safe
// points.
//
// A [Module] is a compiled program, adapted at load time (section 7): an
// imported memory becomes an exported one, preview1 functions imported
// under wasix_32v1 are served by wasmtime's WASI, and imports nobody
// defines answer ENOSYS or trap with their name. One Module can be started
// any number of times.
//
// A [Process] is one running program: its own Store, its own
// env.WasiEnv (signal state, pid, timers) and its own goroutine.
// [Config] sets it up: arguments, environment, preopened directories,
// standard streams, signal policy and ignored signals, the grace period
// of a cancelled run, and the [Group] it belongs to. Processes in one
// Group may signal each other with kill() (proc_signal); every pid outside
// the caller's Group answers ESRCH, like a pid that does not exist.
//
// # Processes
//
// Programs built with asyncify can fork, join, exec and ask for their
// parent (wasix/proc, docs/PROCESSES.md in the repository): a forked child
// is a Process of its own, with its own pid and Store, in its parent's
// Group (a process started without one gets a Group of its own), running
// a copy of the parent's memory. [Options].MaxProcs bounds the forked
// processes of a Runtime (EAGAIN beyond); [Group.Signal] signals a whole
// family; [Runtime.NumProcesses] counts the processes alive and those
// waiting to be joined.
//
// # Lifecycle
//
//	rt, err := host.NewRuntime(host.Options{})
//	m, err := rt.Compile(wasmBytes)             // .wasm, or .wat text
//	p, err := rt.Start(ctx, m, host.Config{Args: []string{"prog"}})
//	stop := p.Forward(syscall.SIGINT)           // optional: relay host signals
//	defer stop()
//	p.Signal(wasix.SIGUSR1)                     // from any goroutine
//	err = p.Wait()                              // the outcome
//	os.Exit(host.ExitCode(err))
//
// [Runtime.Start] instantiates the module (a start function runs then) and
// calls _start on a new goroutine. [Process.Signal] queues a signal from
// any goroutine; the guest receives it at its next host call, during a
// sleep or a wait on a standard stream, or, with epoch interruption, while
// it runs wasm (section 6). [Process.Wait] returns the outcome: nil for a
// normal end, *wasix.ExitError for an exit (by proc_exit or a signal),
// *wasix.HandlerTrapError for a trap in the signal handler, a
// [*StuckError] when a kill gave up on the guest (below), or the trap that
// ended it. [ExitCode] turns an outcome into the status a shell shows. When
// the program ends the host closes its Store; [Process.Env] still answers
// for the counters. [Run] does Compile, Start and Wait in one call.
//
// # Standard streams
//
// When the guest inherits the host's standard streams (Config.Stdin,
// Stdout, Stderr empty, the default) or is given open files in
// Config.Stdio, the host reads and writes them itself (wasix/fd) instead
// of leaving them to wasmtime, whose waits nothing can interrupt: a guest
// blocked reading a terminal or a pipe, or writing to a full pipe, is
// woken by a signal that is delivered or that ends it; a signal that is
// only dropped leaves the wait alone. A write to a pipe whose reader is
// gone raises SIGPIPE. Streams redirected to named files are the host's
// too, so that forked children share them (section 6.5).
//
// # Stopping a program
//
// Cancelling the context given to Start sends SIGTERM, then SIGKILL after
// Config.Grace ([DefaultGrace] when zero; at once when negative). A
// SIGKILL sent with [Process.Signal] ends the guest at its next safe
// point, wait or epoch check; if it has not ended within [KillBound]
// (it sits in a host call that nothing interrupts), Wait returns anyway
// with a *StuckError that wraps the SIGKILL exit (137) and names the call,
// and the guest's goroutine is left to finish on its own (section 6.6).
// [Process.Forward] and Config.Signals relay host signals by name; a
// second SIGINT while the first is still pending becomes SIGKILL.
package host
