package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/wasix-org/wasix-signals-go/host"
	"github.com/wasix-org/wasix-signals-go/wasix"
)

const usageLine = "usage: wasix-run [flags] MODULE [ARGS...]"

var errHelp = errors.New("help requested")

// options is the parsed command line.
type options struct {
	cfg     host.Config // without Args, Logger and Signals
	level   slog.Level
	version bool
	noCache bool
	module  string
	args    []string
}

func newFlagSet(o *options, dirs, envs *listFlag, policy, ignore, level *string, grace *durationFlag) *flag.FlagSet {
	fs := flag.NewFlagSet("wasix-run", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	fs.Var(dirs, "dir", "preopen a directory: `HOST[::GUEST]` (repeatable)")
	fs.Var(envs, "env", "set an environment variable: `NAME=VALUE`, or NAME alone for the host's value (repeatable)")
	fs.StringVar(policy, "policy", "default", "signal behaviour: `default` (POSIX) or wasmer (the reference runtime's)")
	fs.StringVar(ignore, "ignore", "", "signals the guest starts with ignored: `SIGNAL[,SIGNAL...]` (not KILL or STOP)")
	fs.StringVar(level, "log-level", "warn", "log level on stderr: error, warn, info, debug or trace")
	fs.Var(grace, "grace", "time between SIGTERM and SIGKILL when the runner is told to stop: a `DURATION` with its unit (5s, 500ms)")
	fs.BoolVar(&o.noCache, "no-cache", false, "compile the module without the compile cache ("+cacheDir()+")")
	fs.BoolVar(&o.version, "version", false, "print the versions of wasix-run and wasmtime-go, and exit")
	return fs
}

// helpText is what --help prints.
func helpText() string {
	var o options
	var dirs, envs listFlag
	var policy, ignore, level string
	grace := durationFlag(host.DefaultGrace)
	fs := newFlagSet(&o, &dirs, &envs, &policy, &ignore, &level, &grace)
	var b strings.Builder
	fmt.Fprintf(&b, `%s

Runs the WASIX program MODULE (.wasm or .wat; - reads it from standard input)
with ARGS. The exit status is the program's; 134 after a trap, 2 for bad
usage, 1 when MODULE cannot be read or compiled.

The host signals INT, HUP, QUIT, USR1, USR2 and WINCH are passed to the
program; TERM is passed too, followed by KILL after --grace. A second
Ctrl-C while the first is still pending kills the program.

flags:
`, usageLine)
	fs.SetOutput(&b)
	fs.PrintDefaults()
	return b.String()
}

// parse reads the command line. It returns errHelp for -h/--help, and an
// error that says what is wrong for bad usage.
func parse(args []string) (options, error) {
	var o options
	var dirs, envs listFlag
	var policy, ignore, level string
	grace := durationFlag(host.DefaultGrace)
	fs := newFlagSet(&o, &dirs, &envs, &policy, &ignore, &level, &grace)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return o, errHelp
		}
		return o, err
	}
	if o.version {
		return o, nil
	}
	if fs.NArg() < 1 {
		return o, errors.New("no MODULE given")
	}
	o.module, o.args = fs.Arg(0), fs.Args()[1:]
	var err error
	if o.cfg, err = config(dirs, envs, policy, ignore, time.Duration(grace)); err != nil {
		return o, err
	}
	o.level, err = parseLevel(level)
	return o, err
}

func config(dirs, envs listFlag, policy, ignore string, grace time.Duration) (host.Config, error) {
	var cfg host.Config
	var err error
	if cfg.Policy, err = wasix.ParsePolicy(policy); err != nil {
		return cfg, fmt.Errorf("--policy: %w", err)
	}
	if ignore != "" {
		for _, name := range strings.Split(ignore, ",") {
			s, err := wasix.ParseSignal(name)
			if err != nil {
				return cfg, fmt.Errorf("--ignore: %w", err)
			}
			if s == wasix.SIGKILL || s == wasix.SIGSTOP {
				return cfg, fmt.Errorf("--ignore %s: %v can be neither caught nor ignored", name, s)
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
		k, _, hasValue := strings.Cut(kv, "=")
		if k == "" {
			return cfg, fmt.Errorf("--env %q: want NAME=VALUE or NAME", kv)
		}
		if hasValue {
			cfg.Env = append(cfg.Env, kv)
		} else if v, ok := os.LookupEnv(k); ok {
			// As `wasmtime run --env NAME`: the host's value, or nothing
			// when the host has none.
			cfg.Env = append(cfg.Env, k+"="+v)
		}
	}
	if grace <= 0 {
		return cfg, fmt.Errorf("--grace %v: must be positive", grace)
	}
	cfg.Grace = grace
	return cfg, nil
}

func parseLevel(level string) (slog.Level, error) {
	switch level {
	case "error":
		return slog.LevelError, nil
	case "warn":
		return slog.LevelWarn, nil
	case "info":
		return slog.LevelInfo, nil
	case "debug":
		return slog.LevelDebug, nil
	case "trace":
		return wasix.LevelTrace, nil
	}
	return 0, fmt.Errorf("--log-level %q: want error, warn, info, debug or trace", level)
}

type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

// durationFlag is a time.Duration flag that suggests the unit a bare
// number lacks.
type durationFlag time.Duration

func (d *durationFlag) String() string { return time.Duration(*d).String() }

func (d *durationFlag) Set(v string) error {
	t, err := time.ParseDuration(v)
	if err != nil {
		if _, nerr := strconv.ParseFloat(v, 64); nerr == nil {
			return fmt.Errorf("%s has no unit: did you mean %ss?", v, v)
		}
		return fmt.Errorf("want a duration with its unit, such as 5s or 500ms")
	}
	*d = durationFlag(t)
	return nil
}
