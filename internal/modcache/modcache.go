// Package modcache keeps compiled WebAssembly modules on disk, so that a
// program run a second time starts without compiling it again.
//
// wasmtime compiles a module to machine code before it can run; for a 2 MB
// program that takes seconds. Cache.Compile looks the module up by a key
// made of the bytes to compile and everything else that decides what code
// they compile to, and either loads the machine code wasmtime serialized the
// first time (Module.Serialize, NewModuleDeserialize) or compiles and stores
// it. docs/PERFORMANCE.md has the figures, where the cache lives and how to
// clean it.
//
// # Key
//
// SHA-256 over: the format version of this package, the wasmtime-go module
// version, GOOS/GOARCH, a salt from the caller (what it knows of its engine
// configuration) and the module bytes. wasmtime itself refuses a serialized
// module made by another wasmtime version or with engine settings that
// change the code (epoch interruption, wasm features, target); such an
// entry is treated as corrupt.
//
// # Entries
//
// One file per key, named by the key in hex: a 64-byte header (magic,
// format version, the key, payload length, CRC-32C of the payload) and the
// payload, the serialized module. Writes go to a temporary file in the same
// directory and are renamed into place, so a reader sees a whole entry or
// none, and concurrent writers of the same key both leave a valid one.
//
// An entry that is truncated, has another magic, version or key, fails its
// checksum, or that wasmtime refuses, is removed and the module compiled and
// stored again: a bad cache costs a compile, never a crash. The checksum
// guards against damage, not against an attacker: deserializing runs machine
// code from the file, so the directory must be writable only by its user
// (Cache creates it with mode 0700).
//
// # Size
//
// After each store the cache removes the least recently used entries (by
// modification time, which a hit refreshes) until the directory holds at
// most MaxBytes, and removes temporary files left by interrupted writes.
package modcache

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/crc32"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/bytecodealliance/wasmtime-go/v25"
)

// FormatVersion is the version of the entry layout and of the key. Bump it
// when either changes, or when what the host does to the bytes before
// compiling changes in a way the bytes do not show.
const FormatVersion = 1

// DefaultMaxBytes bounds a cache whose MaxBytes is zero.
const DefaultMaxBytes = 1 << 30

const (
	magic      = "WXSGMODC" // 8 bytes
	headerSize = 64
	entryExt   = ".cwasm"
	tempPrefix = ".tmp-"
	// staleTemp is how old a temporary file must be before a cleanup takes
	// it for the leftover of an interrupted write.
	staleTemp = time.Hour
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Key identifies one compiled module.
type Key [sha256.Size]byte

func (k Key) String() string { return hex.EncodeToString(k[:]) }

// Cache is a directory of compiled modules. A nil *Cache is valid and
// caches nothing. It is safe for concurrent use, also by several processes
// sharing the directory.
type Cache struct {
	dir      string
	salt     string
	maxBytes int64
	log      *slog.Logger
	mu       sync.Mutex // serialises cleanups within this process
}

// Options configure a Cache.
type Options struct {
	// Salt names what decides the machine code besides the module bytes
	// and is not covered otherwise: typically the engine configuration.
	Salt string
	// MaxBytes bounds the directory; 0 means DefaultMaxBytes.
	MaxBytes int64
	// Logger receives, at info level, the entries found unusable and
	// rebuilt, and at warn level the failures to store one (which only
	// cost a compile on the next run). Nil discards them.
	Logger *slog.Logger
}

// New returns a cache in dir, or nil when dir is empty. The directory is
// created on first store.
func New(dir string, opts Options) *Cache {
	if dir == "" {
		return nil
	}
	c := &Cache{dir: dir, salt: opts.Salt, maxBytes: opts.MaxBytes, log: opts.Logger}
	if c.maxBytes <= 0 {
		c.maxBytes = DefaultMaxBytes
	}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	return c
}

// Dir returns the cache directory ("" for a nil cache).
func (c *Cache) Dir() string {
	if c == nil {
		return ""
	}
	return c.dir
}

// wasmtimeVersion is the version of wasmtime-go this binary was built with,
// as the build information records it ("v25" when it is not recorded).
var wasmtimeVersion = sync.OnceValue(func() string {
	const path = "github.com/bytecodealliance/wasmtime-go/v25"
	if info, ok := debug.ReadBuildInfo(); ok {
		for _, d := range info.Deps {
			if d.Path == path {
				if d.Replace != nil {
					d = d.Replace
				}
				return d.Path + "@" + d.Version + " " + d.Sum
			}
		}
	}
	return path
})

// Key returns the key of wasm compiled by this cache's engine.
func (c *Cache) Key(wasm []byte) Key {
	h := sha256.New()
	fmt.Fprintf(h, "modcache %d\x00%s\x00%s/%s\x00", FormatVersion, wasmtimeVersion(), runtime.GOOS, runtime.GOARCH)
	if c != nil {
		fmt.Fprintf(h, "%d:%s\x00", len(c.salt), c.salt)
	}
	h.Write(wasm)
	var k Key
	h.Sum(k[:0])
	return k
}

// Compile returns wasm compiled for engine: loaded from the cache when a
// valid entry is there, otherwise compiled with wasmtime.NewModule and
// stored. Only the compile can fail; cache failures are logged. hit
// reports whether the module came from the cache.
//
// engine must be the one (or configured as the one) the salt describes:
// an entry compiled with other settings is refused by wasmtime and
// rebuilt, and two engines with different settings sharing one cache
// would rebuild each other's entries.
func (c *Cache) Compile(engine *wasmtime.Engine, wasm []byte) (m *wasmtime.Module, hit bool, err error) {
	if c == nil {
		m, err = wasmtime.NewModule(engine, wasm)
		return m, false, err
	}
	key := c.Key(wasm)
	if m, err := c.Load(engine, key); err == nil {
		return m, true, nil
	} else if errors.Is(err, ErrCorrupt) {
		c.log.Info("compile cache: entry unusable, rebuilding it", "entry", c.path(key), "error", err)
	}
	m, err = wasmtime.NewModule(engine, wasm)
	if err != nil {
		return nil, false, err
	}
	if err := c.Store(key, m); err != nil {
		c.log.Warn("compile cache: cannot store a compiled module", "dir", c.dir, "error", err)
	}
	return m, false, nil
}

// ErrCorrupt is wrapped by Load's error for an entry that is damaged,
// foreign or refused by wasmtime; Load has removed it.
var ErrCorrupt = errors.New("modcache: corrupt or foreign entry")

// Load returns the module stored under key. A missing entry gives an error
// wrapping os.ErrNotExist (a directory that cannot be read, its own error);
// an unusable one is removed and gives an error wrapping ErrCorrupt.
func (c *Cache) Load(engine *wasmtime.Engine, key Key) (*wasmtime.Module, error) {
	if c == nil {
		return nil, os.ErrNotExist
	}
	path := c.path(key)
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	payload, err := check(data, key)
	if err == nil {
		var m *wasmtime.Module
		if m, err = wasmtime.NewModuleDeserialize(engine, payload); err == nil {
			// Mark it used, for the eviction order.
			now := time.Now()
			_ = os.Chtimes(path, now, now)
			return m, nil
		}
	}
	_ = os.Remove(path)
	return nil, fmt.Errorf("%w: %s: %v", ErrCorrupt, path, err)
}

// check validates an entry's header against key and returns its payload.
func check(data []byte, key Key) ([]byte, error) {
	if len(data) < headerSize {
		return nil, fmt.Errorf("%d bytes, shorter than the header", len(data))
	}
	h := data[:headerSize]
	switch {
	case string(h[:8]) != magic:
		return nil, errors.New("not a modcache entry")
	case binary.LittleEndian.Uint32(h[8:]) != FormatVersion:
		return nil, fmt.Errorf("format version %d, want %d", binary.LittleEndian.Uint32(h[8:]), FormatVersion)
	case !bytes.Equal(h[12:44], key[:]):
		return nil, errors.New("entry of another key")
	}
	payload := data[headerSize:]
	if n := binary.LittleEndian.Uint64(h[44:]); n != uint64(len(payload)) {
		return nil, fmt.Errorf("payload of %d bytes, header says %d", len(payload), n)
	}
	if crc32.Checksum(payload, castagnoli) != binary.LittleEndian.Uint32(h[52:]) {
		return nil, errors.New("checksum mismatch")
	}
	return payload, nil
}

// Store serializes m and writes it under key, atomically, then trims the
// cache to its size bound.
func (c *Cache) Store(key Key, m *wasmtime.Module) error {
	if c == nil {
		return nil
	}
	payload, err := m.Serialize()
	if err != nil {
		return fmt.Errorf("modcache: serialize: %w", err)
	}
	if err := c.write(key, payload); err != nil {
		return err
	}
	c.trim()
	return nil
}

func (c *Cache) write(key Key, payload []byte) error {
	if err := os.MkdirAll(c.dir, 0o700); err != nil {
		return fmt.Errorf("modcache: %w", err)
	}
	var h [headerSize]byte
	copy(h[:8], magic)
	binary.LittleEndian.PutUint32(h[8:], FormatVersion)
	copy(h[12:44], key[:])
	binary.LittleEndian.PutUint64(h[44:], uint64(len(payload)))
	binary.LittleEndian.PutUint32(h[52:], crc32.Checksum(payload, castagnoli))
	f, err := os.CreateTemp(c.dir, tempPrefix+key.String()[:16]+"-*")
	if err != nil {
		return fmt.Errorf("modcache: %w", err)
	}
	_, err = f.Write(h[:])
	if err == nil {
		_, err = f.Write(payload)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), c.path(key))
	}
	if err != nil {
		_ = os.Remove(f.Name())
		return fmt.Errorf("modcache: %w", err)
	}
	return nil
}

func (c *Cache) path(key Key) string { return filepath.Join(c.dir, key.String()+entryExt) }

// trim removes the least recently used entries until the cache fits
// MaxBytes, and temporary files older than an hour.
func (c *Cache) trim() {
	c.mu.Lock()
	defer c.mu.Unlock()
	dirents, err := os.ReadDir(c.dir)
	if err != nil {
		return
	}
	type entry struct {
		path string
		size int64
		used time.Time
	}
	var entries []entry
	var total int64
	for _, d := range dirents {
		info, err := d.Info()
		if err != nil || !info.Mode().IsRegular() {
			continue
		}
		path := filepath.Join(c.dir, d.Name())
		switch {
		case strings.HasPrefix(d.Name(), tempPrefix):
			if time.Since(info.ModTime()) > staleTemp {
				_ = os.Remove(path)
			}
		case strings.HasSuffix(d.Name(), entryExt):
			entries = append(entries, entry{path, info.Size(), info.ModTime()})
			total += info.Size()
		}
	}
	if total <= c.maxBytes {
		return
	}
	sort.Slice(entries, func(i, j int) bool { return entries[i].used.Before(entries[j].used) })
	for _, e := range entries {
		if total <= c.maxBytes {
			break
		}
		if os.Remove(e.path) == nil {
			total -= e.size
		}
	}
}
