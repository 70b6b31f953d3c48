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
KNOWN_FAILURES_SPEC3: dict[str, str] = {}

# The spec3 scripts of three 3.0 features, by feature (../shared/testdata/README.md).
SPEC3_MULTI_MEMORY = (
    "address0 address1 align0 binary0 data0 data1 data_drop0 exports0 float_exprs0 "
    "float_exprs1 float_memory0 imports0 imports1 imports2 imports3 imports4 linking0 linking1 "
    "linking2 linking3 load0 load1 load2 memory_copy0 memory_copy1 memory_fill0 memory_init0 "
    "memory_size0 memory_size1 memory_size2 memory_size3 memory_trap0 memory_trap1 start0 "
    "store0 store1 store2 traps0 memory-multi simd_memory-multi"
).split()
SPEC3_MEMORY64 = (
    "address64 align64 binary_leb128_64 bulk64 call_indirect64 endianness64 float_memory64 "
    "load64 memory64-imports memory64 memory_copy64 memory_fill64 memory_grow64 memory_init64 "
    "memory_redundancy64 memory_trap64 table64 table_copy64 table_fill64 table_get64 "
    "table_grow64 table_init64 table_set64 table_size64"
).split()
SPEC3_EXTENDED_CONST = ["global", "data", "elem"]

# Their modules that use another 3.0 feature (GC), not these.
KNOWN_FAILURES_SPEC3_MEMORY = {
    "table_init64.json:2457": "garbage collection (array types): not supported yet",
    "table_init64.json:2471": "garbage collection: its module (line 2457) is not supported",
}


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["cranelift", "llvm"])
def test_spec3_memory_wast(backend: str) -> None:
    """Multiple memories, 64-bit memories and tables, extended constant expressions: the 3.0
    suite's scripts of these features (67 files), with totals per feature."""
    groups = {
        "multiple memories": SPEC3_MULTI_MEMORY,
        "memory64/table64": SPEC3_MEMORY64,
        "extended constants": SPEC3_EXTENDED_CONST,
    }
    scripts = [SPEC3 / f"{name}.wast" for names in groups.values() for name in names]
    if not all(s.is_file() for s in scripts):
        print(f"skipping: the spec3 scripts are not all in {SPEC3}")
        pytest.skip(f"the spec3 scripts are not all in {SPEC3}")
    results = wast.run_scripts(scripts, backend=backend)
    by_name = {r.path.stem: r for r in results}
    for feature, names in groups.items():
        rs = [by_name[n] for n in names]
        print(f"{feature}: {wast.total_line(rs)}")
    _check_results(results, KNOWN_FAILURES_SPEC3_MEMORY, 9000)


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


# Tail calls and typed function references (WebAssembly 3.0), and the 3.0 revisions of the
# core scripts that use typed references (ref.func's (ref $t), typed select, typed tables,
# import subtyping). elem.wast runs with the extended constants above; not here: ref_null.wast
# (anyref: GC).
SPEC3_TYPED_REFS = [
    *("return_call", "return_call_indirect", "return_call_ref", "call_ref", "ref_as_non_null"),
    *("br_on_null", "br_on_non_null", "local_init", "ref", "select", "ref_func", "ref_is_null"),
    *("table_get", "table_set", "table_fill", "table_grow", "table_size", "table_copy"),
    *("call_indirect", "func_ptrs", "local_get", "local_set", "local_tee", "br_table", "func"),
    *("unreached-invalid", "unreached-valid", "linking", "exports", "type", "table"),
]

# Exception handling: the 3.0 scripts and legacy/ (try, catch, delegate, rethrow).
EXCEPTION_SCRIPTS = ("tag", "throw", "throw_ref", "try_table")
LEGACY_SCRIPTS = ("rethrow", "throw", "try_catch", "try_delegate")


def _exception_scripts() -> list[Path]:
    return [SPEC3 / f"{n}.wast" for n in EXCEPTION_SCRIPTS] + [
        SPEC3 / "legacy" / f"{n}.wast" for n in LEGACY_SCRIPTS
    ]


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["cranelift", "llvm"])
def test_spec3_tail_calls_and_typed_refs(backend: str) -> None:
    """The 3.0 scripts of tail calls and typed function references: 0 failures."""
    scripts = [SPEC3 / f"{name}.wast" for name in SPEC3_TYPED_REFS]
    missing = [p.name for p in scripts if not p.exists()]
    if missing:
        print(f"skipping: {missing} not in {SPEC3}")
        pytest.skip(f"{missing} not in {SPEC3}")
    _check_results(wast.run_scripts(scripts, backend=backend), {}, 3400)


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["cranelift", "llvm"])
def test_spec3_exceptions_wast(backend: str) -> None:
    """The 3.0 suite's exception-handling scripts, new and legacy instructions (their tail
    calls out of handlers and typed references included): 0 failures."""
    scripts = _exception_scripts()
    if not all(s.is_file() for s in scripts):
        print(f"skipping: the exception scripts are not all in {SPEC3}")
        pytest.skip(f"the exception scripts are not all in {SPEC3}")
    _check_results(wast.run_scripts(scripts, backend=backend), {}, 180)


# Scripts that test the script format itself: annotations (the reader hung on a lone `;`),
# valid `module quote`, an inline module, UTF-8 names, module definitions and instances.
SPEC3_SCRIPT_SYNTAX = ("annotations", "comments", "inline-module", "names", "instance")


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["cranelift", "llvm"])
def test_spec3_script_syntax(backend: str) -> None:
    """0 failures (before: a hang, then 4 + 3 + 444 + 21 failed commands)."""
    scripts = [SPEC3 / f"{name}.wast" for name in SPEC3_SCRIPT_SYNTAX]
    if not all(s.is_file() for s in scripts):
        print(f"skipping: the script-syntax scripts are not all in {SPEC3}")
        pytest.skip(f"the script-syntax scripts are not all in {SPEC3}")
    _check_results(wast.run_scripts(scripts, backend=backend), {}, 520)


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
