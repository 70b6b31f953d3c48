"""The `wasmkiln` command's entry point. `wasmkiln run [OPTIONS] IMAGE [-- ARGS...]` of an
x86_64-spt image (run/spt_direct.py) or an x86_64-kvm one (run/kvm_direct.py) starts it from
here without loading the rest of the CLI when OPTIONS are only the common ones the quick start
takes (--env, -p/--publish, --listen): the spt image starts in ~1 ms, the full CLI's imports
take tens. Every other command line, and
anything the quick start cannot run or finds wrong, goes to cli/main.py, which also gives
every error message (the quick start never says why it declined: the full CLI does)."""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    code = _quick_run(argv)
    if code is not None:
        return code
    from .main import main as full

    return full(argv)


QUICK_OPTIONS = {"--env": "env", "-p": "publish", "--publish": "publish", "--listen": "listen"}
"""The `run` options the quick start takes (their spellings in cli/main.py's parser), each
meaning what it means there: the values go to the same code (run/spt_direct.py)."""


def quick_options(argv: list[str]) -> tuple[str, dict[str, list[str]], list[str]] | None:
    """`run [OPTIONS] IMAGE [-- ARGS]` split into (IMAGE, {"env"|"publish"|"listen": values},
    ARGS), or None for any other shape: another option, an option after IMAGE or an abbreviated
    one, a value that looks like an option (argparse's cases; the full CLI handles them)."""
    if len(argv) < 2 or argv[0] != "run":
        return None
    values: dict[str, list[str]] = {"env": [], "publish": [], "listen": []}
    i = 1
    while i < len(argv) and argv[i].startswith("-"):
        flag, eq, value = argv[i].partition("=")
        name = QUICK_OPTIONS.get(flag)
        if name is None:
            return None
        if not eq:
            i += 1
            if i == len(argv) or argv[i].startswith("-"):
                return None
            value = argv[i]
        values[name].append(value)
        i += 1
    if i == len(argv) or (i + 1 < len(argv) and argv[i + 1] != "--"):
        return None
    return argv[i], values, argv[i + 2 :]


def _quick_run(argv: list[str]) -> int | None:
    """The guest's exit code for a command line and an spt or kvm image the quick start takes,
    else None (the full CLI runs it)."""
    split = quick_options(argv)
    if split is None:
        return None
    from ..image.infojson import read_image_info

    image, values, args = split
    target = (read_image_info(image) or {}).get("target")
    if target == "x86_64-spt":
        from ..run.spt_direct import quick_spt_run as quick
    elif target == "x86_64-kvm":
        from ..run.kvm_direct import quick_kvm_run as quick
    else:
        return None
    return quick(image, values["env"], values["publish"], values["listen"], args)


if __name__ == "__main__":
    sys.exit(main())
