package wasix

import (
	"fmt"
	"strconv"
	"strings"
)

// Signal is a WASIX signal number. WASIX numbers are the Linux numbers, so
// they equal the C SIGxxx constants of wasix-libc. They differ from plain
// WASI preview1 numbering from 16 up (preview1 has no SIGSTKFLT); every
// namespace this module serves, wasi_snapshot_preview1.proc_raise included,
// uses the WASIX numbers, as the reference runtime does.
//
// The type is signed and 32 bits wide because guests pass arbitrary i32
// values; only 1..31 name a signal ([Signal.Valid]).
type Signal int32

// The WASIX signals.
const (
	SIGHUP    Signal = 1
	SIGINT    Signal = 2
	SIGQUIT   Signal = 3
	SIGILL    Signal = 4
	SIGTRAP   Signal = 5
	SIGABRT   Signal = 6
	SIGBUS    Signal = 7
	SIGFPE    Signal = 8
	SIGKILL   Signal = 9
	SIGUSR1   Signal = 10
	SIGSEGV   Signal = 11
	SIGUSR2   Signal = 12
	SIGPIPE   Signal = 13
	SIGALRM   Signal = 14
	SIGTERM   Signal = 15
	SIGSTKFLT Signal = 16
	SIGCHLD   Signal = 17
	SIGCONT   Signal = 18
	SIGSTOP   Signal = 19
	SIGTSTP   Signal = 20
	SIGTTIN   Signal = 21
	SIGTTOU   Signal = 22
	SIGURG    Signal = 23
	SIGXCPU   Signal = 24
	SIGXFSZ   Signal = 25
	SIGVTALRM Signal = 26
	SIGPROF   Signal = 27
	SIGWINCH  Signal = 28
	SIGPOLL   Signal = 29
	SIGPWR    Signal = 30
	SIGSYS    Signal = 31
)

// NSIG is one more than the largest signal number.
const NSIG = 32

var signalNames = [NSIG]string{
	"", "SIGHUP", "SIGINT", "SIGQUIT", "SIGILL", "SIGTRAP", "SIGABRT", "SIGBUS",
	"SIGFPE", "SIGKILL", "SIGUSR1", "SIGSEGV", "SIGUSR2", "SIGPIPE", "SIGALRM",
	"SIGTERM", "SIGSTKFLT", "SIGCHLD", "SIGCONT", "SIGSTOP", "SIGTSTP", "SIGTTIN",
	"SIGTTOU", "SIGURG", "SIGXCPU", "SIGXFSZ", "SIGVTALRM", "SIGPROF", "SIGWINCH",
	"SIGPOLL", "SIGPWR", "SIGSYS",
}

// Valid reports whether s names a signal (1..31). Signal 0 is "no signal".
func (s Signal) Valid() bool { return s > 0 && s < NSIG }

// String returns the C name ("SIGINT"), or "Signal(N)" for a number that
// names no signal.
func (s Signal) String() string {
	if s.Valid() {
		return signalNames[s]
	}
	return "Signal(" + strconv.Itoa(int(s)) + ")"
}

// ParseSignal reads a signal name or number: "SIGINT", "INT", "sigint",
// "int" and "2" all give SIGINT; "SIGIO" is accepted as SIGPOLL.
func ParseSignal(text string) (Signal, error) {
	t := strings.ToUpper(strings.TrimSpace(text))
	if n, err := strconv.Atoi(t); err == nil {
		if s := Signal(n); s.Valid() && int(s) == n {
			return s, nil
		}
		return 0, fmt.Errorf("wasix: signal number %s out of range 1..%d", text, NSIG-1)
	}
	if !strings.HasPrefix(t, "SIG") {
		t = "SIG" + t
	}
	if t == "SIGIO" {
		return SIGPOLL, nil
	}
	for i, name := range signalNames {
		if i > 0 && name == t {
			return Signal(i), nil
		}
	}
	return 0, fmt.Errorf("wasix: unknown signal %q", text)
}

// Action is what a signal does to a process that has not installed a
// handler (the POSIX default action).
type Action uint8

// The default actions.
const (
	ActionTerminate Action = iota
	ActionIgnore
)

// DefaultAction is the POSIX default action of s: CHLD, URG, WINCH, CONT and
// the stop signals (STOP, TSTP, TTIN, TTOU) are ignored, because WASIX has no
// job control; every other signal terminates.
func (s Signal) DefaultAction() Action {
	switch s {
	case SIGCHLD, SIGURG, SIGWINCH, SIGCONT, SIGSTOP, SIGTSTP, SIGTTIN, SIGTTOU:
		return ActionIgnore
	}
	return ActionTerminate
}
