package proc

import "errors"

// Host creates processes for the imports: the host that runs the
// programs implements it (host.Runtime does) and passes it to Tree.Root
// and Tree.Child.
type Host interface {
	// Fork makes a child of parent from f: a new process with its own
	// pid, in parent's group, with the same program, arguments,
	// environment, preopened directories and standard streams, added to
	// the tree with Tree.Child. The host instantiates the program in a
	// new store with its own env, calls f.Copy, and runs f.Run on the
	// child's goroutine; it ends the child with Proc.End. It fails with
	// ErrLimit (wrapped) when the tree is full.
	Fork(parent *Proc, f *Fork) (*Proc, error)
	// Load finds the program at path, a path in the guest's file system
	// (resolved through its preopened directories), and prepares it to
	// replace the program of p: the returned value is handed back to the
	// host in Exec.Program. It fails with an error wrapping ErrNotFound
	// when there is no such file, or another error when it is not a
	// program the host can run.
	Load(p *Proc, path string) (any, error)
}

// ErrNotFound is wrapped by Host.Load's error for a path that names no
// file: proc_exec then ends the process with status 127, as a shell does
// for a command it cannot find.
var ErrNotFound = errors.New("proc: program not found")
