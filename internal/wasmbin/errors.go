package wasmbin

import (
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// ErrExceptionHandling matches (errors.Is) every *ExceptionHandlingError.
var ErrExceptionHandling = errors.New("wasmbin: module is built for the WebAssembly exception-handling proposal")

// An ExceptionHandlingError reports a module built for the WebAssembly
// exception-handling proposal (wasix-libc's EH sysroots, the default of
// cargo-wasix since late 2025). wasmtime v25 cannot compile it at all; the
// same program built with the asyncify sysroot runs.
type ExceptionHandlingError struct {
	// Evidence says what gave it away: a tag section, an imported or
	// exported tag, or the instruction wasmtime rejected.
	Evidence string
}

func (e *ExceptionHandlingError) Error() string {
	return "wasmbin: module is built for the WebAssembly exception-handling proposal (" + e.Evidence +
		"), which wasmtime v25 cannot run; rebuild it with the asyncify (non-EH) wasix-libc sysroot"
}

// Is makes errors.Is(err, ErrExceptionHandling) true.
func (e *ExceptionHandlingError) Is(target error) bool { return target == ErrExceptionHandling }

// Unsupported reports what in wasm wasmtime v25 cannot compile, before
// compiling it: an *ExceptionHandlingError for a module built for the
// exception-handling proposal (one that defines or imports a tag, as every
// module that throws or catches does), or nil. It decodes only the section
// headers and the imports; a malformed binary gives a
// *FormatError. Instructions of the proposal in a module without any tag
// are left to wasmtime, whose error Report.CompileError recognises.
func Unsupported(wasm []byte) error {
	secs, err := splitSections(wasm)
	if err != nil {
		return err
	}
	if i := findSection(secs, secTag); i >= 0 {
		return &ExceptionHandlingError{Evidence: fmt.Sprintf("a tag section at offset %#x", secs[i].start)}
	}
	if i := findSection(secs, secImport); i >= 0 {
		imports, err := parseImports(secs[i])
		if err != nil {
			return err
		}
		for _, im := range imports {
			if im.kind == KindTag {
				return &ExceptionHandlingError{Evidence: fmt.Sprintf("it imports the tag %s.%s", im.module, im.name)}
			}
		}
	}
	return nil
}

// OffsetMap maps offsets in the output of Rewrite back to its input: one
// Span per section of the output, in order.
type OffsetMap []Span

// A Span is one section of the output. A section copied byte for byte maps
// each offset in it to the same byte of the input; a section Rewrite
// rebuilt (import, memory, export) maps every offset in it to the start of
// the input's section, or, for a section it added, to where it was added.
type Span struct {
	Out, In, Len int // start in the output, start in the input, length
	Copied       bool
}

// Original returns the offset in the input of offset off in the output,
// and whether it falls in a section copied byte for byte (false also for
// the header and for offsets past the end, which are returned as is, and
// for any offset when m is nil, where nothing was rewritten).
func (m OffsetMap) Original(off int) (int, bool) {
	i := sort.Search(len(m), func(i int) bool { return m[i].Out+m[i].Len > off })
	if i == len(m) || off < m[i].Out {
		return off, len(m) == 0
	}
	if !m[i].Copied {
		return m[i].In, false
	}
	return m[i].In + off - m[i].Out, true
}

// offsetRE finds the offsets wasmtime puts in its compile errors, as
// "at offset 23" or "(at offset 0x10)".
var offsetRE = regexp.MustCompile(`at offset (0x[0-9a-fA-F]+|[0-9]+)`)

// wasmtimeEH are the texts of wasmtime v25's errors for the proposal's
// tags, instructions (legacy and current) and exnref.
var wasmtimeEH = []string{
	"exceptions proposal not enabled",
	"exceptions support is not enabled",
	"without the exception handling feature",
}

// CompileError rewrites the error wasmtime gave for compiling the output of
// Rewrite so that it speaks of the input: every "at offset N" is the offset
// in the input (in the same base; a position in a rebuilt section becomes
// the start of that section, marked "in a section rewritten at load time"),
// and an error about the exception-handling proposal becomes an
// *ExceptionHandlingError. The result wraps err. A nil Report maps nothing.
func (rep *Report) CompileError(err error) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	var m OffsetMap
	if rep != nil {
		m = rep.Offsets
	}
	msg = offsetRE.ReplaceAllStringFunc(msg, func(s string) string {
		num := strings.TrimPrefix(s, "at offset ")
		base := 10
		if strings.HasPrefix(num, "0x") {
			base = 16
		}
		n, perr := strconv.ParseInt(strings.TrimPrefix(num, "0x"), base, 64)
		if perr != nil || len(m) == 0 {
			return s
		}
		orig, exact := m.Original(int(n))
		out := strconv.FormatInt(int64(orig), base)
		if base == 16 {
			out = "0x" + out
		}
		if !exact && orig != int(n) {
			return "at offset " + out + " (in a section rewritten at load time)"
		}
		return "at offset " + out
	})
	for _, t := range wasmtimeEH {
		if strings.Contains(msg, t) {
			// The last line of wasmtime's text names the instruction and
			// its offset.
			lines := strings.Split(strings.TrimSpace(msg), "\n")
			return &compileError{msg: msg, err: err, eh: &ExceptionHandlingError{
				Evidence: "wasmtime: " + strings.TrimSpace(lines[len(lines)-1]),
			}}
		}
	}
	if msg == err.Error() {
		return err
	}
	return &compileError{msg: msg, err: err}
}

type compileError struct {
	msg string
	err error
	eh  *ExceptionHandlingError
}

func (e *compileError) Error() string {
	if e.eh != nil {
		return e.eh.Error()
	}
	return e.msg
}

func (e *compileError) Unwrap() []error {
	if e.eh != nil {
		return []error{e.eh, e.err}
	}
	return []error{e.err}
}
