"""Multiple memories, 64-bit memories and tables, extended constant expressions (issue 17).

Fast checks of what the spec3 scripts cover at length (tests/test_spec.py runs those): the
decoder's 2.0/3.0 rules (bridge/features.py), validation errors, the generated code of both
backends in-process (the spec runner's host library), and images on both x86_64 targets,
where memory 0 keeps its guard region and the other memories and every memory64 are checked
explicitly (environ.ModuleEnv.needs_bounds_check).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from wasmkiln.bridge.decode import decode
from wasmkiln.bridge.environ import ModuleEnv
from wasmkiln.bridge.errors import DecodeError, ValidationError
from wasmkiln.bridge.features import WASM2
from wasmkiln.bridge.validate import validate

wasmtime = pytest.importorskip("wasmtime", reason="modules are written with wasmtime's wat2wasm")


def wat(text: str) -> bytes:
    return bytes(wasmtime.wat2wasm(text))


def test_two_memories_are_3_0_only() -> None:
    data = wat("(module (memory 1) (memory 2))")
    m = decode(data)
    validate(m)
    assert [mem.limits.min for mem in m.memories] == [1, 2]
    with pytest.raises(ValidationError, match="multiple memories"):
        validate(decode(data, WASM2))


def test_memory_index_encodings() -> None:
    """memory.size's index is a u32 in 3.0; 2.0 wants the single reserved 0x00 byte."""
    m = decode(wat("(module (memory 1) (memory $b 1) (func (result i32) (memory.size $b)))"))
    assert m.funcs[0].body[0] == ("memory.size", 1)
    # memory.size with its index 0 as a two-byte LEB128 (0x80 0x00): valid 3.0, malformed 2.0
    body = bytes([0x3F, 0x80, 0x00, 0x1A, 0x0B])
    data = bytes.fromhex("0061736d01000000010401600000030201000503010001")
    data += bytes([0x0A, len(body) + 3, 1, len(body) + 1, 0]) + body
    validate(decode(data))
    with pytest.raises(DecodeError, match="zero byte expected"):
        decode(data, WASM2)


def test_memarg_memory_index_and_u64_offset() -> None:
    m = decode(
        wat(
            "(module (memory 1) (memory $m i64 1) (func (result i64)"
            " (i64.load $m offset=0x100000000 (i64.const 8))))"
        )
    )
    validate(m)
    assert m.funcs[0].body[1] == ("i64.load", 3, 1 << 32, 1)
    assert m.memories[1].is64 and not m.memories[0].is64


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("(memory 1) (memory 1) (func i32.const 0 i32.load 2 drop)", "unknown memory 2"),
        ("(memory 1) (func i32.const 0 i32.load offset=0x100000000 drop)", "offset out of range"),
        (
            "(memory 1) (memory i64 1) (func i32.const 0 i32.const 0 i32.const 0 memory.copy 0 1)",
            "type mismatch",
        ),
        ("(table i64 1 funcref) (func i32.const 0 table.get 0 drop)", "type mismatch"),
        ("(table i64 1 funcref) (func (result i32) table.size 0)", "type mismatch"),
        ("(table i64 1 funcref) (elem (table 0) (i32.const 0) func)", "type mismatch"),
        ("(global i32 (i32.mul (i32.const 1)))", "type mismatch"),
    ],
)
def test_invalid(text: str, message: str) -> None:
    with pytest.raises(ValidationError) as info:
        validate(decode(wat(f"(module {text})")))
    assert info.value.message.startswith(message), str(info.value)


def test_bounds_checks_per_memory() -> None:
    """Guard memory covers memory 0 of a memory32 only."""
    m = decode(wat("(module (memory 1) (memory 1) (memory i64 1))"))
    m.memory_guard = 2 << 30
    env = ModuleEnv(m)
    assert not env.needs_bounds_check(0, 0)
    assert env.needs_bounds_check(0, 1) and env.needs_bounds_check(0, 2)
    m64 = decode(wat("(module (memory i64 1))"))
    m64.memory_guard = 2 << 30
    assert ModuleEnv(m64).needs_bounds_check(0, 0)


SCRIPT = r"""
(module
  (memory $a 1)
  (memory $b i64 1 70000)
  (table $t i64 4 funcref)
  (global $g i64 (i64.const 3))
  (global $h i64 (i64.add (global.get $g) (i64.mul (i64.const 5) (i64.const 7))))
  (data (memory $b) (i64.add (i64.const 0xfff0) (i64.const 4)) "\01\02\03\04")
  (elem (table $t) (i64.sub (i64.const 3) (i64.const 1)) func $seven)
  (func $seven (result i32) (i32.const 7))
  (func (export "h") (result i64) (global.get $h))
  (func (export "load_b") (param i64) (result i32) (i32.load $b (local.get 0)))
  (func (export "store_a") (param i32 i32) (i32.store $a (local.get 0) (local.get 1)))
  (func (export "store_b") (param i64 i32) (i32.store $b (local.get 0) (local.get 1)))
  (func (export "load_a") (param i32) (result i32) (i32.load $a (local.get 0)))
  (func (export "copy_b_to_a") (param i32 i64 i32)
    (memory.copy $a $b (local.get 0) (local.get 1) (local.get 2)))
  (func (export "grow_b") (param i64) (result i64) (memory.grow $b (local.get 0)))
  (func (export "size_b") (result i64) (memory.size $b))
  (func (export "wide") (param i64) (result i32) (i32.load8_u $b offset=0xffffffffffffffff
    (local.get 0)))
  (func (export "call") (param i64) (result i32) (call_indirect $t (result i32) (local.get 0)))
  (func (export "tsize") (result i64) (table.size $t))
  (func (export "tgrow") (param i64) (result i64) (table.grow $t (ref.null func) (local.get 0)))
  (func (export "v") (param i64) (result i32) (i32x4.extract_lane 1 (v128.load $b (local.get 0))))
)
(assert_return (invoke "h") (i64.const 38))
(assert_return (invoke "load_b" (i64.const 0xfff4)) (i32.const 0x04030201))
(assert_trap (invoke "load_b" (i64.const 0xfffd)) "out of bounds memory access")
(assert_trap (invoke "load_b" (i64.const -1)) "out of bounds memory access")
(assert_trap (invoke "load_b" (i64.const 0x100000000)) "out of bounds memory access")
(assert_trap (invoke "wide" (i64.const 1)) "out of bounds memory access")
(invoke "store_a" (i32.const 8) (i32.const 0x11223344))
(assert_return (invoke "load_a" (i32.const 8)) (i32.const 0x11223344))
(invoke "copy_b_to_a" (i32.const 16) (i64.const 0xfff4) (i32.const 4))
(assert_return (invoke "load_a" (i32.const 16)) (i32.const 0x04030201))
(assert_return (invoke "v" (i64.const 0xfff0)) (i32.const 0x04030201))
(assert_trap (invoke "copy_b_to_a" (i32.const 0) (i64.const 0xfffd) (i32.const 4))
  "out of bounds memory access")
(assert_return (invoke "grow_b" (i64.const 1)) (i64.const 1))
(assert_return (invoke "size_b") (i64.const 2))
(assert_return (invoke "grow_b" (i64.const 0x100000000)) (i64.const -1))
(assert_return (invoke "load_b" (i64.const 0x1fffc)) (i32.const 0))
(assert_return (invoke "call" (i64.const 2)) (i32.const 7))
(assert_trap (invoke "call" (i64.const 0x100000002)) "undefined element")
(assert_trap (invoke "call" (i64.const 1)) "uninitialized element")
(assert_return (invoke "tgrow" (i64.const 2)) (i64.const 4))
(assert_return (invoke "tsize") (i64.const 6))
(assert_return (invoke "grow_b" (i64.const 65536)) (i64.const 2))
(assert_return (invoke "size_b") (i64.const 65538))
(invoke "store_b" (i64.const 0x100000008) (i32.const 9))
(assert_return (invoke "load_b" (i64.const 0x100000008)) (i32.const 9))
(assert_trap (invoke "load_b" (i64.const 0x100020000)) "out of bounds memory access")
(assert_return (invoke "grow_b" (i64.const 5000)) (i64.const -1))
"""


@pytest.mark.parametrize("backend", ["cranelift", "llvm"])
def test_runs_in_process(backend: str, tmp_path: Path) -> None:
    """Both backends' code against the host runtime: several memories, memory64 addresses
    and offsets (wrapping ones trap), memory.copy between them, table64, extended consts, and
    a memory64 grown past 4 GiB (the host runtime reserves up to 16 GiB for one)."""
    from wasmkiln.pyhook.spec import wast

    script = tmp_path / "mem3.wast"
    script.write_text(SCRIPT)
    (result,) = wast.run_scripts([script], backend=backend)
    wast.print_result(result, verbose=True)
    assert result.failed == 0 and result.passed == 28  # the module and 27 commands


# An image's module: memory 0 guarded (spt, kvm), memory 1 and the memory64 checked; traps if
# any value is wrong, and ends with an out-of-bounds access of the memory64 (exit 134).
IMAGE = r"""
(module
  (memory $a 1)
  (memory $b 1)
  (memory $c i64 1)
  (data (memory $b) (i32.const 100) "\2a")
  (global $n i32 (i32.add (i32.const 40) (i32.const 2)))
  (func (export "_start")
    (i32.store $a (i32.const 0) (global.get $n))
    (i64.store $c (i64.const 65528) (i64.const -1))
    (if (i32.ne (i32.load8_u $b (i32.const 100)) (i32.load $a (i32.const 0))) (then unreachable))
    (if (i64.ne (memory.grow $c (i64.const 1)) (i64.const 1)) (then unreachable))
    (if (i32.ne (memory.grow $b (i32.const 2)) (i32.const 1)) (then unreachable))
    (i32.store $b (i32.const 0x2fffc) (i32.const 5))
    (if (i64.ne (i64.load $c (i64.const 65528)) (i64.const -1)) (then unreachable))
    (drop (i64.load $c (i64.const 0x1fffc))))
)
"""


@pytest.mark.parametrize("backend", ["cranelift", "llvm"])
@pytest.mark.parametrize("target", ["x86_64-spt", "x86_64-kvm"])
def test_image(target: str, backend: str, tmp_path: Path) -> None:
    kvm = target.endswith("kvm")
    if kvm and shutil.which("qemu-system-x86_64") is None:
        pytest.skip("qemu-system-x86_64 is not installed (Debian: qemu-system-x86)")
    wasm = tmp_path / "mem.wasm"
    wasm.write_bytes(wat(IMAGE))
    image = tmp_path / f"mem.{'img' if kvm else 'spt'}"
    cli = [sys.executable, "-m", "wasmkiln.pyhook.cli"]
    build = [*cli, "build", str(wasm), "-o", str(image), "--target", target, "--backend", backend]
    proc = subprocess.run(build, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    run = [*cli, "run", *(["--accel", "tcg"] if kvm else []), str(image)]
    proc = subprocess.run(run, capture_output=True, text=True, timeout=300, env=dict(os.environ))
    assert proc.returncode == 134, (proc.returncode, proc.stderr)
    assert proc.stderr.strip() == "wasm trap: out of bounds memory access"
