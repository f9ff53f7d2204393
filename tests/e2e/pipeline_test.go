package e2e_test

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestPipelineCLI: a parent and its forked child joined by a pipe, and
// the SIGPIPE a writer gets once its reader is gone (pipeline.c).
func TestPipelineCLI(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		mode   string
		code   int
		stdout string
	}{
		{"pipe", 0, "child: read 14 bytes in 3 lines, then end of file\njoined child: exited 3\n"},
		{"epipe", 141, "joined child: exited 0\n"},
		{"handled", 0, "joined child: exited 0\nwrite returned -1 (SIGPIPE handled 1 times)\n"},
	} {
		t.Run(tc.mode, func(t *testing.T) {
			t.Parallel()
			r := runCLI(t, fixture("pipeline.wasm"), tc.mode)
			if r.code != tc.code {
				t.Errorf("exit status %d, want %d\nstderr:\n%s", r.code, tc.code, clip(r.stderr))
			}
			if diff := cmp.Diff(tc.stdout, r.stdout); diff != "" {
				t.Errorf("stdout (-want +got):\n%s", diff)
			}
		})
	}
}

// TestPipelineHost: the same pipeline through the host API, with the
// output in a file, given open (Config.Stdio) or by name (Config.Stdout,
// which wasmtime opens and the child gets opened again): either way the
// pipe is the guest's own, and the child has it.
func TestPipelineHost(t *testing.T) {
	t.Parallel()
	want := "child: read 14 bytes in 3 lines, then end of file\njoined child: exited 3\n"
	for _, named := range []bool{false, true} {
		t.Run(map[bool]string{false: "open file", true: "named file"}[named], func(t *testing.T) {
			t.Parallel()
			p, output := startFixtureTo(t, newRuntime(t), "pipeline.wasm", named, "pipe")
			if err := p.Wait(); err != nil {
				t.Fatalf("outcome %v", err)
			}
			if diff := cmp.Diff(want, output()); diff != "" {
				t.Errorf("output (-want +got):\n%s", diff)
			}
		})
	}
}

// TestItimerCLI: setitimer and alarm through proc_raise_interval2.
func TestItimerCLI(t *testing.T) {
	t.Parallel()
	r := runCLI(t, fixture("itimer.wasm"))
	want := "itimer: 3 alarms, 3 sleeps interrupted; old interval 20000 us, value left <= 20000 us: yes\n" +
		"alarm: sleep returned 27, 4 alarms\n"
	if r.code != 0 {
		t.Errorf("exit status %d\nstderr:\n%s", r.code, clip(r.stderr))
	}
	if diff := cmp.Diff(want, r.stdout); diff != "" {
		t.Errorf("stdout (-want +got):\n%s", diff)
	}
}
