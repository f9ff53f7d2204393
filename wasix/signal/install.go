package signal

import (
	"errors"
	"fmt"
	"unsafe"

	"github.com/bytecodealliance/wasmtime-go/v25"
	"github.com/wasix-org/wasix-signals-go/internal/fastcall"
	"github.com/wasix-org/wasix-signals-go/wasix"
	"github.com/wasix-org/wasix-signals-go/wasix/env"
)

// The import names, as the WASIX witx defines them.
const (
	CallbackSignalName      = "callback_signal"
	ProcRaiseName           = "proc_raise"
	ThreadSignalName        = "thread_signal"
	ProcSignalName          = "proc_signal"
	ProcRaiseIntervalName   = "proc_raise_interval"
	ProcRaiseInterval2Name  = "proc_raise_interval2"
	ProcSignalsSizesGetName = "proc_signals_sizes_get"
	ProcSignalsGetName      = "proc_signals_get"
	ThreadIDName            = "thread_id"
	ProcIDName              = "proc_id"
	ThreadSleepName         = "thread_sleep"
)

// The namespaces the imports are defined in.
const (
	Wasix32 = "wasix_32v1"
	Wasix64 = "wasix_64v1"
	// Preview1 and Unstable get only proc_raise, shadowing wasmtime's own
	// (which answers ENOTSUP).
	Preview1 = "wasi_snapshot_preview1"
	Unstable = "wasi_unstable"
)

// args gives an import's parameters whatever the namespace's pointer width.
type args struct {
	v    fastcall.Args // i32 values sign-extended
	wide bool          // wasix_64v1: pointers and lengths are i64
}

func (a args) i32(i int) int32 { return int32(a.v[i]) }

func (a args) i64(i int) int64 { return a.v[i] }

// ptr reads a pointer or length: i32 (zero-extended) in wasix_32v1, i64 in
// wasix_64v1.
func (a args) ptr(i int) uint64 {
	if a.wide {
		return uint64(a.v[i])
	}
	return uint64(uint32(a.v[i]))
}

// body is an import: its errno result (ignored for callback_signal, which
// has none), or a non-nil error when the process ended and the import must
// trap.
type body func(c *wasmtime.Caller, e *env.WasiEnv, a args) (wasix.Errno, error)

// importDef describes one import: its name, its parameter kinds and its
// body.
type importDef struct {
	name     string
	params   []kind
	noResult bool // callback_signal
	body     body
}

type kind uint8

const (
	i32 kind = iota
	i64
	ptrKind
)

// imports lists every signal import in the order of docs/BEHAVIOUR.md section 2.
var imports = []importDef{
	{name: CallbackSignalName, params: []kind{ptrKind, ptrKind}, noResult: true, body: callbackSignal},
	{name: ProcRaiseName, params: []kind{i32}, body: procRaise},
	{name: ThreadSignalName, params: []kind{i32, i32}, body: threadSignal},
	{name: ProcSignalName, params: []kind{i32, i32}, body: procSignal},
	{name: ProcRaiseIntervalName, params: []kind{i32, i64, i32}, body: procRaiseInterval},
	{name: ProcRaiseInterval2Name, params: []kind{i32, ptrKind, ptrKind}, body: procRaiseInterval2},
	{name: ProcSignalsSizesGetName, params: []kind{ptrKind}, body: procSignalsSizesGet},
	{name: ProcSignalsGetName, params: []kind{ptrKind}, body: procSignalsGet},
	{name: ThreadIDName, params: []kind{ptrKind}, body: threadID},
	{name: ProcIDName, params: []kind{ptrKind}, body: procID},
	{name: ThreadSleepName, params: []kind{i64}, body: threadSleep},
}

// Install defines every signal import in the Linker: all of docs/BEHAVIOUR.md section 2
// in wasix_32v1 and wasix_64v1, and proc_raise in wasi_snapshot_preview1 and
// wasi_unstable. It enables shadowing on the Linker so that these replace
// wasmtime's WASI proc_raise: call it after Linker.DefineWasi.
//
// The imports are store-independent: one Linker serves any number of
// Stores at once. Each call finds its process with env.Lookup(caller), so
// every Store must have a WasiEnv (env.New) before it runs; a call from a
// Store without one traps with a message saying so.
func Install(l *wasmtime.Linker) error {
	l.AllowShadowing(true)
	for _, ns := range []string{Wasix32, Wasix64} {
		for _, d := range imports {
			if err := define(l, ns, d, ns == Wasix64); err != nil {
				return err
			}
		}
	}
	for _, ns := range []string{Preview1, Unstable} {
		for _, d := range imports {
			if d.name != ProcRaiseName {
				continue
			}
			if err := define(l, ns, d, false); err != nil {
				return err
			}
		}
	}
	return nil
}

// define defines one import: through internal/fastcall when it works (one
// cgo crossing per call, no allocation), else with Linker.FuncNew.
func define(l *wasmtime.Linker, ns string, d importDef, wide bool) error {
	kinds := make([]wasmtime.ValKind, len(d.params))
	for i, k := range d.params {
		kinds[i] = wasmtime.KindI32
		if k == i64 || k == ptrKind && wide {
			kinds[i] = wasmtime.KindI64
		}
	}
	var err error
	if fastcall.Supported() {
		err = fastcall.Define(l, ns, d.name, kinds, !d.noResult,
			func(c *wasmtime.Caller, ctx unsafe.Pointer, a fastcall.Args) (int32, error) {
				e := env.LookupContext(ctx)
				if e == nil {
					return 0, noEnv(d.name)
				}
				errno, err := d.body(c, e, args{v: a, wide: wide})
				return int32(errno), err
			})
	} else {
		err = l.FuncNew(ns, d.name, funcType(kinds, !d.noResult), func(c *wasmtime.Caller, vals []wasmtime.Val) ([]wasmtime.Val, *wasmtime.Trap) {
			e := env.Lookup(c)
			if e == nil {
				return nil, wasmtime.NewTrap(noEnv(d.name).Error())
			}
			a := args{wide: wide}
			for i, v := range vals {
				if v.Kind() == wasmtime.KindI64 {
					a.v[i] = v.I64()
				} else {
					a.v[i] = int64(v.I32())
				}
			}
			errno, err := d.body(c, e, a)
			if err != nil {
				return nil, wasmtime.NewTrap(err.Error())
			}
			if d.noResult {
				return nil, nil
			}
			return []wasmtime.Val{wasmtime.ValI32(int32(errno))}, nil
		})
	}
	if err != nil {
		return fmt.Errorf("signal: define %s.%s: %w", ns, d.name, err)
	}
	return nil
}

func funcType(kinds []wasmtime.ValKind, errnoResult bool) *wasmtime.FuncType {
	params := make([]*wasmtime.ValType, len(kinds))
	for i, k := range kinds {
		params[i] = wasmtime.NewValType(k)
	}
	var results []*wasmtime.ValType
	if errnoResult {
		results = append(results, wasmtime.NewValType(wasmtime.KindI32))
	}
	return wasmtime.NewFuncType(params, results)
}

func noEnv(name string) error {
	return errors.New("wasix: " + name + ": this store has no WasiEnv (call env.New before running the guest)")
}

// SafePoint wraps a host function so that pending signals are delivered
// when the guest calls it, before f runs. With nothing pending anywhere it
// costs one atomic load. Use it for the embedder's own imports, so that a
// guest that calls them often receives signals promptly.
func SafePoint(f func(*wasmtime.Caller, []wasmtime.Val) ([]wasmtime.Val, *wasmtime.Trap)) func(*wasmtime.Caller, []wasmtime.Val) ([]wasmtime.Val, *wasmtime.Trap) {
	return func(c *wasmtime.Caller, a []wasmtime.Val) ([]wasmtime.Val, *wasmtime.Trap) {
		if env.AnyAttention() {
			if e := env.Lookup(c); e != nil {
				if t := e.ProcessSignalsAndExit(c); t != nil {
					return nil, t
				}
			}
		}
		return f(c, a)
	}
}

// Names lists the imports Install defines in wasix_32v1 and wasix_64v1, in
// the order of docs/BEHAVIOUR.md section 2.
func Names() []string {
	names := make([]string, len(imports))
	for i, d := range imports {
		names[i] = d.name
	}
	return names
}

// Release frees what Install keeps outside the Linker for l (the fast
// path's registry entries). Call it when l will not instantiate again and
// every store that used it is closed, before or after Linker.Close; a
// store that calls one of these imports afterwards traps.
func Release(l *wasmtime.Linker) { fastcall.Release(l) }
