package proc

import (
	"errors"

	"github.com/wasix-org/wasix-signals-go/wasix"
)

// Status is how a process ended, as proc_join reports it.
type Status struct {
	// Code is the exit status (0..255) of a normal exit.
	Code int32
	// Signal is the signal that killed the process, or 0 for a normal
	// exit.
	Signal wasix.Signal
}

// StatusOf turns a process's outcome (host.Process.Wait's value) into
// its Status: nil is exit 0; a *wasix.ExitError is an exit with its
// status, or a kill by its signal when it has one (a default action,
// SIGKILL, a kill the host gave up waiting on); any other error, a trap,
// is a kill by SIGABRT, the signal a crashed native program's abort()
// reports, and the 134 a shell shows for it.
func StatusOf(outcome error) Status {
	if outcome == nil {
		return Status{}
	}
	var exit *wasix.ExitError
	if errors.As(outcome, &exit) {
		if exit.Signal != 0 {
			return Status{Signal: exit.Signal}
		}
		return Status{Code: int32(uint32(exit.Status) & 0xFF)}
	}
	return Status{Signal: wasix.SIGABRT}
}

// WaitStatus returns the POSIX wait-status word that waitpid stores:
// code << 8 for an exit, the signal number for a kill (WIFSIGNALED).
func (s Status) WaitStatus() uint32 {
	if s.Signal != 0 {
		return uint32(s.Signal) & 0x7F
	}
	return (uint32(s.Code) & 0xFF) << 8
}

// ShellStatus returns what a shell's $? shows: the code, or 128+signal.
func (s Status) ShellStatus() int {
	if s.Signal != 0 {
		return 128 + int(s.Signal)
	}
	return int(s.Code)
}
