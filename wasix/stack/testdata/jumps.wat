;; jumps.wat - the smallest setjmp/longjmp guest, for the tests and the
;; Example of package stack. build.sh turns it into jumps.wasm with
;; wasm-opt --asyncify.
;;
;; _start: r = setjmp(buf at 16); count += 1; last = r;
;; if r < limit: longjmp(buf, r + step) (step is 1 unless set; it stops
;; after 10 returns whatever happens). So with limit 3 it ends with count 4,
;; last 3. "deep" recursion of depth `depth` happens before each longjmp,
;; so that the unwound frames are many when depth is large.
;; "bad" (when non-zero) is stored into the jmp_buf's byte 20 before the
;; first longjmp: a forged jmp_buf. Before each longjmp, "extra" more
;; setjmps go into a second jmp_buf (at 48), each a new snapshot that
;; replaces the one before: the host must keep the first one (still held
;; at 16) while it evicts those.
(module
  (import "wasix_32v1" "stack_checkpoint" (func $checkpoint (param i32 i32) (result i32)))
  (import "wasix_32v1" "stack_restore" (func $restore (param i32 i64)))
  (memory (export "memory") 2)
  (global $sp (export "__stack_pointer") (mut i32) (i32.const 131072))
  (global $data_end (export "__data_end") i32 (i32.const 1024))
  (global $count (export "count") (mut i32) (i32.const 0))
  (global $last (export "last") (mut i32) (i32.const -1))
  (global $limit (export "limit") (mut i32) (i32.const 3))
  (global $depth (export "depth") (mut i32) (i32.const 0))
  (global $bad (export "bad") (mut i32) (i32.const 0))
  (global $extra (export "extra") (mut i32) (i32.const 0))
  (global $step (export "step") (mut i32) (i32.const 1))

  ;; setjmp: ret lives in an 8-byte slot of the shadow stack.
  (func $setjmp (param $buf i32) (result i32)
    (local $slot i32) (local $r i32)
    (global.set $sp (i32.sub (global.get $sp) (i32.const 16)))
    (local.set $slot (global.get $sp))
    (i64.store (local.get $slot) (i64.const 0))
    (if (call $checkpoint (local.get $buf) (local.get $slot)) (then unreachable))
    (local.set $r (i32.wrap_i64 (i64.load (local.get $slot))))
    (global.set $sp (i32.add (global.get $sp) (i32.const 16)))
    (local.get $r))

  (func $deep (param $n i32) (param $v i32)
    (if (i32.eqz (local.get $n))
      (then (call $restore (i32.const 16) (i64.extend_i32_u (local.get $v))) unreachable))
    (call $deep (i32.sub (local.get $n) (i32.const 1)) (local.get $v)))

  (func $extras
    (local $i i32)
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $i) (global.get $extra)))
        (drop (call $setjmp (i32.const 48)))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $next))))

  (func (export "_start")
    (local $r i32)
    (local.set $r (call $setjmp (i32.const 16)))
    (global.set $count (i32.add (global.get $count) (i32.const 1)))
    (global.set $last (local.get $r))
    (if (i32.and (i32.lt_s (local.get $r) (global.get $limit)) (i32.lt_s (global.get $count) (i32.const 10)))
      (then
        (call $extras)
        (if (global.get $bad)
          (then (i32.store8 (i32.const 36) (global.get $bad)) (global.set $bad (i32.const 0))))
        (call $deep (global.get $depth) (i32.add (local.get $r) (global.get $step)))))))
