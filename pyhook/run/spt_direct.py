"""Starting an x86_64-spt image with little more than os: `wasmkiln run IMAGE`'s quick start.

A built spt image is a static Linux program that starts in ~1 ms, while the full CLI (argparse
with every command's parser, dataclasses, which imports inspect, pathlib, subprocess, the
compiler's profiles and targets) costs tens of milliseconds before it. cli/entry.py hands an spt
image here when the command line has only the options it takes (--env, -p/--publish, --listen);
the image is started as runner.run_spt would start it: the same argv, the same exit code, the
same one-line error when the guest dies of a signal (guest_death, which run_spt uses too).
Ports go through the code the runner uses (run/portspec.py: parse_forwards, which
NetOptions.parse calls, bind_host_listeners, which runner._host_listeners calls, spt_host_args),
so -p and --listen cannot mean something else here; socket is loaded only when there are
ports. Whatever this module would refuse (a bad option value, a taken port, an image that needs
passt, a CPU level) it leaves to the full CLI, which says why.
"""

from __future__ import annotations

import os
import sys


def plain_info(image: str, target: str) -> dict | None:
    """The build info of an image for `target` the quick start can run, else None (another
    target, a CPU level to check (runner.check_cpu), or not an image at all). Recorded ports
    are fine: the quick start publishes them as the full CLI does."""
    from ..image.infojson import read_image_info

    info = read_image_info(image)
    if info is None or info.get("target") != target or info.get("cpu"):
        return None
    return info


def plain_spt_info(image: str) -> dict | None:
    """plain_info of an x86_64-spt image."""
    return plain_info(image, "x86_64-spt")


def quick_run_of(
    image: str, target: str, env: list[str], publish: list[str], listen: list[str]
) -> tuple[dict, list[str], list[str]] | None:
    """(plain_info, -p specs, --listen specs) of a quick run of `image` on `target`, the
    image's recorded ports when the run names none, as cmd_run takes them; None for what only
    the full CLI runs: no plain image of `target`, an --env without "=" ("--env takes
    KEY=VALUE")."""
    info = plain_info(image, target)
    if info is None or any("=" not in e for e in env):
        return None
    if not publish and not listen:  # the run names no port: the image's recorded ones
        return info, list(info.get("publish", ())), list(info.get("listen", ()))
    return info, publish, listen


def quick_spt_run(
    image: str, env: list[str], publish: list[str], listen: list[str], args: list[str]
) -> int | None:
    """`wasmkiln run [--env E]... [-p P]... [--listen L]... IMAGE -- ARGS` of an spt image, as
    cli/main.py's cmd_run and runner.run_spt do it: the guest's exit code, or None when the
    full CLI must run it (and then gives any error)."""
    run = quick_run_of(image, "x86_64-spt", env, publish, listen)
    if run is None:
        return None
    info, publish, listen = run
    argv = ["--die-with-parent"]
    for e in env:
        argv += ["--env", e]
    fds: list[int] = []
    if publish or listen:
        # runner.spt_net_backend with no NIC option and --net-backend auto: the host's own
        # sockets, for a module that opens its own as well (its bind takes the listener).
        # cmd_run's _check_network refuses ports for an image linked without networking.
        if info.get("network", True) is False:
            return None
        from .portspec import NetOptionError, bind_host_listeners, parse_forwards, spt_host_args

        try:
            forwards = parse_forwards(publish, listen)
            fds = bind_host_listeners(forwards)
        except NetOptionError:
            return None
        argv += spt_host_args(forwards, fds)
    try:
        return run_plain_spt(image, args, argv, fds)
    finally:
        for fd in fds:
            os.close(fd)


def run_plain_spt(
    image: str, args: list[str], options: list[str] | None = None, fds: list[int] | None = None
) -> int | None:
    """Run the image with the spt process's `options` (run_spt's argv between the image and
    `--`; default: --die-with-parent) and guest arguments `args`, handing it descriptors `fds`:
    the exit code (128 + N, with guest_death's line, when signal N ended it); None when it could
    not be started (the full CLI then says why)."""
    sys.stdout.flush()
    sys.stderr.flush()
    path = os.path.abspath(image)  # a bare name would be looked up on PATH
    pid = spawn([path, *(options or ["--die-with-parent"]), "--", *args], tuple(fds or ()))
    if pid is None:
        return None
    try:
        _, status = os.waitpid(pid, 0)
    except KeyboardInterrupt:  # the guest got the terminal's SIGINT too; make sure it ends
        kill_reaped(pid)
        return 130
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        print(f"wasmkiln: error: {guest_death(sig)}", file=sys.stderr)
        return 128 + sig
    return os.waitstatus_to_exitcode(status)


def spawn(argv: list[str], fds: tuple[int, ...], stdin_null: bool = False) -> int | None:
    """posix_spawn (vfork) of `argv` (a name without "/" looked up on PATH) handed `fds`, stdin
    from /dev/null when `stdin_null`: its pid, or None when it cannot be started. The quick
    starts' one launch (QEMU for kvm, the image for spt). Python ignores SIGPIPE and SIGXFSZ;
    subprocess gives its children the defaults back (restore_signals), so a guest writing to a
    closed pipe dies of SIGPIPE there: here too."""
    import signal

    actions = [(os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0)] if stdin_null else []
    for fd in fds:
        os.set_inheritable(fd, True)
    try:
        return os.posix_spawnp(
            argv[0],
            argv,
            os.environ,
            file_actions=actions,
            setsigdef=(signal.SIGPIPE, signal.SIGXFSZ),
        )
    except OSError:
        return None
    finally:
        for fd in fds:
            os.set_inheritable(fd, False)


def kill_reaped(pid: int) -> None:
    """After a ^C (the child got the terminal's SIGINT too): child `pid` killed and reaped, so
    nothing is left running."""
    os.kill(pid, 9)
    os.waitpid(pid, 0)


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
