package e2e_test

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"

	"github.com/bytecodealliance/wasmtime-go/v25"
)

// runStdin runs wasix-run with args and stdin, to its end.
func runStdin(t *testing.T, stdin string, args ...string) result {
	t.Helper()
	cmd := exec.Command(cli, args...)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errOut strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	r := result{stdout: out.String(), stderr: errOut.String()}
	var exit *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &exit):
		r.code = exit.ExitCode()
	default:
		t.Fatalf("wasix-run: %v", err)
	}
	return r
}

// TestHelpAndVersion: --help and --version print on stdout and exit 0.
func TestHelpAndVersion(t *testing.T) {
	for _, c := range []struct {
		args   []string
		stdout []string
	}{
		{[]string{"--help"}, []string{"usage: wasix-run [flags] MODULE [ARGS...]", "-grace", "-ignore", "standard input"}},
		{[]string{"-h"}, []string{"usage: wasix-run"}},
		{[]string{"--version"}, []string{"wasix-run github.com/wasix-org/wasix-signals-go", "github.com/bytecodealliance/wasmtime-go/v25 v25.0.0"}},
	} {
		t.Run(c.args[0], func(t *testing.T) {
			t.Parallel()
			r := runCLI(t, c.args...)
			if r.code != 0 || r.stderr != "" {
				t.Errorf("exit status %d, stderr %q; want 0 and nothing", r.code, r.stderr)
			}
			for _, s := range c.stdout {
				if !strings.Contains(r.stdout, s) {
					t.Errorf("stdout does not say %q:\n%s", s, r.stdout)
				}
			}
		})
	}
}

// TestUsageErrorIsShort: bad usage says what is wrong in two lines, the
// last pointing at --help, not the whole list of flags.
func TestUsageErrorIsShort(t *testing.T) {
	wasm := fixture("raise_exit.wasm")
	for _, c := range []struct {
		name  string
		args  []string
		first string // the first line
	}{
		{"unknown flag", []string{"--bogus", wasm}, "wasix-run: flag provided but not defined: -bogus"},
		{"duration without unit", []string{"--grace", "5", wasm},
			`wasix-run: invalid value "5" for flag -grace: 5 has no unit: did you mean 5s?`},
		{"fraction without unit", []string{"--grace", "0.5", wasm},
			`wasix-run: invalid value "0.5" for flag -grace: 0.5 has no unit: did you mean 0.5s?`},
		{"ignore KILL", []string{"--ignore", "KILL", wasm}, "wasix-run: --ignore KILL: SIGKILL can be neither caught nor ignored"},
		{"ignore SIGSTOP", []string{"--ignore", "INT,SIGSTOP", wasm}, "wasix-run: --ignore SIGSTOP: SIGSTOP can be neither caught nor ignored"},
		{"ignore 9", []string{"--ignore", "9", wasm}, "wasix-run: --ignore 9: SIGKILL can be neither caught nor ignored"},
		{"no module", nil, "wasix-run: no MODULE given"},
		{"empty env name", []string{"--env", "=x", wasm}, `wasix-run: --env "=x": want NAME=VALUE or NAME`},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			r := runCLI(t, c.args...)
			want := []string{c.first, "usage: wasix-run [flags] MODULE [ARGS...] (see --help)"}
			if got := lines(r.stderr); r.code != 2 || len(got) != 2 || got[0] != want[0] || got[1] != want[1] {
				t.Errorf("exit status %d, stderr:\n%s\nwant 2 and:\n%s", r.code, r.stderr, strings.Join(want, "\n"))
			}
		})
	}
}

// exitWAT exits with status 7.
const exitWAT = `(module
  (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
  (memory (export "memory") 1)
  (func (export "_start") (call $exit (i32.const 7))))
`

// TestModuleFromStdin: MODULE "-" reads the module from standard input,
// binary or text; errors name <stdin>.
func TestModuleFromStdin(t *testing.T) {
	bin, err := wasmtime.Wat2Wasm(exitWAT)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name, stdin, stderr string
		code                int
	}{
		{"text", exitWAT, "", 7},
		{"binary", string(bin), "", 7},
		{"bad text", "(module (func (i32.bogus)))", "<stdin>:1:", 1},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			r := runStdin(t, c.stdin, "-")
			if r.code != c.code || !strings.Contains(r.stderr, c.stderr) {
				t.Errorf("exit status %d, stderr %q; want %d and %q", r.code, r.stderr, c.code, c.stderr)
			}
		})
	}
}

// TestWatErrorNamesFile: errors in a .wat file name the file and the line.
func TestWatErrorNamesFile(t *testing.T) {
	t.Parallel()
	path := writeTemp(t, "broken.wat", "(module\n  (func (export \"_start\") (i32.bogus)))\n")
	r := runCLI(t, path)
	if r.code != 1 || !strings.Contains(r.stderr, path+":2:") || strings.Contains(r.stderr, "<anon>") {
		t.Errorf("exit status %d, stderr:\n%s\nwant 1 and %s:2:..., no <anon>", r.code, r.stderr, path)
	}
}

// TestEnvFromHost: --env NAME passes the host's value; a NAME the host
// does not have is left out.
func TestEnvFromHost(t *testing.T) {
	t.Setenv("WASIX_E2E_FROM_HOST", "host value")
	os.Unsetenv("WASIX_E2E_UNSET")
	guest := writeTemp(t, "environ.wat", environWAT)
	r := runCLI(t, "--env", "WASIX_E2E_FROM_HOST", "--env", "WASIX_E2E_UNSET", "--env", "A=1", "--dir", t.TempDir(), guest)
	environ, _, _ := strings.Cut(r.stdout, "--")
	vars := strings.Split(strings.TrimSuffix(environ, "\x00"), "\x00")
	if !contains(vars, "WASIX_E2E_FROM_HOST=host value") || !contains(vars, "A=1") {
		t.Errorf("guest environment %q lacks WASIX_E2E_FROM_HOST=host value and A=1", vars)
	}
	for _, v := range vars {
		if strings.HasPrefix(v, "WASIX_E2E_UNSET") {
			t.Errorf("guest environment has %q", v)
		}
	}
}

// recurseWAT recurses until the wasm stack runs out.
const recurseWAT = `(module
  (memory (export "memory") 1)
  (func $r (param i32) (call $r (i32.add (local.get 0) (i32.const 1))))
  (func (export "_start") (call $r (i32.const 0))))
`

// TestBacktraceIsTrimmed: a guest that overflows its stack gets a few
// dozen lines, not one per frame.
func TestBacktraceIsTrimmed(t *testing.T) {
	t.Parallel()
	r := runCLI(t, writeTemp(t, "recurse.wat", recurseWAT))
	got := lines(r.stderr)
	more := regexp.MustCompile(`^  \.\.\. ([0-9]+) more frames$`)
	var left []string
	for _, l := range got {
		if m := more.FindStringSubmatch(l); m != nil {
			left = append(left, m[1])
		}
	}
	if r.code != 134 || len(got) > 40 || len(left) != 1 || len(left[0]) < 3 ||
		!strings.Contains(r.stderr, "call stack exhausted") || !strings.Contains(r.stderr, "   29: ") ||
		strings.Contains(r.stderr, "   30: ") {
		t.Errorf("exit status %d, %d lines:\n%s\nwant 134, 30 frames, one \"... N more frames\" line and the trap", r.code, len(got), clip(r.stderr))
	}
}

// TestExceptionHandlingModule: a module built for the exception-handling
// proposal fails with one line that says so and how to fix it.
func TestExceptionHandlingModule(t *testing.T) {
	for _, c := range []struct{ name, wat string }{
		{"tag section", `(module (tag $e (param i32)) (memory (export "memory") 1)
		  (func (export "_start") (throw $e (i32.const 1))))`},
		{"imported tag", `(module (import "env" "__cpp_exception" (tag (param i32))) (memory (export "memory") 1)
		  (func (export "_start")))`},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			path := writeTemp(t, "eh.wat", c.wat)
			r := runCLI(t, path)
			got := lines(r.stderr)
			if r.code != 1 || len(got) != 1 || !strings.HasPrefix(got[0], "wasix-run: "+path+": module is built for the WebAssembly exception-handling proposal") ||
				!strings.HasSuffix(got[0], "which wasmtime v25 cannot run; rebuild it with the asyncify (non-EH) wasix-libc sysroot") {
				t.Errorf("exit status %d, stderr:\n%s\nwant 1 and one line naming the proposal and the fix", r.code, r.stderr)
			}
		})
	}
}

// TestCompileErrorOffset: a compile error gives the offset in the user's
// file, although the module was rewritten (its memory import moved) first.
func TestCompileErrorOffset(t *testing.T) {
	t.Parallel()
	wasm, err := wasmtime.Wat2Wasm(`(module
	  (import "env" "memory" (memory 1 2))
	  (func (export "_start") (result i32) (i32.add (i32.const 1))))`)
	if err != nil {
		t.Fatal(err)
	}
	_, direct := wasmtime.NewModule(wasmtime.NewEngine(), wasm)
	if direct == nil {
		t.Fatal("the module compiled")
	}
	offset := regexp.MustCompile(`at offset [0-9a-fx]+`).FindString(direct.Error())
	if offset == "" {
		t.Fatalf("no offset in %q", direct)
	}
	path := filepath.Join(t.TempDir(), "invalid.wasm")
	if err := os.WriteFile(path, wasm, 0o644); err != nil {
		t.Fatal(err)
	}
	r := runCLI(t, path)
	if r.code != 1 || !strings.Contains(r.stderr, offset+":") {
		t.Errorf("exit status %d, stderr:\n%s\nwant 1 and %q (wasmtime's own offset for the file)", r.code, r.stderr, offset)
	}
}

// floodWAT makes 200 000 calls with a bad signal number and 200 000 with a
// bad pointer.
const floodWAT = `(module
  (import "wasix_32v1" "proc_raise" (func $raise (param i32) (result i32)))
  (import "wasix_32v1" "thread_id" (func $tid (param i32) (result i32)))
  (memory (export "memory") 1)
  (func (export "_start") (local $i i32)
    (loop $again
      (drop (call $raise (i32.const -1)))
      (drop (call $tid (i32.const -4)))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $again (i32.lt_u (local.get $i) (i32.const 200000))))))
`

// TestBadCallsDoNotFloodTheLog: the warnings of a guest that keeps making
// bad calls are rate limited; what is held back is counted.
func TestBadCallsDoNotFloodTheLog(t *testing.T) {
	t.Parallel()
	r := runCLI(t, writeTemp(t, "flood.wat", floodWAT))
	got := lines(r.stderr)
	counted := map[string]int{}
	suppressed := regexp.MustCompile(`suppressed=([0-9]+)`)
	for _, l := range got {
		n := 1
		if m := suppressed.FindStringSubmatch(l); m != nil {
			var k int
			for _, d := range m[1] {
				k = 10*k + int(d-'0')
			}
			n += k
		}
		switch {
		case strings.Contains(l, `msg="proc_raise: signal number out of range"`):
			counted["proc_raise"] += n
		case strings.Contains(l, `msg="thread_id: pointer out of bounds of guest memory"`):
			counted["thread_id"] += n
		default:
			t.Errorf("unexpected line %q", l)
		}
	}
	// 5 lines each, one a second after that, one at the end: a run of a
	// minute would still stay under 150 lines.
	if r.code != 0 || len(got) > 150 || counted["proc_raise"] != 200000 || counted["thread_id"] != 200000 {
		t.Errorf("exit status %d, %d lines accounting for %v; want 0, a few lines, 200000 of each:\n%s",
			r.code, len(got), counted, clip(r.stderr))
	}
}

// TestDebugLogSaysWhatHappened: --log-level debug tells how the module
// was adapted, each signal forwarded and delivered, and why it ended.
func TestDebugLogSaysWhatHappened(t *testing.T) {
	t.Parallel()
	r := startCLI(t, "--log-level", "debug", fixture("spin.wasm"))
	r.waitOutput(t, "spinning\n")
	r.signal(t, syscall.SIGUSR1)
	res := r.wait(t)
	for _, want := range []string{
		`msg="module adapted at load time" imported_memory="min 2 pages, max 65536" was_shared=true memory_exported=true`,
		`msg="forwarding a host signal to the guest" signal=SIGUSR1`,
		`msg="signal delivered to the handler" signal=SIGUSR1`,
		`msg="program ended" why="_start returned" status=0 signals_raised=1 delivered=1`,
	} {
		if !strings.Contains(res.stderr, want) {
			t.Errorf("stderr does not say %s:\n%s", want, clip(res.stderr))
		}
	}
}
