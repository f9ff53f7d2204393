package e2e_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestConformanceOffline: the conformance suite's offline mode runs with no
// Node on the PATH and compares ours with the committed recordings; without
// --no-ref, it stops at once and says to use it.
func TestConformanceOffline(t *testing.T) {
	t.Parallel()
	// A PATH with the tools run.sh uses, and no node or npm.
	bin := t.TempDir()
	for _, tool := range []string{"bash", "dirname", "mktemp", "mkdir", "rm", "ls", "cat", "tail",
		"od", "tr", "timeout", "awk", "cmp", "diff", "head", "sed"} {
		p, err := exec.LookPath(tool)
		if err != nil {
			t.Skipf("%s not found: %v", tool, err)
		}
		if err := os.Symlink(p, filepath.Join(bin, tool)); err != nil {
			t.Fatal(err)
		}
	}
	script := filepath.Join(root, "tests", "conformance", "run.sh")
	run := func(args ...string) (string, int) {
		cmd := exec.Command(filepath.Join(bin, "bash"), append([]string{script}, args...)...)
		cmd.Env = []string{"PATH=" + bin, "WASIX_RUN=" + cli, "TMPDIR=" + t.TempDir()}
		out, err := cmd.CombinedOutput()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		return string(out), code
	}

	out, code := run("--no-ref", "reg_found", "default_term", "handler_trap")
	for _, want := range []string{
		"node not found",
		"reg_found                    -            ok           ok",
		"default_term                 -            ok           ok",
		"conformance: 6 passed, 0 failed",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("offline run does not say %q:\n%s", want, out)
		}
	}
	if code != 0 {
		t.Errorf("offline run: exit status %d, want 0:\n%s", code, out)
	}

	out, code = run("reg_found")
	if code != 1 || !strings.Contains(out, "--no-ref") || strings.Contains(out, "conformance:") {
		t.Errorf("run without Node: exit status %d:\n%s\nwant 1 and a pointer to --no-ref", code, out)
	}
}
