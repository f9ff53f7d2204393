package signal

import (
	"fmt"

	"github.com/bytecodealliance/wasmtime-go/v25"
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
type args []wasmtime.Val

func (a args) i32(i int) int32 { return a[i].I32() }

func (a args) i64(i int) int64 { return a[i].I64() }

// ptr reads a pointer or length: i32 (zero-extended) in wasix_32v1, i64 in
// wasix_64v1.
func (a args) ptr(i int) uint64 {
	if a[i].Kind() == wasmtime.KindI64 {
		return uint64(a[i].I64())
	}
	return uint64(uint32(a[i].I32()))
}

// errnoFunc is the body of an import whose result is an errno. A non-nil
// error is terminal: the process ended and the import traps.
type errnoFunc func(c *wasmtime.Caller, e *env.WasiEnv, a args) (wasix.Errno, error)

// importDef describes one import: its name, its parameter kinds (P marks a
// pointer-width parameter) and its body.
type importDef struct {
	name   string
	params []kind
	errno  errnoFunc                                                       // nil for callback_signal
	void   func(c *wasmtime.Caller, e *env.WasiEnv, a args) *wasmtime.Trap // callback_signal
}

type kind uint8

const (
	i32 kind = iota
	i64
	ptrKind
)

// imports lists every signal import in the order of SPEC section 2.
var imports = []importDef{
	{name: CallbackSignalName, params: []kind{ptrKind, ptrKind}, void: callbackSignal},
	{name: ProcRaiseName, params: []kind{i32}, errno: procRaise},
	{name: ThreadSignalName, params: []kind{i32, i32}, errno: threadSignal},
	{name: ProcSignalName, params: []kind{i32, i32}, errno: procSignal},
	{name: ProcRaiseIntervalName, params: []kind{i32, i64, i32}, errno: procRaiseInterval},
	{name: ProcSignalsSizesGetName, params: []kind{ptrKind}, errno: procSignalsSizesGet},
	{name: ProcSignalsGetName, params: []kind{ptrKind}, errno: procSignalsGet},
	{name: ThreadIDName, params: []kind{ptrKind}, errno: threadID},
	{name: ProcIDName, params: []kind{ptrKind}, errno: procID},
	{name: ThreadSleepName, params: []kind{i64}, errno: threadSleep},
}

// Install defines every signal import in the Linker: all of SPEC section 2
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
		if err := define(l, ns, imports[1], false); err != nil {
			return err
		}
	}
	return nil
}

func define(l *wasmtime.Linker, ns string, d importDef, wide bool) error {
	params := make([]*wasmtime.ValType, len(d.params))
	for i, k := range d.params {
		switch {
		case k == i64 || k == ptrKind && wide:
			params[i] = wasmtime.NewValType(wasmtime.KindI64)
		default:
			params[i] = wasmtime.NewValType(wasmtime.KindI32)
		}
	}
	var results []*wasmtime.ValType
	var body func(*wasmtime.Caller, []wasmtime.Val) ([]wasmtime.Val, *wasmtime.Trap)
	if d.void != nil {
		body = func(c *wasmtime.Caller, a []wasmtime.Val) ([]wasmtime.Val, *wasmtime.Trap) {
			e := env.Lookup(c)
			if e == nil {
				return nil, noEnv(d.name)
			}
			return nil, d.void(c, e, a)
		}
	} else {
		results = []*wasmtime.ValType{wasmtime.NewValType(wasmtime.KindI32)}
		body = func(c *wasmtime.Caller, a []wasmtime.Val) ([]wasmtime.Val, *wasmtime.Trap) {
			e := env.Lookup(c)
			if e == nil {
				return nil, noEnv(d.name)
			}
			errno, err := d.errno(c, e, a)
			if err != nil {
				return nil, wasmtime.NewTrap(err.Error())
			}
			return []wasmtime.Val{wasmtime.ValI32(int32(errno))}, nil
		}
	}
	if err := l.FuncNew(ns, d.name, wasmtime.NewFuncType(params, results), body); err != nil {
		return fmt.Errorf("signal: define %s.%s: %w", ns, d.name, err)
	}
	return nil
}

func noEnv(name string) *wasmtime.Trap {
	return wasmtime.NewTrap("wasix: " + name + ": this store has no WasiEnv (call env.New before running the guest)")
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
// the order of SPEC section 2.
func Names() []string {
	names := make([]string, len(imports))
	for i, d := range imports {
		names[i] = d.name
	}
	return names
}
