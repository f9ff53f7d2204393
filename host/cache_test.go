package host_test

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/wasix-org/wasix-signals-go/host"
)

// TestCompileCache: a wasix-libc-shaped program (rewritten at load time,
// with imports the host stubs) runs the same compiled, loaded from the
// cache by a new Runtime, and after its entry was damaged.
func TestCompileCache(t *testing.T) {
	wasm, err := os.ReadFile(filepath.Join("..", "fixtures", "wasixlike.wasm"))
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "cache")
	steps := []struct {
		name   string
		before func(t *testing.T)
		warns  bool // the runtime logs that it rebuilt the entry
	}{
		{name: "cold"},
		{name: "warm"},
		{name: "damaged entry", before: func(t *testing.T) {
			for _, e := range cacheEntries(t, dir) {
				if err := os.Truncate(filepath.Join(dir, e), 100); err != nil {
					t.Fatal(err)
				}
			}
		}, warns: true},
		{name: "rebuilt"},
	}
	for _, s := range steps {
		if s.before != nil {
			s.before(t)
		}
		var logs bytes.Buffer
		r, err := host.NewRuntime(host.Options{CacheDir: dir, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
		if err != nil {
			t.Fatal(err)
		}
		m, err := r.Compile(wasm)
		if err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		out := filepath.Join(t.TempDir(), "stdout")
		p, err := r.Start(context.Background(), m, host.Config{Stdout: out})
		if err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		if err := wait(t, p); host.ExitCode(err) != 0 {
			t.Errorf("%s: %v", s.name, err)
		}
		b, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff("wasixlike: got signal 10\n", string(b)); diff != "" {
			t.Errorf("%s: stdout (-want +got):\n%s", s.name, diff)
		}
		if got := strings.Contains(logs.String(), "entry unusable"); got != s.warns {
			t.Errorf("%s: rebuild logged %v, want %v; log:\n%s", s.name, got, s.warns, logs.String())
		}
		if n := len(cacheEntries(t, dir)); n != 1 {
			t.Errorf("%s: %d cache entries, want 1", s.name, n)
		}
	}
}

func cacheEntries(t *testing.T, dir string) []string {
	t.Helper()
	des, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, d := range des {
		names = append(names, d.Name())
	}
	return names
}
