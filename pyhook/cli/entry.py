"""The `wasmkiln` command's entry point. `wasmkiln run IMAGE` and `wasmkiln run IMAGE -- ARGS...`
(no option) of a plain x86_64-spt image start it from here (run/spt_direct.py) without loading
the rest of the CLI: the image starts in ~1 ms, the full CLI's imports take tens. Every other
command line, and anything the quick start cannot run, goes to cli/main.py, which also gives
every error message."""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    code = _quick_run(argv)
    if code is not None:
        return code
    from .main import main as full

    return full(argv)


def _quick_run(argv: list[str]) -> int | None:
    """The guest's exit code for `run IMAGE [-- ARGS]` of a plain spt image, else None."""
    if len(argv) < 2 or argv[0] != "run" or argv[1].startswith("-"):
        return None
    if len(argv) > 2 and argv[2] != "--":
        return None
    from ..run.spt_direct import plain_spt_info, run_plain_spt

    if plain_spt_info(argv[1]) is None:
        return None
    return run_plain_spt(argv[1], argv[3:])


if __name__ == "__main__":
    sys.exit(main())
