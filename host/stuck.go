package host

import (
	"bytes"
	"fmt"
	"runtime"
	"strconv"
	"strings"
)

// StuckError is the outcome of a process that a kill had to give up on:
// the guest sat in a host call that nothing interrupts, and its goroutine
// was left to finish on its own. It wraps the SIGKILL exit, so ExitCode
// gives 137.
type StuckError struct {
	// Call describes where the guest's goroutine was: the host function
	// it was in (Go name) and what that function was blocked in.
	Call string
	Err  error
}

func (e *StuckError) Error() string {
	return fmt.Sprintf("host: killed while stuck in %s; its goroutine is left to finish on its own: %v", e.Call, e.Err)
}

func (e *StuckError) Unwrap() error { return e.Err }

// goroutineID returns the calling goroutine's id, read from its stack
// header ("goroutine N [running]:"). Only the stuck report uses it.
func goroutineID() int64 {
	var buf [64]byte
	b := buf[:runtime.Stack(buf[:], false)]
	b = bytes.TrimPrefix(b, []byte("goroutine "))
	id, _ := strconv.ParseInt(string(b[:max(bytes.IndexByte(b, ' '), 0)]), 10, 64)
	return id
}

// stuckIn names the call the guest's goroutine is in, from a dump of all
// goroutines (the rare path: a kill that did not end the guest in time).
func (p *Process) stuckIn() string {
	id := p.goid.Load()
	if id == 0 {
		return "the start function"
	}
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	return describeStack(string(buf), id)
}

// describeStack reads the stack of goroutine id in a runtime.Stack dump.
// A host function runs under wasmtime-go's trampoline: the first named
// function above the innermost trampoline frame is the host function, the
// innermost non-runtime frame is what it is blocked in. Without a
// trampoline the goroutine is inside wasm or wasmtime's own WASI.
func describeStack(dump string, id int64) string {
	header := "goroutine " + strconv.FormatInt(id, 10) + " ["
	i := strings.Index(dump, header)
	if i < 0 {
		return "an unknown call (the guest's goroutine was not found)"
	}
	stack := dump[i:]
	if j := strings.Index(stack, "\n\n"); j >= 0 {
		stack = stack[:j]
	}
	var frames []string // innermost first
	for _, line := range strings.Split(stack, "\n")[1:] {
		if line == "" || strings.HasPrefix(line, "\t") || strings.HasPrefix(line, "created by") {
			continue
		}
		if k := strings.LastIndexByte(line, '('); k > 0 {
			line = line[:k]
		}
		frames = append(frames, line)
	}
	tramp := -1
	for k, f := range frames {
		if strings.Contains(f, "wasmtime-go/v25.goTrampoline") {
			tramp = k
			break
		}
	}
	if tramp < 0 {
		return "wasm code or wasmtime's own WASI (no Go host function on the stack)"
	}
	fn := frames[max(tramp-1, 0)]
	for k := tramp - 1; k >= 0; k-- {
		if !isClosure(frames[k]) {
			fn = frames[k]
			break
		}
	}
	blocked := ""
	for _, f := range frames[:tramp] {
		if !strings.HasPrefix(f, "runtime.") && !strings.HasPrefix(f, "internal/") {
			blocked = f
			break
		}
	}
	if blocked == "" || blocked == fn {
		return "host function " + fn
	}
	return "host function " + fn + ", blocked in " + blocked
}

// isClosure reports whether a frame is an anonymous function (name.funcN).
func isClosure(frame string) bool {
	k := strings.LastIndex(frame, ".func")
	if k < 0 {
		return false
	}
	rest := frame[k+len(".func"):]
	return rest != "" && strings.Trim(rest, "0123456789.") == ""
}
