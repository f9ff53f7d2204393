package host_test

import (
	"context"
	"os"
	"testing"

	"github.com/creack/pty"
	"github.com/wasix-org/wasix-signals-go/host"
)

// fdstatGuest exits with the file type fd_fdstat_get reports for fd 0,
// plus 100 when the rights include seeking.
const fdstatGuest = `(module
  (import "wasix_32v1" "fd_fdstat_get" (func $stat (param i32 i32) (result i32)))
  (import "wasix_32v1" "proc_exit" (func $exit (param i32)))
  (memory (export "memory") 1)
  (func (export "_start") (local $r i32)
    (local.set $r (call $stat (i32.const 0) (i32.const 64)))
    (if (local.get $r) (then (call $exit (i32.add (i32.const 200) (local.get $r)))))
    (call $exit (i32.add (i32.load8_u (i32.const 64))
      (select (i32.const 100) (i32.const 0)
        (i32.wrap_i64 (i64.and (i64.load (i32.const 72)) (i64.const 4))))))))`

// isatty() in the guest sees a terminal given as an open file, and a pipe
// or a regular file as what they are.
func TestOwnedStdioFdstat(t *testing.T) {
	ptmx, tty, err := pty.Open()
	if err != nil {
		t.Skipf("no pseudo-terminal here: %v", err)
	}
	defer ptmx.Close()
	defer tty.Close()
	r, _ := pipe(t)
	file, err := os.CreateTemp(t.TempDir(), "f")
	if err != nil {
		t.Fatal(err)
	}
	defer file.Close()
	for _, tc := range []struct {
		name string
		f    *os.File
		want string
	}{
		{"terminal", tty, "exit 2"},        // character device, no seek
		{"pipe", r, "exit 0"},              // unknown, no seek
		{"regular file", file, "exit 104"}, // regular file, seekable
	} {
		p, _ := start(t, context.Background(), fdstatGuest, host.Config{Stdio: [3]*os.File{tc.f}})
		if got := describe(wait(t, p)); got != tc.want {
			t.Errorf("%s: got %s, want %s", tc.name, got, tc.want)
		}
	}
}

// renumberGuest renumbers fd 0 onto fd 1 with the fd_renumber of namespace
// ns, then closes fd 0 (it exits with 60+errno if that fails), reads
// through fd 1, closes it and reads it again, which must fail with EBADF;
// it exits with 100+nread of the read that worked.
func renumberGuest(ns string) string {
	return `(module
  (import "wasix_32v1" "fd_read" (func $read (param i32 i32 i32 i32) (result i32)))
  (import "` + ns + `" "fd_renumber" (func $renumber (param i32 i32) (result i32)))
  (import "wasix_32v1" "fd_close" (func $close (param i32) (result i32)))
  (import "wasix_32v1" "proc_exit" (func $exit (param i32)))
  (memory (export "memory") 1)
  (func (export "_start") (local $r i32)
    (i32.store (i32.const 0) (i32.const 1024))
    (i32.store (i32.const 4) (i32.const 100))
    (local.set $r (call $renumber (i32.const 0) (i32.const 1)))
    (if (local.get $r) (then (call $exit (i32.add (i32.const 40) (local.get $r)))))
    (local.set $r (call $close (i32.const 0)))
    (if (local.get $r) (then (call $exit (i32.add (i32.const 60) (local.get $r)))))
    (local.set $r (call $read (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))
    (if (local.get $r) (then (call $exit (local.get $r))))
    (drop (call $close (i32.const 1)))
    (local.set $r (call $read (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))
    (if (i32.ne (local.get $r) (i32.const 8)) (then (call $exit (i32.add (i32.const 80) (local.get $r)))))
    (call $exit (i32.add (i32.const 100) (i32.load (i32.const 8))))))`
}

// fd_renumber and fd_close on owned descriptors, in step with wasmtime's
// table: wasix_32v1's fd_renumber is dup2 (fd 0 stays open), preview1's a
// move (fd 0 is gone: EBADF).
func TestOwnedStdioRenumberAndClose(t *testing.T) {
	for _, tc := range []struct{ ns, want string }{
		{"wasix_32v1", "exit 103"},
		{"wasi_snapshot_preview1", "exit 68"},
	} {
		r, w := pipe(t)
		w.WriteString("abc")
		p, _ := start(t, context.Background(), renumberGuest(tc.ns), host.Config{Stdio: [3]*os.File{r}})
		if got := describe(wait(t, p)); got != tc.want {
			t.Errorf("%s: got %s, want %s", tc.ns, got, tc.want)
		}
	}
}

// A handler that writes to an owned stream does not get the rest of its
// batch delivered inside that write: the batch stays in arrival order.
func TestHandlerWritesKeepBatchOrder(t *testing.T) {
	src := `(module
  (import "wasix_32v1" "callback_signal" (func $cb (param i32 i32)))
  (import "wasix_32v1" "proc_raise" (func $raise (param i32) (result i32)))
  (import "wasix_32v1" "fd_write" (func $write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 0) "h")
  (data (i32.const 8) "__wasm_signal_blocked")
  (func (export "h") (param $sig i32)
    (i32.store8 (i32.const 100) (i32.add (i32.const 48) (i32.rem_u (local.get $sig) (i32.const 10))))
    (i32.store (i32.const 16) (i32.const 100)) (i32.store (i32.const 20) (i32.const 1))
    (drop (call $write (i32.const 1) (i32.const 16) (i32.const 1) (i32.const 24))))
  (func (export "_start")
    (call $cb (i32.const 8) (i32.const 21))
    (drop (call $raise (i32.const 12)))
    (drop (call $raise (i32.const 14)))
    (drop (call $raise (i32.const 10)))
    (call $cb (i32.const 0) (i32.const 1))))`
	r, w := pipe(t)
	p, _ := start(t, context.Background(), src, host.Config{Stdio: [3]*os.File{nil, w}})
	if got := describe(wait(t, p)); got != "ok" {
		t.Fatalf("got %s", got)
	}
	w.Close()
	buf := make([]byte, 16)
	n, _ := r.Read(buf)
	if got := string(buf[:n]); got != "240" {
		t.Errorf("handler wrote %q, want \"240\" (SIGUSR2, SIGALRM, SIGUSR1 in arrival order)", got)
	}
}
