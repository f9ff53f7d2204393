package epoch

// This is the package's only cgo file. It declares the three wasmtime C API
// functions it needs itself (no -I/-L flags): the symbols come from the
// libwasmtime.a that wasmtime-go's own cgo directives already link into every
// binary importing wasmtime-go.
//
// The registration id travels through wasmtime's `void *data` slot as an
// integer. The prototypes below spell that slot as uintptr_t, which has the
// same size and calling convention as void* on every platform wasmtime-go
// ships a library for; this keeps Go pointers (and integer-to-pointer
// conversions) out of C entirely.

/*
#include <stdint.h>
#include <stdlib.h>

typedef struct wasmtime_store wasmtime_store_t;
typedef struct wasmtime_context wasmtime_context_t;
typedef struct wasmtime_error wasmtime_error_t;

extern wasmtime_context_t *wasmtime_store_context(wasmtime_store_t *store);
extern wasmtime_error_t *wasmtime_error_new(const char *msg);
extern void wasmtime_store_epoch_deadline_callback(
	wasmtime_store_t *store,
	wasmtime_error_t *(*func)(wasmtime_context_t *ctx, uintptr_t data,
	                          uint64_t *delta, uint8_t *update_kind),
	uintptr_t data, void (*finalizer)(uintptr_t data));

// Implemented in Go below.
extern wasmtime_error_t *goEpochDeadline(wasmtime_context_t *ctx, uintptr_t data,
                                         uint64_t *delta, uint8_t *update_kind);
extern void goEpochFinalize(uintptr_t data);
*/
import "C"

import "unsafe"

// cStoreContext returns wasmtime_store_context(store).
func cStoreContext(store unsafe.Pointer) unsafe.Pointer {
	return unsafe.Pointer(C.wasmtime_store_context((*C.wasmtime_store_t)(store)))
}

// cSetCallback installs goEpochDeadline/goEpochFinalize on store with id as
// the data word. Replacing an earlier callback makes wasmtime run the earlier
// finalizer before this returns; so does deleting the store later.
func cSetCallback(store unsafe.Pointer, id uint64) {
	C.wasmtime_store_epoch_deadline_callback((*C.wasmtime_store_t)(store),
		(*[0]byte)(C.goEpochDeadline), C.uintptr_t(id), (*[0]byte)(C.goEpochFinalize))
}

//export goEpochDeadline
func goEpochDeadline(_ *C.wasmtime_context_t, data C.uintptr_t, delta *C.uint64_t, kind *C.uint8_t) *C.wasmtime_error_t {
	*kind = 0 // WASMTIME_UPDATE_DEADLINE_CONTINUE
	d, msg, ok := dispatch(uint64(data))
	if !ok {
		cmsg := C.CString(msg)
		defer C.free(unsafe.Pointer(cmsg))
		return C.wasmtime_error_new(cmsg)
	}
	*delta = C.uint64_t(d)
	return nil
}

//export goEpochFinalize
func goEpochFinalize(data C.uintptr_t) {
	unregister(uint64(data))
}
