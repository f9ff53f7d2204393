package host_test

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/wasix-org/wasix-signals-go/host"
	"github.com/wasix-org/wasix-signals-go/wasix"
)

// pipeGuest runs body in _start with the imports a shell builds pipelines
// with; with handler it first registers a handler that records the signal
// at 2000. Memory: the pipe's read end at 0 and write end at 4, nread or
// nwritten at 8, another descriptor at 12, an iovec of "hello" at 16, an
// iovec of a 100-byte buffer at 24, fdstat at 512, a path "f" at 600,
// subscriptions at 4096, events at 8192.
func pipeGuest(handler bool, body string) string {
	reg := ""
	if handler {
		reg = "(call $cb (i32.const 3000) (i32.const 13))"
	}
	return `(module
  (import "wasix_32v1" "callback_signal" (func $cb (param i32 i32)))
  (import "wasix_32v1" "fd_pipe" (func $pipe (param i32 i32) (result i32)))
  (import "wasix_32v1" "fd_dup" (func $dup (param i32 i32) (result i32)))
  (import "wasix_32v1" "fd_read" (func $read (param i32 i32 i32 i32) (result i32)))
  (import "wasix_32v1" "fd_write" (func $write (param i32 i32 i32 i32) (result i32)))
  (import "wasix_32v1" "fd_close" (func $close (param i32) (result i32)))
  (import "wasix_32v1" "fd_renumber" (func $renumber (param i32 i32) (result i32)))
  (import "wasix_32v1" "fd_fdstat_get" (func $fdstat (param i32 i32) (result i32)))
  (import "wasix_32v1" "fd_fdstat_set_flags" (func $setflags (param i32 i32) (result i32)))
  (import "wasix_32v1" "poll_oneoff" (func $poll (param i32 i32 i32 i32) (result i32)))
  (import "wasix_32v1" "path_open"
    (func $open (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))
  (import "wasix_32v1" "proc_exit" (func $exit (param i32)))
  (memory (export "memory") 1)
  (data (i32.const 3000) "__wasm_signal")
  (data (i32.const 1024) "hello")
  (data (i32.const 600) "f")
  (func (export "__wasm_signal") (param i32) (i32.store (i32.const 2000) (local.get 0)))
  (func (export "_start") (local $r i32) (local $i i32)
    ` + reg + `
    (i32.store (i32.const 16) (i32.const 1024))
    (i32.store (i32.const 20) (i32.const 5))
    (i32.store (i32.const 24) (i32.const 2048))
    (i32.store (i32.const 28) (i32.const 100))
    ` + body + `))`
}

// must runs call and exits with base+errno when it fails.
func must(base int, call string) string {
	return `(local.set $r ` + call + `)
    (if (local.get $r) (then (call $exit (i32.add (i32.const ` + strconv.Itoa(base) + `) (local.get $r)))))
    `
}

// expect runs call and exits with base+errno unless it fails with errno.
func expect(errno wasix.Errno, base int, call string) string {
	return `(local.set $r ` + call + `)
    (if (i32.ne (local.get $r) (i32.const ` + strconv.Itoa(int(errno)) + `))
      (then (call $exit (i32.add (i32.const ` + strconv.Itoa(base) + `) (local.get $r)))))
    `
}

const (
	rd        = `(i32.load (i32.const 0))`
	wr        = `(i32.load (i32.const 4))`
	other     = `(i32.load (i32.const 12))`
	makePipe  = `(call $pipe (i32.const 0) (i32.const 4))`
	readPipe  = `(call $read (i32.load (i32.const 0)) (i32.const 24) (i32.const 1) (i32.const 8))`
	writePipe = `(call $write (i32.load (i32.const 4)) (i32.const 16) (i32.const 1) (i32.const 8))`
	nbytes    = `(i32.load (i32.const 8))`
	// exitCount exits with 100 + the count of the last read or write.
	exitCount = `(call $exit (i32.add (i32.const 100) (i32.load (i32.const 8))))`
)

func closeFD(fd string) string { return `(call $close ` + fd + `)` }

// pollOne polls the read end with one subscription, and a 20 ms clock
// with clock; it exits with 100 + 10*nevents + the first event's type.
func pollOne(clock bool) string {
	n := "1"
	sub := `(i64.store (i32.const 4096) (i64.const 7))
    (i32.store8 (i32.const 4104) (i32.const 1))
    (i32.store (i32.const 4112) (i32.load (i32.const 0)))
    `
	if clock {
		n = "2"
		sub += `(i64.store (i32.const 4144) (i64.const 8))
    (i32.store8 (i32.const 4152) (i32.const 0))
    (i32.store (i32.const 4160) (i32.const 1))
    (i64.store (i32.const 4168) (i64.const 20000000))
    (i32.store16 (i32.const 4184) (i32.const 0))
    `
	}
	return sub + must(60, `(call $poll (i32.const 4096) (i32.const 8192) (i32.const `+n+`) (i32.const 8))`) +
		`(call $exit (i32.add (i32.add (i32.const 100) (i32.mul (i32.const 10) (i32.load (i32.const 8))))
      (i32.load8_u (i32.const 8202))))`
}

// fdstatOf exits with the file type of fd plus 10 when it has the right
// to read and 20 when it has the right to write.
func fdstatOf(fd string) string {
	return must(60, `(call $fdstat `+fd+` (i32.const 512))`) +
		`(call $exit (i32.add (i32.load8_u (i32.const 512))
      (i32.add
        (select (i32.const 10) (i32.const 0) (i32.wrap_i64 (i64.and (i64.load (i32.const 520)) (i64.const 2))))
        (select (i32.const 20) (i32.const 0) (i32.wrap_i64 (i64.and (i64.load (i32.const 520)) (i64.const 64)))))))`
}

// fd_pipe and what a shell does with it, in one process.
func TestPipe(t *testing.T) {
	setNonblock := func(fd string) string { return must(70, `(call $setflags `+fd+` (i32.const 4))`) }
	for _, tc := range []struct {
		name    string
		handler bool
		body    string
		want    string
	}{
		// wasmtime has 0, 1 and 2: the ends get the lowest free numbers.
		{"numbers", false, must(50, makePipe) + `(call $exit (i32.add (i32.mul (i32.const 10) ` + rd + `) ` + wr + `))`, "exit 34"},
		// close(0); pipe(p): the read end takes 0, as pipe(2) would.
		{"lowest numbers", false, must(40, closeFD(`(i32.const 0)`)) + must(50, makePipe) +
			`(call $exit (i32.add (i32.mul (i32.const 10) ` + rd + `) ` + wr + `))`, "exit 3"},
		{"write then read", false, must(50, makePipe) + must(60, writePipe) + must(70, readPipe) + exitCount, "exit 105"},
		{"end of file after the write end closes", false,
			must(50, makePipe) + must(60, closeFD(wr)) + must(70, readPipe) + exitCount, "exit 100"},
		{"SIGPIPE after the read end closes", false,
			must(50, makePipe) + must(60, closeFD(rd)) + `(call $exit ` + writePipe + `)`, "exit 141 by SIGPIPE"},
		{"SIGPIPE handled: EPIPE", true,
			must(50, makePipe) + must(60, closeFD(rd)) + `(call $exit ` + writePipe + `)`, "exit 64"},
		{"the wrong end", false, must(50, makePipe) +
			`(call $exit (call $read ` + wr + ` (i32.const 24) (i32.const 1) (i32.const 8)))`, "exit 8"},
		{"closed twice", false, must(50, makePipe) + must(60, closeFD(rd)) + `(call $exit ` + closeFD(rd) + `)`, "exit 8"},
		// The end of file comes only when both copies of the write end
		// are closed; until then a non-blocking read finds nothing.
		{"fd_dup", false, must(50, makePipe) +
			must(55, `(call $dup `+wr+` (i32.const 12))`) +
			must(60, closeFD(wr)) + setNonblock(rd) +
			expect(wasix.EAGAIN, 80, readPipe) +
			must(60, `(call $write `+other+` (i32.const 16) (i32.const 1) (i32.const 8))`) +
			must(70, readPipe) + `(if (i32.ne ` + nbytes + ` (i32.const 5)) (then (call $exit (i32.const 91))))` +
			expect(wasix.EAGAIN, 80, readPipe) +
			must(60, closeFD(other)) + must(70, readPipe) +
			`(if ` + nbytes + ` (then (call $exit (i32.const 92))))
    (call $exit (i32.add (i32.const 100) ` + other + `))`, "exit 105"},
		{"fd_dup of a closed descriptor", false, `(call $exit (call $dup (i32.const 40) (i32.const 12)))`, "exit 8"},
		{"fd_dup to a bad pointer", false, must(50, makePipe) + `(call $exit (call $dup ` + wr + ` (i32.const 65534)))`, "exit 21"},
		{"fd_pipe to a bad pointer", false, `(call $exit (call $pipe (i32.const 0) (i32.const 65533)))`, "exit 21"},
		// dup2 onto stdout (a file the host opened by name): fd_write to
		// 1 goes into the pipe.
		{"dup2 onto stdout", false, must(50, makePipe) +
			must(55, `(call $renumber `+wr+` (i32.const 1))`) + must(60, closeFD(wr)) +
			must(65, `(call $write (i32.const 1) (i32.const 16) (i32.const 1) (i32.const 8))`) +
			must(70, readPipe) + exitCount, "exit 105"},
		{"poll finds data", false, must(50, makePipe) + must(60, writePipe) + pollOne(false), "exit 111"},
		{"poll finds the end", false, must(50, makePipe) + must(60, closeFD(wr)) + pollOne(false), "exit 111"},
		{"poll times out", false, must(50, makePipe) + pollOne(true), "exit 110"},
		// A pipe is of unknown type, as wasmtime reports one; each end
		// has the right of its direction.
		{"fdstat of the read end", false, must(50, makePipe) + fdstatOf(rd), "exit 10"},
		{"fdstat of the write end", false, must(50, makePipe) + fdstatOf(wr), "exit 20"},
		{"non-blocking write to a full pipe", false, must(50, makePipe) + setNonblock(wr) +
			`(loop (local.set $r ` + writePipe + `) (br_if 0 (i32.eqz (local.get $r))))
    (call $exit (local.get $r))`, "exit 6"},
		{"fdstat reports NONBLOCK", false, must(50, makePipe) + setNonblock(rd) +
			must(60, `(call $fdstat `+rd+` (i32.const 512))`) + `(call $exit (i32.load16_u (i32.const 514)))`, "exit 4"},
		{"sync flags refused", false, must(50, makePipe) + `(call $exit (call $setflags ` + rd + ` (i32.const 16)))`, "exit 28"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, out := start(t, context.Background(), pipeGuest(tc.handler, tc.body), host.Config{})
			if tc.handler {
				waitHandler(t, p)
			}
			if got := describe(wait(t, p)); got != tc.want {
				t.Fatalf("got %s, want %s", got, tc.want)
			}
			if b, _ := os.ReadFile(out); len(b) != 0 {
				t.Errorf("stdout got %q", b)
			}
		})
	}
}

// dup2 of a pipe end onto a standard stream given as an open file: the
// caller's file is left alone (and open), the guest's writes go into its
// pipe.
func TestPipeOntoOwnedStdout(t *testing.T) {
	outR, outW := pipe(t)
	body := must(50, makePipe) +
		must(55, `(call $renumber `+wr+` (i32.const 1))`) + must(60, closeFD(wr)) +
		must(65, `(call $write (i32.const 1) (i32.const 16) (i32.const 1) (i32.const 8))`) +
		must(67, closeFD(`(i32.const 1)`)) +
		must(70, readPipe) + exitCount
	p, _ := start(t, context.Background(), pipeGuest(false, body), host.Config{Stdio: [3]*os.File{nil, outW}})
	if got := describe(wait(t, p)); got != "exit 105" {
		t.Fatalf("got %s, want exit 105", got)
	}
	if _, err := outW.WriteString("still open"); err != nil {
		t.Fatalf("the caller's stdout was closed: %v", err)
	}
	buf := make([]byte, 64)
	n, _ := outR.Read(buf)
	if got := string(buf[:n]); got != "still open" {
		t.Errorf("the caller's stdout got %q", got)
	}
}

// A read on an empty pipe (the guest holds the write end, so no end of
// file comes) is interrupted by a delivered signal, and ended by one
// whose default action terminates.
func TestPipeReadInterrupted(t *testing.T) {
	body := must(50, makePipe) + `(call $exit ` + readPipe + `)`
	for _, tc := range []struct {
		handler bool
		sig     wasix.Signal
		want    string
	}{
		{true, wasix.SIGUSR1, "exit 27"},
		{false, wasix.SIGINT, "exit 130 by SIGINT"},
		{false, wasix.SIGKILL, "exit 137 by SIGKILL"},
	} {
		t.Run(tc.sig.String(), func(t *testing.T) {
			p, _ := start(t, context.Background(), pipeGuest(tc.handler, body), host.Config{})
			if tc.handler {
				waitHandler(t, p)
			}
			waitBlocked()
			began := time.Now()
			if err := p.Signal(tc.sig); err != nil {
				t.Fatal(err)
			}
			if got := describe(wait(t, p)); got != tc.want {
				t.Fatalf("got %s, want %s", got, tc.want)
			}
			if d := time.Since(began); d > 5*time.Second {
				t.Errorf("took %v", d)
			}
		})
	}
}

// path_open on a number an owned descriptor holds: wasmtime numbers the
// file one above its highest (4, the pipe's read end, with the preopen at
// 3), and the guest gets the lowest number free in both tables instead.
func TestPathOpenAvoidsOwnedNumbers(t *testing.T) {
	dir := t.TempDir()
	body := must(50, makePipe) +
		must(55, `(call $open (i32.const 3) (i32.const 0) (i32.const 600) (i32.const 1) (i32.const 1)
      (i64.const 66) (i64.const 66) (i32.const 0) (i32.const 12))`) +
		must(60, `(call $write `+other+` (i32.const 16) (i32.const 1) (i32.const 8))`) +
		must(65, writePipe) + must(70, readPipe) +
		`(if (i32.ne ` + nbytes + ` (i32.const 5)) (then (call $exit (i32.const 90))))
    (call $exit (i32.add (i32.const 100) ` + other + `))`
	p, _ := start(t, context.Background(), pipeGuest(false, body), host.Config{Dirs: []host.Dir{{Host: dir, Guest: "/d"}}})
	if got := describe(wait(t, p)); got != "exit 106" {
		t.Fatalf("got %s, want exit 106 (the file at 6)", got)
	}
	if b, err := os.ReadFile(filepath.Join(dir, "f")); err != nil || string(b) != "hello" {
		t.Errorf("the file holds %q, %v", b, err)
	}
}

// Thousands of pipes, duplicated and closed, leave no host descriptor
// open, and their numbers are reused.
func TestPipeCyclesDoNotLeak(t *testing.T) {
	const cycles = 3000
	body := `(loop
      ` + must(50, makePipe) + must(55, `(call $dup `+wr+` (i32.const 12))`) +
		must(60, closeFD(rd)) + must(60, closeFD(wr)) + must(60, closeFD(other)) + `
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if 0 (i32.lt_u (local.get $i) (i32.const ` + strconv.Itoa(cycles) + `))))
    ` + must(50, makePipe) + `(call $exit (i32.add (i32.mul (i32.const 10) ` + rd + `) ` + wr + `))`
	before := openFDs(t)
	p, _ := start(t, context.Background(), pipeGuest(false, body), host.Config{})
	if got := describe(wait(t, p)); got != "exit 34" {
		t.Fatalf("got %s, want exit 34", got)
	}
	// Other tests' processes may still be finishing: allow a few.
	if after := openFDs(t); after > before+8 {
		t.Errorf("%d host descriptors open before, %d after %d pipes", before, after, cycles)
	}
}

func openFDs(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skipf("no /proc/self/fd: %v", err)
	}
	return len(ents)
}

// wasmtime 25 frees numbers onto a stack that fd_renumber corrupts (it
// pushes its target, in use): without the host's steering, the second
// open after a renumber aborted the whole host process. Opens after every
// kind of renumber work, and take the lowest free number.
func TestOpenAfterRenumber(t *testing.T) {
	open := func(slot int) string {
		return must(40, `(call $open (i32.const 3) (i32.const 0) (i32.const 600) (i32.const 1) (i32.const 1)
      (i64.const 66) (i64.const 66) (i32.const 0) (i32.const `+strconv.Itoa(slot)+`))`)
	}
	// opens three files and checks they got want.
	opens := func(want ...int) string {
		b := ""
		for i, w := range want {
			b += open(40+4*i) + `(if (i32.ne (i32.load (i32.const ` + strconv.Itoa(40+4*i) + `)) (i32.const ` + strconv.Itoa(w) + `))
      (then (call $exit (i32.add (i32.const 70) (i32.load (i32.const ` + strconv.Itoa(40+4*i) + `))))))
    `
		}
		return b
	}
	renumber := func(from, to int) string {
		return must(30, `(call $renumber (i32.const `+strconv.Itoa(from)+`) (i32.const `+strconv.Itoa(to)+`))`)
	}
	for _, tc := range []struct{ name, body string }{
		{"onto a descriptor in use", opens(4, 5) + renumber(5, 4) + opens(5, 6, 7)},
		{"onto a free number", opens(4, 5) + renumber(5, 9) + opens(5, 6, 7)},
		{"onto itself", opens(4) + renumber(4, 4) + opens(5, 6, 7)},
		{"onto a closed number", opens(4, 5) + must(20, closeFD(`(i32.const 4)`)) + renumber(5, 4) + opens(5, 6, 7)},
		{"onto stdout, twice", opens(4) + renumber(4, 1) + opens(4) + renumber(4, 1) + opens(4, 5, 6)},
		{"pipes in between", must(10, makePipe) + opens(6) + renumber(6, 1) + must(10, closeFD(rd)) + opens(4, 6, 7)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, _ := start(t, context.Background(), pipeGuest(false, tc.body+`(call $exit (i32.const 0))`),
				host.Config{Dirs: []host.Dir{{Host: t.TempDir(), Guest: "/d"}}})
			if got := describe(wait(t, p)); got != "exit 0" {
				t.Fatalf("got %s, want exit 0", got)
			}
		})
	}
}

// TestDupOfWasmtimeDescriptor: a descriptor wasmtime owns (here the
// preopened directory) cannot be duplicated, wasmtime's WASI having no
// dup: ENOTSUP, not a copy that would not share the description.
func TestDupOfWasmtimeDescriptor(t *testing.T) {
	p, _ := start(t, context.Background(), pipeGuest(false, `(call $exit (call $dup (i32.const 3) (i32.const 12)))`),
		host.Config{Dirs: []host.Dir{{Host: t.TempDir(), Guest: "."}}})
	if got := describe(wait(t, p)); got != "exit 58" {
		t.Errorf("got %s, want exit 58 (ENOTSUP)", got)
	}
}

// Named standard streams are opened by the host for each process, and
// closed when it ends: 50 processes, and one that fails to start, leave no
// descriptor behind.
func TestNamedStreamsDoNotLeak(t *testing.T) {
	rt := runtime(t)
	m, err := rt.Compile([]byte(pipeGuest(false, `(call $exit (i32.const 0))`)))
	if err != nil {
		t.Fatal(err)
	}
	noStart, err := rt.Compile([]byte(`(module (memory (export "memory") 1))`))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	run := func(i int) {
		t.Helper()
		out := filepath.Join(dir, "out"+strconv.Itoa(i))
		p, err := rt.Start(context.Background(), m, host.Config{Stdout: out, Stderr: out, Stdin: "/dev/null"})
		if err != nil {
			t.Fatal(err)
		}
		if got := describe(wait(t, p)); got != "exit 0" {
			t.Fatalf("got %s", got)
		}
	}
	run(0) // what the Runtime makes once
	before := openFDs(t)
	for i := range 50 {
		run(i + 1)
	}
	if _, err := rt.Start(context.Background(), noStart, host.Config{Stdout: filepath.Join(dir, "x")}); err == nil {
		t.Fatal("a module without _start started")
	}
	// Other tests' processes may still be finishing: allow a few (a leak
	// here is three per process).
	if after := openFDs(t); after > before+8 {
		t.Errorf("%d host descriptors open before, %d after 51 processes with named streams", before, after)
	}
}
