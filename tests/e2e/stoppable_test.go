package e2e_test

import (
	"os"
	"syscall"
	"testing"
	"time"
)

// readerWAT says it is ready, then reads its standard input once and exits
// 0: what `sleep 30 | prog` waits in.
const readerWAT = `(module
  (import "wasix_32v1" "fd_read" (func $read (param i32 i32 i32 i32) (result i32)))
  (import "wasix_32v1" "fd_write" (func $write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 64) "ready\n")
  (func (export "_start")
    (i32.store (i32.const 0) (i32.const 64))
    (i32.store (i32.const 4) (i32.const 6))
    (drop (call $write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))
    (i32.store (i32.const 0) (i32.const 1024))
    (i32.store (i32.const 4) (i32.const 100))
    (drop (call $read (i32.const 0) (i32.const 0) (i32.const 1) (i32.const 8)))))
`

// TestStdinReaderIsStoppable: a guest blocked reading a pipe that nobody
// writes ends on the host's signals, as `sleep 30 | wasix-run prog` must.
func TestStdinReaderIsStoppable(t *testing.T) {
	t.Parallel()
	prog := writeTemp(t, "reader.wat", readerWAT)
	for _, tc := range []struct {
		sig  syscall.Signal
		code int
	}{
		{syscall.SIGINT, 130},
		{syscall.SIGQUIT, 131},
		{syscall.SIGTERM, 143},
		{syscall.SIGHUP, 129},
	} {
		t.Run(tc.sig.String(), func(t *testing.T) {
			t.Parallel()
			r, w, err := os.Pipe()
			if err != nil {
				t.Fatal(err)
			}
			defer w.Close()
			run := startCLIWith(t, r, "--grace", "1s", prog)
			r.Close()
			run.waitOutput(t, "ready\n")
			sent := time.Now()
			run.signal(t, tc.sig)
			res := run.wait(t)
			if res.code != tc.code {
				t.Errorf("exit status %d, want %d\nstderr:\n%s", res.code, tc.code, clip(res.stderr))
			}
			if d := time.Since(sent); d > 5*time.Second {
				t.Errorf("ended %v after the signal", d)
			}
		})
	}
}
