"""Real programs (../shared/testdata/real): bzip2, SQLite's speedtest1 and CoreMark.

They come prebuilt with their expected output (recorded by whoever built them, not here) and
import sightglass's `bench.start`/`bench.end` markers, which nothing provides: they run with
`--default-values-unknown-imports`, as under wasmtime. speedtest1 prints its timings, which
were recorded as 0.000s; they are the one part of its output compared by shape only.
CoreMark sizes its own run (about 10 s of work), so it is `slow` on both targets; it checks
its own results and says "Correct operation validated".
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

DATA = Path(__file__).resolve().parent.parent.parent / "shared" / "testdata" / "real"
# aarch64-kvm: cross-built, booted by qemu-system-aarch64 (TCG, emulating another ISA: slow).
TARGETS = ["x86_64-spt", "x86_64-kvm", pytest.param("aarch64-kvm", marks=pytest.mark.slow)]
QEMU = {"x86_64-kvm": "qemu-system-x86_64", "aarch64-kvm": "qemu-system-aarch64"}
_TIMING = re.compile(rb"\d+\.\d{3}s$", re.M)


def _run(program: str, target: str, tmp_path: Path) -> subprocess.CompletedProcess[bytes]:
    folder = DATA / program
    if not folder.is_dir():
        pytest.skip(f"{folder} is absent (the shared test data)")
    if target in QEMU and shutil.which(QEMU[target]) is None:
        pytest.skip(f"{QEMU[target]} is not installed")
    from wasmkiln.pyhook.image.targets import TARGETS as KNOWN
    from wasmkiln.pyhook.image.targets import runtime_built

    if not runtime_built(KNOWN[target]):
        pytest.skip(f"the {target} runtime was not built (apt-get install gcc-aarch64-linux-gnu)")
    image = tmp_path / f"{program}.img"
    cli = [sys.executable, "-m", "wasmkiln.pyhook.cli.main"]
    build = subprocess.run(
        [
            *cli,
            "build",
            str(folder / f"{program}.wasm"),
            "--target",
            target,
            "-o",
            str(image),
            "--default-values-unknown-imports",
            "--dir",
            f"{folder}::/",
        ],
        capture_output=True,
        timeout=600,
    )
    assert build.returncode == 0, build.stderr.decode()[-2000:]
    run = subprocess.run(
        [*cli, "run", str(image)], capture_output=True, timeout=600, stdin=subprocess.DEVNULL
    )
    assert run.returncode == 0, run.stderr.decode()[-2000:]
    return run


@pytest.mark.parametrize("target", TARGETS)
def test_bzip2(target: str, tmp_path: Path) -> None:
    run = _run("bz2", target, tmp_path)
    assert run.stdout == (DATA / "bz2" / "bz2.stdout.expected").read_bytes()


@pytest.mark.parametrize("target", TARGETS)
def test_sqlite_speedtest1(target: str, tmp_path: Path) -> None:
    run = _run("sqlite3", target, tmp_path)
    expected = (DATA / "sqlite3" / "sqlite3.stdout.expected").read_bytes()
    assert _TIMING.sub(b"0.000s", run.stdout) == expected


@pytest.mark.slow
@pytest.mark.parametrize("target", TARGETS)
def test_coremark(target: str, tmp_path: Path) -> None:
    run = _run("coremark", target, tmp_path)
    assert b"Correct operation validated." in run.stdout, run.stdout.decode()[-2000:]
