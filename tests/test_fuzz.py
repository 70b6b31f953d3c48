"""The fuzzers (pyhook/fuzz/differential.py, pyhook/fuzz/garbage.py): their comparison rules,
their isolation (a crash or a hang of our side is reported, not suffered), that they do find a
difference when there is one, small runs of both (marked slow), and the kept reproducers
(tests/fixtures/fuzz/)."""

from __future__ import annotations

import os
import random
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from wasmkiln.pyhook.fuzz import differential as fuzz
from wasmkiln.pyhook.fuzz import engines as fuzz_engines
from wasmkiln.pyhook.fuzz import garbage as fuzz_garbage
from wasmkiln.pyhook.fuzz.engines import Call, Outcome, RunResult

FIXTURES = Path(__file__).parent / "fixtures" / "fuzz"
F32_NAN, F32_NAN_NEG_PAYLOAD = ("f32", 0x7FC00000), ("f32", 0xFFC00123)


def _needs_binaryen() -> None:
    if shutil.which("wasm-opt") is None:
        pytest.skip("wasm-opt (binaryen) is not installed")


def _const_module(value: int) -> bytes:
    """(func (export "f") (result i32) i32.const VALUE) with an exported memory."""
    u = fuzz_garbage.uleb
    body = b"\x00\x41" + bytes([value & 0x3F]) + b"\x0b"
    return fuzz_garbage.assemble([
        (1, b"\x01\x60\x00\x01\x7f"), (3, b"\x01\x00"), (5, b"\x01\x00\x01"),
        (7, b"\x02\x01f\x00\x00\x06memory\x02\x00"), (10, b"\x01" + u(len(body)) + body),
    ])  # fmt: skip


# ---- comparison rules --------------------------------------------------------------------------
def test_nans_match_any_nan_but_not_numbers() -> None:
    assert fuzz._values_match(F32_NAN, F32_NAN_NEG_PAYLOAD)
    assert not fuzz._values_match(F32_NAN, ("f32", 0x7F800000))  # infinity is no NaN
    assert not fuzz._values_match(("f32", 0), ("f32", 0x80000000))  # -0.0 is not +0.0
    assert not fuzz._values_match(("i32", 0x7FC00000), ("i32", 0xFFC00000))  # ints: exact
    assert not fuzz._values_match(F32_NAN, ("f64", 0x7FF8000000000000))  # types must agree


def test_memories_match_forgives_only_nan_bits() -> None:
    base = bytearray(64)
    a, b = bytearray(base), bytearray(base)
    a[10:18] = (0x7FF8000000000000).to_bytes(8, "little")
    b[10:18] = (0xFFFFFFFFFFFFE114).to_bytes(8, "little")  # another NaN: allowed
    assert fuzz.memories_match(bytes(a), bytes(b))
    b[40] = 1  # a plain byte difference: not allowed
    assert not fuzz.memories_match(bytes(a), bytes(b))
    b[40] = 0
    b[10:18] = (0x7FF0000000000000).to_bytes(8, "little")  # infinity vs NaN: not allowed
    assert not fuzz.memories_match(bytes(a), bytes(b))
    b[10:18] = (0xFFC00001).to_bytes(4, "little") + bytes(4)  # f32 NaNs, payloads differ
    a[10:18] = (0x7FC00000).to_bytes(4, "little") + bytes(4)
    assert fuzz.memories_match(bytes(a), bytes(b))
    b[10:14] = (0x7F800000).to_bytes(4, "little")  # f32 infinity vs NaN: not allowed
    assert not fuzz.memories_match(bytes(a), bytes(b))
    assert not fuzz.memories_match(bytes(a), bytes(a) + b"\0")


def test_compare_names_the_first_difference() -> None:
    ref = RunResult([Outcome("f", results=(("i32", 1),)), Outcome("g", logs=(("i64", 5),))])
    same = RunResult([Outcome("f", results=(("i32", 1),)), Outcome("g", logs=(("i64", 5),))])
    assert fuzz.compare(ref, same) is None
    other = RunResult([Outcome("f", results=(("i32", 1),)), Outcome("g", trap="UNREACHABLE")])
    why = fuzz.compare(ref, other)
    assert why is not None and why.startswith("call g") and "UNREACHABLE" in why
    assert "instantiation" in (fuzz.compare(ref, RunResult(init_trap="MEM_OOB")) or "")
    assert "hang" in (fuzz.compare(ref, RunResult(error="hang: no result")) or "")


def test_plan_is_deterministic_and_skips_the_hang_limit_export() -> None:
    exports = [("a", ["i32", "f64"]), (fuzz.HANG_EXPORT, []), ("b", ["i64"])]
    plan = fuzz.make_plan(exports, "1:2")
    assert plan == fuzz.make_plan(exports, "1:2")
    assert [c.name for c in plan] == ["a", "b"] * fuzz.ROUNDS
    assert [t for t, _ in plan[0].args] == ["i32", "f64"]
    assert plan != fuzz.make_plan(exports, "1:3")


# ---- isolation -------------------------------------------------------------------------------
def test_a_crashing_child_is_reported() -> None:
    def crash() -> RunResult:
        os.kill(os.getpid(), signal.SIGSEGV)
        return RunResult()

    assert fuzz_engines._in_child(crash, 30).error == f"crash: killed by signal {signal.SIGSEGV}"


def test_a_hanging_child_is_killed() -> None:
    def hang() -> RunResult:
        time.sleep(60)
        return RunResult()

    t0 = time.monotonic()
    res = fuzz_engines._in_child(hang, 0.5)
    assert res.error is not None and res.error.startswith("hang")
    assert time.monotonic() - t0 < 10


def test_child_results_come_back() -> None:
    res = fuzz_engines._in_child(lambda: RunResult([Outcome("x", memory="ab")]), 30)
    assert res.error is None and res.outcomes[0].memory == "ab"


# ---- end to end: agreement, and a difference found ---------------------------------------------
@pytest.fixture(scope="module")
def ours(tmp_path_factory: pytest.TempPathFactory) -> Iterator[fuzz_engines.Ours]:
    runner = fuzz_engines.Ours("cranelift", tmp_path_factory.mktemp("fuzz-modules"))
    yield runner
    runner.close()


def test_a_difference_is_found(ours: fuzz_engines.Ours) -> None:
    one, two = _const_module(1), _const_module(2)
    plan = [Call("f", ())]
    assert fuzz.compare(fuzz_engines.run_wasmtime(one, plan), ours.run(one, plan)) is None
    why = fuzz.compare(fuzz_engines.run_wasmtime(one, plan), ours.run(two, plan))
    assert why is not None and "i32:1" in why and "i32:2" in why


def test_a_generated_module_agrees(ours: fuzz_engines.Ours, tmp_path: Path) -> None:
    _needs_binaryen()
    wasm = fuzz.generate(2026, 0, tmp_path)
    assert fuzz.wasmtime_validates(wasm)
    assert fuzz_engines.exports_of(wasm), "binaryen's module exports functions"
    assert fuzz.check_module(wasm, ours, "2026:0")[0] is None


def _v128_log_module(lane: int) -> bytes:
    """Logs a v128 (lanes i32x4 1 2 LANE 4) through log-v128; exports a v128 function too."""
    import wasmtime

    return bytes(
        wasmtime.wat2wasm(f"""(module
      (import "fuzzing-support" "log-v128" (func $log (param v128)))
      (memory (export "memory") 1)
      (global (export "g") (mut v128) (v128.const i64x2 7 8))
      (func $id (export "id") (param v128) (result v128) (local.get 0))
      (func (export "f") (result i32)
        (call $log (call $id (v128.const i32x4 1 2 {lane} 4)))
        (i32.const 5)))""")
    )


def test_v128_logs_are_compared(ours: fuzz_engines.Ours) -> None:
    """log-v128 goes through the shim on both sides (two i64 halves, logged as one v128);
    v128 exports are not called from outside (wasmtime's package cannot), the rest are; a
    v128 NaN lane may differ in sign, a number may not."""
    one, two = _v128_log_module(3), _v128_log_module(9)
    assert fuzz_engines.exports_of(one) == [("f", [])]
    plan = [Call("f", ())]
    ref = fuzz_engines.run_wasmtime(one, plan)
    assert ref.outcomes[0].logs == (("v128", 1 | 2 << 32 | 3 << 64 | 4 << 96),)
    assert fuzz.compare(ref, ours.run(one, plan)) is None
    why = fuzz.compare(ref, ours.run(two, plan))
    assert why is not None and "logs" in why
    nan_pos, nan_neg = 0x7FF8000000000000, 0xFFF8000000000000
    assert fuzz._values_match(("v128", nan_pos | 5 << 64), ("v128", nan_neg | 5 << 64))
    assert not fuzz._values_match(("v128", nan_pos | 5 << 64), ("v128", nan_pos | 6 << 64))


def test_a_generated_simd_module_agrees(ours: fuzz_engines.Ours, tmp_path: Path) -> None:
    """binaryen generates SIMD (FEATURE_FLAGS has --enable-simd), and the module agrees."""
    from wasmkiln.bridge.decode import decode
    from wasmkiln.bridge.opcodes_simd import SIMD_SIGS

    _needs_binaryen()
    wasm = fuzz.generate(16, 4, tmp_path)
    m = decode(wasm)
    assert sum(ins[0] in SIMD_SIGS for f in m.funcs for ins in f.body) > 5
    assert any(i.name == "log-v128" for i in m.imports)
    assert fuzz.check_module(wasm, ours, "16:4")[0] is None


@pytest.mark.parametrize("backend", ["cranelift", "llvm"])
def test_nan_bits_the_spec_leaves_open_do_not_fail(backend: str, tmp_path: Path) -> None:
    """fixtures/fuzz/nan-min-payload.wasm (reduced from seed 8, module 420, llvm): `f32.min` of
    a NaN with a payload and a number, stored, then hashed by hashMemory. wasmtime stores the
    propagated payload, LLVM folds to the canonical NaN; both are arithmetic NaNs, which the
    spec allows, so the module passes (as "nan-canonical" or "nan-divergent" when the raw runs
    differ)."""
    _needs_binaryen()
    wasm = (FIXTURES / "nan-min-payload.wasm").read_bytes()
    runner = fuzz_engines.Ours(backend, tmp_path)
    try:
        raw, _ = fuzz._differ(wasm, runner, "8:420")
        why, note = fuzz.check_module(wasm, runner, "8:420")
        assert why is None
        assert note in ("nan-canonical", "nan-divergent") if raw else note == ""
    finally:
        runner.close()


def test_a_nan_sign_carried_by_v128_bits_passes_as_canonical(tmp_path: Path) -> None:
    """fixtures/fuzz/nan-sign-simd.wasm (reduced from seed 1603, module 403, llvm):
    `f32x4.max` of a lane with a NaN payload gives wasmtime's -NaN and LLVM's +NaN (both
    canonical), v128.bitselect/or carry the sign bit into memory, and hashMemory logs the
    difference; binaryen's --denan leaves v128 lanes alone. LLVM's run equals wasmtime's with
    canonical NaNs, a conforming execution, so the module passes as "nan-canonical", and only
    that way: the raw runs differ."""
    wasm = (FIXTURES / "nan-sign-simd.wasm").read_bytes()
    runner = fuzz_engines.Ours("llvm", tmp_path)
    try:
        assert fuzz._differ(wasm, runner, "1603:403")[0] is not None
        assert fuzz._differ(wasm, runner, "1603:403", canonical_nans=True)[0] is None
        assert fuzz.check_module(wasm, runner, "1603:403") == (None, "nan-canonical")
    finally:
        runner.close()


# ---- garbage ---------------------------------------------------------------------------------
def test_garbage_inputs_are_deterministic() -> None:
    corpus = list(fuzz_garbage.HANDMADE)
    ra, rb = random.Random("s"), random.Random("s")
    a = [fuzz_garbage.make_input(ra, corpus) for _ in range(50)]
    b = [fuzz_garbage.make_input(rb, corpus) for _ in range(50)]
    assert a == b
    assert len({d for _, d in a}) > 40


def test_section_framing_round_trips() -> None:
    for module in fuzz_garbage.HANDMADE:
        secs = fuzz_garbage.sections(module)
        assert secs is not None and fuzz_garbage.assemble(secs) == module


def test_verdicts(tmp_path: Path) -> None:
    blob = str(tmp_path / "blob")
    assert fuzz_garbage.check_input(fuzz_garbage.HANDMADE[1], "cranelift", blob) == ("compiled", "")
    verdict, detail = fuzz_garbage.check_input(b"\0asm\2\0\0\0", "cranelift", blob)
    assert verdict == "decode DecodeError" and "version" in detail


def test_reproducers_end_cleanly(tmp_path: Path) -> None:
    """Every kept reproducer (tests/fixtures/fuzz/) goes through decode, validate and compile."""
    cases = sorted(FIXTURES.glob("*.wasm"))
    assert cases, f"no reproducers in {FIXTURES}"
    blob = str(tmp_path / "blob")
    for case in cases:
        verdict, detail = fuzz_garbage.check_input(case.read_bytes(), "cranelift", blob)
        assert verdict != "bug", f"{case.name}: {detail}"


# ---- small runs (CI); the long runs are `wasmkiln fuzz --count 2000` ----------------------------
@pytest.mark.slow
@pytest.mark.parametrize("backend", ["cranelift", "llvm"])
def test_differential_run(backend: str, tmp_path: Path) -> None:
    _needs_binaryen()
    totals = fuzz.run_differential(50, 1, backend, tmp_path / "out", reduce=False, log=print)
    assert totals.failed == 0, f"mismatches saved in {tmp_path / 'out'}"
    assert totals.passed >= 45  # a few generated modules may be rejected by wasmtime


@pytest.mark.slow
def test_garbage_run(tmp_path: Path) -> None:
    totals = fuzz_garbage.run_garbage(5000, 1, out=tmp_path / "out", corpus_size=8, log=print)
    assert totals.failed == 0, f"defects saved in {tmp_path / 'out'}"
    assert totals.verdicts["compiled"] > 0 and totals.verdicts["decode DecodeError"] > 0


@pytest.mark.slow
def test_cli_prints_the_totals_line(tmp_path: Path) -> None:
    _needs_binaryen()
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "wasmkiln.pyhook.cli.main",
            "fuzz",
            "--count",
            "3",
            "--seed",
            "5",
            "--no-reduce",
            "--out",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert re.fullmatch(r"3 passed, 0 failed", proc.stdout.strip().splitlines()[-1])


def test_cli_without_binaryen_is_a_clear_error(tmp_path: Path) -> None:
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "wasmkiln.pyhook.cli.main",
            "fuzz",
            "--count",
            "1",
            "--out",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PATH": str(tmp_path)},
    )  # an empty folder: no wasm-opt
    assert proc.returncode == 2
    assert proc.stderr.strip() == (
        "wasmkiln: error: wasm-opt (binaryen) is not on PATH: install binaryen (Debian: binaryen)"
    )
