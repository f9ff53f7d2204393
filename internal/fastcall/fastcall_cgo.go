package fastcall

// This is the package's only cgo file. Like internal/epoch it declares the
// few wasmtime C API functions and types it needs itself (the symbols come
// from the libwasmtime.a that wasmtime-go links); the struct layouts below
// are those of wasmtime-go v25's headers, which go.mod pins, and fastcall.go
// checks them at run time before anything here is used.

/*
#include <stdint.h>
#include <stddef.h>
#include <stdbool.h>

typedef struct wasmtime_context wasmtime_context_t;
typedef struct wasmtime_caller wasmtime_caller_t;
typedef struct wasmtime_linker wasmtime_linker_t;
typedef struct wasmtime_error wasmtime_error_t;
typedef struct wasm_trap_t wasm_trap_t;
typedef struct wasm_valtype_t wasm_valtype_t;
typedef struct wasm_functype_t wasm_functype_t;
typedef struct { size_t size; wasm_valtype_t **data; } wasm_valtype_vec_t;
typedef struct { size_t size; char *data; } wasm_byte_vec_t;

// wasmtime_func_t and wasmtime_memory_t.
typedef struct { uint64_t store_id; size_t private_; } wx_handle_t;
// wasmtime_val_t: a kind byte, then a 16-byte union at offset 8.
typedef struct {
	uint8_t kind;
	union { int32_t i32; int64_t i64; uint8_t bytes[16]; } of;
} wx_val_t;

extern wasmtime_context_t *wasmtime_caller_context(wasmtime_caller_t *caller);
extern wasmtime_error_t *wasmtime_func_call(wasmtime_context_t *ctx, const wx_handle_t *func,
	const wx_val_t *args, size_t nargs, wx_val_t *results, size_t nresults, wasm_trap_t **trap);
extern uint8_t *wasmtime_memory_data(const wasmtime_context_t *ctx, const wx_handle_t *memory);
extern size_t wasmtime_memory_data_size(const wasmtime_context_t *ctx, const wx_handle_t *memory);
extern void wasmtime_global_get(wasmtime_context_t *ctx, const wx_handle_t *global, wx_val_t *out);
extern wasmtime_error_t *wasmtime_global_set(wasmtime_context_t *ctx, const wx_handle_t *global, const wx_val_t *val);
extern wasm_trap_t *wasmtime_trap_new(const char *msg, size_t len);
extern void wasm_trap_message(const wasm_trap_t *trap, wasm_byte_vec_t *out);
extern void wasm_trap_delete(wasm_trap_t *trap);
extern bool wasmtime_error_exit_status(const wasmtime_error_t *err, int *status);
extern void wasmtime_error_message(const wasmtime_error_t *err, wasm_byte_vec_t *out);
extern void wasmtime_error_delete(wasmtime_error_t *err);
extern void wasm_byte_vec_delete(wasm_byte_vec_t *v);
extern wasm_valtype_t *wasm_valtype_new(uint8_t kind);
extern void wasm_valtype_vec_new(wasm_valtype_vec_t *out, size_t n, wasm_valtype_t *const data[]);
extern wasm_functype_t *wasm_functype_new(wasm_valtype_vec_t *params, wasm_valtype_vec_t *results);
extern void wasm_functype_delete(wasm_functype_t *ty);
typedef wasm_trap_t *(*wx_callback_t)(void *env, wasmtime_caller_t *caller,
	const wx_val_t *args, size_t nargs, wx_val_t *results, size_t nresults);
extern wasmtime_error_t *wasmtime_linker_define_func(wasmtime_linker_t *linker,
	const char *module, size_t module_len, const char *name, size_t name_len,
	const wasm_functype_t *ty, wx_callback_t cb, void *env, void (*finalizer)(void *));

// Implemented in Go.
extern wasm_trap_t *goFastcallHost(uintptr_t id, wasmtime_caller_t *caller, wasmtime_context_t *ctx,
	int64_t a0, int64_t a1, int64_t a2, int64_t a3, int32_t *result);

enum { WX_I32 = 0, WX_I64 = 1 };

// wx_trampoline is the host function wasmtime calls: it unpacks up to four
// integer arguments and makes one call into Go.
static wasm_trap_t *wx_trampoline(void *env, wasmtime_caller_t *caller,
		const wx_val_t *args, size_t nargs, wx_val_t *results, size_t nresults) {
	int64_t a[4] = {0, 0, 0, 0};
	for (size_t i = 0; i < nargs && i < 4; i++)
		a[i] = args[i].kind == WX_I64 ? args[i].of.i64 : (int64_t)args[i].of.i32;
	int32_t result = 0;
	wasm_trap_t *trap = goFastcallHost((uintptr_t)env, caller, wasmtime_caller_context(caller),
		a[0], a[1], a[2], a[3], &result);
	if (trap == NULL && nresults > 0) {
		results[0].kind = WX_I32;
		results[0].of.i32 = result;
	}
	return trap;
}

// wx_define defines module.name in linker with integer parameters (kinds
// 0 = i32, 1 = i64) and an optional i32 result, calling wx_trampoline with
// id as its env.
static wasmtime_error_t *wx_define(wasmtime_linker_t *linker, const char *module, size_t module_len,
		const char *name, size_t name_len, const uint8_t *kinds, size_t nparams, int has_result, uintptr_t id) {
	wasm_valtype_t *p[8];
	for (size_t i = 0; i < nparams && i < 8; i++)
		p[i] = wasm_valtype_new(kinds[i]);
	wasm_valtype_vec_t params, results;
	wasm_valtype_vec_new(&params, nparams, p);
	if (has_result) {
		wasm_valtype_t *r[1] = { wasm_valtype_new(WX_I32) };
		wasm_valtype_vec_new(&results, 1, r);
	} else {
		wasm_valtype_vec_new(&results, 0, NULL);
	}
	wasm_functype_t *ty = wasm_functype_new(&params, &results);
	wasmtime_error_t *err = wasmtime_linker_define_func(linker, module, module_len, name, name_len,
		ty, wx_trampoline, (void *)id, NULL);
	wasm_functype_delete(ty);
	return err;
}

typedef struct { wasmtime_error_t *err; wasm_trap_t *trap; } wx_failure_t;

// wx_call_i32 calls func(arg) and returns the error or trap, if any. The
// handle comes by value and the result goes back by value, so that Go
// passes no pointers and allocates nothing.
static wx_failure_t wx_call_i32(wasmtime_context_t *ctx, uint64_t store_id, size_t private_, int32_t arg) {
	wx_handle_t func = { store_id, private_ };
	wx_val_t a;
	a.kind = WX_I32;
	a.of.i64 = 0;
	a.of.i32 = arg;
	wx_failure_t f = { NULL, NULL };
	f.err = wasmtime_func_call(ctx, &func, &a, 1, NULL, 0, &f.trap);
	return f;
}

// wx_call0 calls a ()->() function, as wx_call_i32 does.
static wx_failure_t wx_call0(wasmtime_context_t *ctx, uint64_t store_id, size_t private_) {
	wx_handle_t func = { store_id, private_ };
	wx_failure_t f = { NULL, NULL };
	f.err = wasmtime_func_call(ctx, &func, NULL, 0, NULL, 0, &f.trap);
	return f;
}

// wx_failure describes and frees an error or trap.
static void wx_failure(wasmtime_error_t *err, wasm_trap_t *trap, wasm_byte_vec_t *msg, int *exited, int *status) {
	*exited = 0;
	if (err != NULL) {
		*exited = wasmtime_error_exit_status(err, status);
		wasmtime_error_message(err, msg);
		wasmtime_error_delete(err);
	} else {
		wasm_trap_message(trap, msg);
		wasm_trap_delete(trap);
	}
}

typedef struct { uint8_t *base; size_t size; } wx_bytes_t;

static wx_bytes_t wx_memory(wasmtime_context_t *ctx, uint64_t store_id, size_t private_) {
	wx_handle_t m = { store_id, private_ };
	wx_bytes_t b = { wasmtime_memory_data(ctx, &m), wasmtime_memory_data_size(ctx, &m) };
	return b;
}

// wx_global_get returns the value of an i32 or i64 global (an i32
// zero-extended); callers check the global's type once beforehand.
static uint64_t wx_global_get(wasmtime_context_t *ctx, uint64_t store_id, size_t private_) {
	wx_handle_t g = { store_id, private_ };
	wx_val_t v;
	wasmtime_global_get(ctx, &g, &v);
	return v.kind == WX_I64 ? (uint64_t)v.of.i64 : (uint64_t)(uint32_t)v.of.i32;
}

// wx_global_set sets an i32 (wide = 0) or i64 global.
static wasmtime_error_t *wx_global_set(wasmtime_context_t *ctx, uint64_t store_id, size_t private_, int wide, uint64_t x) {
	wx_handle_t g = { store_id, private_ };
	wx_val_t v;
	v.of.i64 = 0;
	if (wide) {
		v.kind = WX_I64;
		v.of.i64 = (int64_t)x;
	} else {
		v.kind = WX_I32;
		v.of.i32 = (int32_t)(uint32_t)x;
	}
	return wasmtime_global_set(ctx, &g, &v);
}
*/
import "C"

import (
	"strings"
	"unsafe"
)

// cDefine defines an import whose calls reach goFastcallHost with id.
func cDefine(linker unsafe.Pointer, module, name string, kinds []byte, hasResult bool, id uintptr) (msg string, failed bool) {
	res := C.int(0)
	if hasResult {
		res = 1
	}
	var kp *C.uint8_t
	if len(kinds) > 0 {
		kp = (*C.uint8_t)(unsafe.Pointer(&kinds[0]))
	}
	err := C.wx_define((*C.wasmtime_linker_t)(linker),
		(*C.char)(unsafe.Pointer(unsafe.StringData(module))), C.size_t(len(module)),
		(*C.char)(unsafe.Pointer(unsafe.StringData(name))), C.size_t(len(name)),
		kp, C.size_t(len(kinds)), res, C.uintptr_t(id))
	return errorMessage(err)
}

// cCallI32 calls a (i32)->() function; ok is false when it failed, with
// the failure described.
func cCallI32(ctx unsafe.Pointer, f handle, arg int32) (ok bool, msg string, exited bool, status int32) {
	r := C.wx_call_i32((*C.wasmtime_context_t)(ctx), C.uint64_t(f.storeID), C.size_t(f.private), C.int32_t(arg))
	if r.err == nil && r.trap == nil {
		return true, "", false, 0
	}
	var vec C.wasm_byte_vec_t
	var ex, st C.int
	C.wx_failure(r.err, r.trap, &vec, &ex, &st)
	msg = takeMessage(&vec)
	if r.err == nil {
		// wasm_trap_message counts the C string's terminating NUL (as
		// wasmtime-go's Trap.Message knows); error messages do not.
		msg = strings.TrimSuffix(msg, "\x00")
	}
	return false, msg, ex != 0, int32(st)
}

// cCall0 calls a ()->() function, as cCallI32.
func cCall0(ctx unsafe.Pointer, f handle) (ok bool, msg string, exited bool, status int32) {
	r := C.wx_call0((*C.wasmtime_context_t)(ctx), C.uint64_t(f.storeID), C.size_t(f.private))
	if r.err == nil && r.trap == nil {
		return true, "", false, 0
	}
	var vec C.wasm_byte_vec_t
	var ex, st C.int
	C.wx_failure(r.err, r.trap, &vec, &ex, &st)
	return false, takeMessage(&vec), ex != 0, int32(st)
}

// takeMessage frees vec and returns its text, without the NUL that ends a
// trap's message (wasm_trap_message counts it in the size).
// errorMessage describes and frees err; failed is false for no error.
func errorMessage(err *C.wasmtime_error_t) (msg string, failed bool) {
	if err == nil {
		return "", false
	}
	var vec C.wasm_byte_vec_t
	var exited, status C.int
	C.wx_failure(err, nil, &vec, &exited, &status)
	return takeMessage(&vec), true
}

func takeMessage(vec *C.wasm_byte_vec_t) string {
	s := C.GoStringN(vec.data, C.int(vec.size))
	C.wasm_byte_vec_delete(vec)
	return strings.TrimSuffix(s, "\x00")
}

// cMemory returns the bytes of a memory.
func cMemory(ctx unsafe.Pointer, m handle) []byte {
	b := C.wx_memory((*C.wasmtime_context_t)(ctx), C.uint64_t(m.storeID), C.size_t(m.private))
	if b.base == nil || b.size == 0 {
		return nil
	}
	return unsafe.Slice((*byte)(unsafe.Pointer(b.base)), int(b.size))
}

// cGlobalGet returns an i32 or i64 global's value.
func cGlobalGet(ctx unsafe.Pointer, g handle) uint64 {
	return uint64(C.wx_global_get((*C.wasmtime_context_t)(ctx), C.uint64_t(g.storeID), C.size_t(g.private)))
}

// cGlobalSet sets an i32 or i64 global; msg describes a failure.
func cGlobalSet(ctx unsafe.Pointer, g handle, wide bool, v uint64) (msg string, failed bool) {
	w := C.int(0)
	if wide {
		w = 1
	}
	err := C.wx_global_set((*C.wasmtime_context_t)(ctx), C.uint64_t(g.storeID), C.size_t(g.private), w, C.uint64_t(v))
	return errorMessage(err)
}

func cTrap(msg string) unsafe.Pointer {
	return unsafe.Pointer(C.wasmtime_trap_new((*C.char)(unsafe.Pointer(unsafe.StringData(msg))), C.size_t(len(msg))))
}

//export goFastcallHost
func goFastcallHost(id C.uintptr_t, caller *C.wasmtime_caller_t, ctx *C.wasmtime_context_t,
	a0, a1, a2, a3 C.int64_t, result *C.int32_t) *C.wasm_trap_t {
	r, trap := dispatch(uintptr(id), unsafe.Pointer(caller), unsafe.Pointer(ctx),
		Args{int64(a0), int64(a1), int64(a2), int64(a3)})
	*result = C.int32_t(r)
	return (*C.wasm_trap_t)(trap)
}
