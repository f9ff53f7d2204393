package e2e_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/wasix-org/wasix-signals-go/host"
	"github.com/wasix-org/wasix-signals-go/wasix"
)

// TestForkCLI runs the fork guest through wasix-run, with the newer
// proc_join (fork.wasm) and the older two-argument one (fork_legacy.wasm),
// whose libc takes the host's wait-status word as it is.
func TestForkCLI(t *testing.T) {
	tests := []struct {
		args   []string
		stdout string
		legacy bool // also with fork_legacy.wasm
	}{
		{args: []string{"basic"}, legacy: true, stdout: "child: fork returned 0, pid 2, ppid 1\n" +
			"parent: pid 1, ppid 0, child joined by pid\njoined child: exited 7\n"},
		{args: []string{"memory"}, stdout: "child sees 41 parent 0\njoined child: exited 0\nparent sees 41 parent\n"},
		// Bytes far apart in a large, mostly zero memory: the copy skips
		// the zero pages and nothing else.
		{args: []string{"sparse"}, stdout: "child: 17 bytes set, sum 7803\njoined child: exited 0\nparent: 17 bytes set, sum 7803\n"},
		// vfork: the parent goes on only once the child has ended, although
		// the child sleeps before it prints.
		{args: []string{"vfork"}, legacy: true, stdout: "child: ran first\nparent: resumed\njoined child: exited 3\n"},
		// A jmp_buf set before the fork works in both processes.
		{args: []string{"longjmp"}, stdout: "child: longjmp returned 2\nparent: longjmp returned 3\njoined child: exited 0\n"},
		{args: []string{"handler"}, stdout: "handler: SIGUSR1 in pid 2\njoined child: exited 0\n"},
		{args: []string{"exec"}, legacy: true, stdout: "execed: argc 4: fork.wasm execed a b\nexeced: pid 2 ppid 1\n" +
			"joined child: exited 5\n"},
		{args: []string{"missing"}, legacy: true, stdout: "joined child: exited 127\n"},
		// Another fixture, which raises SIGTERM with nothing registered.
		{args: []string{"exec", "raise_exit.wasm", "15", "raw"}, stdout: "raise_exit: raising 15 mode=raw via=thread\n" +
			"joined child: killed by signal 15\n"},
		// Killed children are reported as killed, not as an exit.
		{args: []string{"kill"}, legacy: true, stdout: "kill: 0\njoined child: killed by signal 9\n"},
		{args: []string{"killdfl", "15"}, legacy: true, stdout: "kill: 0\njoined child: killed by signal 15\n"},
		{args: []string{"killdfl", "13"}, stdout: "kill: 0\njoined child: killed by signal 13\n"},
		{args: []string{"sigchld"}, stdout: "sleeps: 0, SIGCHLD handled 1\njoined child: exited 0\n"},
		{args: []string{"toparent"}, stdout: "handler: SIGUSR1 in pid 1\njoined child: exited 0\n"},
		{args: []string{"wnohang"}, stdout: "wnohang before: 0\nwnohang after: the child\njoined child: exited 4\n"},
		{args: []string{"nochild"}, legacy: true, stdout: "join: errno 12\n"},
		{args: []string{"bomb"}, stdout: "bomb: fork failed with errno 6 after 256 children\nbomb: 256 killed and joined\n"},
		{args: []string{"cycles", "500"}, legacy: true, stdout: "cycles: 500 of 500\n"},
		// Pending signals and interval timers stay with the parent.
		{args: []string{"pending"}, stdout: "child: SIGUSR1 0\njoined child: exited 0\n" +
			"handler: SIGUSR1 in pid 1\nparent: SIGUSR1 1\n"},
		{args: []string{"timer"}, stdout: "child: SIGALRM 0\njoined child: exited 0\nparent: timer fired yes\n"},
		// Across exec: a blocked pending signal waits for the new
		// program's handler; a handled one is back to its default action.
		{args: []string{"execpending"}, legacy: true, stdout: "handler: SIGUSR1 in pid 2\nexeced: SIGUSR1 1\n" +
			"joined child: exited 1\n"},
		{args: []string{"execdfl"}, stdout: "joined child: killed by signal 10\n"},
	}
	for _, tt := range tests {
		for _, bin := range []string{"fork.wasm", "fork_legacy.wasm"} {
			if bin == "fork_legacy.wasm" && !tt.legacy {
				continue
			}
			t.Run(bin+" "+strings.Join(tt.args, " "), func(t *testing.T) {
				t.Parallel()
				r := runCLI(t, append([]string{"-dir", fixture("") + "::.", fixture(bin)}, tt.args...)...)
				if r.code != 0 || r.stdout != tt.stdout {
					t.Errorf("exit %d, stdout:\n%s\nstderr:\n%s\nwant exit 0, stdout:\n%s", r.code, r.stdout, clip(r.stderr), tt.stdout)
				}
			})
		}
	}
}

// TestForkJoinInterrupted: a signal delivered to the parent while it
// waits for its child ends the wait with EINTR. The parent prints
// "joining" just before it joins, so the test signals until the join
// returns (a signal that lands before the join is only counted).
func TestForkJoinInterrupted(t *testing.T) {
	r := startCLI(t, fixture("fork.wasm"), "joinintr")
	r.waitOutput(t, "joining\n")
	for !r.exited(100 * time.Millisecond) {
		r.signal(t, syscall.SIGUSR1)
	}
	res := r.wait(t)
	want := "joining\njoin: errno 27\njoined child: killed by signal 9\n"
	if res.code != 0 || res.stdout != want {
		t.Errorf("exit %d, stdout:\n%s\nstderr:\n%s\nwant:\n%s", res.code, res.stdout, clip(res.stderr), want)
	}
}

// startFork starts fork.wasm with args on rt through the host API: see
// startFixture.
func startFork(t *testing.T, rt *host.Runtime, args ...string) (*host.Process, func() string) {
	t.Helper()
	return startFixture(t, rt, "fork.wasm", args...)
}

// startFixture starts the fixture name with args on rt through the host
// API, its output in a file of the test's (read with the function it
// returns), and the fixtures preopened as ".".
func startFixture(t *testing.T, rt *host.Runtime, name string, args ...string) (*host.Process, func() string) {
	t.Helper()
	return startFixtureTo(t, rt, name, false, args...)
}

// startFixtureTo is startFixture with the output file given open
// (Config.Stdio) or, when named, by name (Config.Stdout and Stderr).
func startFixtureTo(t *testing.T, rt *host.Runtime, name string, named bool, args ...string) (*host.Process, func() string) {
	t.Helper()
	wasm, err := os.ReadFile(fixture(name))
	if err != nil {
		t.Fatal(err)
	}
	m, err := rt.Compile(wasm)
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "stdout")
	cfg := host.Config{Args: append([]string{name}, args...), Dirs: []host.Dir{{Host: fixture(""), Guest: "."}}}
	if named {
		cfg.Stdout, cfg.Stderr = out, out
	} else {
		f, err := os.Create(out)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { f.Close() })
		cfg.Stdio = [3]*os.File{nil, f, f}
	}
	p, err := rt.Start(context.Background(), m, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return p, func() string { b, _ := os.ReadFile(out); return string(b) }
}

// TestForkLimit: a fork bomb stops at the Runtime's limit with EAGAIN.
func TestForkLimit(t *testing.T) {
	rt, err := host.NewRuntime(host.Options{MaxProcs: 8})
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Close()
	p, out := startFork(t, rt, "bomb")
	if err := p.Wait(); err != nil {
		t.Fatalf("outcome %v, output:\n%s", err, out())
	}
	want := "bomb: fork failed with errno 6 after 8 children\nbomb: 8 killed and joined\n"
	if diff := cmp.Diff(want, out()); diff != "" {
		t.Errorf("output (-want +got):\n%s", diff)
	}
}

// TestForkGroupKill: SIGKILL to a parent's group ends the parent and its
// children, all spinning in wasm.
func TestForkGroupKill(t *testing.T) {
	rt, err := host.NewRuntime(host.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Close()
	p, out := startFork(t, rt, "family", "4")
	waitCond(t, "the family to be up", func() bool { return strings.Contains(out(), "family: 4 children\n") })
	if n := len(p.Group().Pids()); n != 5 {
		t.Fatalf("group has %d members, want 5", n)
	}
	if err := p.Group().Signal(wasix.SIGKILL); err != nil {
		t.Fatal(err)
	}
	var exit *wasix.ExitError
	if err := p.Wait(); !errors.As(err, &exit) || exit.Signal != wasix.SIGKILL {
		t.Fatalf("outcome %v, want SIGKILL", err)
	}
	waitCond(t, "every member to end", func() bool { live, _ := rt.NumProcesses(); return live == 0 })
	if pids := p.Group().Pids(); len(pids) != 0 {
		t.Errorf("members left: %v", pids)
	}
}

// TestForkNoLeaks: thousands of fork/exit/join cycles leave no process,
// zombie, goroutine or descriptor behind.
func TestForkNoLeaks(t *testing.T) {
	rt, err := host.NewRuntime(host.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Close()
	// Warm up (compile, first stores) before counting.
	p, _ := startFork(t, rt, "cycles", "10")
	if err := p.Wait(); err != nil {
		t.Fatal(err)
	}
	goroutines, fds := runtime.NumGoroutine(), openFDs(t)
	const n = 3000
	p, out := startFork(t, rt, "cycles", fmt.Sprint(n))
	if err := p.Wait(); err != nil {
		t.Fatalf("outcome %v, output:\n%s", err, out())
	}
	if want := fmt.Sprintf("cycles: %d of %d\n", n, n); out() != want {
		t.Fatalf("output %q, want %q", out(), want)
	}
	if live, zombies := rt.NumProcesses(); live != 0 || zombies != 0 {
		t.Errorf("%d processes and %d zombies left", live, zombies)
	}
	// Goroutines of timers and kickers wind down on their own; allow a few.
	waitCond(t, "goroutines to wind down", func() bool { return runtime.NumGoroutine() <= goroutines+5 })
	if got := openFDs(t); got > fds+2 { // the test's own output file
		t.Errorf("%d descriptors open, %d before the cycles", got, fds)
	}
}

func openFDs(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skip("no /proc/self/fd")
	}
	return len(ents)
}

// TestForkSpinningChild: the same through the host API: the parent's
// join is interrupted, and it kills its child, which spins in wasm, and
// joins it.
func TestForkSpinningChild(t *testing.T) {
	rt, err := host.NewRuntime(host.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Close()
	p, out := startFork(t, rt, "joinintr")
	waitCond(t, "the parent to join", func() bool { return strings.Contains(out(), "joining\n") })
	for {
		if err := p.Signal(wasix.SIGUSR1); err != nil {
			break // it has ended
		}
		select {
		case <-p.Done():
		case <-time.After(100 * time.Millisecond):
			continue
		}
		break
	}
	if err := p.Wait(); err != nil {
		t.Fatalf("outcome %v, output:\n%s", err, out())
	}
	want := "joining\njoin: errno 27\njoined child: killed by signal 9\n"
	if diff := cmp.Diff(want, out()); diff != "" {
		t.Errorf("output (-want +got):\n%s", diff)
	}
}

// TestProcBadInput calls the process imports from a module without
// asyncify, with bad and edge-case arguments; each answers an errno (the
// module exits with it) or, for proc_exec, ends the process with the
// status a shell gives.
func TestProcBadInput(t *testing.T) {
	const tmpl = `(module
	  (import "wasix_32v1" "proc_fork" (func $fork (param i32 i32) (result i32)))
	  (import "wasix_32v1" "proc_join" (func $join (param i32 i32 i32) (result i32)))
	  (import "wasix_32v1" "proc_parent" (func $parent (param i32 i32) (result i32)))
	  (import "wasix_32v1" "proc_exec" (func $exec (param i32 i32 i32 i32)))
	  (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
	  (memory (export "memory") 1)
	  (data (i32.const 64) "nothing-here.wasm")
	  (func (export "_start") %s))`
	tests := []struct {
		name, body string
		status     int32
	}{
		{"fork without asyncify", `(call $exit (call $fork (i32.const 1) (i32.const 0)))`, int32(wasix.ENOTSUP)},
		{"join no child", `(call $exit (call $join (i32.const 0) (i32.const 0) (i32.const 16)))`, int32(wasix.ECHILD)},
		{"join bad tag", `(i32.store8 (i32.const 0) (i32.const 7)) (call $exit (call $join (i32.const 0) (i32.const 0) (i32.const 16)))`, int32(wasix.EINVAL)},
		{"join pid out of bounds", `(call $exit (call $join (i32.const 65535) (i32.const 0) (i32.const 16)))`, int32(wasix.EFAULT)},
		{"join status out of bounds", `(call $exit (call $join (i32.const 0) (i32.const 0) (i32.const -1)))`, int32(wasix.EFAULT)},
		{"join some unknown pid", `(i32.store8 (i32.const 0) (i32.const 1)) (i32.store (i32.const 4) (i32.const 99)) (call $exit (call $join (i32.const 0) (i32.const 1) (i32.const 16)))`, int32(wasix.ECHILD)},
		{"parent of self", `(drop (call $parent (i32.const 0) (i32.const 32))) (call $exit (i32.load (i32.const 32)))`, 0},
		{"parent of unknown", `(call $exit (call $parent (i32.const 77) (i32.const 32)))`, int32(wasix.ESRCH)},
		{"parent out of bounds", `(call $exit (call $parent (i32.const 0) (i32.const 65534)))`, int32(wasix.EFAULT)},
		{"exec missing", `(call $exec (i32.const 64) (i32.const 17) (i32.const 64) (i32.const 17)) (call $exit (i32.const 1))`, 127},
		{"exec name out of bounds", `(call $exec (i32.const 65530) (i32.const 17) (i32.const 64) (i32.const 0)) (call $exit (i32.const 1))`, 126},
	}
	rt, err := host.NewRuntime(host.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Close()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := rt.Compile([]byte(fmt.Sprintf(tmpl, tt.body)))
			if err != nil {
				t.Fatal(err)
			}
			p, err := rt.Start(context.Background(), m, host.Config{Args: []string{"x"}, Dirs: []host.Dir{{Host: t.TempDir(), Guest: "."}}})
			if err != nil {
				t.Fatal(err)
			}
			status, ok := wasix.ExitStatus(p.Wait())
			if !ok || status != tt.status {
				t.Errorf("outcome %v, want exit %d", p.Wait(), tt.status)
			}
		})
	}
}

// TestProcLegacyJoinLinks: a module importing the older two-argument
// proc_join links and gets ECHILD with no child.
func TestProcLegacyJoinLinks(t *testing.T) {
	rt, err := host.NewRuntime(host.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Close()
	m, err := rt.Compile([]byte(`(module
	  (import "wasix_32v1" "proc_join" (func $join (param i32 i32) (result i32)))
	  (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
	  (memory (export "memory") 1)
	  (func (export "_start") (i32.store (i32.const 0) (i32.const -1))
	    (call $exit (call $join (i32.const 0) (i32.const 8)))))`))
	if err != nil {
		t.Fatal(err)
	}
	p, err := rt.Start(context.Background(), m, host.Config{Args: []string{"x"}})
	if err != nil {
		t.Fatal(err)
	}
	if status, ok := wasix.ExitStatus(p.Wait()); !ok || status != int32(wasix.ECHILD) {
		t.Errorf("outcome %v, want exit %d (ECHILD)", p.Wait(), wasix.ECHILD)
	}
}

// TestExecDescriptors: an exec keeps the descriptors it should and closes
// the close-on-exec ones. The first program makes a pipe, writes "abc"
// into it, puts the read end on stdin and marks the write end
// close-on-exec, opens a file close-on-exec (path_open2) at 9, and execs
// the second, which reads stdin twice: the three bytes, then the end of
// file, which it sees only because the exec closed the last write end.
// It exits with 10 × the first count + the second, + 100 if descriptor 9
// is gone (EBADF).
func TestExecDescriptors(t *testing.T) {
	dir := t.TempDir()
	second := `(module
	  (import "wasi_snapshot_preview1" "fd_read" (func $read (param i32 i32 i32 i32) (result i32)))
	  (import "wasi_snapshot_preview1" "fd_fdstat_get" (func $stat (param i32 i32) (result i32)))
	  (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
	  (memory (export "memory") 1)
	  (func $n (result i32)
	    (i32.store (i32.const 0) (i32.const 100)) (i32.store (i32.const 4) (i32.const 10))
	    (if (call $read (i32.const 0) (i32.const 0) (i32.const 1) (i32.const 8)) (then (call $exit (i32.const 99))))
	    (i32.load (i32.const 8)))
	  (func (export "_start") (local $r i32)
	    (local.set $r (i32.mul (call $n) (i32.const 10)))
	    (local.set $r (i32.add (local.get $r) (call $n)))
	    (if (i32.eq (call $stat (i32.const 9) (i32.const 200)) (i32.const 8))
	      (then (local.set $r (i32.add (local.get $r) (i32.const 100)))))
	    (call $exit (local.get $r))))`
	if err := os.WriteFile(filepath.Join(dir, "second.wat"), []byte(second), 0o644); err != nil {
		t.Fatal(err)
	}
	rt, err := host.NewRuntime(host.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Close()
	first, err := rt.Compile([]byte(`(module
	  (import "wasix_32v1" "fd_pipe" (func $pipe (param i32 i32) (result i32)))
	  (import "wasix_32v1" "fd_renumber" (func $dup2 (param i32 i32) (result i32)))
	  (import "wasix_32v1" "fd_close" (func $close (param i32) (result i32)))
	  (import "wasix_32v1" "fd_fdflags_set" (func $cloexec (param i32 i32) (result i32)))
	  (import "wasix_32v1" "path_open2"
	    (func $open2 (param i32 i32 i32 i32 i32 i64 i64 i32 i32 i32) (result i32)))
	  (import "wasi_snapshot_preview1" "fd_write" (func $write (param i32 i32 i32 i32) (result i32)))
	  (import "wasix_32v1" "proc_exec" (func $exec (param i32 i32 i32 i32)))
	  (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
	  (memory (export "memory") 1)
	  (data (i32.const 64) "second.wat")
	  (data (i32.const 100) "abc")
	  (data (i32.const 120) "scratch")
	  (func $ok (param i32) (if (local.get 0) (then (call $exit (i32.add (i32.const 200) (local.get 0))))))
	  (func (export "_start")
	    (call $ok (call $pipe (i32.const 0) (i32.const 4)))
	    (i32.store (i32.const 16) (i32.const 100)) (i32.store (i32.const 20) (i32.const 3))
	    (call $ok (call $write (i32.load (i32.const 4)) (i32.const 16) (i32.const 1) (i32.const 24)))
	    (call $ok (call $dup2 (i32.load (i32.const 0)) (i32.const 0)))
	    (call $ok (call $close (i32.load (i32.const 0))))
	    (call $ok (call $cloexec (i32.load (i32.const 4)) (i32.const 1)))
	    (call $ok (call $open2 (i32.const 3) (i32.const 0) (i32.const 120) (i32.const 7) (i32.const 1)
	      (i64.const 0x1fffffff) (i64.const 0x1fffffff) (i32.const 0) (i32.const 0) (i32.const 32)))
	    (call $ok (call $dup2 (i32.load (i32.const 32)) (i32.const 9)))
	    (call $ok (call $cloexec (i32.const 9) (i32.const 1)))
	    (call $exec (i32.const 64) (i32.const 10) (i32.const 64) (i32.const 10))
	    (call $exit (i32.const 250))))`))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	p, err := rt.Start(ctx, first, host.Config{Args: []string{"first"}, Dirs: []host.Dir{{Host: dir, Guest: "."}}})
	if err != nil {
		t.Fatal(err)
	}
	if status, ok := wasix.ExitStatus(p.Wait()); !ok || status != 130 {
		t.Errorf("outcome %v, want exit 130 (3 bytes, then the end of file, and descriptor 9 closed)", p.Wait())
	}
}
