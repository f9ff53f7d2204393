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
// MODULE is a .wasm or .wat file. The exit status is the guest's (0-255);
// a trap prints a message and exits 134; bad usage exits 2; a module that
// cannot be read or compiled exits 1. A second Ctrl-C while the first is
// still pending in the guest kills it (status 137).
//
// Compiled modules are kept in wasix-signals-go under the user's cache
// directory ($XDG_CACHE_HOME, else ~/.cache, on Linux), so that a program
// starts without compiling from its second run on; --no-cache turns that
// off. Deleting the directory is always safe. See docs/PERFORMANCE.md.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/wasix-org/wasix-signals-go/host"
	"github.com/wasix-org/wasix-signals-go/wasix"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stderr))
}

type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

const usage = `usage: wasix-run [flags] MODULE [ARGS...]

Runs the WASIX program MODULE (.wasm or .wat) with ARGS.

flags:
`

func run(args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet("wasix-run", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var dirs, envs listFlag
	fs.Var(&dirs, "dir", "preopen a directory: `HOST[::GUEST]` (repeatable)")
	fs.Var(&envs, "env", "set an environment variable: `NAME=VALUE` (repeatable)")
	policy := fs.String("policy", "default", "signal behaviour: `default` (POSIX) or wasmer (the reference runtime's)")
	ignore := fs.String("ignore", "", "signals the guest starts with ignored: `SIGNAL[,SIGNAL...]`")
	level := fs.String("log-level", "warn", "log level on stderr: error, warn, info, debug or trace")
	grace := fs.Duration("grace", host.DefaultGrace, "time between SIGTERM and SIGKILL when the runner is told to stop")
	noCache := fs.Bool("no-cache", false, "compile the module without the compile cache ("+cacheDir()+")")
	fs.Usage = func() {
		fmt.Fprint(stderr, usage)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() < 1 {
		fs.Usage()
		return 2
	}
	cfg, err := config(dirs, envs, *policy, *ignore, *level, *grace, stderr)
	if err != nil {
		fmt.Fprintln(stderr, "wasix-run:", err)
		fs.Usage()
		return 2
	}
	// Catch the forwarded signals before anything else happens: one that
	// arrives while the module compiles waits here for the guest instead
	// of killing the runner. SIGTERM cancels the run: the guest gets
	// SIGTERM, then SIGKILL if it still runs after the grace period.
	forwarded := make(chan os.Signal, 16)
	signal.Notify(forwarded, syscall.SIGINT, syscall.SIGHUP, syscall.SIGQUIT,
		syscall.SIGUSR1, syscall.SIGUSR2, syscall.SIGWINCH)
	defer signal.Stop(forwarded)
	cfg.Signals = forwarded
	ctx, cancel := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer cancel()
	path := fs.Arg(0)
	wasm, err := os.ReadFile(path)
	if err != nil {
		fmt.Fprintln(stderr, "wasix-run:", err)
		return 1
	}
	opts := host.Options{Logger: cfg.Logger}
	if !*noCache {
		opts.CacheDir = cacheDir()
	}
	rt, err := host.NewRuntime(opts)
	if err != nil {
		fmt.Fprintln(stderr, "wasix-run:", err)
		return 1
	}
	m, err := rt.Compile(wasm)
	if err != nil {
		fmt.Fprintf(stderr, "wasix-run: %s: %v\n", path, err)
		return 1
	}
	cfg.Args = append([]string{filepath.Base(path)}, fs.Args()[1:]...)
	p, err := rt.Start(ctx, m, cfg)
	if err != nil {
		fmt.Fprintf(stderr, "wasix-run: %s: %v\n", path, err)
		return 1
	}
	outcome := p.Wait()
	code := host.ExitCode(outcome)
	var exit *wasix.ExitError
	if outcome != nil && !errors.As(outcome, &exit) {
		fmt.Fprintf(stderr, "wasix-run: %s: %v\n", path, outcome)
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

func config(dirs, envs listFlag, policy, ignore, level string, grace time.Duration, stderr io.Writer) (host.Config, error) {
	var cfg host.Config
	var err error
	if cfg.Policy, err = wasix.ParsePolicy(policy); err != nil {
		return cfg, err
	}
	if ignore != "" {
		for _, name := range strings.Split(ignore, ",") {
			s, err := wasix.ParseSignal(name)
			if err != nil {
				return cfg, err
			}
			cfg.Ignore = append(cfg.Ignore, s)
		}
	}
	for _, d := range dirs {
		hostDir, guestDir, _ := strings.Cut(d, "::")
		if hostDir == "" {
			return cfg, fmt.Errorf("--dir %q: empty host directory", d)
		}
		cfg.Dirs = append(cfg.Dirs, host.Dir{Host: hostDir, Guest: guestDir})
	}
	for _, kv := range envs {
		if k, _, ok := strings.Cut(kv, "="); !ok || k == "" {
			return cfg, fmt.Errorf("--env %q: want NAME=VALUE", kv)
		}
	}
	cfg.Env = envs
	var l slog.Level
	switch level {
	case "error":
		l = slog.LevelError
	case "warn":
		l = slog.LevelWarn
	case "info":
		l = slog.LevelInfo
	case "debug":
		l = slog.LevelDebug
	case "trace":
		l = wasix.LevelTrace
	default:
		return cfg, fmt.Errorf("--log-level %q: want error, warn, info, debug or trace", level)
	}
	cfg.Logger = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: l, ReplaceAttr: wasix.ReplaceLevel}))
	if grace <= 0 {
		return cfg, fmt.Errorf("--grace %v: must be positive", grace)
	}
	cfg.Grace = grace
	return cfg, nil
}
