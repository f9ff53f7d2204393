package proc

import (
	"errors"
	"strings"
	"unicode/utf8"

	"github.com/bytecodealliance/wasmtime-go/v25"
	"github.com/wasix-org/wasix-signals-go/wasix"
	"github.com/wasix-org/wasix-signals-go/wasix/env"
)

// Exec is a proc_exec in flight: the old program has been left, and the
// host is to run Program (what Host.Load returned) in the same process,
// with Args as its argv.
type Exec struct {
	Path    string
	Args    []string
	Program any
}

// TakeExec returns the exec the program asked for before it left, or
// nil. The host calls it when the entry point has returned; if it is not
// nil (and the process has not ended otherwise), it replaces the program,
// calls Execed, and runs the new one in the same process.
func (p *Proc) TakeExec() *Exec {
	x := p.exec
	p.exec = nil
	return x
}

// Execed tells a vfork parent that the child now runs its new program.
func (p *Proc) Execed() { p.release() }

// Exit statuses of a proc_exec that fails: there is no result to return,
// so the process ends, with the statuses a shell uses for a command it
// cannot find (127) or cannot run (126).
const (
	StatusNotFound      = 127
	StatusNotExecutable = 126
)

// errExec is the trap that carries the program out of itself for an exec.
var errExec = errors.New("proc: exec in progress (the host replaces the program)")

// exec is proc_exec(name_ptr, name_len, args_ptr, args_len), execve: args
// holds the arguments, argv[0] first, separated by line feeds (empty
// entries are dropped; none at all gives argv = [name]). The host finds
// the program (Host.Load); the old program is left by a trap, which passes
// out of signal handlers unchanged, as a longjmp does, and the host runs
// the new one in the same process: same pid, signals with a handler back
// to their default action, ignored ones still ignored, pending ones still
// pending (env.WasiEnv.Exec). A name or args that cannot be read, or are
// not UTF-8, end the process with 126; a program that cannot be found
// with 127, one that cannot be run with 126 (a warning in the log says
// why): the call has no result to fail with.
func exec(c *wasmtime.Caller, e *env.WasiEnv, a []int64) (wasix.Errno, error) {
	namePtr, nameLen, argsPtr, argsLen := uint64(a[0]), uint64(a[1]), uint64(a[2]), uint64(a[3])
	if err := e.ProcessSignals(c); err != nil {
		return 0, err
	}
	p := Lookup(e)
	if p == nil {
		e.Logger().Warn("proc_exec: this host has no process layer", "pid", e.Pid())
		return 0, e.Exit(StatusNotExecutable)
	}
	name, ok1 := e.Read(c, namePtr, nameLen)
	args, ok2 := e.Read(c, argsPtr, argsLen)
	if !ok1 || !ok2 || !utf8.Valid(name) || !utf8.Valid(args) {
		e.Logger().Warn("proc_exec: the name or the arguments are out of bounds or not UTF-8", "pid", e.Pid())
		return 0, e.Exit(StatusNotExecutable)
	}
	path := string(name)
	argv := strings.FieldsFunc(string(args), func(r rune) bool { return r == '\n' || r == '\r' })
	if len(argv) == 0 {
		argv = []string{path}
	}
	prog, err := p.host.Load(p, path)
	if err != nil {
		e.Logger().Warn("proc_exec: cannot run the program", "pid", e.Pid(), "path", path, "error", err.Error())
		if errors.Is(err, ErrNotFound) {
			return 0, e.Exit(StatusNotFound)
		}
		return 0, e.Exit(StatusNotExecutable)
	}
	p.exec = &Exec{Path: path, Args: argv, Program: prog}
	e.BeginJump()
	return 0, errExec
}
