;; setjmp.wat - the guest of BenchmarkSetjmp; build.sh turns it into
;; setjmp.wasm with wasm-opt --asyncify.
;;
;; _start runs "n" iterations of "mode":
;;   0 pair:    if setjmp(buf) == 0 then longjmp(buf, 1)
;;   1 setjmp:  setjmp(buf)
;;   2 longjmp: one setjmp, then n longjmps back to it (a global counts)
;; setjmp is a function of its own, so each unwind saves three frames.
(module
  (import "wasix_32v1" "stack_checkpoint" (func $checkpoint (param i32 i32) (result i32)))
  (import "wasix_32v1" "stack_restore" (func $restore (param i32 i64)))
  (memory (export "memory") 2)
  (global $sp (export "__stack_pointer") (mut i32) (i32.const 131072))
  (global $data_end (export "__data_end") i32 (i32.const 1024))
  (global $n (export "n") (mut i32) (i32.const 0))
  (global $mode (export "mode") (mut i32) (i32.const 0))
  (global $done (export "done") (mut i32) (i32.const 0))

  (func $setjmp (param $buf i32) (result i32)
    (local $slot i32) (local $r i32)
    (global.set $sp (i32.sub (global.get $sp) (i32.const 16)))
    (local.set $slot (global.get $sp))
    (if (call $checkpoint (local.get $buf) (local.get $slot)) (then unreachable))
    (local.set $r (i32.wrap_i64 (i64.load (local.get $slot))))
    (global.set $sp (i32.add (global.get $sp) (i32.const 16)))
    (local.get $r))

  (func $pair (param $i i32)
    (block $out (loop $next
      (br_if $out (i32.eqz (local.get $i)))
      (if (i32.eqz (call $setjmp (i32.const 16)))
        (then (call $restore (i32.const 16) (i64.const 1))))
      (local.set $i (i32.sub (local.get $i) (i32.const 1)))
      (br $next))))

  (func $setjmps (param $i i32)
    (block $out (loop $next
      (br_if $out (i32.eqz (local.get $i)))
      (drop (call $setjmp (i32.const 16)))
      (local.set $i (i32.sub (local.get $i) (i32.const 1)))
      (br $next))))

  (func $longjmps
    (drop (call $setjmp (i32.const 16)))
    (if (i32.lt_u (global.get $done) (global.get $n))
      (then
        (global.set $done (i32.add (global.get $done) (i32.const 1)))
        (call $restore (i32.const 16) (i64.const 1)))))

  (func (export "_start")
    (if (i32.eq (global.get $mode) (i32.const 0)) (then (call $pair (global.get $n))))
    (if (i32.eq (global.get $mode) (i32.const 1)) (then (call $setjmps (global.get $n))))
    (if (i32.eq (global.get $mode) (i32.const 2)) (then (call $longjmps)))))
