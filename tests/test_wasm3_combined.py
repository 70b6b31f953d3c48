"""The WebAssembly 3.0 features of issue 17 together in one module (the integration of the
mem3, ctrl3 and exc3 work): exceptions raised behind tail calls and call_ref, caught by
try_table, their payloads stored in a second memory that is a memory64, and a typed
function reference in an extended-constant-initialised table.

Each feature has its own tests (test_memory64_multi.py, test_tail_calls.py,
test_exceptions.py); this checks where their designs meet: the pending-exception check after
call_ref, a tail call counting as a call that may throw (environ.throwing_functions), a
memory index and i64 address next to an exception payload, exnref among typed references.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from wasmkiln.pyhook.spec import wast

SCRIPT = r"""
(module
  (type $ii (func (param i64) (result i64)))
  (tag $boom (param i64 i32))
  (memory $small 1)
  (memory $big i64 1)
  (global $base i64 (i64.add (i64.const 0x100) (i64.mul (i64.const 2) (i64.const 0x10))))
  (table $t 2 2 (ref null $ii))
  (elem (table $t) (i32.add (i32.const 0) (i32.const 1)) (ref $ii) (ref.func $thrower))
  (func $thrower (type $ii) (param $x i64) (result i64)
    (throw $boom (local.get $x) (i32.const 7)))
  ;; a tail call out of this function: the callee's exception ends its caller's call
  (func $tail (param $x i64) (result i64)
    (return_call $thrower (local.get $x)))
  (func $tail_ref (param $x i64) (result i64)
    (return_call_ref $ii (local.get $x) (table.get $t (i32.const 1))))
  ;; catch what each path throws; store the payload at $base in the memory64
  (func (export "catch") (param $how i32) (param $x i64) (result i64)
    (local $code i32)
    (block $h (result i64 i32 exnref)
      ;; one call per path; without its exception check the call returns 0
      (try_table (result i64) (catch_ref $boom $h)
        (if (result i64) (i32.eqz (local.get $how))
          (then (call $tail (local.get $x)))
          (else
            (if (result i64) (i32.eq (local.get $how) (i32.const 1))
              (then (call $tail_ref (local.get $x)))
              (else (call_ref $ii (local.get $x) (table.get $t (i32.const 1))))))))
      (return)
    )
    (drop)  ;; the exnref
    (local.set $code)
    (local.set $x)
    (i32.store8 $small (i32.const 0) (local.get $code))  ;; the i32 payload, into memory 0
    (i64.store $big (global.get $base) (local.get $x))  ;; the i64 one, into the memory64
    (i64.load $big (global.get $base)))
  (func (export "small") (result i32) (i32.load8_u $small (i32.const 0)))
  (func (export "uncaught") (result i64) (call $tail (i64.const 1)))
  (func (export "null") (result i64)
    (call_ref $ii (i64.const 1) (table.get $t (i32.const 0))))
  (func (export "rethrow") (result i64)
    (block $h (result exnref)
      (try_table (catch_all_ref $h) (drop (call $tail_ref (i64.const 5))))
      (return (i64.const 0)))
    (throw_ref))
)
(assert_return (invoke "catch" (i32.const 0) (i64.const 42)) (i64.const 42))
(assert_return (invoke "small") (i32.const 7))
(assert_return (invoke "catch" (i32.const 1) (i64.const 0x1_0000_0000)) (i64.const 0x1_0000_0000))
(assert_return (invoke "catch" (i32.const 2) (i64.const -5)) (i64.const -5))
(assert_exception (invoke "uncaught"))
(assert_trap (invoke "null") "null function reference")
(assert_exception (invoke "rethrow"))
"""


@pytest.mark.parametrize("backend", ["cranelift", "llvm"])
def test_features_together(backend: str, tmp_path: Path) -> None:
    script = tmp_path / "combined.wast"
    script.write_text(SCRIPT)
    (result,) = wast.run_scripts([script], backend=backend)
    wast.print_result(result, verbose=True)
    assert result.failed == 0 and result.passed == 8  # the module and 7 assertions
