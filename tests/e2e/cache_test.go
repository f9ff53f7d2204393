package e2e_test

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestCLICompileCache: wasix-run keeps the compiled module under
// $XDG_CACHE_HOME/wasix-signals-go, runs the same from it, survives a
// damaged entry, and --no-cache leaves no cache behind.
func TestCLICompileCache(t *testing.T) {
	xdg := t.TempDir()
	dir := filepath.Join(xdg, "wasix-signals-go")
	run := func(step string, args ...string) {
		t.Helper()
		cmd := exec.Command(cli, append(args, fixture("wasixlike.wasm"))...)
		cmd.Env = append(os.Environ(), "XDG_CACHE_HOME="+xdg)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%s: %v\n%s", step, err, out)
		}
		if diff := cmp.Diff("wasixlike: got signal 10\n", string(out)); diff != "" {
			t.Errorf("%s: output (-want +got):\n%s", step, diff)
		}
	}
	entries := func() []os.DirEntry {
		t.Helper()
		des, err := os.ReadDir(dir)
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			t.Fatal(err)
		}
		return des
	}

	run("no cache", "--no-cache")
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("--no-cache made %s: %v", dir, err)
	}
	run("cold")
	des := entries()
	if len(des) != 1 {
		t.Fatalf("cache after the first run: %d entries, want 1", len(des))
	}
	run("warm")
	entry := filepath.Join(dir, des[0].Name())
	if err := os.WriteFile(entry, []byte("WXSGMODC garbage"), 0o600); err != nil {
		t.Fatal(err)
	}
	run("damaged entry")
	info, err := os.Stat(entry)
	if err != nil {
		t.Fatal(err)
	}
	if info.Size() < 1000 {
		t.Errorf("the damaged entry was not rebuilt: %d bytes", info.Size())
	}
}
