package main

import (
	"fmt"
	"log/slog"
	"regexp"
	"runtime/debug"
	"strconv"
	"strings"

	"github.com/wasix-org/wasix-signals-go/wasix"
)

// maxFrames is how many frames of a wasm backtrace the runner prints: a
// guest that recursed until its stack ran out has tens of thousands.
const maxFrames = 30

// frameRE matches a frame of wasmtime's backtrace, "  12:   0x2a - f",
// with the offset when the frame has one.
var frameRE = regexp.MustCompile(`^(\s+\d+:\s+)(?:0x([0-9a-f]+)( - ))?`)

// trimBacktrace keeps the first maxFrames frames of each wasm backtrace in
// msg and says how many it left out; it also turns the frames' code
// offsets, which are those of the module as rewritten at load time, into
// offsets in the user's file.
//
// offsets is a *host.Report (or the load-time rewrite's own map, in tests).
func trimBacktrace(msg string, offsets offsetMap) string {
	if !strings.Contains(msg, "wasm backtrace:") {
		return msg
	}
	lines := strings.Split(msg, "\n")
	out := make([]string, 0, min(len(lines), maxFrames+20))
	frames, left := 0, 0
	for i, l := range lines {
		m := frameRE.FindStringSubmatch(l)
		inTrace := m != nil && (frames > 0 || i > 0 && strings.HasSuffix(lines[i-1], "wasm backtrace:"))
		if !inTrace {
			if left > 0 {
				out = append(out, fmt.Sprintf("  ... %d more frames", left))
			}
			frames, left = 0, 0
			out = append(out, l)
			continue
		}
		frames++
		if frames > maxFrames {
			left++
			continue
		}
		if m[2] != "" && offsets != nil {
			if off, err := strconv.ParseUint(m[2], 16, 32); err == nil {
				orig, _ := offsets.Original(int(off))
				l = m[1] + fmt.Sprintf("%#x", orig) + m[3] + l[len(m[0]):]
			}
		}
		out = append(out, l)
	}
	if left > 0 {
		out = append(out, fmt.Sprintf("  ... %d more frames", left))
	}
	return strings.Join(out, "\n")
}

// replaceAttr names the trace level and trims backtraces in logged errors.
func replaceAttr(groups []string, a slog.Attr) slog.Attr {
	a = wasix.ReplaceLevel(groups, a)
	if a.Value.Kind() == slog.KindString && strings.Contains(a.Value.String(), "wasm backtrace:") {
		a.Value = slog.StringValue(trimBacktrace(a.Value.String(), nil))
	}
	return a
}

// versionText is what --version prints: this module's version and the
// wasmtime-go version it was built with, from the binary's build
// information.
func versionText() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "wasix-run (no build information)\n"
	}
	version := bi.Main.Version
	var rev, modified string
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			if s.Value == "true" {
				modified = "+modified"
			}
		}
	}
	if rev != "" {
		version += " (commit " + rev[:min(12, len(rev))] + modified + ")"
	}
	wasmtime := "unknown"
	for _, d := range bi.Deps {
		if strings.HasPrefix(d.Path, "github.com/bytecodealliance/wasmtime-go") {
			wasmtime = d.Path + " " + d.Version
			if d.Replace != nil {
				wasmtime += " => " + d.Replace.Path + " " + d.Replace.Version
			}
		}
	}
	return fmt.Sprintf("wasix-run %s %s\nwasmtime: %s\ngo: %s\n", bi.Main.Path, version, wasmtime, bi.GoVersion)
}

// offsetMap maps offsets in the adapted module back to the user's file.
type offsetMap interface {
	Original(off int) (int, bool)
}
