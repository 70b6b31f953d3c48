"""The wasi-testsuite (wasm32-wasip1: C, Rust, AssemblyScript) on every target.

The runner is tests/wasi/suite.py (also usable by hand). Each target builds every test once
(cached in tests/.cache/wasi/) and prints one table with its totals; the assertion is that
every test passes except the known failures listed, with their reasons, in
suite.KNOWN_FAILURES. The kvm half boots each test under QEMU TCG. From a cold cache both
targets together take about 2.5 minutes on 2 cores, so both carry the `slow` mark (CI runs
them; `-m "not slow"` leaves them out locally); with the cache warm, well under a minute.
"""

from __future__ import annotations

import shutil

import pytest
from wasi import suite

from wasmkiln.pyhook.image.targets import TARGETS as TARGETS_BY_NAME
from wasmkiln.pyhook.image.targets import runtime_built

TARGETS = [
    pytest.param("x86_64-spt", id="x86_64-spt", marks=pytest.mark.slow),
    pytest.param("x86_64-kvm", id="x86_64-kvm", marks=pytest.mark.slow),
    pytest.param("aarch64-kvm", id="aarch64-kvm", marks=pytest.mark.slow),
]
QEMU = {
    "x86_64": ("qemu-system-x86_64", "qemu-system-x86"),
    "aarch64": ("qemu-system-aarch64", "qemu-system-arm"),
}


@pytest.mark.parametrize("target", TARGETS)
def test_wasi_testsuite(target: str, capsys: pytest.CaptureFixture[str]) -> None:
    if not suite.SUITE_DIR.is_dir():
        pytest.skip(f"no wasi-testsuite at {suite.SUITE_DIR} (the shared test data)")
    qemu, package = QEMU[target.split("-")[0]]
    if target.endswith("-kvm") and shutil.which(qemu) is None:
        pytest.skip(f"{qemu} is not installed (Debian: {package})")
    if not runtime_built(TARGETS_BY_NAME[target]):
        pytest.skip(f"the {target} runtime was not built (Debian: gcc-aarch64-linux-gnu)")
    tests = suite.discover()
    assert len(tests) >= 70, "the suite folder looks incomplete"
    results = suite.run_suite(target, tests)
    with capsys.disabled():
        print("\n" + suite.table(results))
    unexpected = [
        f"{r.test.name}: {r.why}"
        for r in results
        if not r.passed and r.test.name not in suite.KNOWN_FAILURES
    ]
    fixed = [r.test.name for r in results if r.passed and r.test.name in suite.KNOWN_FAILURES]
    assert not unexpected, "unexpected failures:\n" + "\n".join(unexpected)
    assert not fixed, f"known failures that now pass (remove them from the list): {fixed}"
