package stack

import (
	"errors"
	"fmt"

	"github.com/bytecodealliance/wasmtime-go/v25"
	"github.com/wasix-org/wasix-signals-go/internal/asyncify"
	"github.com/wasix-org/wasix-signals-go/wasix/env"
)

// The Driver also unwinds for imports other than setjmp's: proc_fork
// (package wasix/proc) leaves the guest with its whole stack saved, lets
// the host copy the process, and rewinds the parent and the child to the
// same call. See docs/PROCESSES.md.

// DriverOf returns the Driver running process e, or nil when none does
// (the program was not started through Run or a Driver).
func DriverOf(e *env.WasiEnv) *Driver { return driverOf(e) }

// Suspend starts an unwind from the import name, which the guest called
// (c is its Caller) and which must return right after. Once the entry
// point has returned, the Driver calls then with the unwound stack, on
// the guest's goroutine, with no guest code running; then it rewinds the
// stack, and the guest replays down to the same import, which must call
// Resumed. then's result is what Resumed returns; an error from then ends
// the call of the entry point with it. Delivery is suspended from here to
// Resumed, as for setjmp. Suspend fails when the stack cannot be unwound:
// inside a signal handler, or when the free C stack is too small.
func (d *Driver) Suspend(c wasmtime.Storelike, name string, then func(*asyncify.Stack) (int64, error)) error {
	if d.state != running {
		return fmt.Errorf("stack: %s called while the stack is %s", name, d.state)
	}
	if d.e.InHandler() {
		return ErrInHandler
	}
	if err := d.x.StartUnwind(c); err != nil {
		return fmt.Errorf("stack: %s: %w", name, err)
	}
	d.e.SuspendDelivery()
	d.state, d.then, d.resumer = unwinding, then, name
	return nil
}

// ErrInHandler is Suspend's answer inside a signal handler: the handler's
// frames sit on a host frame, which an unwind cannot pass.
var ErrInHandler = errors.New("stack: the stack cannot be unwound inside a signal handler")

// Resuming reports whether the guest is replaying its stack down to the
// import name (after Suspend, or in a child started by Resume).
func (d *Driver) Resuming(name string) bool { return d.state == rewinding && d.resumer == name }

// Resumed ends the rewind for the import that called Suspend and returns
// the result chosen for it. Delivery resumes; the caller, a host
// function, is expected to be a safe point (call ProcessSignals).
func (d *Driver) Resumed(c wasmtime.Storelike) (int64, error) {
	if err := d.x.StopRewind(c); err != nil {
		return 0, err
	}
	d.state, d.resumer = running, ""
	d.e.ResumeDelivery()
	return d.result, nil
}

// suspended ends the unwind of Suspend: hand the stack to then, rewind.
func (d *Driver) suspended() error {
	then := d.then
	d.then = nil
	st, err := d.x.StopUnwind(d.store)
	if err != nil {
		return fmt.Errorf("stack: %s: %w", d.resumer, err)
	}
	result, err := then(st)
	if err != nil {
		return err
	}
	if d.e.Exited() != nil {
		return d.e.Exited()
	}
	if err := d.x.StartRewind(d.store, st); err != nil {
		return fmt.Errorf("stack: %s: %w", d.resumer, err)
	}
	d.state, d.result = rewinding, result
	return nil
}

// CloneSnapshots returns a copy of the process's setjmp snapshots for a
// forked child (Options.Snapshots): the jmp_bufs in the child's copy of
// the memory keep working there.
func (d *Driver) CloneSnapshots() *asyncify.Table { return d.table.Clone() }

// Resume runs entry in a forked child: inst (in e's store) holds a copy
// of the parent's memory, and st is the parent's unwound stack, which is
// rewound first so that the import that unwound it (name) returns result
// to the child. snapshots is the child's copy of the parent's setjmp
// snapshots (nil for none). Then it drives setjmp and longjmp as Call
// does, and returns as Call does.
func Resume(e *env.WasiEnv, inst *wasmtime.Instance, entry, name string, st *asyncify.Stack, result int64, snapshots *asyncify.Table) error {
	d, err := NewDriver(e, inst, Options{Snapshots: snapshots})
	if err != nil {
		if snapshots != nil {
			snapshots.Close()
		}
		return err
	}
	defer d.Close()
	d.resumer = name
	return d.call(entry, st, result)
}
