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
// # SIGPIPE
//
// fd_write to a pipe or socket whose reader is gone raises SIGPIPE in the
// guest, on every descriptor (owned or wasmtime's): with the default
// action the process ends with status 141, as `yes | head -1` does
// natively; with a handler, or ignored, the write returns EPIPE.
//
// # Everything else
//
// Descriptors the Table does not own (files opened by the guest,
// preopened directories, standard streams redirected to named files) go to
// wasmtime's own WASI through a small per-process shim instance, so their
// semantics are wasmtime's; a read of a regular file never blocks for
// long. fd_close and fd_renumber keep the Table and wasmtime's table in
// step. fd_fdstat_get answers for owned descriptors from fstat(2), so that
// isatty() tells a terminal given as an open file.
//
// # Use
//
// host.Runtime installs this layer and gives every process a Table. On an
// embedder's own Linker: call [Install] after Linker.DefineWasi (and after
// signal.Install), then give each Store's env a Table with [New] before
// the guest runs, and Close it when the guest has ended. A Store without a
// Table has every descriptor forwarded to wasmtime, as if this layer were
// not there. See docs/BEHAVIOUR.md.
package fd
