package fd_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/wasix-org/wasix-signals-go/wasix"
	"github.com/wasix-org/wasix-signals-go/wasix/fd"
)

// flagger exports one call each for what close-on-exec depends on. Calls
// that make a descriptor return it, or minus the errno; the others return
// the errno; get returns the fdflagsext, or 1000 + the errno.
const flagger = `(module
  (import "wasix_32v1" "fd_pipe" (func $pipe (param i32 i32) (result i32)))
  (import "wasix_32v1" "fd_close" (func $close (param i32) (result i32)))
  (import "wasix_32v1" "fd_dup" (func $dup (param i32 i32) (result i32)))
  (import "wasix_32v1" "fd_dup2" (func $dupfd (param i32 i32 i32 i32) (result i32)))
  (import "wasix_32v1" "fd_renumber" (func $dup2 (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_renumber" (func $move (param i32 i32) (result i32)))
  (import "wasix_32v1" "fd_fdstat_get" (func $stat (param i32 i32) (result i32)))
  (import "wasix_32v1" "fd_fdflags_get" (func $fget (param i32 i32) (result i32)))
  (import "wasix_32v1" "fd_fdflags_set" (func $fset (param i32 i32) (result i32)))
  (import "wasix_32v1" "path_open2"
    (func $open2 (param i32 i32 i32 i32 i32 i64 i64 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "path_open"
    (func $open (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 200) "f.txt")
  (func $made (param $errno i32) (result i32)
    (if (result i32) (local.get $errno)
      (then (i32.sub (i32.const 0) (local.get $errno)))
      (else (i32.load (i32.const 40)))))
  (func (export "pipe") (result i32) (call $pipe (i32.const 0) (i32.const 4)))
  (func (export "rd") (result i32) (i32.load (i32.const 0)))
  (func (export "wr") (result i32) (i32.load (i32.const 4)))
  (func (export "get") (param i32) (result i32) (local $r i32)
    (i32.store16 (i32.const 32) (i32.const 0xffff))
    (local.set $r (call $fget (local.get 0) (i32.const 32)))
    (if (result i32) (local.get $r)
      (then (i32.add (i32.const 1000) (local.get $r)))
      (else (i32.load16_u (i32.const 32)))))
  (func (export "getat") (param i32 i32) (result i32) (call $fget (local.get 0) (local.get 1)))
  (func (export "set") (param i32 i32) (result i32) (call $fset (local.get 0) (local.get 1)))
  (func (export "close") (param i32) (result i32) (call $close (local.get 0)))
  (func (export "stat") (param i32) (result i32) (call $stat (local.get 0) (i32.const 64)))
  (func (export "dup") (param i32) (result i32) (call $made (call $dup (local.get 0) (i32.const 40))))
  (func (export "dupfd") (param i32 i32 i32) (result i32)
    (call $made (call $dupfd (local.get 0) (local.get 1) (local.get 2) (i32.const 40))))
  (func (export "dup2") (param i32 i32) (result i32) (call $dup2 (local.get 0) (local.get 1)))
  (func (export "move") (param i32 i32) (result i32) (call $move (local.get 0) (local.get 1)))
  (func (export "open2") (param $ext i32) (result i32)
    (call $made (call $open2 (i32.const 3) (i32.const 0) (i32.const 200) (i32.const 5) (i32.const 1)
      (i64.const 0x1fffffff) (i64.const 0x1fffffff) (i32.const 0) (local.get $ext) (i32.const 40))))
  (func (export "open") (result i32)
    (call $made (call $open (i32.const 3) (i32.const 0) (i32.const 200) (i32.const 5) (i32.const 1)
      (i64.const 0x1fffffff) (i64.const 0x1fffffff) (i32.const 0) (i32.const 40)))))`

type flaggerProc struct {
	*proc
}

func newFlagger(t *testing.T) flaggerProc {
	t.Helper()
	engine, linker, module := setup(t, flagger)
	return flaggerProc{newProc(t, engine, linker, module, true)}
}

// made fails unless n is a descriptor (a call that returns minus the errno
// on failure).
func (p flaggerProc) made(what string, n int32) int32 {
	p.t.Helper()
	if n < 0 {
		p.t.Fatalf("%s: %s", what, wasix.Errno(-n).Name())
	}
	return n
}

const cloexec = 1

// TestCloseOnExecFlag: FD_CLOEXEC is a flag of a descriptor number, owned
// (a pipe end) or wasmtime's (a file the guest opened), as fcntl's
// F_GETFD/F_SETFD, dup, F_DUPFD_CLOEXEC, dup2 and open(O_CLOEXEC) use it.
func TestCloseOnExecFlag(t *testing.T) {
	p := newFlagger(t)
	if errno := p.call("pipe"); errno != 0 {
		t.Fatalf("fd_pipe: %s", wasix.Errno(errno).Name())
	}
	rd := p.call("rd")
	file := p.made("open", p.call("open"))
	got := map[string]int32{}
	step := func(name string, v int32) { got[name] = v }

	for _, n := range []int32{rd, file} {
		kind := map[int32]string{rd: "pipe", file: "file"}[n]
		step(kind+": new", p.call("get", n))
		step(kind+": set", p.call("set", n, int32(cloexec)))
		step(kind+": after set", p.call("get", n))
		// Bits beyond CLOEXEC are ignored, as Linux's F_SETFD does.
		step(kind+": set other bits", p.call("set", n, int32(0xfffe)))
		step(kind+": after other bits", p.call("get", n))
		p.call("set", n, int32(cloexec))
	}
	// A duplicate starts without the flag; F_DUPFD_CLOEXEC sets it.
	step("dup of a flagged pipe", p.call("get", p.made("dup", p.call("dup", rd))))
	step("F_DUPFD_CLOEXEC", p.call("get", p.made("dupfd", p.call("dupfd", rd, int32(20), int32(1)))))
	step("F_DUPFD", p.call("get", p.made("dupfd", p.call("dupfd", rd, int32(30), int32(0)))))
	// dup2 onto a flagged number: the new number is clear.
	p.call("set", int32(20), int32(cloexec))
	step("dup2 onto a flagged number", p.call("dup2", rd, int32(20)))
	step("after dup2", p.call("get", 20))
	// A file moved by preview1's fd_renumber keeps its flag; one moved by
	// wasix's (dup2, a move for wasmtime's files) loses it.
	step("move a flagged file", p.call("move", file, int32(40)))
	step("moved file", p.call("get", 40))
	step("old number", p.call("get", file))
	step("dup2 a flagged file", p.call("dup2", int32(40), int32(41)))
	step("file after dup2", p.call("get", 41))
	// Closing forgets the flag: the number, reused, starts clear.
	p.call("set", int32(41), int32(cloexec))
	step("close", p.call("close", 41))
	reopened := p.made("open", p.call("open"))
	step("reopened is the lowest free number", btoi(reopened < 41))
	step("reopened", p.call("get", reopened))
	// open(O_CLOEXEC) through path_open2.
	step("path_open2 CLOEXEC", p.call("get", p.made("open2", p.call("open2", int32(cloexec)))))
	step("path_open2 plain", p.call("get", p.made("open2", p.call("open2", int32(0)))))
	// Bad input.
	step("get unknown fd", p.call("get", 77))
	step("set unknown fd", p.call("set", 77, int32(cloexec)))
	step("get to a pointer out of bounds", p.call("getat", rd, int32(65535)))

	want := map[string]int32{
		"pipe: new": 0, "pipe: set": 0, "pipe: after set": 1, "pipe: set other bits": 0, "pipe: after other bits": 0,
		"file: new": 0, "file: set": 0, "file: after set": 1, "file: set other bits": 0, "file: after other bits": 0,
		"dup of a flagged pipe": 0, "F_DUPFD_CLOEXEC": 1, "F_DUPFD": 0,
		"dup2 onto a flagged number": 0, "after dup2": 0,
		"move a flagged file": 0, "moved file": 1, "old number": 1000 + int32(wasix.EBADF),
		"dup2 a flagged file": 0, "file after dup2": 0,
		"close": 0, "reopened is the lowest free number": 1, "reopened": 0,
		"path_open2 CLOEXEC": 1, "path_open2 plain": 0,
		"get unknown fd": 1000 + int32(wasix.EBADF), "set unknown fd": int32(wasix.EBADF),
		"get to a pointer out of bounds": int32(wasix.EFAULT),
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func btoi(b bool) int32 {
	if b {
		return 1
	}
	return 0
}

// TestExecClosesCloseOnExec: fd.Exec closes the flagged descriptors, owned
// and wasmtime's, and leaves every other one open under its number.
func TestExecClosesCloseOnExec(t *testing.T) {
	p := newFlagger(t)
	if errno := p.call("pipe"); errno != 0 {
		t.Fatalf("fd_pipe: %s", wasix.Errno(errno).Name())
	}
	rd, wr := p.call("rd"), p.call("wr")
	keepFile := p.made("open", p.call("open"))
	dropFile := p.made("open2", p.call("open2", int32(cloexec)))
	p.call("set", wr, int32(cloexec))
	if err := fd.Exec(p.store, p.env); err != nil {
		t.Fatal(err)
	}
	got := map[string]wasix.Errno{}
	for name, n := range map[string]int32{"read end": rd, "write end (cloexec)": wr, "file": keepFile, "file (cloexec)": dropFile} {
		got[name] = wasix.Errno(p.call("stat", n))
	}
	want := map[string]wasix.Errno{"read end": 0, "write end (cloexec)": wasix.EBADF, "file": 0, "file (cloexec)": wasix.EBADF}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("fd_fdstat_get after exec (-want +got):\n%s", diff)
	}
	// The numbers closed are free again, and nothing is flagged any more.
	if n := p.made("open", p.call("open")); n != min(wr, dropFile) {
		t.Errorf("open after exec got %d, want the lowest freed number %d", n, min(wr, dropFile))
	}
	if f := p.call("get", rd); f != 0 {
		t.Errorf("read end flags after exec: %d", f)
	}
}

// TestForkKeepsCloseOnExec: a forked Table keeps each owned descriptor's
// flag, as fork(2) does. (wasmtime's descriptors are not carried to a
// child at all.)
func TestForkKeepsCloseOnExec(t *testing.T) {
	parent, child := newFlagger(t), newFlagger(t)
	if errno := parent.call("pipe"); errno != 0 {
		t.Fatalf("fd_pipe: %s", wasix.Errno(errno).Name())
	}
	rd, wr := parent.call("rd"), parent.call("wr")
	parent.call("set", wr, int32(cloexec))
	ct, err := fd.Lookup(parent.env).Fork(child.env)
	if err != nil {
		t.Fatal(err)
	}
	defer ct.Close()
	got := map[string]int32{"read end": child.call("get", rd), "write end": child.call("get", wr)}
	want := map[string]int32{"read end": 0, "write end": 1}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("flags in the child (-want +got):\n%s", diff)
	}
	// The child's flags are its own.
	child.call("set", wr, int32(0))
	if f := parent.call("get", wr); f != 1 {
		t.Errorf("the child's F_SETFD changed the parent's flag: %d", f)
	}
}

// TestExecClosesOwnedStream: a standard stream the Table owns, marked
// close-on-exec, is gone after the exec, in wasmtime's table too (which
// has its own descriptor under the same number), as fd_close leaves it.
func TestExecClosesOwnedStream(t *testing.T) {
	p := newFlagger(t)
	out, err := os.Create(filepath.Join(t.TempDir(), "out"))
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	if _, err := fd.New(p.env, fd.Config{Files: map[int32]*os.File{1: out, 2: out}}); err != nil {
		t.Fatal(err)
	}
	p.call("set", int32(1), int32(cloexec))
	if err := fd.Exec(p.store, p.env); err != nil {
		t.Fatal(err)
	}
	got := map[string]wasix.Errno{"stdout (cloexec)": wasix.Errno(p.call("stat", 1)), "stderr": wasix.Errno(p.call("stat", 2))}
	want := map[string]wasix.Errno{"stdout (cloexec)": wasix.EBADF, "stderr": 0}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("fd_fdstat_get after exec (-want +got):\n%s", diff)
	}
}
