"""The embedded default example is our own WAT, and the shipped binary matches it."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parent.parent / "pyhook" / "examples"


def test_hello_wasm_is_built_from_hello_wat(tmp_path: Path) -> None:
    if shutil.which("wat2wasm") is None:
        pytest.skip("wat2wasm (Debian: wabt) is not installed")
    out = tmp_path / "hello.wasm"
    subprocess.run(["wat2wasm", str(EXAMPLES / "hello.wat"), "-o", str(out)], check=True)
    assert out.read_bytes() == (EXAMPLES / "hello.wasm").read_bytes(), (
        "pyhook/examples/hello.wasm is stale: run "
        "`wat2wasm pyhook/examples/hello.wat -o pyhook/examples/hello.wasm`"
    )
