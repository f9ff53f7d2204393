// Package stack gives WASIX programs built with asyncify their setjmp and
// longjmp: the imports stack_checkpoint and stack_restore, in wasix_32v1
// and wasix_64v1, and the Driver that runs the program's entry point and
// does the unwinding and rewinding they need. docs/SETJMP.md has the whole
// story; in short:
//
//   - [Install] defines the imports in a Linker (store-independent, like
//     wasix/signal's). Each call finds its process with env.Lookup and the
//     Driver running it.
//   - [Run] (or a [Driver] of your own) calls the entry point, usually
//     _start, instead of Func.Call. host.Process does this for every
//     program; an embedder that calls _start itself must do it too, or the
//     first setjmp traps with a message saying so.
//   - setjmp unwinds the stack to the Driver, which keeps it as a snapshot,
//     writes the snapshot's token into the jmp_buf, and rewinds.
//   - longjmp leaves the guest by a trap, from anywhere, a signal handler
//     called from an import, a wait or the epoch callback included; the
//     Driver catches it and rewinds the snapshot, so that setjmp returns
//     longjmp's value.
//   - No signal handler runs while an unwind or a rewind is in flight; the
//     signals wait until setjmp returns.
//   - A forged, stale or foreign jmp_buf ends the process with a
//     *[JumpError]; a stack that does not fit the free C stack with an error
//     wrapping [ErrOverflow]. A process keeps a bounded number of snapshots.
//
// [Uses] tells whether a compiled module needs a Driver, and fails in one
// line when it imports the calls without the asyncify exports.
package stack
