package signal_test

import (
	"testing"
	"unicode/utf8"
)

// FuzzCallbackSignalName writes arbitrary bytes into guest memory and
// registers arbitrary (ptr, len) pairs. Property: no panic and no trap;
// a range out of bounds or bytes that are not UTF-8 leave the registration
// and the counters exactly as they were; a readable name registers a
// handler exactly when it names an exported (i32)->() function.
func FuzzCallbackSignalName(f *testing.F) {
	seeds := []struct {
		data     []byte
		ptr, len uint32
	}{
		{[]byte("__wasm_signal"), 1024, 13},
		{[]byte("other_handler"), 1024, 13},
		{[]byte("__wasm_signal_blocked"), 1024, 21},
		{[]byte("memory"), 1024, 6},
		{[]byte("a_global"), 1024, 8},
		{[]byte("wrong_type"), 1024, 10},
		{[]byte(""), 1024, 0},
		{[]byte("__wasm_signal\x00"), 1024, 14},
		{[]byte{0xff, 0xfe, 0xfd}, 1024, 3},
		{[]byte("\xed\xa0\x80"), 1024, 3}, // a UTF-16 surrogate
		{nil, 65530, 100},
		{nil, 0xFFFFFFF0, 0x20},
		{nil, 0, 0xFFFFFFFF},
		{nil, 65536, 0},
		{nil, 65536, 1},
	}
	for _, s := range seeds {
		f.Add(s.data, s.ptr, s.len)
	}
	g := newGuest(f, guestOpts{extra: `(func (export "poke") (param i32 i32) (i32.store8 (local.get 0) (local.get 1)))`})
	handlers := map[string]bool{"__wasm_signal": true, "other_handler": true}
	f.Fuzz(func(t *testing.T, data []byte, ptr, n uint32) {
		if len(data) > 4096 {
			data = data[:4096]
		}
		// Start from a known state: the real handler registered.
		if err := g.call("reg", int32(0), int32(13)); err != nil {
			t.Fatal(err)
		}
		mem := g.inst.GetExport(g.store, "memory").Memory().UnsafeData(g.store)
		copy(mem[1024:], data)
		before := g.env.Counters()
		if err := g.call("reg", int32(ptr), int32(n)); err != nil {
			t.Fatalf("callback_signal(%d, %d) failed: %v", ptr, n, err)
		}
		set, found := g.env.Handler()
		end := uint64(ptr) + uint64(n)
		readable := end <= uint64(len(mem)) && utf8.Valid(mem[ptr:end])
		switch {
		case !readable && (!set || !found):
			t.Fatalf("bad input (%d, %d) changed the registration: set=%v found=%v", ptr, n, set, found)
		case readable && found != handlers[string(mem[ptr:end])]:
			t.Fatalf("name %q: found=%v", mem[ptr:end], found)
		}
		if after := g.env.Counters(); after != before {
			t.Fatalf("counters changed: %+v -> %+v", before, after)
		}
		clear(mem[1024 : 1024+len(data)])
	})
}
