// Package fd is the descriptor layer: the descriptors whose waits the host
// does itself, so that a signal can interrupt them.
//
// wasmtime's WASI waits inside Rust where nothing can wake it: a guest
// blocked reading a terminal or a pipe, writing to a full pipe, or polling
// such a descriptor could not be stopped by any signal, SIGKILL included.
// A [Table] owns some of a process's descriptors (the standard streams
// when they are inherited or given as open files); for those, fd_read,
// fd_write and poll_oneoff wait with poll(2) on the descriptor and on a
// wake pipe together, and a signal queued for the guest writes the wake
// pipe.
//
// # What interrupts a wait
//
// Only a signal that is delivered (the guest's handler ran) or that ends
// the process interrupts a wait, as on Linux: a delivered one makes the
// call return EINTR, a terminating one ends the process (the call traps
// out with the exit). A signal that is dropped (ignored by default, by the
// host's disposition, SIGSTOP) does not interrupt it, so resizing a
// terminal (SIGWINCH) does not cut a read short. The same rule holds for
// the clock waits of poll_oneoff.
//
// These calls are safe points only where they wait: a read or write that
// moves data at once delivers nothing, so that a handler writing to its
// output does not have the rest of the pending batch delivered inside that
// write (the batch keeps its arrival order).
//
// # SIGPIPE
//
// fd_write to a pipe or socket whose reader is gone raises SIGPIPE in the
// guest, on every descriptor (owned or wasmtime's): with the default
// action the process ends with status 141, as `yes | head -1` does
// natively; with a handler, or ignored, the write returns EPIPE.
//
// # Pipes, dup and dup2
//
// fd_pipe makes a host pipe (pipe2 with O_CLOEXEC) that the Table owns and
// closes: its read end gets the lowest free guest number, its write end
// the next, as pipe(2). fd_dup and fd_dup2 (wasix-libc's dup and
// fcntl(F_DUPFD)) duplicate an owned descriptor with a host descriptor of
// its own; wasix_32v1's fd_renumber is dup2 (the source stays open, as
// wasix-libc's dup2 expects), preview1's a move. Closing the last write
// end of a pipe gives its reader the end of file; writing with no reader
// left raises SIGPIPE. fd_fdstat_set_flags with NONBLOCK is kept in the
// Table, not set on the host (the description may be shared), and makes
// reads and writes that would wait answer EAGAIN. A Table owns two kinds
// of descriptor: the caller's files (Config.Files), which it only uses,
// and the ones it made, which it closes.
//
// # Descriptor numbers
//
// wasmtime's WASI numbers the files it opens itself, in a table of its
// own. A guest number is owned when the Table has it (the owned entry wins
// when wasmtime also has the number), else wasmtime's. New owned numbers
// are the lowest that neither table uses, and path_open is steered so that
// wasmtime's new number is too: one numbering, as open(2) and pipe(2)
// number. The steering also works around wasmtime 25's table, whose freed
// numbers fd_renumber corrupts (it aborted the host process at a later
// open). See docs/BEHAVIOUR.md.
//
// # fork and exec
//
// [Table.Fork] gives a child process a Table with a duplicate of every
// owned descriptor at the same number, as fork(2) does: each process
// closes its own copies, and the kernel's reference counts give the end
// of file when the last write end anywhere is closed, and each keeps its
// close-on-exec flag. [Exec] prepares a process for proc_exec: it closes
// the close-on-exec descriptors, owned and wasmtime's, and keeps the
// rest.
//
// # Close-on-exec
//
// fd_fdflags_get and fd_fdflags_set (wasix-libc's fcntl F_GETFD and
// F_SETFD) read and set FD_CLOEXEC on any descriptor, owned or
// wasmtime's; fd_dup2's cloexec argument (F_DUPFD_CLOEXEC) and
// path_open2's fdflagsext (open with O_CLOEXEC) set it on the new number.
// It belongs to the number: dup and dup2 give a number without it.
//
// # Everything else
//
// Descriptors the Table does not own (files opened by the guest,
// preopened directories) go to
// wasmtime's own WASI through a small per-process shim instance, so their
// semantics are wasmtime's; a read of a regular file never blocks for
// long. fd_close and fd_renumber keep the Table and wasmtime's table in
// step. fd_fdstat_get answers for owned descriptors from fstat(2), so that
// isatty() tells a terminal given as an open file. A descriptor of
// wasmtime's cannot be duplicated (its WASI has no dup): fd_dup answers
// ENOTSUP and fd_renumber moves it.
//
// # Use
//
// host.Runtime installs this layer and gives every process a Table. On an
// embedder's own Linker: call [Install] after Linker.DefineWasi (and after
// signal.Install), then give each Store's env a Table with [New] before
// the guest runs, and Close it when the guest has ended; call [Forget]
// then too (it closes the Table a process that had none got from its
// first fd_pipe). A Store without a Table has every descriptor forwarded
// to wasmtime, as if this layer were not there. See docs/BEHAVIOUR.md.
package fd
