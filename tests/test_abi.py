"""The C side of the ABI must be generated from the Python side, and compile."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from wasmkiln.bridge import abi

ROOT = Path(__file__).resolve().parent.parent
INCLUDE = ROOT / "unikernel" / "include"


def test_layout_header_is_generated_from_abi_py() -> None:
    on_disk = (INCLUDE / "wk" / "abi_layout.h").read_text()
    assert on_disk == abi.render_layout_header(), (
        "unikernel/include/wk/abi_layout.h is stale: regenerate it with "
        "`python -m wasmkiln.bridge.abi > unikernel/include/wk/abi_layout.h`"
    )


def test_abi_header_static_asserts_hold(tmp_path: Path) -> None:
    cc = shutil.which("gcc") or shutil.which("cc")
    if cc is None:
        pytest.skip("no C compiler on PATH to check abi.h's static asserts")
    src = tmp_path / "check.c"
    src.write_text('#include "wk/abi.h"\nint wk_abi_check(void) { return WK_ABI_VERSION; }\n')
    proc = subprocess.run(
        [
            cc,
            "-std=c11",
            "-Wall",
            "-Wextra",
            "-Werror",
            f"-I{INCLUDE}",
            "-c",
            str(src),
            "-o",
            str(tmp_path / "check.o"),
        ],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr


def test_trap_codes_are_dense_and_have_messages() -> None:
    codes = sorted(int(t) for t in abi.Trap)
    assert codes == list(range(1, len(codes) + 1))
    assert set(abi.TRAP_MESSAGES) == set(abi.Trap)
