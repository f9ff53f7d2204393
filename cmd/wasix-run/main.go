// Command wasix-run runs a WASIX program on wasmtime with the WASIX signal
// system: its handlers run, raise/kill/setitimer work, and the host's
// SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2 and SIGWINCH reach it by name.
// SIGTERM to the runner reaches the guest too, followed by SIGKILL if the
// guest still runs after --grace.
//
// Usage:
//
//	wasix-run [flags] MODULE [ARGS...]
//
// MODULE is a .wasm or .wat file, or - to read it from standard input. The
// exit status is the guest's (0-255); a trap prints a message (with at most
// 30 frames of its wasm backtrace) and exits 134; bad usage exits 2 with a
// short message (--help prints the flags); a module that cannot be read or
// compiled exits 1. A second Ctrl-C while the first is still pending in the
// guest kills it (status 137). --version prints the versions of this
// module and of wasmtime-go it was built from. --log-level debug says how
// the module was adapted, each host signal forwarded, what became of each
// signal in the guest, and why the program ended.
//
// Run the built binary, not `go run`: `go run` replaces the program's exit
// status with its own and is the process a `kill $!` reaches.
//
// Compiled modules are kept in wasix-signals-go under the user's cache
// directory ($XDG_CACHE_HOME, else ~/.cache, on Linux), so that a program
// starts without compiling from its second run on; --no-cache turns that
// off. Deleting the directory is always safe. See docs/PERFORMANCE.md.
package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/bytecodealliance/wasmtime-go/v25"
	"github.com/wasix-org/wasix-signals-go/host"
	"github.com/wasix-org/wasix-signals-go/internal/wasmbin"
	"github.com/wasix-org/wasix-signals-go/wasix"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// run is the whole command; stdin is read only for the MODULE "-", stdout
// only for --help and --version (the guest's streams are the process's own).
func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	o, err := parse(args)
	switch {
	case errors.Is(err, errHelp):
		fmt.Fprint(stdout, helpText())
		return 0
	case err != nil:
		fmt.Fprintf(stderr, "wasix-run: %v\n%s (see --help)\n", err, usageLine)
		return 2
	case o.version:
		fmt.Fprint(stdout, versionText())
		return 0
	}
	cfg := o.cfg
	cfg.Logger = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: o.level, ReplaceAttr: replaceAttr}))
	log := cfg.Logger
	// Catch the forwarded signals before anything else happens: one that
	// arrives while the module compiles waits here for the guest instead
	// of killing the runner. SIGTERM cancels the run: the guest gets
	// SIGTERM, then SIGKILL if it still runs after the grace period.
	caught := make(chan os.Signal, 16)
	signal.Notify(caught, syscall.SIGINT, syscall.SIGHUP, syscall.SIGQUIT,
		syscall.SIGUSR1, syscall.SIGUSR2, syscall.SIGWINCH)
	defer signal.Stop(caught)
	cfg.Signals = caught
	if log.Enabled(context.Background(), slog.LevelDebug) {
		cfg.Signals = tee(caught, log)
	}
	ctx, cancel := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer cancel()

	name, wasm, err := load(o.module, stdin)
	if err != nil {
		fmt.Fprintln(stderr, "wasix-run:", err)
		return 1
	}
	opts := host.Options{Logger: log}
	if !o.noCache {
		opts.CacheDir = cacheDir()
	}
	rt, err := host.NewRuntime(opts)
	if err != nil {
		fmt.Fprintln(stderr, "wasix-run:", err)
		return 1
	}
	m, err := rt.Compile(wasm)
	if err != nil {
		var eh *wasmbin.ExceptionHandlingError
		if errors.As(err, &eh) {
			// One line, without the layers' prefixes.
			err = errors.New(strings.TrimPrefix(eh.Error(), "wasmbin: "))
		}
		fmt.Fprintf(stderr, "wasix-run: %s: %v\n", name, err)
		return 1
	}
	logAdapted(log, m.Report)
	cfg.Args = append([]string{filepath.Base(o.module)}, o.args...)
	p, err := rt.Start(ctx, m, cfg)
	if err != nil {
		fmt.Fprintf(stderr, "wasix-run: %s: %v\n", name, trimBacktrace(err.Error(), m.Report))
		return 1
	}
	outcome := p.Wait()
	code := host.ExitCode(outcome)
	logEnd(log, p, outcome, code)
	var exit *wasix.ExitError
	var stuck *host.StuckError
	if outcome != nil && (!errors.As(outcome, &exit) || errors.As(outcome, &stuck)) {
		fmt.Fprintf(stderr, "wasix-run: %s: %s\n", name, trimBacktrace(outcome.Error(), m.Report))
	}
	return code
}

// cacheDir is where compiled modules are kept: wasix-signals-go in the
// user's cache directory ($XDG_CACHE_HOME or ~/.cache on Linux), or ""
// (no cache) when there is none.
func cacheDir() string {
	dir, err := os.UserCacheDir()
	if err != nil {
		return ""
	}
	return filepath.Join(dir, "wasix-signals-go")
}

// load reads the module: a file, or standard input for "-". A module in the
// text format is compiled here, so that its errors name the file.
func load(path string, stdin io.Reader) (name string, wasm []byte, err error) {
	name = path
	if path == "-" {
		name = "<stdin>"
		wasm, err = io.ReadAll(stdin)
	} else {
		wasm, err = os.ReadFile(path)
	}
	if err != nil {
		return name, nil, err
	}
	if bytes.HasPrefix(wasm, []byte("\x00asm")) {
		return name, wasm, nil
	}
	bin, err := wasmtime.Wat2Wasm(string(wasm))
	if err != nil {
		msg := strings.ReplaceAll(err.Error(), "<anon>", name)
		return name, nil, fmt.Errorf("%s: neither wasm nor valid text format: %s", name, msg)
	}
	return name, bin, nil
}

// tee logs each host signal the runner caught and passes it on to the
// guest's relay.
func tee(in <-chan os.Signal, log *slog.Logger) <-chan os.Signal {
	out := make(chan os.Signal, cap(in))
	go func() {
		for s := range in {
			if w, ok := host.FromHost(s); ok {
				log.Debug("forwarding a host signal to the guest", "signal", w.String())
			}
			out <- s
		}
	}()
	return out
}

// logAdapted says at debug level how the module was changed at load time.
func logAdapted(log *slog.Logger, rep *host.Report) {
	if !log.Enabled(context.Background(), slog.LevelDebug) || rep == nil {
		return
	}
	if !rep.Adapted() {
		log.Debug("module loaded as is: nothing to adapt")
		return
	}
	var attrs []any
	if rep.MemoryImported {
		limits := fmt.Sprintf("min %d pages", rep.Min)
		if rep.HasMax {
			limits += fmt.Sprintf(", max %d", rep.Max)
		}
		attrs = append(attrs, "imported_memory", limits, "was_shared", rep.Shared, "memory_exported", rep.MemoryExported)
	}
	if len(rep.Renamed) > 0 {
		attrs = append(attrs, "moved_to_preview1", strings.Join(rep.Renamed, ","))
	}
	log.Debug("module adapted at load time", attrs...)
}

// logEnd says at debug level why the program ended, and what became of
// the signals it was sent.
func logEnd(log *slog.Logger, p *host.Process, outcome error, code int) {
	if !log.Enabled(context.Background(), slog.LevelDebug) {
		return
	}
	c := p.Env().Counters()
	var (
		exit *wasix.ExitError
		trap *wasix.HandlerTrapError
		why  string
	)
	switch {
	case outcome == nil:
		why = "_start returned"
	case errors.As(outcome, &exit) && exit.Signal != 0:
		why = "terminated by " + exit.Signal.String()
	case errors.As(outcome, &exit):
		why = "the guest exited (proc_exit)"
	case errors.As(outcome, &trap):
		why = "its signal handler trapped while delivering " + trap.Signal.String()
	default:
		why = "it trapped"
	}
	log.Debug("program ended", "why", why, "status", code, "signals_raised", c.Raised,
		"delivered", c.Delivered, "coalesced", c.Coalesced, "ignored", c.Ignored, "pending", c.Pending)
}
