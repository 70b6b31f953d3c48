"""Run every fixture case in wasmtime: the expectations table checked against an outside runtime.

If this file fails, the table in conftest.py (or a fixture program) is wrong, not wasmkiln: the
wasmkiln runner tests reuse the same table, so it has to be right first.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from guest_programs import FIXTURE_CASES, FixtureCase

wasmtime = pytest.importorskip("wasmtime", reason="the wasmtime package is in the [test] extra")


class Outcome:
    """What one run produced: stdout, the exit code (None on a trap) and the trap message."""

    def __init__(self, stdout: str, exit_code: int | None, trap: str | None) -> None:
        self.stdout = stdout
        self.exit_code = exit_code
        self.trap = trap


def run_in_wasmtime(module_path: Path, case: FixtureCase, tmp_path: Path) -> Outcome:
    """Run ``module_path`` with the case's argv and env, inheriting nothing from this process."""
    engine = wasmtime.Engine()
    module = wasmtime.Module.from_file(engine, str(module_path))
    linker = wasmtime.Linker(engine)
    linker.define_wasi()
    stdout_path = tmp_path / "stdout"
    wasi = wasmtime.WasiConfig()
    wasi.argv = [case.fixture, *case.args]
    wasi.env = list(case.env.items())
    wasi.stdout_file = str(stdout_path)
    wasi.stderr_file = str(tmp_path / "stderr")
    store = wasmtime.Store(engine)
    store.set_wasi(wasi)
    instance = linker.instantiate(store, module)
    start = instance.exports(store)["_start"]
    exit_code: int | None = 0
    trap: str | None = None
    try:
        start(store)
    except wasmtime.ExitTrap as exc:
        exit_code = exc.code
    except wasmtime.Trap as exc:
        exit_code, trap = None, exc.message
    return Outcome(stdout_path.read_text(), exit_code, trap)


@pytest.mark.parametrize("case", FIXTURE_CASES, ids=lambda case: case.id)
def test_fixture_in_wasmtime(
    case: FixtureCase, wasm_fixture: Callable[[str], Path], tmp_path: Path
) -> None:
    outcome = run_in_wasmtime(wasm_fixture(case.fixture), case, tmp_path)
    assert outcome.stdout == case.stdout
    assert outcome.exit_code == case.exit_code
    if case.trap is None:
        assert outcome.trap is None
    else:
        assert outcome.trap is not None and case.trap in outcome.trap


def test_every_fixture_has_a_case() -> None:
    """A fixture program without an expectation would never be run by any runner's tests."""
    sources = {p.stem for p in Path(__file__).parent.joinpath("fixtures").glob("*.c")}
    # reactor.c has no _start: test_reactor.py builds it with --invoke and checks it
    assert sources - {"reactor"} == {case.fixture for case in FIXTURE_CASES}
