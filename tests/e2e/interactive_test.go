package e2e_test

import (
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/creack/pty"
)

// term is wasix-run running on a pseudo-terminal, as in an interactive
// shell: the terminal is its controlling terminal, so Ctrl-C written to
// the master reaches it as SIGINT from the line discipline.
type term struct {
	cmd  *exec.Cmd
	ptmx *os.File
	mu   sync.Mutex
	out  strings.Builder
	done chan struct{}
	err  error
}

func startTerm(t *testing.T, args ...string) *term {
	t.Helper()
	tm := &term{cmd: exec.Command(cli, args...), done: make(chan struct{})}
	ptmx, err := pty.Start(tm.cmd)
	if err != nil {
		t.Skipf("no pseudo-terminal here: %v", err)
	}
	tm.ptmx = ptmx
	read := make(chan struct{})
	go func() {
		defer close(read)
		buf := make([]byte, 1024)
		for {
			n, err := ptmx.Read(buf)
			tm.mu.Lock()
			tm.out.Write(buf[:n])
			tm.mu.Unlock()
			if err != nil {
				return
			}
		}
	}()
	go func() {
		tm.err = tm.cmd.Wait()
		close(tm.done)
	}()
	t.Cleanup(func() {
		select {
		case <-tm.done:
		default:
			_ = tm.cmd.Process.Kill()
			<-tm.done
		}
		ptmx.Close()
		<-read
	})
	return tm
}

func (tm *term) output() string {
	tm.mu.Lock()
	defer tm.mu.Unlock()
	return tm.out.String()
}

// waitCount waits until s occurs n times in the output.
func (tm *term) waitCount(t *testing.T, s string, n int) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for strings.Count(tm.output(), s) < n {
		if time.Now().After(deadline) {
			t.Fatalf("waited for %d× %q; output so far:\n%s", n, s, clip(tm.output()))
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func (tm *term) send(t *testing.T, s string) {
	t.Helper()
	if _, err := io.WriteString(tm.ptmx, s); err != nil {
		t.Fatal(err)
	}
}

// TestReplCtrlCOnTerminal: a REPL whose SIGINT handler longjmps to its
// prompt, on a terminal. Ctrl-C at the prompt (blocked reading the
// terminal), during a sleep and while spinning in wasm each bring a new
// prompt, and the REPL goes on reading commands.
func TestReplCtrlCOnTerminal(t *testing.T) {
	t.Parallel()
	tm := startTerm(t, fixture("repl.wasm"))
	prompts := 1
	tm.waitCount(t, "> ", prompts)
	tm.send(t, "echo hello\n")
	tm.waitCount(t, "hello\r\n", 1)
	prompts++
	tm.waitCount(t, "> ", prompts)
	interrupt := func() {
		t.Helper()
		tm.send(t, "\x03")
		prompts++
		tm.waitCount(t, "> ", prompts)
	}
	interrupt()
	tm.send(t, "sleep\n")
	tm.waitCount(t, "sleeping", 1)
	interrupt()
	tm.send(t, "spin\n")
	tm.waitCount(t, "spinning", 1)
	interrupt()
	tm.send(t, "echo still here\n")
	tm.waitCount(t, "still here\r\n", 1)
	tm.send(t, "quit\n")
	select {
	case <-tm.done:
	case <-time.After(timeout):
		t.Fatalf("the REPL did not quit; output:\n%s", clip(tm.output()))
	}
	if tm.err != nil {
		t.Errorf("exit: %v\noutput:\n%s", tm.err, clip(tm.output()))
	}
	if got := strings.Count(tm.output(), "^C\r\n"); got < 3 {
		t.Errorf("the handler ran %d times, want 3; output:\n%s", got, clip(tm.output()))
	}
}

// TestReplInterruptOnPipe: the same REPL reading a pipe, interrupted by
// SIGINT sent to the runner.
func TestReplInterruptOnPipe(t *testing.T) {
	t.Parallel()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	run := startCLIWith(t, r, fixture("repl.wasm"))
	r.Close()
	run.waitOutput(t, "> ")
	run.signal(t, syscall.SIGINT)
	run.waitOutput(t, "> ^C\n> ")
	w.WriteString("echo after\n")
	run.waitOutput(t, "> ^C\n> after\n> ")
	w.Close()
	res := run.wait(t)
	if res.code != 0 {
		t.Errorf("exit status %d\nstderr:\n%s", res.code, clip(res.stderr))
	}
	if !strings.HasSuffix(res.stdout, "bye (1 interrupts)\n") {
		t.Errorf("stdout:\n%s", clip(res.stdout))
	}
}
