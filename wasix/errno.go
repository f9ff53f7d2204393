package wasix

import "strconv"

// Errno is a WASI error number, the result of every signal import.
type Errno uint16

// The errno values the imports of this module return (WASI numbering).
const (
	ESUCCESS Errno = 0
	EAGAIN   Errno = 6
	EBADF    Errno = 8
	ECHILD   Errno = 12
	EFAULT   Errno = 21
	EINTR    Errno = 27
	EINVAL   Errno = 28
	EIO      Errno = 29
	ENOENT   Errno = 44
	ENOEXEC  Errno = 45
	ENOMEM   Errno = 48
	ENOSPC   Errno = 51
	ENOSYS   Errno = 52
	ENOTSUP  Errno = 58
	EPIPE    Errno = 64
	ESRCH    Errno = 71
	// EMEMVIOLATION is WASIX's "memory access violation", which the
	// reference runtime answers for a bad pointer; the wasmer policy
	// reproduces it, the default policy answers EFAULT.
	EMEMVIOLATION Errno = 78
)

var errnoNames = map[Errno]string{
	ESUCCESS:      "ESUCCESS",
	EAGAIN:        "EAGAIN",
	EBADF:         "EBADF",
	ECHILD:        "ECHILD",
	ENOENT:        "ENOENT",
	ENOEXEC:       "ENOEXEC",
	ENOMEM:        "ENOMEM",
	EFAULT:        "EFAULT",
	EINTR:         "EINTR",
	EINVAL:        "EINVAL",
	EIO:           "EIO",
	ENOSPC:        "ENOSPC",
	ENOSYS:        "ENOSYS",
	ENOTSUP:       "ENOTSUP",
	EPIPE:         "EPIPE",
	ESRCH:         "ESRCH",
	EMEMVIOLATION: "EMEMVIOLATION",
}

// Name returns the C name of e ("EINVAL"), or "Errno(N)".
func (e Errno) Name() string {
	if n, ok := errnoNames[e]; ok {
		return n
	}
	return "Errno(" + strconv.Itoa(int(e)) + ")"
}

// Error makes Errno usable as a Go error.
func (e Errno) Error() string { return "wasix: " + e.Name() }
