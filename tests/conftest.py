"""Shared pytest fixtures. The guest programs and their expected behaviour: guest_programs.py."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from guest_programs import FIXTURE_CASES, FixtureCase, compile_fixture

__all__ = ["FIXTURE_CASES", "FixtureCase", "compile_fixture", "wasm_fixture"]


@pytest.fixture(scope="session")
def wasm_fixture() -> Callable[[str], Path]:
    """``wasm_fixture("hello")`` -> path of the compiled module (built once, then cached)."""
    return compile_fixture
