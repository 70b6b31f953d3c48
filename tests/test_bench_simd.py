"""bench/compute.py refuses a SIMD kernel whose .wasm lost its SIMD (issue 16 item 6).

Builds one kernel of bench/kernels/simd/ twice, with and without -msimd128, and asks
compute.py's own check about both: the SIMD build must hold v128 operations and pass, the
scalar one must be refused. compute.py runs in a fresh interpreter (bench/ on sys.path holds
an `http.py` that would hide the standard library's in this process).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parent.parent / "bench"
KERNEL = BENCH / "kernels" / "simd" / "dot.c"
CLANG = shutil.which("clang-14")

CHECK = """
import sys
from pathlib import Path
sys.path.insert(0, sys.argv[1])
import compute
from benchlib import BenchError
for wasm in sys.argv[2:]:
    row = compute.Row("simd/dot", "simd", Path(wasm))
    try:
        compute.check_simd(row)
        print(wasm, "ok", row.simd_ops)
    except BenchError as e:
        print(wasm, "refused", row.simd_ops, str(e).replace(" ", "_"))
"""


def _wasm(out: Path, flags: list[str]) -> Path:
    assert CLANG is not None
    obj = out.with_suffix(".o")
    for cmd in (
        [CLANG, "--target=wasm32-wasi", "-O2", *flags, "-c", "-o", str(obj), str(KERNEL)],
        [CLANG, "--target=wasm32-wasi", "-s", "-o", str(out), str(obj)],
    ):
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            pytest.skip(f"clang-14 cannot build for wasm32-wasi here: {proc.stderr[-300:]}")
    return out


@pytest.mark.skipif(CLANG is None, reason="clang-14 not found")
def test_simd_kernel_must_contain_v128(tmp_path: Path) -> None:
    simd = _wasm(tmp_path / "simd.wasm", ["-msimd128"])
    scalar = _wasm(tmp_path / "scalar.wasm", [])
    proc = subprocess.run(
        [sys.executable, "-c", CHECK, str(BENCH), str(simd), str(scalar)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    verdicts = {Path(line.split()[0]).stem: line.split()[1:] for line in proc.stdout.splitlines()}
    assert verdicts["simd"][0] == "ok" and int(verdicts["simd"][1]) > 0, verdicts
    assert verdicts["scalar"][:2] == ["refused", "0"], verdicts
    assert "lost_its_SIMD" in verdicts["scalar"][2]
