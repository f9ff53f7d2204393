// Package preview0 serves wasi_unstable, the first WASI snapshot, which
// wasmtime-go does not define (its DefineWasi defines
// wasi_snapshot_preview1 only) and which older toolchains still emit.
//
// Most wasi_unstable functions have exactly the ABI of their preview1
// namesakes: those imports are renamed to wasi_snapshot_preview1 at load
// time (Target, for internal/wasmbin) and cost nothing per call. Four
// differ in a constant or a record layout (Translated): fd_seek (whence
// values), fd_filestat_get and path_filestat_get (filestat's nlink is 32
// bits wide) and poll_oneoff (a clock subscription carries an identifier).
// Their imports move to TranslatedModule, where Imports defines them as Go
// functions that convert
// the arguments and results with the pure functions of this package and
// call preview1 through a small per-process shim with a scratch memory of
// its own; poll_oneoff hands clock waits to the host's poll (Poll), so a
// signal interrupts them as it does in preview1.
//
// docs/WASI-UNSTABLE.md lists the differences and the reasons for this
// design.
package preview0
