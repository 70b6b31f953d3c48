"""Every benchmark script still imports and parses its command line (issue 14's gates).

The benchmarks themselves run only on request (test_bench_smoke.py, WASMKILN_BENCH=1); this
runs in the default suite so that a changed signature in pyhook, benchlib or the test helpers
the scripts import cannot break one silently. Each script runs in a fresh interpreter: the
scripts put bench/ and tests/ on sys.path, where `http.py` would shadow the standard library's
`http` in this process.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parent.parent / "bench"
SCRIPTS = sorted(
    p for p in [*BENCH.glob("*.py"), *BENCH.glob("linuxvm/*.py")] if "__main__" in p.read_text()
)
LIBRARIES = sorted(
    p for p in [*BENCH.glob("*.py"), *BENCH.glob("linuxvm/*.py")] if p not in SCRIPTS
)


def _name(p: Path) -> str:
    return str(p.relative_to(BENCH))


def test_every_bench_file_is_covered() -> None:
    assert len(SCRIPTS) >= 8 and {_name(p) for p in LIBRARIES} >= {"benchlib.py"}


@pytest.mark.parametrize("script", SCRIPTS, ids=_name)
def test_script_help(script: Path) -> None:
    proc = subprocess.run(
        [sys.executable, str(script), "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=script.parent,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith(f"usage: {script.name}"), proc.stdout


@pytest.mark.parametrize("library", LIBRARIES, ids=_name)
def test_library_imports(library: Path) -> None:
    code = "import sys; sys.path.insert(0, sys.argv[1]); __import__(sys.argv[2])"
    proc = subprocess.run(
        [sys.executable, "-c", code, str(library.parent), library.stem],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=library.parent,
    )
    assert proc.returncode == 0, proc.stderr
