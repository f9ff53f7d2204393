package e2e_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/wasix-org/wasix-signals-go/host"
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
	t.Run("open file", func(t *testing.T) {
		t.Parallel()
		p, output := startFixture(t, newRuntime(t), "pipeline.wasm", "pipe")
		if err := p.Wait(); err != nil {
			t.Fatalf("outcome %v", err)
		}
		if diff := cmp.Diff(want, output()); diff != "" {
			t.Errorf("output (-want +got):\n%s", diff)
		}
	})
	t.Run("named file", func(t *testing.T) {
		t.Parallel()
		rt := newRuntime(t)
		wasm, err := os.ReadFile(fixture("pipeline.wasm"))
		if err != nil {
			t.Fatal(err)
		}
		m, err := rt.Compile(wasm)
		if err != nil {
			t.Fatal(err)
		}
		out := filepath.Join(t.TempDir(), "stdout")
		p, err := rt.Start(context.Background(), m, host.Config{
			Args: []string{"pipeline.wasm", "pipe"}, Stdout: out, Stderr: out,
		})
		if err != nil {
			t.Fatal(err)
		}
		if err := p.Wait(); err != nil {
			t.Fatalf("outcome %v", err)
		}
		got, _ := os.ReadFile(out)
		if diff := cmp.Diff(want, string(got)); diff != "" {
			t.Errorf("output (-want +got):\n%s", diff)
		}
	})
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
