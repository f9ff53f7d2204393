package wasix

import (
	"errors"
	"fmt"
)

// ExitError is the end of a guest process: its exit status and, when a
// signal caused the exit, that signal.
type ExitError struct {
	// Status is the exit status, 0..255 for statuses the guest chose and
	// 128+sig for default-terminate signals under PolicyDefault.
	Status int32
	// Signal is the signal that terminated the process, or 0 when the guest
	// exited by itself (proc_exit).
	Signal Signal
}

func (e *ExitError) Error() string {
	if e.Signal != 0 {
		return fmt.Sprintf("wasix: terminated by %v (exit status %d)", e.Signal, e.Status)
	}
	return fmt.Sprintf("wasix: exit status %d", e.Status)
}

// HandlerTrapError reports that the guest's signal handler trapped while a
// signal was being delivered. The rest of that batch was not delivered.
type HandlerTrapError struct {
	Signal Signal
	Err    error // the trap, as wasmtime reported it
}

func (e *HandlerTrapError) Error() string {
	return fmt.Sprintf("wasix: signal handler trapped while delivering %v: %v", e.Signal, e.Err)
}

func (e *HandlerTrapError) Unwrap() error { return e.Err }

// ExitStatus returns the exit status err carries: the status of an
// *ExitError, or 0 when err is nil. ok is false for any other error.
func ExitStatus(err error) (status int32, ok bool) {
	if err == nil {
		return 0, true
	}
	var ee *ExitError
	if errors.As(err, &ee) {
		return ee.Status, true
	}
	return 0, false
}
