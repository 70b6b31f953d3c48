;; The default example `wasmkiln run` boots when given no module.
;; Written by hand so that the shipped hello.wasm is our own code end to end;
;; tests/test_example.py checks that hello.wasm is exactly `wat2wasm hello.wat`.
;; It greets every argument ("hello, NAME!"), or the world when there is none.
(module
  (import "wasi_snapshot_preview1" "fd_write"
    (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "args_sizes_get"
    (func $args_sizes_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "args_get"
    (func $args_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $proc_exit (param i32)))
  (memory (export "memory") 1)
  ;; 0..15: scratch (iovec, nwritten, argc, argv_buf_size)
  (data (i32.const 16) "hello, ")
  (data (i32.const 24) "!\n")
  (data (i32.const 32) "world")
  (data (i32.const 40) "Hello from a wasmkiln unikernel.\n")
  ;; 1024..: argv pointers, 4096..: argv strings

  ;; write(ptr, len) to stdout; traps the guest's way (exit 1) on error
  (func $write (param $ptr i32) (param $len i32)
    (i32.store (i32.const 0) (local.get $ptr))
    (i32.store (i32.const 4) (local.get $len))
    (if (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8))
      (then (call $proc_exit (i32.const 1)))))

  (func $strlen (param $p i32) (result i32)
    (local $n i32)
    (block $done
      (loop $next
        (br_if $done (i32.eqz (i32.load8_u (i32.add (local.get $p) (local.get $n)))))
        (local.set $n (i32.add (local.get $n) (i32.const 1)))
        (br $next)))
    (local.get $n))

  (func $greet (param $name i32) (param $len i32)
    (call $write (i32.const 16) (i32.const 7))
    (call $write (local.get $name) (local.get $len))
    (call $write (i32.const 24) (i32.const 2)))

  (func (export "_start")
    (local $argc i32) (local $i i32) (local $arg i32)
    (call $write (i32.const 40) (i32.const 33))
    (drop (call $args_sizes_get (i32.const 8) (i32.const 12)))
    (local.set $argc (i32.load (i32.const 8)))
    ;; refuse argument data that would not fit below the end of page 0
    (if (i32.gt_u (i32.load (i32.const 12)) (i32.const 60000))
      (then (call $proc_exit (i32.const 2))))
    (if (i32.gt_u (local.get $argc) (i32.const 700))
      (then (call $proc_exit (i32.const 2))))
    (drop (call $args_get (i32.const 1024) (i32.const 4096)))
    (if (i32.le_u (local.get $argc) (i32.const 1))
      (then (call $greet (i32.const 32) (i32.const 5)) (return)))
    (local.set $i (i32.const 1))
    (loop $each
      (local.set $arg (i32.load (i32.add (i32.const 1024) (i32.shl (local.get $i) (i32.const 2)))))
      (call $greet (local.get $arg) (call $strlen (local.get $arg)))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $each (i32.lt_u (local.get $i) (local.get $argc)))))
)
