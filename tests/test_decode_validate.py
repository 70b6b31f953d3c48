"""Decoder and validator tests: the spec suite's module/assert_invalid/assert_malformed commands,
hand-made modules (wat2wasm), a clang-built module, truncation robustness, and timing."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections import Counter
from pathlib import Path

import pytest

from wasmkiln.bridge.decode import decode, read_sleb, read_uleb
from wasmkiln.bridge.errors import DecodeError, UnsupportedError, ValidationError, WasmError
from wasmkiln.bridge.features import WASM2
from wasmkiln.bridge.module import ValType
from wasmkiln.bridge.validate import validate

REPO = Path(__file__).resolve().parent.parent
TESTDATA = REPO.parent / "shared" / "testdata"
SPEC = TESTDATA / "spec"

# Spec commands we knowingly get "wrong", with the reason. Keyed by (file stem, line).
KNOWN_EXCEPTIONS: dict[tuple[str, int], str] = {}


def _load(data: bytes) -> None:
    """The 2.0 suite under 2.0's rules: it asserts rejections 3.0 lifted (bridge/features.py)."""
    validate(decode(data, WASM2))


def run_spec_file(json_path: Path) -> tuple[Counter[str], list[str]]:
    """Run the decode/validate commands of one spec .json; returns counts and failure lines."""
    counts: Counter[str] = Counter()
    failures: list[str] = []
    spec = json.loads(json_path.read_text())
    for cmd in spec["commands"]:
        kind = cmd["type"]
        if kind not in ("module", "assert_invalid", "assert_malformed"):
            continue
        if kind == "assert_malformed" and cmd.get("module_type") != "binary":
            counts["skipped_text"] += 1
            continue
        if kind == "module" and cmd.get("module_type", "binary") != "binary":
            counts["skipped_text"] += 1
            continue
        data = (json_path.parent / cmd["filename"]).read_bytes()
        key = (json_path.stem, cmd["line"])
        where = f"{json_path.stem}:{cmd['line']} {kind} {cmd.get('text', '')!r}"
        try:
            _load(data)
            error: Exception | None = None
        except WasmError as e:
            error = e
        except Exception as e:  # a crash is always a failure: no traceback may reach a user
            error = e
            failures.append(f"{where}: CRASH {type(e).__name__}: {e}")
            counts[f"{kind}_failed"] += 1
            continue
        if kind == "module":
            ok = error is None
        elif kind == "assert_invalid":
            ok = isinstance(error, (ValidationError, DecodeError))
        else:
            ok = isinstance(error, DecodeError)
        if not ok and key in KNOWN_EXCEPTIONS:
            counts[f"{kind}_known"] += 1
            continue
        counts[f"{kind}_{'passed' if ok else 'failed'}"] += 1
        if not ok:
            failures.append(f"{where}: got {error!r}")
        elif (
            isinstance(error, WasmError)
            and cmd.get("text")
            and not str(error.message).startswith(cmd["text"])
        ):
            counts[f"{kind}_wording_differs"] += 1
            print(f"  wording {where}: {error}")
    return counts, failures


def spec_files() -> list[Path]:
    return sorted(p for p in SPEC.glob("*/*.json") if not p.parent.name.startswith("simd_"))


@pytest.mark.skipif(not SPEC.is_dir(), reason=f"spec test data not found at {SPEC}")
def test_spec_suite_decode_validate() -> None:
    total: Counter[str] = Counter()
    failures: list[str] = []
    for path in spec_files():
        counts, fails = run_spec_file(path)
        total.update(counts)
        failures.extend(fails)
        print(f"{path.stem:28s} " + " ".join(f"{k}={v}" for k, v in sorted(counts.items())))
    print("TOTAL", " ".join(f"{k}={v}" for k, v in sorted(total.items())))
    for f in failures:
        print("FAIL", f)
    assert not failures, f"{len(failures)} spec commands failed; first: {failures[:5]}"


# --- hand-made modules ------------------------------------------------------------------------
WAT2WASM = shutil.which("wat2wasm")
CLANG = shutil.which("clang-14")


def wat(text: str, tmp_path: Path, *flags: str) -> bytes:
    if WAT2WASM is None:
        print("skipping: wat2wasm not found in PATH")
        pytest.skip("wat2wasm not found in PATH")
    src = tmp_path / "m.wat"
    out = tmp_path / "m.wasm"
    src.write_text(text)
    subprocess.run([WAT2WASM, *flags, str(src), "-o", str(out)], check=True)
    return out.read_bytes()


def test_leb128_limits() -> None:
    assert read_uleb(b"\xff\xff\xff\xff\x0f", 0, 32) == (0xFFFFFFFF, 5)
    assert read_sleb(b"\x7f", 0, 32) == (-1, 1)
    assert read_sleb(b"\x80\x80\x80\x80\x78", 0, 32) == (-(2**31), 5)
    assert read_sleb(b"\xff\xff\xff\xff\xff\xff\xff\xff\xff\x7f", 0, 64) == (-1, 10)
    with pytest.raises(DecodeError, match="integer too large"):
        read_uleb(b"\xff\xff\xff\xff\x1f", 0, 32)
    with pytest.raises(DecodeError, match="integer too large"):
        read_sleb(b"\xff\xff\xff\xff\x4f", 0, 32)
    with pytest.raises(DecodeError, match="integer representation too long"):
        read_uleb(b"\x80\x80\x80\x80\x80\x00", 0, 32)


def test_decode_shapes(tmp_path: Path) -> None:
    data = wat(
        """
        (module
          (type $t (func (param i32) (result i32)))
          (import "env" "f" (func $f (type $t)))
          (memory 1)
          (table 2 funcref)
          (global $g (mut i64) (i64.const -5))
          (func $add (export "add") (param i32 i32) (result i32) (local f64)
            local.get 0 local.get 1 i32.add
            block (param i32) (result i32) i32.const -1 i32.add end
            i32.const 100 call_indirect (type $t)
            i32.load offset=8 align=2)
          (func $sat (param f32) (result i64) local.get 0 i64.trunc_sat_f32_u)
          (elem (i32.const 0) $add $sat)
          (data (i32.const 16) "hi"))
        """,
        tmp_path,
        "--debug-names",
    )
    m = decode(data)
    validate(m)
    f = m.funcs[0]
    assert f.locals == [ValType.F64]
    assert f.body[0] == ("local.get", 0)
    assert f.body[3][0] == "block" and str(f.body[3][1]) == "[i32] -> [i32]"
    assert ("i32.const", -1) in f.body
    assert ("call_indirect", 0, 0) in f.body
    assert f.body[-2] == ("i32.load", 1, 8)  # align=2 bytes is log2 1 and f.body[-1] == ("end",)
    assert len(f.offsets) == len(f.body) and data[f.offsets[2]] == 0x6A  # i32.add
    assert m.funcs[1].body[1] == ("i64.trunc_sat_f32_u",)
    assert m.globals[0].init == [("i64.const", -5)]
    assert m.elems[0].init == [[("ref.func", 1)], [("ref.func", 2)]]
    assert m.datas[0].data == b"hi" and m.datas[0].offset == [("i32.const", 16)]
    assert m.func_names.get(1) == "add"


INVALID = [
    ("(func (result i32) i64.const 0)", "type mismatch"),
    ("(func local.get 0 drop)", "unknown local"),
    ("(func call 5)", "unknown function"),
    ("(func br 1)", "unknown label"),
    ("(global i32 (i32.const 0)) (func i32.const 1 global.set 0)", "global is immutable"),
    (
        "(memory 1) (func i32.const 0 i32.load align=8 drop)",
        "alignment must not be larger than natural",
    ),
    ("(func i32.const 0 i32.load drop)", "unknown memory"),
    ("(func (export \"a\")) (func (export \"a\"))", "duplicate export name"),
    ("(func $f) (func ref.func $f drop)", "undeclared function reference"),
    ("(global i32 (i32.div_s (i32.const 1) (i32.const 2)))", "constant expression required"),
    ("(global i64 (i64.add (i64.const 1) (i32.const 2)))", "type mismatch"),
    ("(memory i64 1) (func i32.const 0 i32.load drop)", "type mismatch"),
    ("(memory i64 0x1000000000001)", "memory size must be at most 2^48 pages"),
    ("(memory i64 1) (data (i32.const 0) \"a\")", "type mismatch"),
    ("(func (param i32) (result i32) block (result i32) local.get 0 br_table 0 1 end)",
     "type mismatch"),
    ("(start 0) (func (param i32))", "start function"),
]  # fmt: skip


@pytest.mark.parametrize(("body", "message"), INVALID)
def test_invalid_modules(body: str, message: str, tmp_path: Path) -> None:
    data = wat(f"(module {body})", tmp_path, "--no-check")
    with pytest.raises(ValidationError) as info:
        validate(decode(data))
    assert info.value.message.startswith(message), str(info.value)
    if info.value.section == "code":
        assert info.value.func is not None and info.value.offset is not None


def test_unreachable_code_is_polymorphic(tmp_path: Path) -> None:
    validate(decode(wat(
        "(module (func (result i32) unreachable i32.add)"
        " (func (result f64) (block (result f64) (br 0 (f64.const 1)) i32.eqz drop)))",
        tmp_path, "--no-check")))  # fmt: skip


def test_simd_decodes_and_validates(tmp_path: Path) -> None:
    data = wat("(module (func (result i32) v128.const i64x2 1 2 i32x4.extract_lane 0))", tmp_path)
    m = decode(data)
    validate(m)
    assert m.funcs[0].body[0] == ("v128.const", 1 | 2 << 64)
    assert m.funcs[0].body[1] == ("i32x4.extract_lane", 0)


def _simd_module(sub: bytes) -> bytes:
    """(func (result v128) v128.const 0; v128.const 0; 0xfd SUB; end)"""
    body = bytes([0x00]) + (bytes([0xFD, 12]) + bytes(16)) * 2 + b"\xfd" + sub + b"\x0b"
    code = bytes([1, len(body)]) + body
    return (
        b"\0asm\1\0\0\0"
        + bytes([1, 5, 1, 0x60, 0, 1, 0x7B])
        + bytes([3, 2, 1, 0])
        + bytes([10, len(code)])
        + code
    )


def test_relaxed_simd_decodes_and_unassigned_simd_is_illegal() -> None:
    m = decode(_simd_module(b"\x80\x02"))  # 0x100: i8x16.relaxed_swizzle
    validate(m)
    assert m.funcs[0].body[2] == ("i8x16.relaxed_swizzle",)
    for sub in (b"\x94\x02", b"\x9a\x01"):  # 0x114 (after relaxed SIMD), 0x9a (unassigned)
        with pytest.raises(DecodeError, match="illegal opcode 0xfd"):
            decode(_simd_module(sub))


@pytest.mark.parametrize(
    ("text", "flag", "proposal"),
    [
        # (exception handling, tail calls are supported now: test_exceptions.py, test_tail_calls.py)
        ("(module (memory 1 1 shared))", "--enable-threads", "threads"),
    ],
)
def test_newer_proposals_are_unsupported_not_malformed(
    text: str, flag: str, proposal: str, tmp_path: Path
) -> None:
    """A module of a later proposal is valid Wasm we cannot compile: say so and name it."""
    try:
        data = wat(text, tmp_path, flag)
    except subprocess.CalledProcessError as e:
        pytest.skip(f"this wat2wasm cannot write it ({flag}): {e.stderr!r}")
    with pytest.raises(UnsupportedError, match=f"{proposal} .* is not supported"):
        validate(decode(data))


def test_errors_name_section_function_offset() -> None:
    # type () -> (); one function whose body is `i64.const 0; end` but declared () -> ()
    data = bytes.fromhex("0061736d01000000010401600000030201000a0601040042000b".replace(" ", ""))
    with pytest.raises(ValidationError) as info:
        validate(decode(data))
    e = info.value
    assert (e.section, e.func) == ("code", 0) and e.offset is not None
    assert data[e.offset] == 0x0B  # the final end finds an extra value
    assert "code section, function 0, offset 0x" in str(e)


def test_bad_name_section_is_ignored() -> None:
    name = b"\x04name" + b"\x01\x05\x01\x00\xff\xfe\xfd"  # function names with bad UTF-8 / sizes
    data = b"\x00asm\x01\x00\x00\x00" + b"\x00" + bytes([len(name)]) + name
    assert decode(data).func_names == {}


# --- real compiler output, truncation, speed --------------------------------------------------
@pytest.fixture(scope="module")
def clang_wasm(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    if CLANG is None:
        print("skipping: clang-14 not found in PATH")
        pytest.skip("clang-14 not found in PATH")
    d = tmp_path_factory.mktemp("clang")
    src = d / "x.c"
    src.write_text(
        "#include <stdio.h>\n#include <stdlib.h>\n#include <string.h>\n"
        "static int cmp(const void *a, const void *b)\n"
        "{ return *(const int *)a - *(const int *)b; }\n"
        "int main(int argc, char **argv) {\n"
        "  int v[64]; for (int i = 0; i < 64; i++) v[i] = (i * 7919) % 64;\n"
        "  qsort(v, 64, sizeof v[0], cmp);\n"
        '  double d = atof(argc > 1 ? argv[1] : "2.5");\n'
        '  printf("%d %g %s\\n", v[10], d * 3, strrchr(argv[0], \'/\') ? "p" : "n");\n'
        "  return (int)(long long)d;\n}\n"
    )
    out = d / "x.wasm"
    subprocess.run([CLANG, "--target=wasm32-wasi", "-O2", str(src), "-o", str(out)], check=True)
    return out.read_bytes()


def test_clang_module_validates(clang_wasm: bytes) -> None:
    m = decode(clang_wasm)
    validate(m)
    assert m.funcs and any(e.name == "_start" for e in m.exports)


def test_truncations_only_raise_decode_errors(clang_wasm: bytes) -> None:
    data = clang_wasm
    cuts = sorted(set(range(0, 200)) | set(range(0, len(data), max(1, len(data) // 300))))
    for n in cuts:
        if n >= len(data):
            continue
        try:
            validate(decode(data[:n]))
        except DecodeError as e:
            assert e.offset is not None or n < 8, f"cut at {n}: {e}"
            continue
        # A cut exactly between two custom/trailing sections may leave a valid module; fine.
        assert n >= 8


def test_decode_and_validate_a_real_program() -> None:
    """sqlite3 decodes and validates. (Speed is bench/scale.py's: a timing assertion here
    failed under load without a defect.)"""
    path = TESTDATA / "real" / "sqlite3" / "sqlite3.wasm"
    if not path.exists():
        pytest.skip(f"{path} not found")
    m = decode(path.read_bytes())
    validate(m)
    assert len(m.funcs) > 1000 and sum(len(f.body) for f in m.funcs) > 300_000


def test_leb_error_offsets_are_file_offsets() -> None:
    # one function: i32.const with a 6-byte LEB128 (too long), then drop, end
    body = b"\x00" + b"\x41\x80\x80\x80\x80\x80\x00" + b"\x1a\x0b"
    code = bytes([1, len(body)]) + body
    data = (
        b"\x00asm\x01\x00\x00\x00"
        + b"\x01\x04\x01\x60\x00\x00"  # type () -> ()
        + b"\x03\x02\x01\x00"  # function 0: type 0
        + b"\x0a"
        + bytes([len(code)])
        + code
    )
    with pytest.raises(DecodeError, match="integer representation too long") as info:
        decode(data)
    e = info.value
    assert (e.section, e.func) == ("code", 0)
    assert e.offset == data.index(b"\x41\x80") + 1  # the LEB128 right after the i32.const opcode
