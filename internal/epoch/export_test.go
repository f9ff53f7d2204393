package epoch

import "github.com/bytecodealliance/wasmtime-go/v25"

// Registered reports how many callbacks are registered.
var Registered = registered

// SetStorePtrSource makes Install read the C pointer from f(store) instead of
// store, to exercise the run-time check; the returned func restores it.
func SetStorePtrSource(f func(*wasmtime.Store) *wasmtime.Store) (restore func()) {
	old := storePtrSource
	storePtrSource = f
	return func() { storePtrSource = old }
}
