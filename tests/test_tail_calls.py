"""Tail calls and typed function references (WebAssembly 3.0) on both backends and targets.

The spec scripts (tests/test_spec.py, spec3) check each instruction's meaning; this file checks
what they cannot: that tail calls run in constant stack (10 million of them, in a loop of mutual
recursion between functions of different signatures, with stack arguments, through each of
return_call, return_call_indirect and return_call_ref) inside real images, that host functions
are reached through the import adapters (docs/abi.md "Calling convention"), and that later
proposals' types and instructions are named as not supported.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from test_cli_errors import wasmkiln as _wasmkiln

from wasmkiln.bridge.decode import decode
from wasmkiln.bridge.errors import UnsupportedError, ValidationError
from wasmkiln.bridge.module import HeapType, RefType, ValType
from wasmkiln.bridge.validate import validate

N = 10_000_000

# even/odd in mutual recursion, N deep, three ways. `even` takes 8 parameters (two on the stack
# under System V, so the tail call from `odd`, which takes 1, must grow the argument area).
# Each way prints its letter through fd_write (a host function, via its adapter) when the
# answer is right; _start then exits 0.
TAIL_WAT = f"""(module
  (type $even_t (func (param i32 i64 i64 i64 i64 i64 i64 i64) (result i32)))
  (type $odd_t (func (param i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
  (memory (export "memory") 1)
  (table $t 2 funcref)
  (elem (table $t) (i32.const 0) func $even_i $odd_i)
  (elem declare func $even_r $odd_r)
  (data (i32.const 16) "direct\\nindirect\\nref\\n")

  (func $even (type $even_t)
    (if (result i32) (i32.eqz (local.get 0)) (then (i32.const 1))
      (else (return_call $odd (i32.sub (local.get 0) (i32.const 1))))))
  (func $odd (type $odd_t)
    (if (result i32) (i32.eqz (local.get 0)) (then (i32.const 0))
      (else (return_call $even (i32.sub (local.get 0) (i32.const 1))
        (i64.const 1) (i64.const 2) (i64.const 3) (i64.const 4) (i64.const 5) (i64.const 6)
        (i64.const 7)))))

  (func $even_i (type $even_t)
    (if (result i32) (i32.eqz (local.get 0)) (then (i32.const 1))
      (else (return_call_indirect $t (type $odd_t)
        (i32.sub (local.get 0) (i32.const 1)) (i32.const 1)))))
  (func $odd_i (type $odd_t)
    (if (result i32) (i32.eqz (local.get 0)) (then (i32.const 0))
      (else (return_call_indirect $t (type $even_t) (i32.sub (local.get 0) (i32.const 1))
        (i64.const 1) (i64.const 2) (i64.const 3) (i64.const 4) (i64.const 5) (i64.const 6)
        (i64.const 7) (i32.const 0)))))

  (func $even_r (type $even_t)
    (if (result i32) (i32.eqz (local.get 0)) (then (i32.const 1))
      (else (return_call_ref $odd_t (i32.sub (local.get 0) (i32.const 1)) (ref.func $odd_r)))))
  (func $odd_r (type $odd_t)
    (if (result i32) (i32.eqz (local.get 0)) (then (i32.const 0))
      (else (return_call_ref $even_t (i32.sub (local.get 0) (i32.const 1))
        (i64.const 1) (i64.const 2) (i64.const 3) (i64.const 4) (i64.const 5) (i64.const 6)
        (i64.const 7) (ref.func $even_r)))))

  (func $say (param $at i32) (param $len i32)
    (i32.store (i32.const 0) (local.get $at))
    (i32.store (i32.const 4) (local.get $len))
    (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8))))
  (func (export "_start")
    (local $ok i32)
    (if (call $even (i32.const {N}) (i64.const 0) (i64.const 0) (i64.const 0) (i64.const 0)
          (i64.const 0) (i64.const 0) (i64.const 0))
      (then (call $say (i32.const 16) (i32.const 7))
            (local.set $ok (i32.add (local.get $ok) (i32.const 1)))))
    (if (call $even_i (i32.const {N}) (i64.const 0) (i64.const 0) (i64.const 0) (i64.const 0)
          (i64.const 0) (i64.const 0) (i64.const 0))
      (then (call $say (i32.const 23) (i32.const 9))
            (local.set $ok (i32.add (local.get $ok) (i32.const 1)))))
    (if (i32.eqz (call $odd_r (i32.const {N})))
      (then (call $say (i32.const 32) (i32.const 4))
            (local.set $ok (i32.add (local.get $ok) (i32.const 1)))))
    (call $exit (i32.ne (local.get $ok) (i32.const 3)))))
"""


def _wat2wasm(text: str) -> bytes:
    wasmtime = pytest.importorskip("wasmtime", reason="the wasmtime package writes 3.0 text")
    return bytes(wasmtime.wat2wasm(text))


@pytest.fixture(scope="module")
def tail_module(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("tail") / "tail.wasm"
    path.write_bytes(_wat2wasm(TAIL_WAT))
    return path


@pytest.mark.parametrize("backend", ["cranelift", "llvm"])
@pytest.mark.parametrize(
    "target", ["x86_64-spt", pytest.param("x86_64-kvm", marks=pytest.mark.slow)]
)
def test_ten_million_tail_calls_in_constant_stack(
    tail_module: Path, backend: str, target: str, tmp_path: Path
) -> None:
    """Each way recurses N deep: without real tail calls the guest's stack (far below N
    frames) traps `call stack exhausted`; with them the image prints three lines."""
    image = tmp_path / "tail.img"
    built = _wasmkiln(
        "build", str(tail_module), "--target", target, "--backend", backend, "-o", str(image)
    )
    if built.returncode != 0 and "qemu" in built.stderr.lower():
        pytest.skip(f"cannot build for {target} here: {built.stderr.strip()}")
    assert built.returncode == 0, built.stderr
    ran = _wasmkiln("run", str(image))
    assert (ran.returncode, ran.stdout) == (0, "direct\nindirect\nref\n"), ran.stderr


def test_later_proposals_are_named_not_malformed() -> None:
    """GC's value types and instructions are valid Wasm we do not compile: 'not supported'."""
    anyref_type = bytes.fromhex("0061736d010000000105016000016e")  # [] -> [anyref]
    with pytest.raises(UnsupportedError, match="garbage collection"):
        decode(anyref_type)
    # exnref (exception handling, supported): the shorthand and (ref exn) fit the typed refs
    exnref_type = bytes.fromhex("0061736d0100000001050160000169")  # [] -> [exnref]
    assert decode(exnref_type).types[0].results == (ValType.EXNREF,)
    ref_exn = bytes.fromhex("0061736d010000000106016001646900")  # [(ref exn)] -> []
    assert decode(ref_exn).types[0].params == (RefType(False, HeapType.EXN),)
    # [(ref any)] -> []: 0x64 followed by the GC heap type `any`
    ref_any = bytes.fromhex("0061736d010000000106016001646e00")
    with pytest.raises(UnsupportedError, match="garbage collection"):
        decode(ref_any)
    # ref.eq (0xd3) in a body: a GC instruction
    ref_eq = bytes.fromhex("0061736d01000000010401600000030201000a05010300d30b")
    with pytest.raises(UnsupportedError, match="garbage collection"):
        decode(ref_eq)


@pytest.mark.parametrize(
    ("text", "error"),
    [
        # a non-nullable local read before it is set
        ("(module (type $t (func)) (func (local (ref $t)) (drop (local.get 0))))", "uninit"),
        # set inside a block, which does not initialise it after the block
        (
            "(module (type $t (func)) (elem declare func 0)"
            " (func (local (ref $t)) (block (local.set 0 (ref.func 0))) (drop (local.get 0))))",
            "uninit",
        ),
        # a tail call whose callee returns something else than the caller
        (
            "(module (func $f (result i64) (i64.const 0)) (func (result i32) (return_call $f)))",
            "type mismatch",
        ),
        # call_ref on a reference of another function type
        (
            "(module (type $a (func)) (type $b (func (param i32)))"
            " (func (param (ref $a)) (call_ref $b (i32.const 0) (local.get 0))))",
            "type mismatch",
        ),
        # a table of non-nullable references without an initial value
        ("(module (type $t (func)) (table 1 (ref $t)))", "type mismatch"),
        # br_on_non_null to a label that takes no reference
        (
            "(module (func (param funcref) (block (br_on_non_null 0 (local.get 0)))))",
            "type mismatch",
        ),
    ],
)
def test_typed_reference_validation(text: str, error: str) -> None:
    with pytest.raises(ValidationError, match=error):
        validate(decode(_wat2wasm(text)))
