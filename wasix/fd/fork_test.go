package fd_test

import (
	"os"
	"testing"

	"github.com/bytecodealliance/wasmtime-go/v25"
	"github.com/google/go-cmp/cmp"
	"github.com/wasix-org/wasix-signals-go/wasix"
	"github.com/wasix-org/wasix-signals-go/wasix/env"
	"github.com/wasix-org/wasix-signals-go/wasix/fd"
	wasixsignal "github.com/wasix-org/wasix-signals-go/wasix/signal"
)

// piper exports what a process does with a pipe, one call each: pipe()
// leaves the read end at 0 and the write end at 4; write(fd) and read(fd)
// return the errno, or 100 + the count.
const piper = `(module
  (import "wasix_32v1" "fd_pipe" (func $pipe (param i32 i32) (result i32)))
  (import "wasix_32v1" "fd_read" (func $read (param i32 i32 i32 i32) (result i32)))
  (import "wasix_32v1" "fd_write" (func $write (param i32 i32 i32 i32) (result i32)))
  (import "wasix_32v1" "fd_close" (func $close (param i32) (result i32)))
  (import "wasix_32v1" "fd_fdstat_set_flags" (func $setflags (param i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 16) "\00\04\00\00\05\00\00\00\00\08\00\00\64\00\00\00")
  (data (i32.const 1024) "hello")
  (func (export "pipe") (result i32) (call $pipe (i32.const 0) (i32.const 4)))
  (func (export "rd") (result i32) (i32.load (i32.const 0)))
  (func (export "wr") (result i32) (i32.load (i32.const 4)))
  (func (export "write") (param i32) (result i32) (local $r i32)
    (local.set $r (call $write (local.get 0) (i32.const 16) (i32.const 1) (i32.const 8)))
    (if (result i32) (local.get $r) (then (local.get $r)) (else (i32.add (i32.const 100) (i32.load (i32.const 8))))))
  (func (export "read") (param i32) (result i32) (local $r i32)
    (local.set $r (call $read (local.get 0) (i32.const 24) (i32.const 1) (i32.const 8)))
    (if (result i32) (local.get $r) (then (local.get $r)) (else (i32.add (i32.const 100) (i32.load (i32.const 8))))))
  (func (export "close") (param i32) (result i32) (call $close (local.get 0)))
  (func (export "nonblock") (param i32) (result i32) (call $setflags (local.get 0) (i32.const 4))))`

// proc is one process running piper.
type proc struct {
	t     *testing.T
	store *wasmtime.Store
	inst  *wasmtime.Instance
	env   *env.WasiEnv
}

func (p *proc) call(name string, args ...any) int32 {
	p.t.Helper()
	v, err := p.inst.GetFunc(p.store, name).Call(p.store, args...)
	if err != nil {
		p.t.Fatalf("%s: %v", name, err)
	}
	return v.(int32)
}

func newPiper(t *testing.T, engine *wasmtime.Engine, linker *wasmtime.Linker, module *wasmtime.Module) *proc {
	t.Helper()
	return newProc(t, engine, linker, module, false)
}

// newProc instantiates module in a Store of its own with a WasiEnv, and a
// temporary directory preopened as "." when preopen is set.
func newProc(t *testing.T, engine *wasmtime.Engine, linker *wasmtime.Linker, module *wasmtime.Module, preopen bool) *proc {
	t.Helper()
	store := wasmtime.NewStore(engine)
	t.Cleanup(store.Close)
	wasi := wasmtime.NewWasiConfig()
	if preopen {
		if err := wasi.PreopenDir(t.TempDir(), "."); err != nil {
			t.Fatal(err)
		}
	}
	store.SetWasi(wasi)
	e := env.New(store, env.Config{})
	t.Cleanup(func() { fd.Forget(e); e.Close() })
	inst, err := linker.Instantiate(store, module)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Bind(inst); err != nil {
		t.Fatal(err)
	}
	return &proc{t: t, store: store, inst: inst, env: e}
}

func piperSetup(t *testing.T) (*wasmtime.Engine, *wasmtime.Linker, *wasmtime.Module) {
	t.Helper()
	return setup(t, piper)
}

// setup makes an engine, a Linker with WASI, the signal imports and the
// descriptor layer, and compiles wat with it.
func setup(t *testing.T, wat string) (*wasmtime.Engine, *wasmtime.Linker, *wasmtime.Module) {
	t.Helper()
	engine := wasmtime.NewEngine()
	linker := wasmtime.NewLinker(engine)
	if err := linker.DefineWasi(); err != nil {
		t.Fatal(err)
	}
	if err := wasixsignal.Install(linker); err != nil {
		t.Fatal(err)
	}
	if err := fd.Install(linker, engine); err != nil {
		t.Fatal(err)
	}
	wasm, err := wasmtime.Wat2Wasm(wat)
	if err != nil {
		t.Fatal(err)
	}
	module, err := wasmtime.NewModule(engine, wasm)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { fd.Release(engine) })
	return engine, linker, module
}

func openFDs(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skipf("no /proc/self/fd: %v", err)
	}
	return len(ents)
}

// A forked Table shares the pipe with its parent: data flows both ways,
// each process closes its own copy, and the reader sees the end of file
// only when both copies of the write end are closed.
func TestForkSharesPipes(t *testing.T) {
	engine, linker, module := piperSetup(t)
	parent := newPiper(t, engine, linker, module)
	child := newPiper(t, engine, linker, module)
	parent.call("close", int32(99)) // the shim, and whatever wasmtime opens for it
	child.call("close", int32(99))
	before := openFDs(t)
	if errno := parent.call("pipe"); errno != 0 {
		t.Fatalf("fd_pipe: %v", wasix.Errno(errno).Name())
	}
	rd, wr := parent.call("rd"), parent.call("wr")
	if got := parent.call("write", wr); got != 105 {
		t.Fatalf("write before the fork: %d", got)
	}
	pt := fd.Lookup(parent.env)
	if pt == nil {
		t.Fatal("fd_pipe gave the process no Table")
	}
	ct, err := pt.Fork(child.env)
	if err != nil {
		t.Fatal(err)
	}
	if fd.Lookup(child.env) != ct {
		t.Fatal("the child's Table is not registered")
	}
	if k, ok := ct.Kind(rd); !ok || k != fd.Pipe {
		t.Fatalf("child's descriptor %d: %v, %v", rd, k, ok)
	}

	type step struct {
		who  *proc
		name string
		fd   int32
		want int32
	}
	steps := []step{
		{child, "read", rd, 105},   // written before the fork
		{child, "write", wr, 105},  // child to parent
		{parent, "read", rd, 105},  //
		{parent, "write", wr, 105}, // parent to child
		{child, "read", rd, 105},
		{child, "close", wr, 0},                      // the child's copy only
		{parent, "nonblock", rd, 0},                  //
		{parent, "read", rd, int32(wasix.EAGAIN)},    // the parent's write end is open: no end of file
		{parent, "write", wr, 105},                   // and still writes
		{child, "read", rd, 105},                     //
		{child, "write", wr, int32(wasix.EBADF)},     // closed in the child
		{parent, "close", wr, 0},                     // the last write end
		{parent, "read", rd, 100},                    // end of file
		{child, "read", rd, 100},                     //
		{child, "close", rd, 0},                      //
		{parent, "read", rd, 100},                    // the parent's read end is its own
		{child, "read", rd, int32(wasix.EBADF)},      //
		{parent, "close", rd, 0},                     //
		{parent, "close", rd, int32(wasix.EBADF)},    //
		{child, "write", wr, int32(wasix.EBADF)},     //
		{parent, "write", wr, int32(wasix.EBADF)},    //
		{parent, "nonblock", wr, int32(wasix.EBADF)}, //
	}
	var got, want []string
	for _, s := range steps {
		who := "parent"
		if s.who == child {
			who = "child"
		}
		line := func(v int32) string { return who + " " + s.name + ": " + wasix.Errno(v).Name() }
		got = append(got, line(s.who.call(s.name, s.fd)))
		want = append(want, line(s.want))
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("steps (-want +got):\n%s", diff)
	}

	ct.Close()
	pt.Close()
	if after := openFDs(t); after != before {
		t.Errorf("%d host descriptors open before, %d after", before, after)
	}
}

// Fork refuses what cannot be forked, with an error.
func TestForkErrors(t *testing.T) {
	engine, linker, module := piperSetup(t)
	parent := newPiper(t, engine, linker, module)
	child := newPiper(t, engine, linker, module)
	pt, err := fd.New(parent.env, fd.Config{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pt.Fork(nil); err == nil {
		t.Error("Fork(nil) did not fail")
	}
	if _, err := pt.Fork(parent.env); err == nil {
		t.Error("Fork onto a process that has a Table did not fail")
	}
	pt.Close()
	if _, err := pt.Fork(child.env); err == nil {
		t.Error("Fork of a closed Table did not fail")
	}
	if fd.Lookup(child.env) != nil {
		t.Error("a failed Fork left the child a Table")
	}
}
