package proc

import (
	"encoding/binary"
	"fmt"
	"sync"

	"github.com/bytecodealliance/wasmtime-go/v25"
	"github.com/wasix-org/wasix-signals-go/wasix"
	"github.com/wasix-org/wasix-signals-go/wasix/env"
)

// A program that exec'd keeps its store and with it wasmtime's WASI
// state (its open files, as execve keeps descriptors open), but has new
// arguments: args_get and args_sizes_get are served here, from the
// process's Proc, shadowing wasmtime's.

// Preview1 is the namespace of args_get and args_sizes_get.
const Preview1 = "wasi_snapshot_preview1"

// ArgsNames lists the imports InstallArgs defines in Preview1.
func ArgsNames() []string { return []string{"args_get", "args_sizes_get"} }

type argv struct {
	mu   sync.Mutex
	args []string
}

// SetArgs sets the arguments args_get reports for the process.
func (p *Proc) SetArgs(args []string) {
	p.argv.mu.Lock()
	p.argv.args = append([]string(nil), args...)
	p.argv.mu.Unlock()
}

// Args returns the process's arguments.
func (p *Proc) Args() []string {
	p.argv.mu.Lock()
	defer p.argv.mu.Unlock()
	return append([]string(nil), p.argv.args...)
}

// InstallArgs defines args_get and args_sizes_get in
// wasi_snapshot_preview1, shadowing wasmtime's (call it after
// Linker.DefineWasi): they answer from the Proc of the calling process
// (Proc.SetArgs). Every program started on such a Linker must have a
// Proc; one without gets an empty argv.
func InstallArgs(l *wasmtime.Linker) error {
	l.AllowShadowing(true)
	i32 := wasmtime.NewValType(wasmtime.KindI32)
	ty := wasmtime.NewFuncType([]*wasmtime.ValType{i32, i32}, []*wasmtime.ValType{i32})
	for _, d := range []struct {
		name string
		fn   func(*wasmtime.Caller, *env.WasiEnv, []string, uint64, uint64) wasix.Errno
	}{{"args_get", argsGet}, {"args_sizes_get", argsSizesGet}} {
		fn := d.fn
		name := d.name
		err := l.FuncNew(Preview1, name, ty, func(c *wasmtime.Caller, v []wasmtime.Val) ([]wasmtime.Val, *wasmtime.Trap) {
			e := env.Lookup(c)
			if e == nil {
				return nil, wasmtime.NewTrap(noEnv(name).Error())
			}
			var args []string
			if p := Lookup(e); p != nil {
				args = p.Args()
			}
			errno := fn(c, e, args, uint64(uint32(v[0].I32())), uint64(uint32(v[1].I32())))
			return []wasmtime.Val{wasmtime.ValI32(int32(errno))}, nil
		})
		if err != nil {
			return fmt.Errorf("proc: define %s.%s: %w", Preview1, name, err)
		}
	}
	return nil
}

// argsSizesGet writes argc and the size of the NUL-terminated strings.
func argsSizesGet(c *wasmtime.Caller, e *env.WasiEnv, args []string, argcPtr, sizePtr uint64) wasix.Errno {
	size := 0
	for _, a := range args {
		size += len(a) + 1
	}
	var b [4]byte
	binary.LittleEndian.PutUint32(b[:], uint32(len(args)))
	if !e.Write(c, argcPtr, b[:]) {
		return e.FaultErrno()
	}
	binary.LittleEndian.PutUint32(b[:], uint32(size))
	if !e.Write(c, sizePtr, b[:]) {
		return e.FaultErrno()
	}
	return wasix.ESUCCESS
}

// argsGet writes the pointers at argvPtr and the strings at bufPtr.
func argsGet(c *wasmtime.Caller, e *env.WasiEnv, args []string, argvPtr, bufPtr uint64) wasix.Errno {
	ptrs := make([]byte, 4*len(args))
	var buf []byte
	for i, a := range args {
		binary.LittleEndian.PutUint32(ptrs[4*i:], uint32(bufPtr+uint64(len(buf))))
		buf = append(append(buf, a...), 0)
	}
	if !e.Write(c, argvPtr, ptrs) || !e.Write(c, bufPtr, buf) {
		return e.FaultErrno()
	}
	return wasix.ESUCCESS
}
