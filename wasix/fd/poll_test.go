package fd_test

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/wasix-org/wasix-signals-go/wasix"
)

// poller polls a pipe and a file the guest opened (wasmtime's), each
// optional, with an optional relative clock: poll(a, b, clock) subscribes
// to reading a (userdata 1) unless it is -1, b (userdata 2) likewise, and
// a clock of clock ns (userdata 4) unless it is negative. It returns the
// errno, or 1000 + the OR of the userdata of the events without error.
const poller = `(module
  (import "wasix_32v1" "fd_pipe" (func $pipe (param i32 i32) (result i32)))
  (import "wasix_32v1" "fd_write" (func $write (param i32 i32 i32 i32) (result i32)))
  (import "wasix_32v1" "poll_oneoff" (func $poll (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "path_open"
    (func $open (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 200) "f.txt")
  (data (i32.const 300) "x")
  (func (export "pipe") (result i32) (call $pipe (i32.const 0) (i32.const 4)))
  (func (export "rd") (result i32) (i32.load (i32.const 0)))
  (func (export "fill") (result i32)
    (i32.store (i32.const 16) (i32.const 300)) (i32.store (i32.const 20) (i32.const 1))
    (call $write (i32.load (i32.const 4)) (i32.const 16) (i32.const 1) (i32.const 24)))
  (func (export "open") (result i32)
    (if (call $open (i32.const 3) (i32.const 0) (i32.const 200) (i32.const 5) (i32.const 1)
        (i64.const 0x1fffffff) (i64.const 0x1fffffff) (i32.const 0) (i32.const 40))
      (then (return (i32.const -1))))
    (i32.load (i32.const 40)))
  (func $sub (param $at i32) (param $user i64) (param $tag i32) (param $arg i64)
    (memory.fill (local.get $at) (i32.const 0) (i32.const 48))
    (i64.store (local.get $at) (local.get $user))
    (i32.store8 offset=8 (local.get $at) (local.get $tag))
    (if (local.get $tag)
      (then (i32.store offset=16 (local.get $at) (i32.wrap_i64 (local.get $arg))))
      (else (i32.store offset=16 (local.get $at) (i32.const 1))
            (i64.store offset=24 (local.get $at) (local.get $arg)))))
  (func (export "poll") (param $a i32) (param $b i32) (param $clock i64) (result i32)
    (local $n i32) (local $r i32) (local $i i32) (local $mask i32)
    (if (i32.ge_s (local.get $a) (i32.const 0)) (then
      (call $sub (i32.add (i32.const 4096) (i32.mul (local.get $n) (i32.const 48))) (i64.const 1) (i32.const 1) (i64.extend_i32_u (local.get $a)))
      (local.set $n (i32.add (local.get $n) (i32.const 1)))))
    (if (i32.ge_s (local.get $b) (i32.const 0)) (then
      (call $sub (i32.add (i32.const 4096) (i32.mul (local.get $n) (i32.const 48))) (i64.const 2) (i32.const 1) (i64.extend_i32_u (local.get $b)))
      (local.set $n (i32.add (local.get $n) (i32.const 1)))))
    (if (i64.ge_s (local.get $clock) (i64.const 0)) (then
      (call $sub (i32.add (i32.const 4096) (i32.mul (local.get $n) (i32.const 48))) (i64.const 4) (i32.const 0) (local.get $clock))
      (local.set $n (i32.add (local.get $n) (i32.const 1)))))
    (local.set $r (call $poll (i32.const 4096) (i32.const 8192) (local.get $n) (i32.const 64)))
    (if (local.get $r) (then (return (local.get $r))))
    (block $done (loop $l
      (br_if $done (i32.ge_u (local.get $i) (i32.load (i32.const 64))))
      (if (i32.eqz (i32.load16_u offset=8 (i32.add (i32.const 8192) (i32.mul (local.get $i) (i32.const 32)))))
        (then (local.set $mask (i32.or (local.get $mask)
          (i32.wrap_i64 (i64.load (i32.add (i32.const 8192) (i32.mul (local.get $i) (i32.const 32)))))))))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $l)))
    (i32.add (i32.const 1000) (local.get $mask))))`

func newPoller(t *testing.T) *proc {
	t.Helper()
	engine, linker, module := setup(t, poller)
	return newProc(t, engine, linker, module, true)
}

// TestPollMixed: a poll on owned descriptors (a pipe) and wasmtime's (a
// file) at once reports both kinds, and a clock due at once still lets
// the ready descriptors be reported.
func TestPollMixed(t *testing.T) {
	const none = int32(-1)
	cases := []struct {
		name  string
		full  bool // a byte in the pipe
		pipe  bool
		file  bool
		clock int64
		want  int32
	}{
		{"empty pipe and a file", false, true, true, -1, 1000 + 2},
		{"full pipe and a file", true, true, true, -1, 1000 + 1 + 2},
		{"full pipe, clock due at once", true, true, false, 0, 1000 + 1 + 4},
		{"empty pipe, clock due at once", false, true, false, 0, 1000 + 4},
		{"empty pipe, 20 ms clock", false, true, false, 20_000_000, 1000 + 4},
		{"empty pipe, a file, clock due at once", false, true, true, 0, 1000 + 2 + 4},
		{"a file alone (wasmtime's poll)", false, false, true, -1, 1000 + 2},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := newPoller(t)
			if errno := p.call("pipe"); errno != 0 {
				t.Fatalf("fd_pipe: %s", wasix.Errno(errno).Name())
			}
			file := p.call("open")
			if file < 0 {
				t.Fatal("open failed")
			}
			if tc.full {
				if errno := p.call("fill"); errno != 0 {
					t.Fatalf("write: %s", wasix.Errno(errno).Name())
				}
			}
			a, b := none, none
			if tc.pipe {
				a = p.call("rd")
			}
			if tc.file {
				b = file
			}
			got := p.call("poll", a, b, tc.clock)
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("poll: 1000 + userdata of the events (-want +got):\n%s", diff)
			}
		})
	}
}
