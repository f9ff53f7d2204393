package stack

import (
	"bytes"
	"errors"
	"fmt"
	"unsafe"

	"github.com/bytecodealliance/wasmtime-go/v25"
	"github.com/wasix-org/wasix-signals-go/internal/asyncify"
	"github.com/wasix-org/wasix-signals-go/internal/fastcall"
	"github.com/wasix-org/wasix-signals-go/wasix/env"
)

type state uint8

const (
	idle      state = iota // no call of the entry point in progress
	running                // the guest runs normally
	unwinding              // stack_checkpoint started an unwind
	rewinding              // the entry point replays down to stack_checkpoint
	jumping                // stack_restore trapped out of the guest
)

func (s state) String() string {
	return [...]string{"idle", "running", "unwinding", "rewinding", "jumping"}[s]
}

// Options configure a Driver.
type Options struct {
	// Limits bound the snapshots kept for setjmp; the zero value is
	// asyncify.DefaultLimits (256 snapshots, 4 MiB of saved frames).
	Limits asyncify.Limits
	// Snapshots, when set, is the table to start from (a forked child's
	// copy of its parent's, see Driver.CloneSnapshots); the Driver closes it.
	Snapshots *asyncify.Table
}

// Driver runs the entry point of one asyncify instance and serves its
// stack_checkpoint and stack_restore calls: the unwinds and rewinds of
// setjmp and longjmp happen in its loop around the call of the entry
// point. One Driver per process; it belongs to the goroutine that runs
// the guest.
type Driver struct {
	e     *env.WasiEnv
	store *wasmtime.Store
	inst  *wasmtime.Instance
	x     *asyncify.Instance
	wide  bool
	table *asyncify.Table

	state  state
	home   uint64             // unwinding: where the jmp_buf goes
	target *asyncify.Snapshot // jumping: the snapshot to rewind
	result int64              // rewinding: what stack_checkpoint returns
	failed error              // a bad longjmp, reported at the top

	// then is set while an import other than stack_checkpoint unwinds
	// (Suspend); resumer names the import the rewind goes back to ("" for
	// stack_checkpoint).
	then    func(*asyncify.Stack) (int64, error)
	resumer string
}

// NewDriver prepares a Driver for inst, which runs in e's store and must
// carry the asyncify exports (see Uses); it fails with one line naming
// what is missing. Close it when the program has ended.
func NewDriver(e *env.WasiEnv, inst *wasmtime.Instance, opts Options) (*Driver, error) {
	store := e.Store()
	x, err := asyncify.Bind(store, inst, e.Data)
	if err != nil {
		return nil, fmt.Errorf("stack: %w", err)
	}
	if _, loaded := drivers.LoadOrStore(e, (*Driver)(nil)); loaded {
		return nil, errors.New("stack: this process already has a driver")
	}
	table := opts.Snapshots
	if table == nil {
		table = asyncify.NewTable(opts.Limits)
	}
	d := &Driver{e: e, store: store, inst: inst, x: x, wide: x.Wide(), table: table}
	drivers.Store(e, d)
	return d, nil
}

// Close releases the snapshots and unregisters the driver.
func (d *Driver) Close() {
	if drivers.CompareAndDelete(d.e, d) {
		d.table.Close()
	}
}

// Snapshots reports how many snapshots the driver keeps and their size.
func (d *Driver) Snapshots() (count, bytes int) { return d.table.Len(), d.table.Bytes() }

// Call calls the export entry (a function of type ()->(), usually
// _start) and drives every setjmp and longjmp until it returns. The error
// is what the call ended with, as Func.Call reports it (pass it to
// env.WasiEnv.Resolve for the process's outcome), or a *JumpError for a
// longjmp to a bad jmp_buf, or an error wrapping asyncify.ErrOverflow.
func (d *Driver) Call(entry string) error { return d.call(entry, nil, 0) }

// call is Call, starting with a rewind of from when it is set (a forked
// child resuming its parent's stack), so that the import that unwound it
// returns result.
func (d *Driver) call(entry string, from *asyncify.Stack, result int64) error {
	fn := d.inst.GetFunc(d.store, entry)
	if fn == nil {
		return fmt.Errorf("stack: no function export %q", entry)
	}
	if d.state != idle {
		return fmt.Errorf("stack: Call of %q while the driver is %s", entry, d.state)
	}
	call := func() error {
		_, err := fn.Call(d.store)
		return err
	}
	if fastcall.Supported() {
		f, ctx := fastcall.FuncOf(fn), unsafe.Pointer(d.store.Context())
		call = func() error { return f.Call0(ctx) }
	}
	d.state, d.failed = running, nil
	defer func() { d.state = idle }()
	if from != nil {
		d.e.SuspendDelivery()
		if err := d.x.StartRewind(d.store, from); err != nil {
			return fmt.Errorf("stack: resume: %w", err)
		}
		d.state, d.result = rewinding, result
	}
	for {
		err := call()
		switch d.state {
		case unwinding:
			if err != nil {
				return d.unwindFailed(err)
			}
			if d.then != nil {
				if err := d.suspended(); err != nil {
					return err
				}
				continue
			}
			if err := d.checkpointed(); err != nil {
				return err
			}
		case jumping:
			if err == nil || d.e.Exited() != nil {
				return err
			}
			d.e.SuspendDelivery()
			if err := d.x.StartRewind(d.store, d.target.Stack); err != nil {
				return fmt.Errorf("stack: longjmp: %w", err)
			}
			d.state, d.target = rewinding, nil
		case rewinding:
			if err != nil {
				return err
			}
			return errors.New("stack: the rewind returned from the entry point without reaching stack_checkpoint")
		default:
			if err != nil && d.failed != nil && d.e.Exited() == nil {
				return d.failed
			}
			return err
		}
	}
}

// checkpointed ends the unwind of a setjmp: keep the stack as a snapshot,
// give the guest its token, rewind with result 0.
func (d *Driver) checkpointed() error {
	st, err := d.x.StopUnwind(d.store)
	if err != nil {
		return fmt.Errorf("stack: setjmp: %w", err)
	}
	held := func(home uint64, tok asyncify.Token) bool {
		b, ok := d.e.Read(d.store, home, asyncify.TokenSize)
		return ok && bytes.Equal(b, tok[:])
	}
	snap := d.table.Add(st, d.home, held)
	tok := snap.Token()
	if !d.e.Write(d.store, d.home, tok[:]) {
		return fmt.Errorf("stack: setjmp: jmp_buf at %#x out of bounds", d.home)
	}
	// The frames are still in place, but a jmp_buf below the stack pointer
	// (nothing legitimate lives there) would have overwritten them with
	// the token: StartRewind writes them back, so that the rewind never
	// replays bytes the guest chose.
	if err := d.x.StartRewind(d.store, st); err != nil {
		return fmt.Errorf("stack: setjmp: %w", err)
	}
	d.state, d.result = rewinding, 0
	return nil
}

// unwindFailed names a trap during an unwind: asyncify's own bounds
// check traps with "unreachable" when the frames overrun the free stack.
func (d *Driver) unwindFailed(err error) error {
	if d.e.Exited() != nil {
		return err
	}
	return fmt.Errorf("stack: setjmp: the unwind trapped (the stack may be too deep for the %w): %v", asyncify.ErrOverflow, err)
}

// fail records a bad longjmp, so that Call reports the typed error.
func (d *Driver) fail(err error) error {
	d.failed = err
	return err
}

// Uses reports whether m imports stack_checkpoint or stack_restore, and
// when it does, whether it has what a Driver needs: it fails with one line
// naming the missing asyncify exports.
func Uses(m *wasmtime.Module) (bool, error) {
	imported := ""
	for _, imp := range m.Imports() {
		if imp.Name() == nil || imp.Module() != Wasix32 && imp.Module() != Wasix64 {
			continue
		}
		if n := *imp.Name(); (n == CheckpointName || n == RestoreName) && imported == "" {
			imported = n
		}
	}
	if imported == "" {
		return false, nil
	}
	var names []string
	for _, ex := range m.Exports() {
		names = append(names, ex.Name())
	}
	if missing := asyncify.Missing(names); len(missing) > 0 {
		return true, fmt.Errorf("stack: the module imports %s but lacks the asyncify export(s) %v: build it with wasm-opt --asyncify and export __stack_pointer and __data_end", imported, missing)
	}
	return true, nil
}

// Run calls the export entry of inst, which runs in store: through a
// Driver when the instance carries the asyncify exports, plainly
// otherwise. store must have a WasiEnv (env.New) bound to inst. The error
// is as Driver.Call's; pass it to env.WasiEnv.Resolve for the outcome.
func Run(store *wasmtime.Store, inst *wasmtime.Instance, entry string) error {
	e := env.Lookup(store)
	if e == nil {
		return errors.New("stack: this store has no WasiEnv (call env.New before running the guest)")
	}
	if inst.GetFunc(store, asyncify.StartUnwind) == nil {
		fn := inst.GetFunc(store, entry)
		if fn == nil {
			return fmt.Errorf("stack: no function export %q", entry)
		}
		_, err := fn.Call(store)
		return err
	}
	d, err := NewDriver(e, inst, Options{})
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Call(entry)
}
