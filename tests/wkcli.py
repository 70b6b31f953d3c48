"""The `wasmkiln` command as the tests call it: one child process per call, and the checks of
what a run printed and how it ended, shared so every suite asserts a run the same way."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

TRAP_EXIT = 134
"""A guest trap's exit status on every target (the runtime's abort code)."""

CLI = [sys.executable, "-m", "wasmkiln.pyhook.cli"]
"""What users run: the console script's entry (cli/entry.py: the quick start of a plain
`run IMAGE`, else cli/main.py)."""

FULL_CLI = [sys.executable, "-m", "wasmkiln.pyhook.cli.main"]
"""The full CLI alone (no quick start): what a quick start's run is compared with."""


def quick_and_full(*args: str) -> tuple[subprocess.CompletedProcess[str], ...]:
    """The same command line through CLI (the quick start where it applies) and FULL_CLI."""
    return tuple(
        subprocess.run([*cli, *args], capture_output=True, text=True, timeout=120, check=False)
        for cli in (CLI, FULL_CLI)
    )


def built_fixture(name: str, target: str, out: Path, *flags: str) -> Path:
    """tests/fixtures/NAME.c built into an image for `target` at `out`."""
    from guest_programs import compile_fixture

    proc = wasmkiln("build", str(compile_fixture(name)), "--target", target, *flags, "-o", str(out))
    assert proc.returncode == 0, proc.stderr
    return out


def wasmkiln(
    *args: str,
    env: dict[str, str] | None = None,
    timeout: float = 600,
    cwd: Path | None = None,
) -> subprocess.CompletedProcess[str]:
    """The CLI in a child process; `env` adds to (or overrides) this process's environment."""
    return subprocess.run(
        [*CLI, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=cwd,
        env={**os.environ, **env} if env else None,
        check=False,
    )


def assert_ran(
    proc: subprocess.CompletedProcess[str],
    stdout: str,
    exit_code: int | None = 0,
    trap: str | None = None,
) -> None:
    """The run printed exactly `stdout` and exited with `exit_code`, or trapped with the
    message `trap` (wasmtime's wording) and the trap status."""
    assert proc.stdout == stdout, proc.stderr
    if trap is None:
        assert proc.returncode == exit_code, proc.stderr
    else:
        assert proc.returncode == TRAP_EXIT, proc.stderr
        assert "wasm trap: " in proc.stderr and trap in proc.stderr, proc.stderr


QEMU = {
    "x86_64-kvm": ("qemu-system-x86_64", "qemu-system-x86"),
    "aarch64-kvm": ("qemu-system-aarch64", "qemu-system-arm"),
}
"""The QEMU a kvm target boots under, and its Debian package."""


def need_target(target: str) -> None:
    """Skip, saying why, when `target` cannot run here: no QEMU, or its runtime not built."""
    from wasmkiln.pyhook.image.targets import TARGETS, runtime_built

    if target in QEMU and shutil.which(QEMU[target][0]) is None:
        pytest.skip(f"{QEMU[target][0]} is not installed (Debian: {QEMU[target][1]})")
    if not runtime_built(TARGETS[target]):
        pytest.skip(f"the {target} runtime was not built (Debian: gcc-aarch64-linux-gnu)")
