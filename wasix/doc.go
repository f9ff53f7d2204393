// Package wasix is the vocabulary of the WASIX signal system: [Signal]
// numbers and names, [Errno] values, the compatibility [Policy], and the
// typed outcomes of a process, [ExitError] and [HandlerTrapError].
//
// Signal numbers are WASIX numbers, which are the Linux numbers (and the C
// SIGxxx constants of wasix-libc). Plain WASI preview1 numbers differ from
// 16 up, because preview1 has no SIGSTKFLT; this module, like the reference
// runtime, reads every namespace's signal numbers as WASIX numbers,
// wasi_snapshot_preview1.proc_raise included.
//
// Packages env and signal build on this one; package host runs programs.
package wasix
