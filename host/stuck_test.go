package host

import "testing"

func TestDescribeStack(t *testing.T) {
	const dump = `goroutine 1 [running]:
main.main()
	/x/main.go:1 +0x1

goroutine 42 [chan receive]:
example.com/svc.(*Server).wait(...)
	/x/svc.go:10
example.com/svc.New.func1(0xc000, {0x0, 0x0, 0x0})
	/x/svc.go:20 +0x2
github.com/bytecodealliance/wasmtime-go/v25.goTrampolineNew(0x1, 0x2)
	/m/func.go:1 +0x3
github.com/bytecodealliance/wasmtime-go/v25._Cfunc_wasmtime_func_call(0x1)
	_cgo_gotypes.go:1 +0x4

goroutine 43 [syscall]:
github.com/bytecodealliance/wasmtime-go/v25._Cfunc_wasmtime_func_call(0x1)
	_cgo_gotypes.go:1 +0x4
`
	for _, tc := range []struct {
		id   int64
		want string
	}{
		{42, "host function example.com/svc.(*Server).wait"},
		{43, "wasm code or wasmtime's own WASI (no Go host function on the stack)"},
		{7, "an unknown call (the guest's goroutine was not found)"},
	} {
		if got := describeStack(dump, tc.id); got != tc.want {
			t.Errorf("goroutine %d: got %q, want %q", tc.id, got, tc.want)
		}
	}
}

func TestGoroutineID(t *testing.T) {
	if id := goroutineID(); id <= 0 {
		t.Fatalf("goroutineID() = %d", id)
	}
}
