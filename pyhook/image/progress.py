"""A one-line progress report for long builds, on a terminal only.

A build of a large module (python.wasm: minutes) says how far it is; a small one, a build whose
stderr is not a terminal (CI logs, tests, `wasmkiln run` output captured by a program), stays
quiet. The line appears only once a build has taken DELAY seconds, is redrawn at most every
INTERVAL seconds, and is erased at the end, so a finished build leaves only its usual summary.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TextIO

DELAY = 2.0  # seconds before the line first appears
INTERVAL = 0.25  # seconds between redraws


class TerminalProgress:
    """bridge.parallel.Progress for one build's compile step, and the steps after it (`step`)."""

    def __init__(self, name: str, stream: TextIO | None = None) -> None:
        self.name = name
        self.stream = stream or sys.stderr
        self.start = time.monotonic()
        self.last = 0.0
        self.shown = False

    def __call__(self, done: int, funcs: int, weight_done: int, weight: int) -> None:
        pct = 100 * weight_done // max(weight, 1)
        self._draw(f"compiling {self.name}: {pct}% ({done}/{funcs} functions)")

    def step(self, what: str) -> None:
        """A step after compiling (linking, ...), shown on the same line."""
        self._draw(f"{what} {self.name}")

    def _draw(self, text: str) -> None:
        now = time.monotonic()
        elapsed = now - self.start
        if elapsed < DELAY or now - self.last < INTERVAL:
            return
        self.last = now
        self.stream.write(f"\r\x1b[K{text}, {elapsed:.0f} s")
        self.stream.flush()
        self.shown = True

    def close(self) -> None:
        """Erase the line (if it was ever drawn)."""
        if self.shown:
            self.stream.write("\r\x1b[K")
            self.stream.flush()
            self.shown = False


@contextmanager
def terminal_progress(name: str) -> Iterator[TerminalProgress | None]:
    """A reporter while the block runs when stderr is a terminal, else None (quiet); its line
    is erased as the block is left, however it is left."""
    if not sys.stderr.isatty():
        yield None
        return
    progress = TerminalProgress(name)
    try:
        yield progress
    finally:
        progress.close()
