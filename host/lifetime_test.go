package host_test

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	goruntime "runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/bytecodealliance/wasmtime-go/v25"
	"github.com/wasix-org/wasix-signals-go/host"
	"github.com/wasix-org/wasix-signals-go/internal/fastcall"
	"github.com/wasix-org/wasix-signals-go/wasix"
	"github.com/wasix-org/wasix-signals-go/wasix/env"
)

// lifetimeGuest uses the fast-path imports, a Go-defined one (proc_exit)
// and an import the host lacks, so that every kind of definition a
// Runtime makes is exercised.
const lifetimeGuest = `(module
  (import "wasix_32v1" "proc_raise" (func $raise (param i32) (result i32)))
  (import "wasix_32v1" "sock_frobnicate" (func $nosys (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
  (memory (export "memory") 1)
  (func (export "_start")
    (drop (call $raise (i32.const 0)))
    (call $exit (call $nosys))))`

// TestManyRunsDoNotLeak runs host.Run (a Runtime per call) thousands of
// times in one process: the Go heap and the RSS must not keep growing
// from the first half of the runs to the second. Set WASIX_RUNS to change
// the count; -v prints the figures.
func TestManyRunsDoNotLeak(t *testing.T) {
	runs := 1500
	if s := os.Getenv("WASIX_RUNS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 2 {
			t.Fatalf("WASIX_RUNS=%q", s)
		}
		runs = n
	}
	half := func() (time.Duration, uint64, uint64) {
		start := time.Now()
		for i := 0; i < runs/2; i++ {
			err := host.Run(context.Background(), []byte(lifetimeGuest), host.Config{})
			if got := describe(err); got != "exit 52" {
				t.Fatalf("run %d: %s, want exit 52", i, got)
			}
		}
		took := time.Since(start)
		return took, heapInuse(), rss(t)
	}
	heap0, rss0 := heapInuse(), rss(t)
	took1, heap1, rss1 := half()
	took2, heap2, rss2 := half()
	per := func(d time.Duration) string {
		return strconv.FormatFloat(float64(d)/float64(time.Millisecond)/float64(runs/2), 'f', 2, 64)
	}
	t.Logf("FIGURE %d runs of host.Run: %s ms per call in the first half, %s in the second; "+
		"heap in use %.1f -> %.1f -> %.1f MiB; RSS %.1f -> %.1f -> %.1f MiB",
		runs, per(took1), per(took2), mib(heap0), mib(heap1), mib(heap2), mib(rss0), mib(rss1), mib(rss2))
	// Bounds generous enough for allocator noise, far below a leak: before
	// Runtime.Close existed the second half of 1500 runs added 10 MiB of
	// heap (to 22 MiB) and 74 MiB of RSS (to 158 MiB).
	if heap2 > heap1+heap1/4+2<<20 {
		t.Errorf("Go heap grew from %.1f to %.1f MiB over the second half", mib(heap1), mib(heap2))
	}
	if rss2 > rss1+rss1/8+16<<20 {
		t.Errorf("RSS grew from %.1f to %.1f MiB over the second half", mib(rss1), mib(rss2))
	}
}

func mib(n uint64) float64 { return float64(n) / (1 << 20) }

// heapInuse returns HeapInuse after collecting twice, so that finalizers
// queued by the first collection have run.
func heapInuse() uint64 {
	goruntime.GC()
	goruntime.GC()
	var ms goruntime.MemStats
	goruntime.ReadMemStats(&ms)
	return ms.HeapInuse
}

// rss returns the resident set size, which includes wasmtime's memory
// (outside the Go heap).
func rss(t testing.TB) uint64 {
	t.Helper()
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		t.Skipf("no /proc/self/statm: %v", err)
	}
	f := strings.Fields(string(b))
	if len(f) < 2 {
		t.Fatalf("/proc/self/statm: %q", b)
	}
	pages, err := strconv.ParseUint(f[1], 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	return pages * uint64(os.Getpagesize())
}

// newRuntime returns a Runtime of the test's own, closed at its end.
func newRuntime(t *testing.T, opts host.Options) *host.Runtime {
	t.Helper()
	r, err := host.NewRuntime(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = r.Close() })
	return r
}

// runOn compiles and runs src to its end on r.
func runOn(t *testing.T, r *host.Runtime, src string, cfg host.Config) error {
	t.Helper()
	m, err := r.Compile([]byte(src))
	if err != nil {
		t.Fatal(err)
	}
	p, err := r.Start(context.Background(), m, cfg)
	if err != nil {
		return err
	}
	return wait(t, p)
}

func TestRuntimeClose(t *testing.T) {
	base := fastcall.Registered()
	r, err := host.NewRuntime(host.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if fastcall.Supported() && fastcall.Registered() <= base {
		t.Fatalf("a Runtime registered no fast-path functions (%d before, %d after)", base, fastcall.Registered())
	}
	m, err := r.Compile([]byte(forever))
	if err != nil {
		t.Fatal(err)
	}
	p, err := r.Start(context.Background(), m, host.Config{})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-p.Done():
	default:
		t.Fatal("Close returned while a program still ran")
	}
	if got := describe(p.Wait()); got != "exit 137 by SIGKILL" {
		t.Errorf("the running program: got %s, want exit 137 by SIGKILL", got)
	}
	if got := fastcall.Registered(); got != base {
		t.Errorf("after Close the fast-path registry holds %d entries, want %d", got, base)
	}
	if _, err := r.Start(context.Background(), m, host.Config{}); !errors.Is(err, host.ErrClosed) {
		t.Errorf("Start after Close: %v, want ErrClosed", err)
	}
	if _, err := r.Compile([]byte(forever)); !errors.Is(err, host.ErrClosed) {
		t.Errorf("Compile after Close: %v, want ErrClosed", err)
	}
	if err := r.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

// A stub for an import the host lacks must not change how any other
// module links: here a wrong signature of wasix_32v1.fd_write, which
// wasix-libc imports and the load-time rewrite moves to preview1 when its
// signature is right. Stubs stay out of the shared Linker.
func TestStubsDoNotChangeTheLinker(t *testing.T) {
	r := newRuntime(t, host.Options{})
	bad := `(module
	  (import "wasix_32v1" "fd_write" (func $w (param i64) (result i32)))
	  (import "wasix_32v1" "frobnicate_0" (func $f (result i32)))
	  (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
	  (memory (export "memory") 1)
	  (func (export "_start") (call $exit (i32.add (call $w (i64.const 0)) (call $f)))))`
	if got := describe(runOn(t, r, bad, host.Config{})); got != "exit 104" {
		t.Fatalf("wrong-signature guest: got %s, want exit 104 (two ENOSYS)", got)
	}
	good := `(module
	  (import "wasix_32v1" "fd_write" (func $write (param i32 i32 i32 i32) (result i32)))
	  (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
	  (memory (export "memory") 1)
	  (data (i32.const 100) "hi\n")
	  (func (export "_start")
	    (i32.store (i32.const 0) (i32.const 100)) (i32.store (i32.const 4) (i32.const 3))
	    (call $exit (call $write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))))`
	out := filepath.Join(t.TempDir(), "out")
	if got := describe(runOn(t, r, good, host.Config{Stdout: out})); got != "exit 0" {
		t.Fatalf("wasix-libc style fd_write after the bad guest: got %s", got)
	}
	if b, _ := os.ReadFile(out); string(b) != "hi\n" {
		t.Errorf("stdout %q", b)
	}
	scratch := wasmtime.NewStore(r.Engine())
	defer scratch.Close()
	if r.Linker().Get(scratch, "wasix_32v1", "frobnicate_0") != nil {
		t.Error("wasix_32v1.frobnicate_0 was defined in the shared Linker")
	}
	// The host's own fd_write (wasix/fd) keeps its type.
	if ext := r.Linker().Get(scratch, "wasix_32v1", "fd_write"); ext == nil || len(ext.Func().Type(scratch).Params()) != 4 {
		t.Error("wasix_32v1.fd_write lost its definition or changed its type")
	}
}

// Two programs with imports the host lacks run at once on one Runtime:
// resolving imports with Linker.Get on each store must not bind the
// Linker to either, and a program whose imports are all known still goes
// through the Linker afterwards.
func TestStubbedProgramsShareTheLinker(t *testing.T) {
	r := newRuntime(t, host.Options{})
	m, err := r.Compile([]byte(`(module
	  (import "wasix_32v1" "callback_signal" (func $cb (param i32 i32)))
	  (import "wasix_32v1" "frobnicate" (func $f (result i32)))
	  (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
	  (memory (export "memory") 1)
	  (data (i32.const 0) "h")
	  (global $got (mut i32) (i32.const 0))
	  (func (export "h") (param i32) (global.set $got (local.get 0)))
	  (func (export "_start")
	    (call $cb (i32.const 0) (i32.const 1))
	    (loop (br_if 0 (i32.eqz (global.get $got))))
	    (call $exit (i32.add (global.get $got) (call $f)))))`))
	if err != nil {
		t.Fatal(err)
	}
	var ps []*host.Process
	for i := 0; i < 2; i++ {
		p, err := r.Start(context.Background(), m, host.Config{})
		if err != nil {
			t.Fatalf("program %d: %v", i, err)
		}
		ps = append(ps, p)
	}
	for i, p := range ps {
		waitHandler(t, p)
		if err := p.Signal(wasix.SIGUSR1); err != nil {
			t.Fatal(err)
		}
		if got := describe(wait(t, p)); got != "exit 62" {
			t.Errorf("program %d: got %s, want exit 62 (SIGUSR1 + ENOSYS)", i, got)
		}
	}
	if got := describe(runOn(t, r, `(module
	  (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
	  (memory (export "memory") 1)
	  (func (export "_start") (call $exit (i32.const 3))))`, host.Config{})); got != "exit 3" {
		t.Errorf("a program with known imports only: got %s", got)
	}
}

// Import names may hold any byte: "a\0b"."c" and "a"."b\0c" are two
// imports, and each gets its stub.
func TestStubNamesWithNUL(t *testing.T) {
	r := newRuntime(t, host.Options{})
	got := describe(runOn(t, r, `(module
	  (import "a\00b" "c" (func $x (result i32)))
	  (import "a" "b\00c" (func $y (result i32)))
	  (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
	  (memory (export "memory") 1)
	  (func (export "_start") (call $exit (i32.add (call $x) (call $y)))))`, host.Config{}))
	if got != "exit 104" {
		t.Errorf("got %s, want exit 104 (two ENOSYS)", got)
	}
}

// A trap that follows a call answered ENOSYS by a stub names that call.
func TestTrapNamesUnimplementedImport(t *testing.T) {
	r := newRuntime(t, host.Options{})
	cases := []struct {
		name, src string
		want      string // "" when the error must not be an UnimplementedImportError
	}{
		{"trap after ENOSYS", `(module
		  (import "wasix_32v1" "thread_checkpoint_x" (func $cp (param i32 i32) (result i32)))
		  (memory (export "memory") 1)
		  (func (export "_start") (drop (call $cp (i32.const 0) (i32.const 8))) unreachable))`,
			"host: after a call to unimplemented import wasix_32v1.thread_checkpoint_x (answered ENOSYS): "},
		{"the last of two", `(module
		  (import "wasix_32v1" "thread_checkpoint_x" (func $cp (param i32 i32) (result i32)))
		  (import "wasix_32v1" "sock_frob" (func $f (result i32)))
		  (memory (export "memory") 1)
		  (func (export "_start") (drop (call $cp (i32.const 0) (i32.const 8))) (drop (call $f)) unreachable))`,
			"host: after a call to unimplemented import wasix_32v1.sock_frob (answered ENOSYS): "},
		{"in the start function", `(module
		  (import "wasix_32v1" "thread_checkpoint_x" (func $cp (param i32 i32) (result i32)))
		  (memory (export "memory") 1)
		  (func $init (drop (call $cp (i32.const 0) (i32.const 8))) unreachable)
		  (start $init)
		  (func (export "_start")))`,
			"host: instantiate: host: after a call to unimplemented import wasix_32v1.thread_checkpoint_x (answered ENOSYS): "},
		{"a trapping stub names itself", `(module
		  (import "wasix_32v1" "thread_restore_x" (func $r (param i32 i64)))
		  (memory (export "memory") 1)
		  (func (export "_start") (call $r (i32.const 0) (i64.const 0))))`, ""},
		{"an exit is no trap", `(module
		  (import "wasix_32v1" "thread_checkpoint_x" (func $cp (param i32 i32) (result i32)))
		  (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
		  (memory (export "memory") 1)
		  (func (export "_start") (call $exit (call $cp (i32.const 0) (i32.const 8)))))`, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := runOn(t, r, tc.src, host.Config{})
			if err == nil {
				t.Fatal("no error")
			}
			var u *host.UnimplementedImportError
			if tc.want == "" {
				if errors.As(err, &u) {
					t.Errorf("wrapped: %v", err)
				}
				return
			}
			if !errors.As(err, &u) || !strings.HasPrefix(err.Error(), tc.want) {
				t.Fatalf("got %q, want it to start with %q", err, tc.want)
			}
			var trap *wasmtime.Trap
			if !errors.As(err, &trap) || !strings.Contains(trap.Error(), "unreachable") {
				t.Errorf("the trap is not wrapped with %%w: %v", err)
			}
			if host.ExitCode(err) != 134 {
				t.Errorf("ExitCode %d, want 134", host.ExitCode(err))
			}
		})
	}
}

func TestGroupBelongsToOneRuntime(t *testing.T) {
	r1, r2 := newRuntime(t, host.Options{}), newRuntime(t, host.Options{})
	g := host.NewGroup()
	exit := `(module
	  (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
	  (memory (export "memory") 1)
	  (func (export "_start") (call $exit (i32.const 0))))`
	if err := runOn(t, r1, exit, host.Config{Group: g}); describe(err) != "exit 0" {
		t.Fatalf("first runtime: %v", err)
	}
	if err := runOn(t, r2, exit, host.Config{Group: g}); !errors.Is(err, host.ErrGroupRuntime) {
		t.Errorf("second runtime: %v, want ErrGroupRuntime", err)
	}
}

// wasix_64v1 programs use a 64-bit memory, which the default engine
// must accept.
func TestWasix64Memory64(t *testing.T) {
	r := newRuntime(t, host.Options{})
	got := describe(runOn(t, r, `(module
	  (import "wasix_64v1" "proc_id" (func $pid (param i64) (result i32)))
	  (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
	  (memory (export "memory") i64 1)
	  (func (export "_start")
	    (drop (call $pid (i64.const 0x10)))
	    (call $exit (i32.add (call $pid (i64.const 0x10000))
	      (i32.mul (i32.const 10) (i32.load (i64.const 0x10)))))))`, host.Config{}))
	// pid 1 written at 0x10; 0x10000 is out of bounds of one page: EFAULT (21).
	if got != "exit 31" {
		t.Errorf("got %s, want exit 31", got)
	}
}

// When the guest memory cannot be reached, imports answer EFAULT and the
// log says why, not that a pointer was out of bounds.
func TestUnreachableMemoryIsExplained(t *testing.T) {
	cases := []struct {
		name, memory, want string
	}{
		{"exported under another name", `(memory (export "mem") 1)`, `proc_id: guest memory not reachable: not exported as "memory": exported as "mem"`},
		{"shared", `(memory (export "memory") 1 1 shared)`, "proc_id: guest memory not reachable: shared memory has no Go handle"},
		{"none", ``, "proc_id: guest memory not reachable: the guest exports no memory"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var logs strings.Builder
			r := newRuntime(t, host.Options{})
			err := runOn(t, r, `(module
			  (import "wasix_32v1" "proc_id" (func $pid (param i32) (result i32)))
			  (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
			  `+tc.memory+`
			  (func (export "_start") (call $exit (call $pid (i32.const 0)))))`,
				host.Config{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
			if got := describe(err); got != "exit 21" {
				t.Errorf("got %s, want exit 21 (EFAULT)", got)
			}
			// The text handler quotes the message as strconv.Quote does.
			if q := strconv.Quote(tc.want); !strings.Contains(logs.String(), q[1:len(q)-1]) {
				t.Errorf("log %q does not say %q", logs.String(), tc.want)
			}
		})
	}
}

func TestUnknownPolicyRefused(t *testing.T) {
	r := newRuntime(t, host.Options{})
	m, err := r.Compile([]byte(forever))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Start(context.Background(), m, host.Config{Policy: wasix.Policy(7)}); !errors.Is(err, env.ErrPolicy) {
		t.Errorf("Start with Policy(7): %v, want env.ErrPolicy", err)
	}
}

// Forward stops catching its signals when the program ends, even if stop
// is never called.
func TestForwardEndsWithTheProgram(t *testing.T) {
	before := host.Forwarding()
	p, _ := start(t, context.Background(), ignorer, host.Config{})
	_ = p.Forward(syscall.SIGUSR2)
	if got := host.Forwarding(); got != before+1 {
		t.Fatalf("Forward registered %d, want 1", got-before)
	}
	if err := p.Signal(wasix.SIGKILL); err != nil {
		t.Fatal(err)
	}
	wait(t, p)
	deadline := time.Now().Add(10 * time.Second)
	for host.Forwarding() != before {
		if time.Now().After(deadline) {
			t.Fatal("os/signal still delivers to Forward after the program ended")
		}
		time.Sleep(time.Millisecond)
	}
}
