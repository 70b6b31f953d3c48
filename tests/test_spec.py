"""The WebAssembly 2.0 spec test suite (../shared/testdata/spec), in-process (pyhook/spec/wast.py).

Every script runs with each backend (Cranelift; LLVM -O2), the non-SIMD ones and the 56
`simd_*` ones as separate tests, and the non-SIMD ones as AArch64 code too (LLVM -O0, the dev
tier there, and -O2) in the aarch64 host agent under qemu-aarch64 (pyhook/spec/hostrt_remote.py);
every command must pass except the ones listed in KNOWN_FAILURES. The list is strict both ways:
a listed command that
starts passing fails the test too, so the list cannot go stale. The whole suite takes 40-50 s
with Cranelift and about twice that with LLVM on the 2-core machines (measured), so it is one
test per backend, not one per file.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from wasmkiln.pyhook.spec import wast

SPEC = Path(__file__).resolve().parents[2] / "shared" / "testdata" / "spec"
SPEC3 = SPEC.parent / "spec3"  # WebAssembly 3.0, as .wast text (pyhook/spec/wast_text.py reads it)

# backend (arch/backend off x86_64) -> "file.json:line" -> why it fails. Empty: every non-SIMD
# command passes on every one.
KNOWN_FAILURES: dict[str, dict[str, str]] = {
    "cranelift": {},
    "llvm": {},
    "aarch64/llvm-O0": {},
    "aarch64/llvm": {},
}

# Why commands may be skipped; anything else is a regression of the runner. "text format":
# assert_malformed given as .wat (lexical/syntax errors of the text format; no WAT parser
# here, and wat2wasm rejecting them would test WABT, not us: docs/spec-runner.md).
ALLOWED_SKIPS = {"text format"}


def _scripts(simd: bool = False) -> list[Path]:
    if not SPEC.is_dir():
        return []
    scripts = (d / f"{d.name}.json" for d in SPEC.iterdir() if d.name.startswith("simd_") == simd)
    return sorted(s for s in scripts if s.is_file())


def _require_spec(simd: bool = False) -> None:
    if not _scripts(simd):
        msg = f"the spec test data is absent ({SPEC}): no {'SIMD' if simd else 'non-SIMD'} scripts"
        print(msg)
        pytest.skip(msg)


def _require_agent(arch: str) -> None:
    """The aarch64 host agent (built at install with libc6-dev-arm64-cross) and QEMU user
    mode (qemu-user-static): skip, saying which is missing."""
    if arch == "x86_64":
        return
    from wasmkiln.pyhook.spec import hostrt
    from wasmkiln.pyhook.spec.hostrt_remote import remote_runtime

    try:
        remote_runtime(arch)
    except hostrt.HostError as e:
        print(e)
        pytest.skip(str(e))


@pytest.mark.slow
@pytest.mark.parametrize(
    ("backend", "arch"),
    [("cranelift", "x86_64"), ("llvm", "x86_64"), ("llvm-O0", "aarch64"), ("llvm", "aarch64")],
)
def test_spec_suite(backend: str, arch: str) -> None:
    """Every non-SIMD command passes on both backends (LLVM at -O2, the release tier), and on
    AArch64 code at the dev (-O0) and release (-O2) settings."""
    _require_agent(arch)
    _check_suite(backend, simd=False, least=25000, arch=arch)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("backend", "arch"),
    [("cranelift", "x86_64"), ("llvm", "x86_64"), ("llvm-O0", "aarch64"), ("llvm", "aarch64")],
)
def test_simd_spec_suite(backend: str, arch: str) -> None:
    """Every command of the 56 simd_* scripts passes (v128 values, lane-wise NaN patterns), on
    x86_64 and on AArch64 code (v128 values cross the aarch64 agent as two slots each)."""
    _require_agent(arch)
    _check_suite(backend, simd=True, least=25000, arch=arch)


# spec3 (.wast): "file.json:line" -> why it fails, on both backends.
KNOWN_FAILURES_SPEC3 = {
    "simd_memory-multi.json:5": "multi-memory (WebAssembly 3.0) is not supported: the module "
    "declares two memories",
}


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["cranelift", "llvm"])
def test_spec3_simd_wast(backend: str) -> None:
    """The 3.0 suite's simd_* and relaxed SIMD scripts, read as .wast text (no WABT)."""
    scripts = sorted({*SPEC3.glob("simd_*.wast"), *SPEC3.glob("*relaxed*.wast")})
    if not scripts:
        print(f"skipping: no simd_*.wast in {SPEC3}")
        pytest.skip(f"no simd_*.wast in {SPEC3}")
    assert len([s for s in scripts if "relaxed" in s.name]) == 7
    _check_results(wast.run_scripts(scripts, backend=backend), KNOWN_FAILURES_SPEC3, 25000)


def _check_suite(backend: str, simd: bool, least: int, arch: str = "x86_64") -> None:
    _require_spec(simd)
    results = wast.run_scripts(_scripts(simd), backend=backend, arch=arch)
    key = backend if arch == "x86_64" else f"{arch}/{backend}"
    _check_results(results, KNOWN_FAILURES.get(key, {}), least)


def _check_results(results: list[wast.FileResult], known: dict[str, str], least: int) -> None:
    print()
    for r in results:
        wast.print_result(r, verbose=False)
    print(wast.total_line(results))
    failures = {
        f"{r.path.name}:{f.line}": f"{f.command}: {f.message}" for r in results for f in r.failures
    }
    unexpected = {k: v for k, v in failures.items() if k not in known}
    fixed = sorted(set(known) - set(failures))
    assert not unexpected, "unexpected failures:\n" + "\n".join(
        f"  {k}: {v}" for k, v in sorted(unexpected.items())
    )
    assert not fixed, f"these known failures pass now; remove them from KNOWN_FAILURES: {fixed}"
    skips = {why for r in results for why in r.skipped}
    assert skips <= ALLOWED_SKIPS, f"unexpected skip reasons: {skips - ALLOWED_SKIPS}"
    assert sum(r.passed for r in results) > least  # the runner really ran the suite


def test_runner_detects_failures(tmp_path: Path) -> None:
    """Mutated expectations must fail: the runner is not allowed to pass vacuously."""
    _require_spec()
    for f in (SPEC / "i32").iterdir():
        shutil.copy(f, tmp_path)
    script = tmp_path / "i32.json"
    data = json.loads(script.read_text())
    changed: list[int] = []
    wanted = ["assert_return", "assert_trap", "assert_invalid"]
    for c in data["commands"]:
        if wanted and c["type"] == wanted[0]:
            if c["type"] == "assert_return":
                c["expected"][0]["value"] = "12345"
            elif c["type"] == "assert_trap":
                c["text"] = "unreachable"
            else:
                c["filename"] = "i32.0.wasm"  # a valid module
            changed.append(c["line"])
            wanted.pop(0)
    script.write_text(json.dumps(data))
    (result,) = wast.run_scripts([script])
    assert sorted(f.line for f in result.failures) == changed
    assert result.failed == 3 and result.passed > 400


def test_value_patterns() -> None:
    from wasmkiln.bridge.module import ValType

    canon32 = {"type": "f32", "value": "nan:canonical"}
    arith32 = {"type": "f32", "value": "nan:arithmetic"}
    assert wast.value_matches(canon32, ValType.F32, 0x7FC00000)
    assert wast.value_matches(canon32, ValType.F32, 0xFFC00000)
    assert not wast.value_matches(canon32, ValType.F32, 0x7FC00001)
    assert wast.value_matches(arith32, ValType.F32, 0x7FC00001)
    assert not wast.value_matches(arith32, ValType.F32, 0x7FA00000)  # signalling
    canon64 = {"type": "f64", "value": "nan:canonical"}
    assert wast.value_matches(canon64, ValType.F64, 0xFFF8000000000000)
    assert not wast.value_matches(canon64, ValType.F64, 0x7FF8000000000001)
    # i32 results: the trampoline leaves the slot's upper half as it was
    assert wast.value_matches({"type": "i32", "value": "7"}, ValType.I32, 0xDEAD_0000_0007)
    ext = {"type": "externref", "value": "0"}
    assert wast.value_matches(ext, ValType.EXTERNREF, wast.encode_value(ext))
    assert not wast.value_matches(
        {"type": "externref", "value": "null"}, ValType.EXTERNREF, wast.encode_value(ext)
    )
    assert wast.value_matches({"type": "funcref"}, ValType.FUNCREF, 0x1000)


def test_v128_values() -> None:
    """v128 arguments are lanes packed little-endian; results are compared lane by lane."""
    from wasmkiln.bridge.module import ValType

    arg = {
        "type": "v128",
        "lane_type": "i16",
        "value": ["1", "65535", "0", "0", "0", "0", "0", "32768"],
    }
    assert wast.encode_value(arg) == 1 | 0xFFFF << 16 | 0x8000 << 112
    lanes = {
        "type": "v128",
        "lane_type": "f32",
        "value": ["nan:canonical", "nan:arithmetic", "0", "-2147483648"],
    }
    good = 0x7FC00000 | 0x7FE00001 << 32 | 0 << 64 | 0x80000000 << 96
    assert wast.value_matches(lanes, ValType.V128, good)
    assert not wast.value_matches(lanes, ValType.V128, good | 1)  # lane 0 not canonical
    assert not wast.value_matches(lanes, ValType.V128, good ^ 0x80000000 << 96)  # -0 vs +0
    i64 = {"type": "v128", "lane_type": "i64", "value": ["-1", "2"]}
    assert wast.value_matches(i64, ValType.V128, (1 << 64) - 1 | 2 << 64)
    assert not wast.value_matches(i64, ValType.V128, 2 | 2 << 64)


def test_trap_messages() -> None:
    from wasmkiln.bridge.abi import Trap

    assert wast.trap_matches("undefined element", Trap.TABLE_OOB)
    assert wast.trap_matches("out of bounds table access", Trap.TABLE_OOB)
    assert wast.trap_matches("uninitialized element 2", Trap.UNINIT_ELEM)
    assert wast.trap_matches("unreachable", Trap.UNREACHABLE)
    assert not wast.trap_matches("undefined element", Trap.UNINIT_ELEM)
    assert not wast.trap_matches("integer overflow", Trap.INT_DIV_ZERO)
