"""End to end: each fixture built into an image and run through the CLI, on every target
(aarch64-kvm cross-built, booted by qemu-system-aarch64; `slow`).

Expectations come from conftest.FIXTURE_CASES, which test_fixtures_wasmtime.py pins
against wasmtime. The kvm target boots under QEMU with TCG (see DESIGN.md: /dev/kvm
here is a software PVM).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from guest_programs import FIXTURE_CASES, FixtureCase, compile_fixture
from wkcli import assert_ran, need_target, wasmkiln

TARGETS = ["x86_64-spt", "x86_64-kvm", pytest.param("aarch64-kvm", marks=pytest.mark.slow)]


@pytest.fixture(scope="module")
def images(tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[str, str], Path]:
    """Images are built lazily, once per (fixture, target)."""
    return {}


def _image(images: dict, tmp: Path, fixture: str, target: str) -> Path:
    key = (fixture, target)
    if key not in images:
        wasm = compile_fixture(fixture)
        out = tmp / f"{fixture}-{target}.img"
        proc = wasmkiln("build", str(wasm), "--target", target, "-o", str(out))
        assert proc.returncode == 0, proc.stderr
        assert "built" in proc.stderr
        images[key] = out
    return images[key]


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("case", FIXTURE_CASES, ids=lambda c: c.id)
def test_fixture(
    case: FixtureCase, target: str, images: dict, tmp_path_factory: pytest.TempPathFactory
) -> None:
    need_target(target)
    image = _image(images, tmp_path_factory.getbasetemp(), case.fixture, target)
    env_flags = [f"--env={k}={v}" for k, v in case.env.items()]
    proc = wasmkiln("run", *env_flags, str(image), "--", *case.args)
    assert_ran(proc, case.stdout, case.exit_code, case.trap)


@pytest.mark.parametrize("target", TARGETS)
def test_run_module_directly_builds_to_cache(target: str, tmp_path: Path) -> None:
    need_target(target)
    wasm = compile_fixture("hello")
    env = {"XDG_CACHE_HOME": str(tmp_path)}
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "wasmkiln.pyhook.cli.main",
            "run",
            "--target",
            target,
            "--env",
            "GREETING=hi",
            str(wasm),
            "--",
            "alice",
            "bob",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env={**__import__("os").environ, **env},
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "hello, alice!\nhello, bob!\nhi\n"
    assert list((tmp_path / "wasmkiln" / "images").iterdir()), "no cached image"


def test_default_example_runs() -> None:
    need_target("x86_64-kvm")
    proc = wasmkiln("run")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "Hello from a wasmkiln unikernel.\nhello, world!\n"


@pytest.mark.parametrize("target", TARGETS)
def test_output_appends_to_a_regular_file(
    target: str, images: dict, tmp_path_factory: pytest.TempPathFactory, tmp_path: Path
) -> None:
    """`wasmkiln run img > file` with the caller writing around it (a shell script, CI
    logs): the guest's output lands between the caller's lines, nothing overwritten."""
    need_target(target)
    image = _image(images, tmp_path_factory.getbasetemp(), "hello", target)
    out = tmp_path / "out.txt"
    with out.open("w") as f:  # no O_APPEND: the caller's own offset must stay shared
        f.write("before\n")
        f.flush()
        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                "wasmkiln.pyhook.cli.main",
                "run",
                str(image),
                "--env",
                "GREETING=hi",
                "--",
                "x",
            ],
            stdout=f,
            stderr=subprocess.PIPE,
            text=True,
            timeout=120,
        )
        f.write("after\n")
    assert proc.returncode == 0, proc.stderr
    assert out.read_text() == "before\nhello, x!\nhi\nafter\n"
