package epoch

// This is the package's only cgo file. It declares the three wasmtime C API
// functions it needs itself (no -I/-L flags): the symbols come from the
// libwasmtime.a that wasmtime-go's own cgo directives already link into every
// binary importing wasmtime-go.
//
// wasmtime's `void *data` slot carries a C-allocated wx_reg: the
// registration id and, for a store with a Bell, the bell. The prototypes
// below spell that slot as uintptr_t, which has the same size and calling
// convention as void* on every platform wasmtime-go ships a library for. No
// Go pointer ever reaches C: bells and registrations live in C memory.
//
// The deadline trampoline runs in C on the guest's thread. For a store
// with a bell that has not rung it answers "continue, one tick more"
// without entering Go: an engine-wide epoch kick then costs the other
// stores a few nanoseconds each instead of a cgo callback, which needs a Go
// processor and, with many guests spinning, waits its turn for one.

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

typedef struct {
	uint32_t rung; // set by Bell.Ring, taken by the trampoline
	int32_t refs;  // the Bell's owner, plus one per registration
} wx_bell;

typedef struct {
	uint64_t id;
	wx_bell *bell; // NULL: always enter Go
} wx_reg;

static void wx_bell_unref(wx_bell *b) {
	if (b != NULL && __atomic_sub_fetch(&b->refs, 1, __ATOMIC_SEQ_CST) == 0) {
		free(b);
	}
}

static wasmtime_error_t *wx_deadline(wasmtime_context_t *ctx, uintptr_t data,
                                     uint64_t *delta, uint8_t *update_kind) {
	wx_reg *r = (wx_reg *)data;
	if (r->bell != NULL && !__atomic_exchange_n(&r->bell->rung, 0, __ATOMIC_SEQ_CST)) {
		*update_kind = 0; // WASMTIME_UPDATE_DEADLINE_CONTINUE
		*delta = 1;
		return NULL;
	}
	return goEpochDeadline(ctx, (uintptr_t)r->id, delta, update_kind);
}

static void wx_finalize(uintptr_t data) {
	wx_reg *r = (wx_reg *)data;
	uint64_t id = r->id;
	wx_bell_unref(r->bell);
	free(r);
	goEpochFinalize((uintptr_t)id);
}

static wx_bell *wx_bell_new(void) {
	wx_bell *b = calloc(1, sizeof *b);
	if (b != NULL) {
		b->refs = 1;
	}
	return b;
}

static void wx_set_callback(wasmtime_store_t *store, uint64_t id, wx_bell *bell) {
	wx_reg *r = malloc(sizeof *r);
	if (r == NULL) {
		abort();
	}
	r->id = id;
	r->bell = bell;
	if (bell != NULL) {
		__atomic_add_fetch(&bell->refs, 1, __ATOMIC_SEQ_CST);
	}
	wasmtime_store_epoch_deadline_callback(store, wx_deadline, (uintptr_t)r, wx_finalize);
}
*/
import "C"

import (
	"sync/atomic"
	"unsafe"
)

// cStoreContext returns wasmtime_store_context(store).
func cStoreContext(store unsafe.Pointer) unsafe.Pointer {
	return unsafe.Pointer(C.wasmtime_store_context((*C.wasmtime_store_t)(store)))
}

// cSetCallback installs the trampoline on store for registration id, gated
// by bell (nil: none). Replacing an earlier callback makes wasmtime run the
// earlier finalizer before this returns; so does deleting the store later.
func cSetCallback(store unsafe.Pointer, id uint64, bell *Bell) {
	var b *C.wx_bell
	if bell != nil {
		b = bell.p
	}
	C.wx_set_callback((*C.wasmtime_store_t)(store), C.uint64_t(id), b)
}

// cBell is a bell in C memory: not rung, one reference (its owner's).
type cBell = C.wx_bell

func newCBell() *cBell {
	b := C.wx_bell_new()
	if b == nil {
		panic("epoch: out of memory")
	}
	return b
}

// ringBell and releaseBell touch the bell from Go with atomics on its C
// memory, which costs no cgo call.
func ringBell(b *cBell) { atomic.StoreUint32((*uint32)(unsafe.Pointer(&b.rung)), 1) }

func releaseBell(b *cBell) {
	if atomic.AddInt32((*int32)(unsafe.Pointer(&b.refs)), -1) == 0 {
		C.free(unsafe.Pointer(b))
	}
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
