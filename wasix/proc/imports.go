package proc

import (
	"errors"
	"fmt"

	"github.com/bytecodealliance/wasmtime-go/v25"
	"github.com/wasix-org/wasix-signals-go/internal/functype"
	"github.com/wasix-org/wasix-signals-go/wasix"
	"github.com/wasix-org/wasix-signals-go/wasix/env"
)

// The import names.
const (
	ForkName   = "proc_fork"
	JoinName   = "proc_join"
	ExecName   = "proc_exec"
	ParentName = "proc_parent"
)

// The namespaces the imports are defined in.
const (
	Wasix32 = "wasix_32v1"
	Wasix64 = "wasix_64v1"
)

// Names lists the imports Install defines in both namespaces.
func Names() []string { return []string{ForkName, JoinName, ExecName, ParentName} }

type body func(c *wasmtime.Caller, e *env.WasiEnv, a []int64) (wasix.Errno, error)

type def struct {
	name   string
	params []bool // true: a pointer or a length (i64 in wasix_64v1)
	result bool
	fn     body
}

func defs() []def {
	return []def{
		{ForkName, []bool{false, true}, true, fork},
		{JoinName, []bool{true, false, true}, true, join},
		{ExecName, []bool{true, true, true, true}, false, exec},
		{ParentName, []bool{false, true}, true, parent},
	}
}

// Install defines proc_fork, proc_join (the newer, three-argument form),
// proc_exec and proc_parent in wasix_32v1 and wasix_64v1 (pointers i64
// there). Like the signal imports they are store-independent: each call
// finds its process with env.Lookup and Lookup. The older two-argument
// proc_join cannot share the name in one Linker: a host serves it per
// store with LegacyFunc.
func Install(l *wasmtime.Linker) error {
	for _, ns := range []string{Wasix32, Wasix64} {
		for _, d := range defs() {
			if err := l.FuncNew(ns, d.name, funcType(d, ns == Wasix64), wrap(d, ns == Wasix64)); err != nil {
				return fmt.Errorf("proc: define %s.%s: %w", ns, d.name, err)
			}
		}
	}
	return nil
}

// LegacyFunc returns, for an import the Linker's definitions do not fit,
// the function that serves it in store, or nil: today the two-argument
// proc_join(pid_ptr, status_ptr) of older wasix-libc binaries.
func LegacyFunc(store wasmtime.Storelike, module, name string, ft *wasmtime.FuncType) *wasmtime.Func {
	if name != JoinName || module != Wasix32 && module != Wasix64 {
		return nil
	}
	wide := module == Wasix64
	d := def{JoinName, []bool{true, true}, true, legacyJoin}
	want := funcType(d, wide)
	if !functype.Same(ft, want) {
		return nil
	}
	return wasmtime.NewFunc(store, want, wrap(d, wide))
}

func funcType(d def, wide bool) *wasmtime.FuncType {
	params := make([]*wasmtime.ValType, len(d.params))
	for i, ptr := range d.params {
		k := wasmtime.KindI32
		if ptr && wide {
			k = wasmtime.KindI64
		}
		params[i] = wasmtime.NewValType(k)
	}
	var results []*wasmtime.ValType
	if d.result {
		results = append(results, wasmtime.NewValType(wasmtime.KindI32))
	}
	return wasmtime.NewFuncType(params, results)
}

func wrap(d def, wide bool) func(*wasmtime.Caller, []wasmtime.Val) ([]wasmtime.Val, *wasmtime.Trap) {
	name := d.name
	return func(c *wasmtime.Caller, vals []wasmtime.Val) ([]wasmtime.Val, *wasmtime.Trap) {
		e := env.Lookup(c)
		if e == nil {
			return nil, wasmtime.NewTrap(noEnv(name).Error())
		}
		a := make([]int64, len(vals))
		for i, v := range vals {
			if v.Kind() == wasmtime.KindI64 {
				a[i] = v.I64()
			} else if d.params[i] {
				a[i] = int64(uint32(v.I32())) // pointers and lengths are unsigned
			} else {
				a[i] = int64(v.I32())
			}
		}
		errno, err := d.fn(c, e, a)
		if err != nil {
			return nil, wasmtime.NewTrap(err.Error())
		}
		if !d.result {
			return nil, nil
		}
		return []wasmtime.Val{wasmtime.ValI32(int32(errno))}, nil
	}
}

func noEnv(name string) error {
	return errors.New("wasix: " + name + ": this store has no WasiEnv (call env.New before running the guest)")
}
