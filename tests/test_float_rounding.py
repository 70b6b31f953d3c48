"""ceil/floor/trunc/nearest end to end: both backends, both targets, against wasmtime.

Why this exists: Cranelift lowers these four to libm calls unless the ISA has SSE4.1, and
cranelift-py cannot enable it (bridge/cranelift_backend.py `_round`), so images that used
them failed to link ("undefined reference to `floor'"). The program here is hand-written
WAT (no libc, so no libm either): `_start` applies the eight operators to a table of f32
and f64 inputs (edge values around 0.5 steps, 2^23 and 2^52, signed zeros, infinities,
signalling and quiet NaNs, and random bit patterns) and prints every result's bits in hex,
one line each. wasmtime runs the same module; results must match bit for bit, except that
a NaN only has to be an arithmetic NaN (quiet bit set; payload zero for a canonical input),
which is all the spec fixes.
"""

from __future__ import annotations

import random
import struct
from pathlib import Path

import pytest
from guest_programs import wasmtime_stdout
from wkcli import need_target, wasmkiln

OPS = ("ceil", "floor", "trunc", "nearest")
TARGETS = ["x86_64-spt", "x86_64-kvm"]
BACKENDS = ["cranelift", "llvm"]
_WIDTH = {"f32": 32, "f64": 64}
_MANT = {"f32": 23, "f64": 52}


def _f32(v: float) -> int:
    return struct.unpack("<I", struct.pack("<f", v))[0]


def _f64(v: float) -> int:
    return struct.unpack("<Q", struct.pack("<d", v))[0]


def _inputs(t: str) -> list[int]:
    """Bit patterns: hand-picked edges first, then random ones (fixed seed)."""
    bits = _f32 if t == "f32" else _f64
    big = 2.0 ** _MANT[t]
    edges = [
        0.0,
        -0.0,
        0.5,
        -0.5,
        1.5,
        -1.5,
        2.5,
        -2.5,
        0.49999997,
        -0.49999997,
        0.7,
        -0.7,
        1.0,
        -1.0,
        3.0,
        1e-40,
        -1e-40,
        5e-324 if t == "f64" else 1e-45,
        big - 0.5,
        -(big - 0.5),
        big,
        -big,
        big + 1.0,
        big / 2 + 0.5,
        -(big / 2 + 0.5),
        1e30,
        -1e30,
        float("inf"),
        float("-inf"),
    ]
    out = [bits(v) for v in edges]
    w, m = _WIDTH[t], _MANT[t]
    exp = ((1 << (w - m - 1)) - 1) << m
    out += [
        exp | 1,
        exp | (1 << (m - 1)),
        exp | (1 << (m - 2)) | 5,  # sNaN, canonical, qNaN
        (1 << (w - 1)) | exp | 1,
        (1 << (w - 1)) | exp | (1 << (m - 1)),
    ]
    rng = random.Random(20240 + w)
    for _ in range(120):
        out.append(rng.getrandbits(w))
    for _ in range(120):  # values near integers and near the 2^m boundary
        scale = rng.choice([1.0, 10.0, 1e3, big / 4, big])
        v = rng.uniform(-scale, scale)
        out.append(bits(v if t == "f64" else struct.unpack("<f", struct.pack("<f", v))[0]))
    return out


def _wat(inputs: dict[str, list[int]]) -> str:
    """The module: inputs in a data segment, results as hex lines through fd_write."""
    n32, n64 = len(inputs["f32"]), len(inputs["f64"])
    data = b"".join(struct.pack("<I", b) for b in inputs["f32"])
    data += b"".join(struct.pack("<Q", b) for b in inputs["f64"])
    out_base = 16 + len(data)
    data_text = "".join(f"\\{c:02x}" for c in data)
    applies = []
    for t in ("f32", "f64"):
        size, n = (4, n32) if t == "f32" else (8, n64)
        base = 16 if t == "f32" else 16 + 4 * n32
        for op in OPS:
            addr = f"(i32.add (i32.const {base}) (i32.mul (local.get $i) (i32.const {size})))"
            x = f"({t}.load {addr})"
            bits = (
                f"(i64.extend_i32_u (i32.reinterpret_f32 (f32.{op} {x})))"
                if t == "f32"
                else f"(i64.reinterpret_f64 (f64.{op} {x}))"
            )
            applies.append(f"""
    (local.set $i (i32.const 0))
    (block $done (loop $next
      (br_if $done (i32.ge_u (local.get $i) (i32.const {n})))
      (local.set $p (call $hex {bits} (i32.const {2 * size}) (local.get $p)))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $next)))""")
    return f"""(module
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 4)
  (data (i32.const 16) "{data_text}")
  ;; writes the low `digits` hex digits of v and a newline at p; returns the next p
  (func $hex (param $v i64) (param $digits i32) (param $p i32) (result i32) (local $d i32)
    (loop $l
      (local.set $digits (i32.sub (local.get $digits) (i32.const 1)))
      (local.set $d (i32.wrap_i64 (i64.and (i64.shr_u (local.get $v)
        (i64.extend_i32_u (i32.mul (local.get $digits) (i32.const 4)))) (i64.const 15))))
      (i32.store8 (local.get $p) (i32.add (local.get $d)
        (select (i32.const 48) (i32.const 87) (i32.lt_u (local.get $d) (i32.const 10)))))
      (local.set $p (i32.add (local.get $p) (i32.const 1)))
      (br_if $l (local.get $digits)))
    (i32.store8 (local.get $p) (i32.const 10))
    (i32.add (local.get $p) (i32.const 1)))
  (func (export "_start") (local $i i32) (local $p i32)
    (local.set $p (i32.const {out_base}))
    {"".join(applies)}
    (i32.store (i32.const 0) (i32.const {out_base}))
    (i32.store (i32.const 4) (i32.sub (local.get $p) (i32.const {out_base})))
    (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))))
"""


@pytest.fixture(scope="module")
def program(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[tuple], str]:
    """(module path, (type, op, input bits) per output line, wasmtime's stdout)."""
    wasmtime = pytest.importorskip("wasmtime")
    inputs = {t: _inputs(t) for t in ("f32", "f64")}
    folder = tmp_path_factory.mktemp("rounding")
    path = folder / "rounding.wasm"
    path.write_bytes(bytes(wasmtime.wat2wasm(_wat(inputs))))
    lines = [(t, op, x) for t in ("f32", "f64") for op in OPS for x in inputs[t]]
    return path, lines, wasmtime_stdout(path, folder)


def _differences(lines: list[tuple], want_text: str, got_text: str) -> list[str]:
    want, got = want_text.split(), got_text.split()
    if len(got) != len(want):
        return [f"{len(got)} results, wasmtime printed {len(want)}"]
    bad = []
    for (t, op, x), w_hex, g_hex in zip(lines, want, got, strict=True):
        w, g, m = int(w_hex, 16), int(g_hex, 16), _MANT[t]
        exp = ((1 << (_WIDTH[t] - m - 1)) - 1) << m
        payload = (1 << m) - 1
        if w & exp == exp and w & payload:  # wasmtime gave a NaN: ours must be arithmetic
            canonical_in = x & exp == exp and x & payload == 1 << (m - 1)
            ok = (
                g & exp == exp
                and g & (1 << (m - 1))
                and (not canonical_in or g & payload == 1 << (m - 1))
            )
        else:
            ok = w == g
        if not ok:
            bad.append(f"{t}.{op}({x:#x}): wasmtime {w:#x}, ours {g:#x}")
    return bad


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("target", TARGETS)
def test_rounding_matches_wasmtime(
    target: str, backend: str, program: tuple, tmp_path: Path
) -> None:
    need_target(target)
    path, lines, want = program
    image = tmp_path / f"rounding-{backend}.img"
    proc = wasmkiln("build", str(path), "--target", target, "--backend", backend, "-o", str(image))
    assert proc.returncode == 0, proc.stderr
    proc = wasmkiln("run", str(image))
    assert proc.returncode == 0, proc.stderr
    bad = _differences(lines, want, proc.stdout)
    assert not bad, f"{len(bad)} of {len(lines)} differ:\n" + "\n".join(bad[:30])
    assert len(lines) > 1000


@pytest.mark.parametrize("backend", BACKENDS)
def test_code_needs_no_libm(backend: str, program: tuple, tmp_path: Path) -> None:
    """The objects reference nothing but their own functions: no libcall can reach the link."""
    import shutil
    import subprocess

    from wasmkiln.bridge.codegen import generate
    from wasmkiln.bridge.decode import decode

    nm = shutil.which("nm")
    if nm is None:
        pytest.skip("nm (binutils) is needed to list undefined symbols")
    module = decode(program[0].read_bytes())
    undefined = set()
    for i, code in enumerate(generate(module, backend, jobs=1)):
        obj = tmp_path / f"code{i}.o"
        obj.write_bytes(code)
        out = subprocess.run([nm, "-u", str(obj)], capture_output=True, text=True, check=True)
        undefined |= {line.split()[-1] for line in out.stdout.splitlines() if line.strip()}
    assert not {s for s in undefined if not s.startswith("wk_func_")}, undefined
