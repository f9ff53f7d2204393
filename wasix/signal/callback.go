package signal

import (
	"unicode/utf8"

	"github.com/bytecodealliance/wasmtime-go/v25"
	"github.com/wasix-org/wasix-signals-go/wasix"
	"github.com/wasix-org/wasix-signals-go/wasix/env"
)

// callbackSignal is callback_signal(name_ptr, name_len) (docs/BEHAVIOUR.md section 3):
// it registers the exported function called name as the signal handler.
// A name out of bounds or not valid UTF-8 is logged and changes nothing. A
// name that is not an exported (i32)->() function clears the handler and
// leaves delivery blocked until a valid name is registered. Pending
// signals are processed before it returns; an exit during that traps.
func callbackSignal(c *wasmtime.Caller, e *env.WasiEnv, a args) (wasix.Errno, error) {
	ptr, n := a.ptr(0), a.ptr(1)
	name, ok := e.Read(c, ptr, n)
	if !ok {
		if err := e.MemoryError(); err != nil {
			e.Logger().Warn("callback_signal: "+err.Error()+"; handler unchanged", "name_ptr", ptr, "name_len", n)
			return 0, nil
		}
		e.Logger().Warn("callback_signal: name out of bounds of guest memory; handler unchanged",
			"name_ptr", ptr, "name_len", n)
		return 0, nil
	}
	if !utf8.Valid(name) {
		e.Logger().Warn("callback_signal: name is not valid UTF-8; handler unchanged",
			"name_ptr", ptr, "name_len", n)
		return 0, nil
	}
	_, err := e.Register(c, name)
	return 0, err
}
