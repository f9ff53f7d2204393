package e2e_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// anyStderr marks a case whose stderr is not checked.
const anyStderr = "\x00any"

// TestExitStatus checks the exit statuses of docs/BEHAVIOUR.md section 4 (and the
// fixtures' table) through wasix-run.
func TestExitStatus(t *testing.T) {
	raising := func(sig, mode, via string) string {
		return fmt.Sprintf("raise_exit: raising %s mode=%s via=%s", sig, mode, via)
	}
	result := func(e, handler, dispatcher int, last int) string {
		return fmt.Sprintf("raise_exit: result %d, handler calls %d, dispatcher calls %d (last %d)", e, handler, dispatcher, last)
	}
	type tc struct {
		name   string
		args   []string // wasix-run arguments
		code   int
		stdout []string
		stderr string // exact, or anyStderr
	}
	var cases []tc
	// Nothing registered: POSIX default actions.
	for _, c := range []struct {
		sig  int
		code int
	}{
		{1, 129}, {2, 130}, {3, 131}, {6, 134}, {9, 137}, {10, 138}, {13, 141},
		{14, 142}, {15, 143}, {31, 159},
	} {
		s := fmt.Sprint(c.sig)
		cases = append(cases, tc{
			name: "raw/" + s, args: []string{fixture("raise_exit.wasm"), s, "raw"},
			code: c.code, stdout: []string{raising(s, "raw", "thread")},
		})
	}
	for _, sig := range []int{17, 18, 20, 28, 19} { // ignore class, STOP
		s := fmt.Sprint(sig)
		cases = append(cases, tc{
			name: "raw/" + s, args: []string{fixture("raise_exit.wasm"), s, "raw"},
			stdout: []string{raising(s, "raw", "thread"), result(0, 0, 0, -1)},
		})
	}
	for _, via := range []string{"proc", "kill"} {
		cases = append(cases, tc{
			name: "raw/15/" + via, args: []string{fixture("raise_exit.wasm"), "15", "raw", via},
			code: 143, stdout: []string{raising("15", "raw", via)},
		})
	}
	// The wasmer policy, as measured under the reference runtime.
	for _, c := range []struct {
		sig      int
		code     int
		survives bool
	}{
		{2, 27, false}, {3, 0, false}, {6, 134, false}, {9, 27, false}, {13, 64, false},
		{15, 0, true}, {10, 0, true},
	} {
		s := fmt.Sprint(c.sig)
		want := []string{raising(s, "raw", "thread")}
		if c.survives {
			want = append(want, result(0, 0, 0, -1))
		}
		cases = append(cases, tc{
			name: "wasmer/raw/" + s, args: []string{"--policy", "wasmer", fixture("raise_exit.wasm"), s, "raw"},
			code: c.code, stdout: want,
		})
	}
	cases = append(cases,
		tc{
			name: "handle/10", args: []string{fixture("raise_exit.wasm"), "10", "handle"},
			stdout: []string{raising("10", "handle", "thread"), "raise_exit: handler got signal 10", result(0, 1, 1, 10)},
		},
		tc{
			name: "handle/19", args: []string{fixture("raise_exit.wasm"), "19", "handle"},
			stdout: []string{raising("19", "handle", "thread"), result(0, 0, 0, -1)},
		},
		tc{
			name: "handle/9", args: []string{fixture("raise_exit.wasm"), "9", "handle"},
			code: 137, stdout: []string{raising("9", "handle", "thread")},
		},
		tc{
			name: "handle/0", args: []string{fixture("raise_exit.wasm"), "0", "handle"},
			stdout: []string{raising("0", "handle", "thread"), result(0, 0, 0, -1)},
		},
		tc{
			name: "libc/10", args: []string{fixture("raise_exit.wasm"), "10", "libc"},
			code: 127, stdout: []string{raising("10", "libc", "thread")},
			stderr: "Program recieved termination signal: User defined signal 1\n",
		},
		tc{
			name: "libc/28", args: []string{fixture("raise_exit.wasm"), "28", "libc"},
			stdout: []string{raising("28", "libc", "thread"), result(0, 0, 1, 28)},
		},
		tc{
			name: "blocked/15", args: []string{fixture("raise_exit.wasm"), "15", "blocked"},
			stdout: []string{raising("15", "blocked", "thread"), result(0, 0, 0, -1)},
		},
		tc{
			// libc's default action blocks before abort(): one line, 127,
			// no recursion through SIGABRT.
			name: "abort_default", args: []string{fixture("abort_default.wasm")},
			code: 127, stdout: []string{"abort_default: sending SIGHUP via kill"},
			stderr: "Program recieved termination signal: Hangup\n",
		},
		tc{
			name: "abort_default/raise", args: []string{fixture("abort_default.wasm"), "raise"},
			code: 127, stdout: []string{"abort_default: sending SIGHUP via raise"},
			stderr: "Program recieved termination signal: Hangup\n",
		},
		tc{
			name: "raw/32", args: []string{fixture("raise_exit.wasm"), "32", "raw"},
			stdout: []string{raising("32", "raw", "thread"), result(28, 0, 0, -1)},
			stderr: anyStderr, // a warning is logged
		},
		tc{
			name: "ignore/TERM", args: []string{"--ignore", "TERM", fixture("raise_exit.wasm"), "15", "raw"},
			stdout: []string{raising("15", "raw", "thread"), result(0, 0, 0, -1)},
		},
		tc{
			name: "ignore/SIGHUP,int", args: []string{"--ignore", "SIGHUP,int", fixture("raise_exit.wasm"), "2", "raw"},
			stdout: []string{raising("2", "raw", "thread"), result(0, 0, 0, -1)},
		},
		tc{
			name: "ignore/TERM/other", args: []string{"--ignore", "TERM", fixture("raise_exit.wasm"), "1", "raw"},
			code: 129, stdout: []string{raising("1", "raw", "thread")},
		},
		tc{
			name: "unshared/raw/15", args: []string{fixture("raise_exit_unshared.wasm"), "15", "raw"},
			code: 143, stdout: []string{raising("15", "raw", "thread")},
		},
	)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			r := runCLI(t, c.args...)
			if r.code != c.code {
				t.Errorf("exit status %d, want %d\nstderr:\n%s", r.code, c.code, clip(r.stderr))
			}
			if diff := cmp.Diff(c.stdout, lines(r.stdout)); diff != "" {
				t.Errorf("stdout (-want +got):\n%s", diff)
			}
			if c.stderr != anyStderr && r.stderr != c.stderr {
				t.Errorf("stderr = %q, want %q", clip(r.stderr), c.stderr)
			}
		})
	}
}

// TestGuests runs the guests that need no outside signal.
func TestGuests(t *testing.T) {
	for _, c := range []struct {
		name   string
		args   []string
		stdout []string
	}{
		{"goguest", []string{fixture("goguest.wasm")}, []string{"go guest got signal 10", "go guest got signal 12"}},
		{"wasixlike", []string{fixture("wasixlike.wasm")}, []string{"wasixlike: got signal 10"}},
		{"kill_peer/self", []string{fixture("kill_peer.wasm"), "99"}, []string{"kill_peer: proc_signal(99, 10) = 71"}},
		{"kill_peer/self/0", []string{fixture("kill_peer.wasm"), "1", "0"}, []string{"kill_peer: proc_signal(1, 0) = 0"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			r := runCLI(t, c.args...)
			if r.code != 0 {
				t.Errorf("exit status %d, want 0\nstderr:\n%s", r.code, clip(r.stderr))
			}
			if diff := cmp.Diff(c.stdout, lines(r.stdout)); diff != "" {
				t.Errorf("stdout (-want +got):\n%s", diff)
			}
		})
	}
}

// TestAlarm: a one-shot interval timer interrupts a 10 s sleep.
func TestAlarm(t *testing.T) {
	t.Parallel()
	r := runCLI(t, fixture("alarm.wasm"))
	if r.code != 0 {
		t.Errorf("exit status %d, want 0\nstderr:\n%s", r.code, clip(r.stderr))
	}
	if diff := cmp.Diff([]string{"alarm fired, sleep returned 27"}, lines(r.stdout)); diff != "" {
		t.Errorf("stdout (-want +got):\n%s", diff)
	}
	if r.elapsed >= 5*time.Second {
		t.Errorf("run took %v; the alarm should cut the 10 s sleep short", r.elapsed)
	}
}

// trapWAT traps in _start.
const trapWAT = `(module
  (memory (export "memory") 1)
  (func (export "_start") unreachable))
`

// TestUsage checks the statuses for bad usage (2), unusable modules (1)
// and traps (134).
func TestUsage(t *testing.T) {
	dir := t.TempDir()
	notWasm := filepath.Join(dir, "notes.txt")
	if err := os.WriteFile(notWasm, []byte("this is neither wasm nor WAT\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	badWasm := filepath.Join(dir, "bad.wasm")
	if err := os.WriteFile(badWasm, []byte("\x00asm\x01\x00\x00\x00\xff\xff"), 0o644); err != nil {
		t.Fatal(err)
	}
	trap := filepath.Join(dir, "trap.wat")
	if err := os.WriteFile(trap, []byte(trapWAT), 0o644); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(dir, "missing.wasm")
	wasm := fixture("raise_exit.wasm")
	for _, c := range []struct {
		name   string
		args   []string
		code   int
		stderr []string // substrings, case-insensitive
	}{
		{"no args", nil, 2, []string{"usage"}},
		{"unknown flag", []string{"--bogus", wasm}, 2, []string{"bogus"}},
		{"bad policy", []string{"--policy", "bogus", wasm, "1", "raw"}, 2, []string{"bogus"}},
		{"bad ignore", []string{"--ignore", "FOO", wasm, "1", "raw"}, 2, []string{"FOO"}},
		{"bad env", []string{"--env", "=NONAME", wasm, "1", "raw"}, 2, []string{"=NONAME"}},
		{"bad log level", []string{"--log-level", "loud", wasm, "1", "raw"}, 2, []string{"loud"}},
		{"bad grace", []string{"--grace", "0s", wasm, "1", "raw"}, 2, []string{"grace"}},
		{"flags only", []string{"--policy", "wasmer"}, 2, []string{"usage"}},
		{"missing file", []string{missing}, 1, []string{"missing.wasm"}},
		{"not wasm", []string{notWasm}, 1, []string{"notes.txt", "neither wasm nor"}},
		{"bad wasm", []string{badWasm}, 1, []string{"bad.wasm"}},
		{"trap", []string{trap}, 134, []string{"trap.wat", "unreachable"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			r := runCLI(t, c.args...)
			if r.code != c.code {
				t.Errorf("exit status %d, want %d\nstderr:\n%s", r.code, c.code, clip(r.stderr))
			}
			for _, s := range c.stderr {
				if !strings.Contains(strings.ToLower(r.stderr), strings.ToLower(s)) {
					t.Errorf("stderr does not mention %q:\n%s", s, clip(r.stderr))
				}
			}
			if r.stdout != "" {
				t.Errorf("stdout = %q, want nothing", r.stdout)
			}
		})
	}
}

// environWAT prints its environment (NUL-separated), "--", then the
// content of hello.txt in the first preopened directory (fd 3). It exits
// with 10+ on a failing call (100+errno for path_open).
const environWAT = `(module
  (import "wasi_snapshot_preview1" "environ_sizes_get" (func $env_sizes (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "environ_get" (func $env_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "path_open" (func $open (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_read" (func $read (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write" (func $write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
  (memory (export "memory") 1)
  ;; 0 count, 4 size, 8 iovec, 16 nwritten, 20 fd, 24 nread
  (data (i32.const 100) "hello.txt")
  (data (i32.const 120) "--")
  (func $out (param $p i32) (param $n i32)
    (i32.store (i32.const 8) (local.get $p))
    (i32.store (i32.const 12) (local.get $n))
    (drop (call $write (i32.const 1) (i32.const 8) (i32.const 1) (i32.const 16))))
  (func (export "_start") (local $e i32)
    (if (call $env_sizes (i32.const 0) (i32.const 4)) (then (call $exit (i32.const 10))))
    (if (i32.gt_u (i32.load (i32.const 0)) (i32.const 700)) (then (call $exit (i32.const 11))))
    (if (i32.gt_u (i32.load (i32.const 4)) (i32.const 8192)) (then (call $exit (i32.const 11))))
    (if (call $env_get (i32.const 1024) (i32.const 4096)) (then (call $exit (i32.const 12))))
    (call $out (i32.const 4096) (i32.load (i32.const 4)))
    (call $out (i32.const 120) (i32.const 2))
    (local.set $e (call $open (i32.const 3) (i32.const 0) (i32.const 100) (i32.const 9)
      (i32.const 0) (i64.const 2) (i64.const 0) (i32.const 0) (i32.const 20)))
    (if (local.get $e) (then (call $exit (i32.add (i32.const 100) (local.get $e)))))
    (i32.store (i32.const 8) (i32.const 16384))
    (i32.store (i32.const 12) (i32.const 4096))
    (if (call $read (i32.load (i32.const 20)) (i32.const 8) (i32.const 1) (i32.const 24))
      (then (call $exit (i32.const 13))))
    (call $out (i32.const 16384) (i32.load (i32.const 24)))))
`

// TestEnvAndDir: --env and --dir reach the guest.
func TestEnvAndDir(t *testing.T) {
	t.Parallel()
	guest := writeTemp(t, "environ.wat", environWAT)
	data := t.TempDir()
	if err := os.WriteFile(filepath.Join(data, "hello.txt"), []byte("hello from the host"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		dir  string
	}{
		{"host path", data},
		{"guest name", data + "::/data"},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := runCLI(t, "--env", "A=1", "--env", "B=two words=x", "--dir", c.dir, guest)
			if r.code != 0 {
				t.Fatalf("exit status %d, want 0\nstdout: %q\nstderr:\n%s", r.code, r.stdout, clip(r.stderr))
			}
			environ, file, ok := strings.Cut(r.stdout, "--")
			if !ok {
				t.Fatalf("stdout = %q, want environ--file", r.stdout)
			}
			vars := strings.Split(strings.TrimSuffix(environ, "\x00"), "\x00")
			if !contains(vars, "A=1") || !contains(vars, "B=two words=x") {
				t.Errorf("guest environment %q lacks A=1 and B=two words=x", vars)
			}
			if file != "hello from the host" {
				t.Errorf("guest read %q from hello.txt, want %q", file, "hello from the host")
			}
		})
	}
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
