package env

import (
	"encoding/binary"

	"github.com/bytecodealliance/wasmtime-go/v25"
	"github.com/wasix-org/wasix-signals-go/wasix"
)

// FaultErrno is the errno for a guest pointer out of bounds: EFAULT, or
// EMEMVIOLATION under the wasmer policy, as the reference runtime answers.
func (e *WasiEnv) FaultErrno() wasix.Errno {
	if e.policy == wasix.PolicyWasmer {
		return wasix.EMEMVIOLATION
	}
	return wasix.EFAULT
}

// memoryData returns the guest memory's bytes: the host-provided or bound
// memory, else the calling instance's "memory" export (before Bind). ok is
// false when there is no memory, as opposed to an empty one.
func (e *WasiEnv) memoryData(store wasmtime.Storelike) (data []byte, ok bool) {
	if e.memory != nil {
		if e.fast {
			return e.fastMem.Data(e.ctx), true
		}
		return e.memory.UnsafeData(store), true
	}
	if c, ok := store.(*wasmtime.Caller); ok {
		if ex := c.GetExport("memory"); ex != nil {
			if m := ex.Memory(); m != nil {
				return m.UnsafeData(store), true
			}
		}
	}
	return nil, false
}

// Read returns the n bytes at ptr in guest memory, or false when the range
// is out of bounds (a sum that overflows included) or there is no memory,
// even for n == 0 (MemoryError then says why). The slice aliases guest
// memory: use it before calling into the guest.
func (e *WasiEnv) Read(store wasmtime.Storelike, ptr, n uint64) ([]byte, bool) {
	mem, ok := e.memoryData(store)
	if !ok {
		return nil, false
	}
	end := ptr + n
	if end < ptr || end > uint64(len(mem)) {
		return nil, false
	}
	return mem[ptr:end:end], true
}

// Write copies b to ptr in guest memory; false when out of bounds.
func (e *WasiEnv) Write(store wasmtime.Storelike, ptr uint64, b []byte) bool {
	dst, ok := e.Read(store, ptr, uint64(len(b)))
	if ok {
		copy(dst, b)
	}
	return ok
}

// WriteUint32 stores v little-endian at ptr; false when out of bounds.
func (e *WasiEnv) WriteUint32(store wasmtime.Storelike, ptr uint64, v uint32) bool {
	var b [4]byte
	binary.LittleEndian.PutUint32(b[:], v)
	return e.Write(store, ptr, b[:])
}
