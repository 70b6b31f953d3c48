"""PolyBench/C kernels (../shared/testdata/polybench): external truth for the compiler.

Each kernel dumps its arrays to stderr; the dump must match, byte for byte, the one
recorded with the reference toolchain. All 30 run on both targets; on the kvm target (QEMU
TCG, about a second each) all but a sample carry the `slow` mark.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from wkcli import wasmkiln

DATA = Path(__file__).resolve().parent.parent.parent / "shared" / "testdata" / "polybench"
KERNELS = sorted(p.stem for p in DATA.glob("*.wasm")) if DATA.is_dir() else []
KVM_SAMPLE = ["2mm", "cholesky", "durbin", "floyd-warshall", "nussinov"]


def _check(kernel: str, target: str, tmp_path: Path) -> None:
    if not KERNELS:
        pytest.skip(f"{DATA} is absent")
    if target.endswith("kvm") and shutil.which("qemu-system-x86_64") is None:
        pytest.skip("qemu-system-x86_64 is not installed")
    image = tmp_path / f"{kernel}.img"
    build = wasmkiln("build", str(DATA / f"{kernel}.wasm"), "--target", target, "-o", str(image))
    assert build.returncode == 0, build.stderr
    run = wasmkiln("run", str(image))
    assert run.returncode == 0, run.stderr[-2000:]
    expected = (DATA / f"{kernel}.stderr.expected").read_text()
    assert run.stderr == expected


@pytest.mark.parametrize("kernel", KERNELS or ["(none)"])
def test_polybench_spt(kernel: str, tmp_path: Path) -> None:
    _check(kernel, "x86_64-spt", tmp_path)


@pytest.mark.parametrize(
    "kernel",
    [k if k in KVM_SAMPLE else pytest.param(k, marks=pytest.mark.slow) for k in KERNELS]
    or ["(none)"],
)
def test_polybench_kvm(kernel: str, tmp_path: Path) -> None:
    _check(kernel, "x86_64-kvm", tmp_path)
