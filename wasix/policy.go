package wasix

import "fmt"

// Policy selects how signals behave where the WASIX reference runtime
// (Wasmer) and POSIX disagree. See the package documentation of
// wasix/signal for the full table.
type Policy uint8

const (
	// PolicyDefault follows POSIX: default actions terminate with status
	// 128+sig, SIGKILL cannot be caught, bad numbers are EINVAL, unknown
	// targets are ESRCH, interval timers count nanoseconds.
	PolicyDefault Policy = iota
	// PolicyWasmer reproduces the reference runtime, for side-by-side
	// comparison: only INT, QUIT, KILL, ABRT and PIPE terminate (INT and
	// KILL with status 27, QUIT with 0, ABRT with 134, PIPE with 64),
	// unknown targets and bad numbers are silently accepted, bad pointers
	// are EMEMVIOLATION, interval timers count milliseconds.
	PolicyWasmer
)

// String returns "default" or "wasmer".
func (p Policy) String() string {
	switch p {
	case PolicyDefault:
		return "default"
	case PolicyWasmer:
		return "wasmer"
	}
	return fmt.Sprintf("Policy(%d)", uint8(p))
}

// ParsePolicy reads "default" or "wasmer".
func ParsePolicy(s string) (Policy, error) {
	switch s {
	case "default", "":
		return PolicyDefault, nil
	case "wasmer":
		return PolicyWasmer, nil
	}
	return 0, fmt.Errorf("wasix: unknown policy %q (want default or wasmer)", s)
}
