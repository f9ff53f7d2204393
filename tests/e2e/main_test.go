// Package e2e_test runs whole WASIX programs end to end: through the
// wasix-run binary (built once in TestMain) with real OS signals, and
// through the host API with several guests at once.
package e2e_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// timeout bounds every wait of the package: far above what any run needs,
// so that only a hang trips it.
const timeout = 15 * time.Second

var (
	// root is the module root, cli the wasix-run binary built from it.
	root, cli string
)

func TestMain(m *testing.M) { os.Exit(testMain(m)) }

func testMain(m *testing.M) int {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e: go env GOMOD:", err)
		return 1
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		fmt.Fprintln(os.Stderr, "e2e: not inside a module")
		return 1
	}
	root = filepath.Dir(gomod)
	tmp, err := os.MkdirTemp("", "wasix-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	defer os.RemoveAll(tmp)
	// wasix-run keeps compiled modules in the user's cache directory: the
	// tests use one of their own.
	if err := os.Setenv("XDG_CACHE_HOME", filepath.Join(tmp, "cache")); err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	cli = filepath.Join(tmp, "wasix-run")
	build := exec.Command("go", "build", "-o", cli, "./cmd/wasix-run")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "e2e: building wasix-run: %v\n%s", err, out)
		return 1
	}
	return m.Run()
}

// fixture returns the path of a guest in fixtures/.
func fixture(name string) string { return filepath.Join(root, "fixtures", name) }

// writeTemp writes content to a new file named name in a test's temp dir.
func writeTemp(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// lines splits output into lines, without the final newline.
func lines(s string) []string {
	s = strings.TrimSuffix(s, "\n")
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

// result is how a wasix-run process ended.
type result struct {
	code           int // exit status; -1 if killed by a signal
	stdout, stderr string
	elapsed        time.Duration
}

// runCLI runs wasix-run with args to its end.
func runCLI(t *testing.T, args ...string) result {
	t.Helper()
	r := startCLI(t, args...)
	return r.wait(t)
}

// runner is a wasix-run process whose stdout is watched as it arrives.
type runner struct {
	cmd     *exec.Cmd
	start   time.Time
	stderr  bytes.Buffer
	mu      sync.Mutex
	out     strings.Builder
	changed chan struct{} // closed and replaced whenever out grows or ends
	eof     bool
	done    chan struct{} // closed when the process has been waited for
	err     error
}

// startCLI starts wasix-run with args; the process is killed at the end of
// the test if it still runs.
func startCLI(t *testing.T, args ...string) *runner {
	t.Helper()
	return startCLIWith(t, nil, args...)
}

// startCLIWith is startCLI with the runner's stdin set to in (nil:
// /dev/null).
func startCLIWith(t *testing.T, in *os.File, args ...string) *runner {
	t.Helper()
	r := &runner{cmd: exec.Command(cli, args...), changed: make(chan struct{}), done: make(chan struct{})}
	if in != nil {
		r.cmd.Stdin = in
	}
	r.cmd.Stderr = &r.stderr
	pipe, err := r.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	r.start = time.Now()
	if err := r.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	read := make(chan struct{})
	go func() {
		defer close(read)
		buf := make([]byte, 4096)
		for {
			n, err := pipe.Read(buf)
			r.mu.Lock()
			r.out.Write(buf[:n])
			if err != nil {
				r.eof = true
			}
			close(r.changed)
			r.changed = make(chan struct{})
			r.mu.Unlock()
			if err != nil {
				return
			}
		}
	}()
	go func() {
		<-read // StdoutPipe: read everything before Wait
		r.err = r.cmd.Wait()
		close(r.done)
	}()
	t.Cleanup(func() {
		select {
		case <-r.done:
		default:
			_ = r.cmd.Process.Kill()
			<-r.done
		}
	})
	return r
}

// stdout returns the output so far.
func (r *runner) stdout() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.out.String()
}

// waitOutput waits until stdout contains want.
func (r *runner) waitOutput(t *testing.T, want string) {
	t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		r.mu.Lock()
		ok, eof, ch := strings.Contains(r.out.String(), want), r.eof, r.changed
		r.mu.Unlock()
		if ok {
			return
		}
		if eof {
			r.fatalf(t, "stdout ended without %q", want)
		}
		select {
		case <-ch:
		case <-deadline.C:
			r.fatalf(t, "no %q on stdout after %v", want, timeout)
		}
	}
}

func (r *runner) fatalf(t *testing.T, format string, args ...any) {
	t.Helper()
	_ = r.cmd.Process.Kill()
	<-r.done
	t.Fatalf("%s\nstdout:\n%s\nstderr:\n%s", fmt.Sprintf(format, args...), r.stdout(), clip(r.stderr.String()))
}

// signal sends sig to the wasix-run process.
func (r *runner) signal(t *testing.T, sig syscall.Signal) {
	t.Helper()
	if err := syscall.Kill(r.cmd.Process.Pid, sig); err != nil {
		t.Fatalf("kill %v: %v", sig, err)
	}
}

// exited reports whether the process has ended within d.
func (r *runner) exited(d time.Duration) bool {
	select {
	case <-r.done:
		return true
	case <-time.After(d):
		return false
	}
}

// wait waits for the end of the process.
func (r *runner) wait(t *testing.T) result {
	t.Helper()
	if !r.exited(timeout) {
		r.fatalf(t, "wasix-run %q still running after %v", r.cmd.Args[1:], timeout)
	}
	res := result{stdout: r.stdout(), stderr: r.stderr.String(), elapsed: time.Since(r.start)}
	var exit *exec.ExitError
	switch {
	case r.err == nil:
	case errors.As(r.err, &exit):
		res.code = exit.ExitCode()
	default:
		t.Fatalf("wasix-run: %v", r.err)
	}
	return res
}

// waitCond polls cond until it holds; for state that has no notification
// (a file another process writes).
func waitCond(t *testing.T, what string, cond func() bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-ctx.Done():
			t.Fatalf("timed out waiting for %s", what)
		case <-tick.C:
		}
	}
}

// clip shortens text for a failure message (a Go runtime's stack dump).
func clip(s string) string {
	const max = 2000
	if len(s) <= max {
		return s
	}
	return s[:max] + fmt.Sprintf("... [%d more bytes]", len(s)-max)
}
