package main

import (
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/wasix-org/wasix-signals-go/internal/wasmbin"
)

func TestTrimBacktrace(t *testing.T) {
	frames := func(from, to int) []string {
		var out []string
		for i := from; i < to; i++ {
			out = append(out, fmt.Sprintf("  %3d:   0x2a - <unknown>!r", i))
		}
		return out
	}
	trace := func(n int) string {
		return strings.Join(append(append([]string{"error while executing at wasm backtrace:", "    0: <unknown>!r"},
			frames(1, n)...), "", "Caused by:", "    wasm trap: call stack exhausted"), "\n")
	}
	// The code section copied 4 bytes later than in the user's file.
	moved := wasmbin.OffsetMap{{Out: 8, In: 8, Len: 10}, {Out: 18, In: 22, Len: 100, Copied: true}}
	tests := []struct {
		name    string
		in      string
		offsets wasmbin.OffsetMap
		want    []string
	}{
		{"no backtrace", "wasix: exit status 3", nil, []string{"wasix: exit status 3"}},
		{"short", trace(3), nil, lines(trace(3))},
		{"exactly the limit", trace(maxFrames), nil, lines(trace(maxFrames))},
		{"long", trace(16000), nil, append(append([]string{"error while executing at wasm backtrace:", "    0: <unknown>!r"},
			frames(1, maxFrames)...), "  ... 15970 more frames", "", "Caused by:", "    wasm trap: call stack exhausted")},
		{"offsets in the user's file", trace(3), moved, []string{"error while executing at wasm backtrace:", "    0: <unknown>!r",
			"    1:   0x2e - <unknown>!r", "    2:   0x2e - <unknown>!r", "", "Caused by:", "    wasm trap: call stack exhausted"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := lines(trimBacktrace(tt.in, tt.offsets))
			if d := cmp.Diff(tt.want, got); d != "" {
				t.Errorf("(-want +got):\n%s", d)
			}
		})
	}
}

func lines(s string) []string { return strings.Split(s, "\n") }
