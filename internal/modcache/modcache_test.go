package modcache_test

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/bytecodealliance/wasmtime-go/v25"
	"github.com/google/go-cmp/cmp"

	"github.com/wasix-org/wasix-signals-go/internal/modcache"
)

// module returns a small module whose export "f" returns n.
func module(t *testing.T, n int) []byte {
	t.Helper()
	wasm, err := wasmtime.Wat2Wasm(fmt.Sprintf(`(module (func (export "f") (result i32) (i32.const %d)))`, n))
	if err != nil {
		t.Fatal(err)
	}
	return wasm
}

func epochEngine() *wasmtime.Engine {
	cfg := wasmtime.NewConfig()
	cfg.SetEpochInterruption(true)
	return wasmtime.NewEngineWithConfig(cfg)
}

// call instantiates m and returns what its "f" returns.
func call(t *testing.T, engine *wasmtime.Engine, m *wasmtime.Module) int32 {
	t.Helper()
	store := wasmtime.NewStore(engine)
	defer store.Close()
	store.SetEpochDeadline(1 << 40)
	inst, err := wasmtime.NewInstance(store, m, nil)
	if err != nil {
		t.Fatal(err)
	}
	v, err := inst.GetFunc(store, "f").Call(store)
	if err != nil {
		t.Fatal(err)
	}
	return v.(int32)
}

// warnings collects what a Cache logs, as "LEVEL message".
type warnings struct {
	mu   sync.Mutex
	msgs []string
}

func (w *warnings) Enabled(context.Context, slog.Level) bool { return true }
func (w *warnings) WithAttrs([]slog.Attr) slog.Handler       { return w }
func (w *warnings) WithGroup(string) slog.Handler            { return w }
func (w *warnings) Handle(_ context.Context, r slog.Record) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.msgs = append(w.msgs, r.Level.String()+" "+r.Message)
	return nil
}

func (w *warnings) logger() *slog.Logger { return slog.New(w) }

func (w *warnings) take() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	m := w.msgs
	w.msgs = nil
	return m
}

func entries(t *testing.T, dir string) []string {
	t.Helper()
	des, err := os.ReadDir(dir)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	var names []string
	for _, d := range des {
		names = append(names, d.Name())
	}
	sort.Strings(names)
	return names
}

func TestMissThenHit(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "cache")
	engine := epochEngine()
	var w warnings
	c := modcache.New(dir, modcache.Options{Salt: "epochs", Logger: w.logger()})
	wasm := module(t, 42)
	if diff := cmp.Diff([]bool{false, true}, compileTwice(t, c, engine, wasm)); diff != "" {
		t.Errorf("hits (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{c.Key(wasm).String() + ".cwasm"}, entries(t, dir)); diff != "" {
		t.Errorf("directory (-want +got):\n%s", diff)
	}
	if msgs := w.take(); len(msgs) != 0 {
		t.Errorf("warnings: %q", msgs)
	}
	info, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	if perm := info.Mode().Perm(); perm != 0o700 {
		t.Errorf("directory mode %v, want 0700", perm)
	}
}

// compileTwice compiles wasm (module(t, 42)) through c twice, checks that
// each module works, and returns whether each compile was a cache hit.
func compileTwice(t *testing.T, c *modcache.Cache, engine *wasmtime.Engine, wasm []byte) []bool {
	t.Helper()
	var hits []bool
	for i := 0; i < 2; i++ {
		m, hit, err := c.Compile(engine, wasm)
		if err != nil {
			t.Fatal(err)
		}
		if got := call(t, engine, m); got != 42 {
			t.Fatalf("f() = %d, want 42", got)
		}
		hits = append(hits, hit)
	}
	return hits
}

func TestNilCacheCompiles(t *testing.T) {
	var c *modcache.Cache = modcache.New("", modcache.Options{})
	if c != nil {
		t.Fatal("New with no directory returned a cache")
	}
	engine := epochEngine()
	m, hit, err := c.Compile(engine, module(t, 7))
	if err != nil || hit {
		t.Fatalf("Compile: hit %v, err %v", hit, err)
	}
	if got := call(t, engine, m); got != 7 {
		t.Fatalf("f() = %d", got)
	}
	if _, _, err := c.Compile(engine, []byte("\x00asm junk")); err == nil {
		t.Error("a malformed module compiled")
	}
}

func TestKeyCoversSaltAndBytes(t *testing.T) {
	a := modcache.New("d", modcache.Options{Salt: "a"})
	b := modcache.New("d", modcache.Options{Salt: "b"})
	w1, w2 := module(t, 1), module(t, 2)
	keys := map[modcache.Key]string{}
	for name, k := range map[string]modcache.Key{
		"a/1": a.Key(w1), "a/2": a.Key(w2), "b/1": b.Key(w1),
	} {
		if other, dup := keys[k]; dup {
			t.Errorf("%s and %s share a key", name, other)
		}
		keys[k] = name
	}
	if a.Key(w1) != modcache.New("other dir", modcache.Options{Salt: "a"}).Key(w1) {
		t.Error("the key depends on the directory")
	}
}

// TestDamagedEntries: every kind of bad entry is detected, removed and
// rebuilt; the module compiled instead works, and the rebuilt entry hits.
func TestDamagedEntries(t *testing.T) {
	engine := epochEngine()
	wasm := module(t, 42)
	other := module(t, 99)
	tests := []struct {
		name   string
		damage func(t *testing.T, c *modcache.Cache, path string, data []byte) []byte
	}{
		{"empty file", func(*testing.T, *modcache.Cache, string, []byte) []byte { return nil }},
		{"truncated header", func(_ *testing.T, _ *modcache.Cache, _ string, d []byte) []byte { return d[:40] }},
		{"header only", func(_ *testing.T, _ *modcache.Cache, _ string, d []byte) []byte { return d[:64] }},
		{"truncated payload", func(_ *testing.T, _ *modcache.Cache, _ string, d []byte) []byte { return d[:len(d)/2] }},
		{"trailing bytes", func(_ *testing.T, _ *modcache.Cache, _ string, d []byte) []byte { return append(d, 0) }},
		{"flipped payload byte", func(_ *testing.T, _ *modcache.Cache, _ string, d []byte) []byte {
			d[len(d)-len(d)/3] ^= 0x40
			return d
		}},
		{"flipped checksum", func(_ *testing.T, _ *modcache.Cache, _ string, d []byte) []byte { d[53] ^= 1; return d }},
		{"other magic", func(_ *testing.T, _ *modcache.Cache, _ string, d []byte) []byte { d[0] = 'X'; return d }},
		{"other format version", func(_ *testing.T, _ *modcache.Cache, _ string, d []byte) []byte {
			binary.LittleEndian.PutUint32(d[8:], modcache.FormatVersion+1)
			return d
		}},
		{"entry of another key", func(t *testing.T, c *modcache.Cache, _ string, _ []byte) []byte {
			m, _, err := c.Compile(engine, other)
			if err != nil {
				t.Fatal(err)
			}
			_ = m
			d, err := os.ReadFile(filepath.Join(c.Dir(), c.Key(other).String()+".cwasm"))
			if err != nil {
				t.Fatal(err)
			}
			return d
		}},
		{"a raw wasmtime artifact", func(_ *testing.T, _ *modcache.Cache, _ string, d []byte) []byte { return d[64:] }},
		{"garbage payload with a valid header", func(t *testing.T, _ *modcache.Cache, _ string, d []byte) []byte {
			p := d[64:]
			for i := range p {
				p[i] = byte(i * 7)
			}
			return reseal(d)
		}},
		{"compiled for another engine configuration", func(t *testing.T, _ *modcache.Cache, _ string, d []byte) []byte {
			// Same key, but compiled without epoch interruption: wasmtime
			// refuses it for this engine.
			m, err := wasmtime.NewModule(wasmtime.NewEngine(), wasm)
			if err != nil {
				t.Fatal(err)
			}
			p, err := m.Serialize()
			if err != nil {
				t.Fatal(err)
			}
			return reseal(append(d[:64:64], p...))
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			var w warnings
			c := modcache.New(dir, modcache.Options{Salt: "epochs", Logger: w.logger()})
			if _, _, err := c.Compile(engine, wasm); err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(dir, c.Key(wasm).String()+".cwasm")
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, tt.damage(t, c, path, append([]byte(nil), data...)), 0o600); err != nil {
				t.Fatal(err)
			}
			if _, err := c.Load(engine, c.Key(wasm)); !errors.Is(err, modcache.ErrCorrupt) {
				t.Errorf("Load of the damaged entry: %v, want ErrCorrupt", err)
			}
			if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("the damaged entry is still there: %v", err)
			}
			// Damage it again and go through Compile, as a program would.
			if err := os.WriteFile(path, tt.damage(t, c, path, append([]byte(nil), data...)), 0o600); err != nil {
				t.Fatal(err)
			}
			w.take()
			if diff := cmp.Diff([]bool{false, true}, compileTwice(t, c, engine, wasm)); diff != "" {
				t.Errorf("hits after damage (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff([]string{"INFO compile cache: entry unusable, rebuilding it"}, w.take()); diff != "" {
				t.Errorf("warnings (-want +got):\n%s", diff)
			}
		})
	}
}

// reseal rewrites an entry's length and checksum to match its payload.
func reseal(d []byte) []byte {
	p := d[64:]
	binary.LittleEndian.PutUint64(d[44:], uint64(len(p)))
	binary.LittleEndian.PutUint32(d[52:], modcache.Checksum(p))
	return d
}

func TestTrim(t *testing.T) {
	dir := t.TempDir()
	engine := epochEngine()
	probe := modcache.New(t.TempDir(), modcache.Options{})
	if _, _, err := probe.Compile(engine, module(t, 0)); err != nil {
		t.Fatal(err)
	}
	size := fileSize(t, filepath.Join(probe.Dir(), probe.Key(module(t, 0)).String()+".cwasm"))
	// Room for three entries of this size.
	c := modcache.New(dir, modcache.Options{MaxBytes: 3*size + size/2})
	stale := filepath.Join(dir, ".tmp-stale")
	fresh := filepath.Join(dir, ".tmp-fresh")
	for _, p := range []string{stale, fresh} {
		if err := os.WriteFile(p, []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	old := time.Now().Add(-2 * time.Hour)
	if err := os.Chtimes(stale, old, old); err != nil {
		t.Fatal(err)
	}
	base := time.Now().Add(-time.Minute)
	for n := 1; n <= 3; n++ {
		if _, _, err := c.Compile(engine, module(t, n)); err != nil {
			t.Fatal(err)
		}
		// Distinct use times, oldest first; entry 1 is then used again.
		at := base.Add(time.Duration(n) * time.Second)
		if err := os.Chtimes(filepath.Join(dir, c.Key(module(t, n)).String()+".cwasm"), at, at); err != nil {
			t.Fatal(err)
		}
		if n == 2 {
			if _, hit, _ := c.Compile(engine, module(t, 1)); !hit {
				t.Fatal("entry 1 missed")
			}
		}
	}
	// Entry 4 pushes the cache over: the least recently used, 2, goes.
	if _, _, err := c.Compile(engine, module(t, 4)); err != nil {
		t.Fatal(err)
	}
	want := []string{".tmp-fresh"}
	for _, n := range []int{1, 3, 4} {
		want = append(want, c.Key(module(t, n)).String()+".cwasm")
	}
	sort.Strings(want)
	got := entries(t, dir)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("after trimming (-want +got):\n%s", diff)
	}
}

func fileSize(t *testing.T, path string) int64 {
	t.Helper()
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return info.Size()
}

func TestUnwritableDirectoryStillCompiles(t *testing.T) {
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	var w warnings
	c := modcache.New(filepath.Join(file, "cache"), modcache.Options{Logger: w.logger()})
	engine := epochEngine()
	for i := 0; i < 2; i++ {
		m, hit, err := c.Compile(engine, module(t, 5))
		if err != nil || hit {
			t.Fatalf("Compile: hit %v, err %v", hit, err)
		}
		if got := call(t, engine, m); got != 5 {
			t.Fatalf("f() = %d", got)
		}
	}
	msgs := w.take()
	if len(msgs) != 2 || msgs[0] != "WARN compile cache: cannot store a compiled module" {
		t.Errorf("warnings: %q", msgs)
	}
}

// TestConcurrentWriters: several caches (as several processes would) on one
// directory compile the same and different modules at once; every result
// works and every entry left is valid.
func TestConcurrentWriters(t *testing.T) {
	dir := t.TempDir()
	engine := epochEngine()
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			c := modcache.New(dir, modcache.Options{})
			for n := 0; n < 3; n++ {
				wasm, err := wasmtime.Wat2Wasm(fmt.Sprintf(`(module (func (export "f") (result i32) (i32.const %d)))`, n))
				if err != nil {
					errs <- err
					return
				}
				if _, _, err := c.Compile(engine, wasm); err != nil {
					errs <- err
					return
				}
			}
		}(g)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	c := modcache.New(dir, modcache.Options{})
	for n := 0; n < 3; n++ {
		m, err := c.Load(engine, c.Key(module(t, n)))
		if err != nil {
			t.Fatalf("entry %d: %v", n, err)
		}
		if got := call(t, engine, m); got != int32(n) {
			t.Errorf("entry %d: f() = %d", n, got)
		}
	}
	if names := entries(t, dir); len(names) != 3 {
		t.Errorf("directory: %q, want the 3 entries only", names)
	}
}
