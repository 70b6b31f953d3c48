"""Build hooks end to end, as users run them: pip and CMake (issue 7's "done means").

- examples/pyproject-app: a wasmkiln wheel is built from this checkout (`pip wheel REPO`), put
  in a folder with setuptools; in a fresh venv `pip wheel --no-index --find-links DIR` builds
  the app with build isolation (the backend comes from DIR, like from PyPI), the wheel must
  carry the images, and after installing it, `app-serve` must boot one and print the greeting.
- examples/cmake-app: configure + build with Ninja gives images that boot; a second build does
  nothing; touching the C source rebuilds the module and the images.

Both copy the example to a temporary folder first, so the checkout is never written to.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import zipfile
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parent.parent
EXAMPLES = REPO / "examples"
BIN = Path(sys.executable).parent

pytestmark = pytest.mark.slow


def _run(cmd: list[str], timeout: float = 300, **kw: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, **kw)


def _need(tool: str, package: str) -> None:
    if shutil.which(tool) is None:
        pytest.skip(f"{tool} (Debian: {package}) is not installed")


def _copy_example(name: str, dest: Path) -> Path:
    ignore = shutil.ignore_patterns("target", "build", "*.egg-info", "__pycache__")
    return Path(shutil.copytree(EXAMPLES / name, dest / name, ignore=ignore))


# ---- pip -----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def wheelhouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder with a wasmkiln wheel of this checkout, its dependencies, and setuptools."""
    house = tmp_path_factory.mktemp("wheelhouse")
    build_dir = tmp_path_factory.mktemp("wasmkiln-build")
    proc = _run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "-q",
            str(REPO),
            "-w",
            str(house),
            "-C",
            f"build-dir={build_dir}",
        ]
    )
    assert proc.returncode == 0, f"pip wheel of wasmkiln failed:\n{proc.stdout}\n{proc.stderr}"
    proc = _run(
        [sys.executable, "-m", "pip", "download", "-q", "setuptools>=61", "wheel", "-d", str(house)]
    )
    if proc.returncode != 0:
        pytest.skip(f"cannot download setuptools into the wheelhouse (offline?): {proc.stderr}")
    return house


@pytest.fixture(scope="module")
def fresh_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    venv = tmp_path_factory.mktemp("venv") / "v"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    return venv


def _pip(venv: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    env.pop("PIP_FIND_LINKS", None)  # --no-index --find-links DIR must be all pip sees
    return _run([str(venv / "bin" / "python"), "-m", "pip", *args], env=env)


def test_pyproject_app_wheel_carries_a_bootable_image(
    tmp_path: Path, wheelhouse: Path, fresh_venv: Path
) -> None:
    _need("clang-14", "clang-14, lld-14, wasi-libc, libclang-rt-14-dev-wasm32")
    _need("qemu-system-x86_64", "qemu-system-x86")
    app = _copy_example("pyproject-app", tmp_path)
    out = tmp_path / "dist"
    proc = _pip(
        fresh_venv,
        "wheel",
        "-v",
        "--no-deps",
        "--no-index",
        "--find-links",
        str(wheelhouse),
        str(app),
        "-w",
        str(out),
    )
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr
    (wheel,) = out.glob("pyproject_app-*.whl")
    assert wheel.name.endswith("-py3-none-linux_x86_64.whl")  # it holds an spt process image
    names = zipfile.ZipFile(wheel).namelist()
    assert "pyproject_app_images/greeter.x86_64-kvm.img" in names
    assert "pyproject_app_images/greeter.x86_64-spt.spt" in names
    entry_points = zipfile.ZipFile(wheel).read("pyproject_app-0.1.0.dist-info/entry_points.txt")
    assert b"app-serve = pyproject_app_images:main_greeter" in entry_points

    proc = _pip(
        fresh_venv, "install", "-q", "--no-index", "--find-links", str(wheelhouse), str(wheel)
    )
    assert proc.returncode == 0, proc.stderr
    serve = fresh_venv / "bin" / "app-serve"
    run = _run([str(serve), "alice"], timeout=60)  # x86_64-kvm: boots under QEMU
    assert run.returncode == 0, run.stderr
    assert run.stdout == "Hello from pyproject-app: from the wheel alice\n"
    run = _run([str(serve), "bob"], timeout=60, env={**os.environ, "WASMKILN_TARGET": "x86_64-spt"})
    assert run.stdout == "Hello from pyproject-app: from the wheel bob\n", run.stderr


def test_pyproject_app_manifest_typo_fails_cleanly(
    tmp_path: Path, wheelhouse: Path, fresh_venv: Path
) -> None:
    app = _copy_example("pyproject-app", tmp_path)
    pyproject = app / "pyproject.toml"
    lines = pyproject.read_text().splitlines()
    at = next(i for i, line in enumerate(lines) if line.startswith("inputs ="))
    lines[at] = lines[at].replace("inputs", "input", 1)
    pyproject.write_text("\n".join(lines) + "\n")
    proc = _pip(
        fresh_venv,
        "wheel",
        "--no-deps",
        "--no-index",
        "--find-links",
        str(wheelhouse),
        str(app),
        "-w",
        str(tmp_path / "dist"),
    )
    assert proc.returncode != 0
    output = proc.stdout + proc.stderr
    assert f"pyproject.toml:{at + 1}: unknown key 'input'" in output, output
    assert "did you mean 'inputs'?" in output and "Traceback" not in output


# ---- CMake ---------------------------------------------------------------------------------
def test_cmake_app_builds_boots_and_rebuilds_incrementally(tmp_path: Path) -> None:
    _need("cmake", "cmake")
    _need("ninja", "ninja-build")
    _need("clang-14", "clang-14, lld-14, wasi-libc, libclang-rt-14-dev-wasm32")
    _need("qemu-system-x86_64", "qemu-system-x86")
    if not (BIN / "wasmkiln").is_file():
        pytest.skip(f"no wasmkiln command next to {sys.executable} (pip install -e . first)")
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
    src = _copy_example("cmake-app", tmp_path)
    build = tmp_path / "build"
    proc = _run(["cmake", "-S", str(src), "-B", str(build), "-G", "Ninja"], env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    proc = _run(["cmake", "--build", str(build)], env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    image, spt = build / "hello-image.img", build / "hello-spt.spt"
    assert (build / "hello.wasm").is_file() and image.is_file() and spt.is_file()

    run = _run([str(BIN / "wasmkiln"), "run", str(image), "--", "alice", "bob"], timeout=60)
    assert run.returncode == 0, run.stderr
    assert run.stdout == ("hello from cmake-app, alice!\nhello from cmake-app, bob!\ngreeted 2\n")
    run = _run([str(spt), "--", "carol"], timeout=60)
    assert run.stdout == "hello from cmake-app, carol!\ngreeted 1\n", run.stderr

    before = image.stat().st_mtime_ns
    proc = _run(["cmake", "--build", str(build)], env=env)
    assert "no work to do" in proc.stdout, proc.stdout
    assert image.stat().st_mtime_ns == before

    time.sleep(0.01)
    (src / "hello.c").touch()
    proc = _run(["cmake", "--build", str(build)], env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "wasmkiln: image hello-image" in proc.stdout, proc.stdout
    assert image.stat().st_mtime_ns != before


def test_cmake_unknown_target_fails_at_configure(tmp_path: Path) -> None:
    _need("cmake", "cmake")
    _need("ninja", "ninja-build")
    if not (BIN / "wasmkiln").is_file():
        pytest.skip(f"no wasmkiln command next to {sys.executable}")
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
    wasm = tmp_path / "m.wasm"
    wasm.write_bytes(b"\0asm\1\0\0\0")
    (tmp_path / "CMakeLists.txt").write_text(
        "cmake_minimum_required(VERSION 3.20)\nproject(t NONE)\n"
        "find_package(wasmkiln CONFIG REQUIRED)\n"
        "wasmkiln_add_image(img WASM m.wasm TARGET mips-kvm)\n"
    )
    proc = _run(
        [
            "cmake",
            "-S",
            str(tmp_path),
            "-B",
            str(tmp_path / "b"),
            "-G",
            "Ninja",
            f"-Dwasmkiln_DIR={_run([str(BIN / 'wasmkiln'), 'cmake-dir']).stdout.strip()}",
        ],
        env=env,
    )
    assert proc.returncode != 0
    assert "unknown target 'mips-kvm'" in proc.stderr, proc.stderr
