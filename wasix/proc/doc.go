// Package proc is the WASIX process layer: proc_fork, proc_join,
// proc_exec and proc_parent, and the family tree of processes they act on.
// docs/PROCESSES.md describes the behaviour; in short:
//
//   - [Install] defines the imports in a Linker (store-independent, like
//     wasix/signal's); the older two-argument proc_join is served per store
//     by [LegacyFunc].
//   - A [Tree] (one per host) holds the processes: [Tree.Root] for a
//     program the host starts, [Tree.Child] for a fork, within a limit
//     that bounds a fork bomb (EAGAIN). [Proc.End] records how a process
//     ended; its parent joins it and receives SIGCHLD.
//   - fork works on asyncify binaries through wasix/stack: the parent's
//     stack unwinds to its Driver, the host ([Host]) makes the child from
//     it ([Fork.Copy] copies memory, globals and the signal registration,
//     [Fork.Run] rewinds the child), and the parent rewinds with the
//     child's pid.
//   - exec leaves the old program by a trap; the host finds the new one
//     ([Host.Load]) and runs it in the same process ([Proc.TakeExec]).
package proc
