"""Starting a plain x86_64-spt image with nothing but os: `wasmkiln run IMAGE`'s quick start.

A built spt image is a static Linux program that starts in ~1 ms, while the full CLI (argparse
with every command's parser, dataclasses, which imports inspect, pathlib, subprocess, the
network options) costs tens of milliseconds before it. An image that needs nothing from the
runner (no recorded ports, no CPU level to check) and a command line with no option (cli/entry.py
decides) is started here as runner.run_spt would start it: the same argv, the same exit code, the
same one-line error when the guest dies of a signal (guest_death, which run_spt uses too).
"""

from __future__ import annotations

import os
import sys


def plain_spt_info(image: str) -> dict | None:
    """The build info of an x86_64-spt image that needs nothing from the runner, else None
    (another target, recorded ports, a CPU level, or not an image at all)."""
    from ..image.infojson import read_image_info

    info = read_image_info(image)
    if info is None or info.get("target") != "x86_64-spt":
        return None
    if info.get("publish") or info.get("listen") or info.get("cpu"):
        return None
    return info


def run_plain_spt(image: str, args: list[str]) -> int | None:
    """Run the image with guest arguments `args`, as run_spt does without options: the exit
    code (128 + N, with guest_death's line, when signal N ended it); None when it could not be
    started (the full CLI then says why)."""
    sys.stdout.flush()
    sys.stderr.flush()
    import signal

    path = os.path.abspath(image)  # a bare name would be looked up on PATH
    # Python ignores SIGPIPE and SIGXFSZ; subprocess gives its children the defaults back
    # (restore_signals), so a guest writing to a closed pipe dies of SIGPIPE there: here too.
    restore = (signal.SIGPIPE, signal.SIGXFSZ)
    try:
        pid = os.posix_spawn(
            path, [path, "--die-with-parent", "--", *args], os.environ, setsigdef=restore
        )
    except OSError:
        return None
    try:
        _, status = os.waitpid(pid, 0)
    except KeyboardInterrupt:  # the guest got the terminal's SIGINT too; make sure it ends
        os.kill(pid, 9)
        os.waitpid(pid, 0)
        return 130
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        print(f"wasmkiln: error: {guest_death(sig)}", file=sys.stderr)
        return 128 + sig
    return os.waitstatus_to_exitcode(status)


def guest_death(sig: int) -> str:
    """What `wasmkiln run` says when the spt process died of signal `sig` (SIGSYS: the
    seccomp filter killed it)."""
    import signal

    if sig == signal.SIGSYS:
        why = "the sandbox killed it (a forbidden system call)"
    else:
        try:
            why = f"it crashed ({signal.Signals(sig).name})"
        except ValueError:
            why = f"it crashed (signal {sig})"
    return f"the guest process died: {why}"
