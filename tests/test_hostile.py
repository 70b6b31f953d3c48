"""Hostile guests: each tries to escape or exhaust, and must end with a clear message.

The host process (and QEMU) must survive every case, and the exit code and message
must say what happened. Modules are written in WAT here and assembled with wat2wasm.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

TARGETS = ["x86_64-spt", "x86_64-kvm"]
TRAP_EXIT = 134


def _assemble(tmp_path: Path, name: str, wat: str) -> Path:
    if shutil.which("wat2wasm") is None:
        pytest.skip("wat2wasm (Debian: wabt) is not installed")
    src = tmp_path / f"{name}.wat"
    src.write_text(wat)
    out = tmp_path / f"{name}.wasm"
    subprocess.run(["wat2wasm", "--enable-all", str(src), "-o", str(out)], check=True)
    return out


def _run(
    tmp_path: Path, target: str, name: str, wat: str, *run_flags: str, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    if target.endswith("kvm") and shutil.which("qemu-system-x86_64") is None:
        pytest.skip("qemu-system-x86_64 is not installed")
    wasm = _assemble(tmp_path, name, wat)
    image = tmp_path / f"{name}-{target}.img"
    cli = [sys.executable, "-m", "wasmkiln.pyhook.cli"]
    build = subprocess.run(
        [*cli, "build", str(wasm), "--target", target, "-o", str(image)],
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert build.returncode == 0, build.stderr
    return subprocess.run(
        [*cli, "run", *run_flags, str(image)], capture_output=True, text=True, timeout=timeout
    )


def _start(body: str, extra: str = "") -> str:
    return f'(module (memory 1 1) {extra} (func (export "_start") {body}))'


# (access, address of the first byte, whether it is in bounds) at the end of one page
EDGES = [
    (op, 65536 - size + delta, delta <= 0)
    for op, size in [
        ("i32.load8_u", 1),
        ("i32.load16_u", 2),
        ("i32.load", 4),
        ("i64.load", 8),
        ("f32.load", 4),
        ("f64.load", 8),
    ]
    for delta in (0, 1)
]


@pytest.mark.parametrize("target", TARGETS)
def test_loads_at_the_end_of_memory(target: str, tmp_path: Path) -> None:
    # One module, one access per run selected by argv length, would need WASI; instead
    # each edge is its own tiny module, all built and run on the target.
    for op, addr, ok in EDGES:
        proc = _run(
            tmp_path, target, f"edge_{op}_{addr}", _start(f"(drop ({op} (i32.const {addr})))")
        )
        if ok:
            assert proc.returncode == 0, (op, addr, proc.stderr)
        else:
            assert proc.returncode == TRAP_EXIT, (op, addr, proc.stderr)
            assert "out of bounds memory access" in proc.stderr


@pytest.mark.parametrize("target", TARGETS)
def test_store_offset_wraps_nothing(target: str, tmp_path: Path) -> None:
    # address + offset overflows 32 bits: must trap, never wrap around to low memory
    proc = _run(
        tmp_path,
        target,
        "wrap",
        _start("(i64.store offset=0xfffffff8 (i32.const 0x10) (i64.const -1))"),
    )
    assert proc.returncode == TRAP_EXIT and "out of bounds memory access" in proc.stderr


@pytest.mark.parametrize("target", TARGETS)
def test_deep_recursion_is_a_trap(target: str, tmp_path: Path) -> None:
    wat = """(module (func $f (param i64) (result i64)
               (i64.add (call $f (i64.add (local.get 0) (i64.const 1))) (i64.const 1)))
             (func (export "_start") (drop (call $f (i64.const 0)))))"""
    proc = _run(tmp_path, target, "recurse", wat)
    assert proc.returncode == TRAP_EXIT, proc.stderr
    assert "call stack exhausted" in proc.stderr


@pytest.mark.parametrize("target", TARGETS)
def test_memory_grow_to_the_maximum(target: str, tmp_path: Path) -> None:
    # grow by the whole 4 GiB space: either it succeeds (spt reserves it) or returns -1
    # (kvm has 256 MiB); a second grow past 65536 pages must return -1; no crash either way
    body = """(if (i32.eq (memory.grow (i32.const 65535)) (i32.const -1))
                (then (if (i32.ne (memory.grow (i32.const 1)) (i32.const 1)) (then unreachable)))
                (else (if (i32.ne (memory.grow (i32.const 1)) (i32.const -1)) (then unreachable))
                      (i32.store (i32.const 0xfffffffc) (i32.const 7))))"""
    proc = _run(tmp_path, target, "grow", f'(module (memory 1) (func (export "_start") {body}))')
    assert proc.returncode == 0, proc.stderr


TABLE = """(type $v (func)) (type $i (func (result i32)))
           (table 2 funcref) (elem (i32.const 0) $ok)
           (func $ok (type $v))"""


@pytest.mark.parametrize(
    ("name", "call", "message"),
    [
        ("oob", "(call_indirect (type $v) (i32.const 2))", "undefined element"),
        ("null", "(call_indirect (type $v) (i32.const 1))", "uninitialized element"),
        ("sig", "(drop (call_indirect (type $i) (i32.const 0)))", "indirect call type mismatch"),
        ("huge", "(call_indirect (type $v) (i32.const -1))", "undefined element"),
    ],
)
def test_table_abuse(name: str, call: str, message: str, tmp_path: Path) -> None:
    wat = f'(module {TABLE} (func (export "_start") {call}))'
    proc = _run(tmp_path, "x86_64-spt", f"table_{name}", wat)
    assert proc.returncode == TRAP_EXIT and message in proc.stderr, proc.stderr


@pytest.mark.parametrize("target", TARGETS)
def test_busy_loop_ends_with_timeout(target: str, tmp_path: Path) -> None:
    proc = _run(tmp_path, target, "spin", _start("(loop $l (br $l))"), "--timeout", "2")
    assert proc.returncode != 0
    assert "did not finish within 2 s" in proc.stderr
    assert "Traceback" not in proc.stderr
