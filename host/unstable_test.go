package host_test

import (
	"context"
	"encoding/binary"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/wasix-org/wasix-signals-go/host"
	"github.com/wasix-org/wasix-signals-go/wasix"
)

// unstableGuest imports only wasi_unstable. It records each result as a
// u64 in an array at 4096 (call $r k value), writes the array to stdout
// with fd_write and exits 0. Fd 3 is a preopened directory holding
// data.txt (10 bytes, 2 links). Filestat buffers are filled with 0xAA
// first, so that a write past the 56 bytes of wasi_unstable's filestat
// shows.
const unstableGuest = `(module
  (import "wasi_unstable" "path_open" (func $path_open (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))
  (import "wasi_unstable" "fd_seek" (func $seek (param i32 i64 i32 i32) (result i32)))
  (import "wasi_unstable" "fd_filestat_get" (func $fstat (param i32 i32) (result i32)))
  (import "wasi_unstable" "path_filestat_get" (func $pstat (param i32 i32 i32 i32 i32) (result i32)))
  (import "wasi_unstable" "args_sizes_get" (func $args_sizes (param i32 i32) (result i32)))
  (import "wasi_unstable" "args_get" (func $args (param i32 i32) (result i32)))
  (import "wasi_unstable" "environ_sizes_get" (func $environ_sizes (param i32 i32) (result i32)))
  (import "wasi_unstable" "environ_get" (func $environ (param i32 i32) (result i32)))
  (import "wasi_unstable" "clock_time_get" (func $clock (param i32 i64 i32) (result i32)))
  (import "wasi_unstable" "random_get" (func $random (param i32 i32) (result i32)))
  (import "wasi_unstable" "poll_oneoff" (func $poll (param i32 i32 i32 i32) (result i32)))
  (import "wasi_unstable" "fd_write" (func $write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_unstable" "proc_exit" (func $exit (param i32)))
  (memory (export "memory") 1)
  (data (i32.const 100) "data.txt")
  (data (i32.const 120) "nope.txt")
  (global $n (mut i32) (i32.const 0))
  (func $r (param $v i64)
    (i64.store (i32.add (i32.const 4096) (i32.shl (global.get $n) (i32.const 3))) (local.get $v))
    (global.set $n (i32.add (global.get $n) (i32.const 1))))
  (func $e (param $errno i32) (call $r (i64.extend_i32_u (local.get $errno))))
  (func (export "_start") (local $fd i32)
    ;; 0: open data.txt
    (call $e (call $path_open (i32.const 3) (i32.const 0) (i32.const 100) (i32.const 8)
      (i32.const 0) (i64.const 0x1FFFFFFF) (i64.const 0x1FFFFFFF) (i32.const 0) (i32.const 200)))
    (local.set $fd (i32.load (i32.const 200)))
    ;; 1-8: fd_seek with each whence (SET=2, CUR=0, END=1), a bad one, a bad pointer
    (call $e (call $seek (local.get $fd) (i64.const 4) (i32.const 2) (i32.const 208)))
    (call $r (i64.load (i32.const 208)))
    (call $e (call $seek (local.get $fd) (i64.const 2) (i32.const 0) (i32.const 208)))
    (call $r (i64.load (i32.const 208)))
    (call $e (call $seek (local.get $fd) (i64.const -3) (i32.const 1) (i32.const 208)))
    (call $r (i64.load (i32.const 208)))
    (call $e (call $seek (local.get $fd) (i64.const 0) (i32.const 3) (i32.const 208)))
    (call $e (call $seek (local.get $fd) (i64.const 0) (i32.const 2) (i32.const 0xFFFFFFF0)))
    ;; 9-14: fd_filestat_get: filetype, nlink, size, mtim, the 8 bytes after
    (memory.fill (i32.const 256) (i32.const 0xAA) (i32.const 64))
    (call $e (call $fstat (local.get $fd) (i32.const 256)))
    (call $r (i64.load8_u (i32.const 272)))
    (call $r (i64.load32_u (i32.const 276)))
    (call $r (i64.load (i32.const 280)))
    (call $r (i64.load (i32.const 296)))
    (call $r (i64.load (i32.const 312)))
    ;; 15-19: path_filestat_get: errno, nlink, size, the 8 bytes after, a missing file
    (memory.fill (i32.const 384) (i32.const 0xAA) (i32.const 64))
    (call $e (call $pstat (i32.const 3) (i32.const 1) (i32.const 100) (i32.const 8) (i32.const 384)))
    (call $r (i64.load32_u (i32.const 404)))
    (call $r (i64.load (i32.const 408)))
    (call $r (i64.load (i32.const 440)))
    (call $e (call $pstat (i32.const 3) (i32.const 0) (i32.const 120) (i32.const 8) (i32.const 384)))
    ;; 20-24: bad pointers; a filestat that ends exactly at the end of memory
    (call $e (call $pstat (i32.const 3) (i32.const 0) (i32.const 100) (i32.const 8) (i32.const 0xFFFFFFF0)))
    (call $e (call $pstat (i32.const 3) (i32.const 0) (i32.const 0xFFFFFFF0) (i32.const 100) (i32.const 384)))
    (call $e (call $fstat (local.get $fd) (i32.const 65480)))
    (call $r (i64.load (i32.const 65504)))
    (call $e (call $fstat (local.get $fd) (i32.const 65481)))
    ;; 25-29: args
    (call $e (call $args_sizes (i32.const 512) (i32.const 516)))
    (call $r (i64.load32_u (i32.const 512)))
    (call $r (i64.load32_u (i32.const 516)))
    (call $e (call $args (i32.const 520) (i32.const 600)))
    (call $r (i64.load (i32.load (i32.const 524))))
    ;; 30-34: environ
    (call $e (call $environ_sizes (i32.const 700) (i32.const 704)))
    (call $r (i64.load32_u (i32.const 700)))
    (call $r (i64.load32_u (i32.const 704)))
    (call $e (call $environ (i32.const 708) (i32.const 800)))
    (call $r (i64.load32_u (i32.load (i32.const 708))))
    ;; 35-38: realtime clock, random bytes
    (call $e (call $clock (i32.const 0) (i64.const 1) (i32.const 2008)))
    (call $r (i64.load (i32.const 2008)))
    (call $e (call $random (i32.const 2000) (i32.const 8)))
    (call $r (i64.load (i32.const 2000)))
    ;; 39-43: poll_oneoff, one 20 ms clock in the 56-byte layout
    ;; (identifier at 16, clock id at 24, timeout at 32)
    (i64.store (i32.const 1000) (i64.const 7))
    (i32.store8 (i32.const 1008) (i32.const 0))
    (i64.store (i32.const 1016) (i64.const 0x99))
    (i32.store (i32.const 1024) (i32.const 1))
    (i64.store (i32.const 1032) (i64.const 20000000))
    (call $e (call $poll (i32.const 1000) (i32.const 1200) (i32.const 1) (i32.const 1300)))
    (call $r (i64.load32_u (i32.const 1300)))
    (call $r (i64.load (i32.const 1200)))
    (call $r (i64.load16_u (i32.const 1208)))
    (call $r (i64.load8_u (i32.const 1210)))
    ;; 44-47: a 60 s clock and stdout writable: the descriptor answers
    (i64.store (i32.const 1032) (i64.const 60000000000))
    (i64.store (i32.const 1056) (i64.const 8))
    (i32.store8 (i32.const 1064) (i32.const 2))
    (i32.store (i32.const 1072) (i32.const 1))
    (call $e (call $poll (i32.const 1000) (i32.const 1200) (i32.const 2) (i32.const 1300)))
    (call $r (i64.load32_u (i32.const 1300)))
    (call $r (i64.load (i32.const 1200)))
    (call $r (i64.load8_u (i32.const 1210)))
    ;; 48-49: poll with records out of bounds, with none
    (call $e (call $poll (i32.const 65500) (i32.const 1200) (i32.const 1) (i32.const 1300)))
    (call $e (call $poll (i32.const 1000) (i32.const 1200) (i32.const 0) (i32.const 1300)))
    ;; 50-56: more bad arguments: huge lengths and counts, bad descriptors,
    ;; events or their count out of bounds (clock, then descriptor)
    (call $e (call $pstat (i32.const 3) (i32.const 0) (i32.const 100) (i32.const -1) (i32.const 384)))
    (call $e (call $poll (i32.const 1000) (i32.const 1200) (i32.const -1) (i32.const 1300)))
    (call $e (call $seek (i32.const 99) (i64.const 0) (i32.const 0) (i32.const 208)))
    (call $e (call $fstat (i32.const 99) (i32.const 256)))
    (call $e (call $poll (i32.const 1000) (i32.const 65530) (i32.const 1) (i32.const 1300)))
    (i64.store (i32.const 1032) (i64.const 0))
    (call $e (call $poll (i32.const 1000) (i32.const 1200) (i32.const 1) (i32.const 65534)))
    (call $e (call $poll (i32.const 1056) (i32.const 1200) (i32.const 1) (i32.const 65534)))
    ;; write the results
    (i32.store (i32.const 3000) (i32.const 4096))
    (i32.store (i32.const 3004) (i32.shl (global.get $n) (i32.const 3)))
    (drop (call $write (i32.const 1) (i32.const 3000) (i32.const 1) (i32.const 3008)))
    (call $exit (i32.const 0))))`

func TestUnstable(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data.txt")
	if err := os.WriteFile(data, []byte("0123456789"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Link(data, filepath.Join(dir, "link.txt")); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(data)
	if err != nil {
		t.Fatal(err)
	}
	m, err := runtime(t).Compile([]byte(unstableGuest))
	if err != nil {
		t.Fatal(err)
	}
	wantRenamed := []string{"path_open", "fd_seek", "fd_filestat_get", "path_filestat_get", "args_sizes_get", "args_get",
		"environ_sizes_get", "environ_get", "clock_time_get", "random_get", "poll_oneoff", "fd_write", "proc_exit"}
	if diff := cmp.Diff(wantRenamed, m.Report.RenamedUnstable); diff != "" {
		t.Errorf("moved out of wasi_unstable (-want +got):\n%s", diff)
	}
	out := filepath.Join(t.TempDir(), "stdout")
	began := time.Now()
	p, err := runtime(t).Start(context.Background(), m, host.Config{
		Args: []string{"prog", "hello"}, Env: []string{"A=1"},
		Dirs: []host.Dir{{Host: dir, Guest: "/d"}}, Stdout: out,
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := describe(wait(t, p)); got != "exit 0" {
		t.Fatalf("guest: %s", got)
	}
	raw, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	got := make([]uint64, len(raw)/8)
	for i := range got {
		got[i] = binary.LittleEndian.Uint64(raw[i*8:])
	}
	const (
		fault = uint64(wasix.EFAULT)
		inval = uint64(wasix.EINVAL)
		noent = 44
		badf  = 8
		mask  = 0xAAAAAAAAAAAAAAAA
	)
	le := func(s string) uint64 {
		var b [8]byte
		copy(b[:], s)
		return binary.LittleEndian.Uint64(b[:])
	}
	want := []uint64{
		0,
		0, 4, 0, 6, 0, 7, inval, fault, // SET 4, CUR +2, END -3, whence 3, bad pointer
		0, 4, 2, 10, uint64(fi.ModTime().UnixNano()), mask, // regular file, 2 links, 10 bytes
		0, 2, 10, mask, noent,
		fault, fault, 0, 10, fault,
		0, 2, 11, 0, le("hello"),
		0, 1, 4, 0, uint64(le("A=1")),
		0, 0 /* clock, checked below */, 0, 0, /* random, checked below */
		0, 1, 7, 0, 0, // one clock event, userdata 7
		0, 1, 8, 2, // one fd_write event, userdata 8
		fault, inval,
		fault, fault, badf, badf, fault, fault, fault,
	}
	if len(got) != len(want) {
		t.Fatalf("%d results, want %d: %v", len(got), len(want), got)
	}
	clock, random := got[36], got[38]
	got[36], got[38] = 0, 0
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("results by index (-want +got):\n%s", diff)
	}
	if now := time.Now(); clock < uint64(began.Add(-time.Minute).UnixNano()) || clock > uint64(now.Add(time.Minute).UnixNano()) {
		t.Errorf("realtime clock %d is not around %d", clock, now.UnixNano())
	}
	if random == 0 {
		t.Error("random_get wrote zeros")
	}
}

// pollUnstableGuest is pollGuest with wasi_unstable's poll_oneoff and its
// 56-byte subscription: a relative monotonic clock of timeout ns, userdata
// 7. It exits with errno*1000 + nevents*100 + the first event's type*10 +
// (userdata == 7).
func pollUnstableGuest(timeout int64) string {
	return `(module
	  (import "wasi_unstable" "poll_oneoff" (func $poll (param i32 i32 i32 i32) (result i32)))
	  (import "wasix_32v1" "callback_signal" (func $cb (param i32 i32)))
	  (import "wasi_unstable" "proc_exit" (func $exit (param i32)))
	  (memory (export "memory") 1)
	  (data (i32.const 500) "h")
	  (func (export "h") (param i32))
	  (func (export "_start") (local $errno i32)
	    (call $cb (i32.const 500) (i32.const 1))
	    (i64.store (i32.const 0) (i64.const 7))
	    (i64.store (i32.const 16) (i64.const 1234))
	    (i32.store (i32.const 24) (i32.const 1))
	    (i64.store (i32.const 32) (i64.const ` + strconv.FormatInt(timeout, 10) + `))
	    (local.set $errno (call $poll (i32.const 0) (i32.const 104) (i32.const 1) (i32.const 200)))
	    (call $exit (i32.add (i32.mul (local.get $errno) (i32.const 1000))
	      (i32.add (i32.mul (i32.load (i32.const 200)) (i32.const 100))
	        (i32.add (i32.mul (i32.load8_u (i32.const 114)) (i32.const 10))
	          (i64.eq (i64.load (i32.const 104)) (i64.const 7))))))))`
}

func TestUnstablePollInterruptedBySignal(t *testing.T) {
	p, _ := start(t, context.Background(), pollUnstableGuest(60_000_000_000), host.Config{})
	waitHandler(t, p)
	began := time.Now()
	go func() {
		time.Sleep(10 * time.Millisecond)
		_ = p.Signal(wasix.SIGUSR1)
	}()
	if got := describe(wait(t, p)); got != "exit 27000" {
		t.Errorf("got %s, want exit 27000 (EINTR, no event)", got)
	}
	if time.Since(began) > 10*time.Second {
		t.Error("the signal did not cut the wait short")
	}
	if c := p.Env().Counters(); c.Delivered != 1 {
		t.Errorf("delivered %d signals, want 1", c.Delivered)
	}
}

func TestUnstableWrongSignatures(t *testing.T) {
	r, err := host.NewRuntime(host.Options{})
	if err != nil {
		t.Fatal(err)
	}
	run := func(src string) string {
		t.Helper()
		m, err := r.Compile([]byte(src))
		if err != nil {
			return "compile: " + err.Error()
		}
		p, err := r.Start(context.Background(), m, host.Config{Stdout: filepath.Join(t.TempDir(), "stdout")})
		if err != nil {
			return "start: " + err.Error()
		}
		return describe(wait(t, p))
	}
	// fd_write with a signature wasi_unstable does not define: not renamed,
	// so it gets the host's stub (NOSYS); so does a name only preview1 has.
	if got := run(`(module
	  (import "wasi_unstable" "fd_write" (func $write (param i32) (result i32)))
	  (import "wasi_unstable" "proc_exit" (func $exit (param i32)))
	  (memory (export "memory") 1)
	  (func (export "_start") (call $exit (call $write (i32.const 1)))))`); got != "exit 52" {
		t.Errorf("wrong signature: got %s, want exit 52 (NOSYS from the stub)", got)
	}
	if got := run(`(module
	  (import "wasi_unstable" "sock_accept" (func $accept (param i32 i32 i32) (result i32)))
	  (import "wasi_unstable" "proc_exit" (func $exit (param i32)))
	  (memory (export "memory") 1)
	  (func (export "_start") (call $exit (call $accept (i32.const 0) (i32.const 0) (i32.const 0)))))`); got != "exit 52" {
		t.Errorf("preview1-only name: got %s, want exit 52", got)
	}
	// So does a translated function with a wrong signature: it stays in
	// wasi_unstable, where the host defines nothing.
	if got := run(`(module
	  (import "wasi_unstable" "fd_seek" (func $seek (param i32) (result i32)))
	  (import "wasi_unstable" "proc_exit" (func $exit (param i32)))
	  (memory (export "memory") 1)
	  (func (export "_start") (call $exit (call $seek (i32.const 1)))))`); got != "exit 52" {
		t.Errorf("translated name with a wrong signature: got %s, want exit 52", got)
	}
	// None of that breaks a correct module on the same Runtime.
	if got := run(`(module
	  (import "wasi_unstable" "fd_write" (func $write (param i32 i32 i32 i32) (result i32)))
	  (import "wasi_unstable" "fd_seek" (func $seek (param i32 i64 i32 i32) (result i32)))
	  (import "wasi_unstable" "proc_exit" (func $exit (param i32)))
	  (memory (export "memory") 1)
	  (data (i32.const 100) "ok\n")
	  (func (export "_start")
	    (i32.store (i32.const 0) (i32.const 100)) (i32.store (i32.const 4) (i32.const 3))
	    (drop (call $write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))
	    ;; nwritten + 100 * the errno of a seek with a whence neither snapshot has
	    (call $exit (i32.add (i32.load (i32.const 8))
	      (i32.mul (i32.const 100) (call $seek (i32.const 1) (i64.const 0) (i32.const 5) (i32.const 16)))))))`); got != "exit 2803" {
		t.Errorf("correct module after the wrong ones: got %s, want exit 2803 (3 bytes written, EINVAL)", got)
	}
}
