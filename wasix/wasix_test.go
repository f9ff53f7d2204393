package wasix_test

import (
	"errors"
	"fmt"
	"log/slog"
	"testing"

	"github.com/wasix-org/wasix-signals-go/wasix"
)

func TestParseSignal(t *testing.T) {
	cases := []struct {
		in   string
		want wasix.Signal
		ok   bool
	}{
		{"SIGINT", wasix.SIGINT, true}, {"int", wasix.SIGINT, true}, {"sigterm", wasix.SIGTERM, true},
		{"2", wasix.SIGINT, true}, {"31", wasix.SIGSYS, true}, {"SIGIO", wasix.SIGPOLL, true},
		{"STKFLT", wasix.SIGSTKFLT, true}, {" hup ", wasix.SIGHUP, true},
		{"0", 0, false}, {"32", 0, false}, {"-1", 0, false}, {"SIG", 0, false}, {"", 0, false},
		{"SIGFOO", 0, false}, {"4294967298", 0, false},
	}
	for _, tc := range cases {
		got, err := wasix.ParseSignal(tc.in)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("ParseSignal(%q) = %v, %v; want %v ok=%v", tc.in, got, err, tc.want, tc.ok)
		}
	}
	for s := wasix.Signal(1); s < wasix.NSIG; s++ {
		if got, err := wasix.ParseSignal(s.String()); err != nil || got != s {
			t.Errorf("round trip of %v: %v %v", s, got, err)
		}
	}
}

func TestNames(t *testing.T) {
	for _, tc := range []struct{ got, want string }{
		{wasix.SIGWINCH.String(), "SIGWINCH"},
		{wasix.Signal(40).String(), "Signal(40)"},
		{wasix.EINTR.Name(), "EINTR"},
		{wasix.Errno(9999).Name(), "Errno(9999)"},
		{wasix.ESRCH.Error(), "wasix: ESRCH"},
		{wasix.PolicyWasmer.String(), "wasmer"},
		{(&wasix.ExitError{Status: 130, Signal: wasix.SIGINT}).Error(), "wasix: terminated by SIGINT (exit status 130)"},
		{(&wasix.ExitError{Status: 3}).Error(), "wasix: exit status 3"},
	} {
		if tc.got != tc.want {
			t.Errorf("got %q, want %q", tc.got, tc.want)
		}
	}
}

func TestDefaultAction(t *testing.T) {
	var ignored []wasix.Signal
	for s := wasix.Signal(1); s < wasix.NSIG; s++ {
		if s.DefaultAction() == wasix.ActionIgnore {
			ignored = append(ignored, s)
		}
	}
	if got := fmt.Sprint(ignored); got != "[SIGCHLD SIGCONT SIGSTOP SIGTSTP SIGTTIN SIGTTOU SIGURG SIGWINCH]" {
		t.Errorf("ignored by default: %s", got)
	}
}

func TestErrors(t *testing.T) {
	trap := errors.New("unreachable")
	err := fmt.Errorf("run: %w", &wasix.HandlerTrapError{Signal: wasix.SIGUSR1, Err: trap})
	if !errors.Is(err, trap) {
		t.Error("HandlerTrapError must unwrap to the trap")
	}
	if st, ok := wasix.ExitStatus(fmt.Errorf("x: %w", &wasix.ExitError{Status: 7})); !ok || st != 7 {
		t.Errorf("ExitStatus = %d %v", st, ok)
	}
	if _, ok := wasix.ExitStatus(trap); ok {
		t.Error("a trap has no exit status")
	}
	if _, err := wasix.ParsePolicy("posix"); err == nil {
		t.Error("unknown policy accepted")
	}
	a := wasix.ReplaceLevel(nil, slog.Any(slog.LevelKey, wasix.LevelTrace))
	if a.Value.String() != "TRACE" {
		t.Errorf("trace level prints as %v", a.Value)
	}
}
