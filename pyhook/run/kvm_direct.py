"""Starting an x86_64-kvm image with little more than os: `wasmkiln run IMAGE`'s quick start
for kvm images, as run/spt_direct.py is for spt ones.

The full CLI's imports (argparse, dataclasses with inspect, subprocess, pathlib, tempfile,
the compiler's profiles and targets) took ~30 ms of the ~60 ms that `wasmkiln run -p` added
to the first answer of a kvm guest (issue 13's target: at most 40). cli/entry.py hands a kvm
image here when the command line has only the options the quick start takes (--env,
-p/--publish, --listen); the run is the one runner.run_kvm makes of it, piece by piece from the
same code: QEMU's argv from qemulaunch.py (runner.qemu_command builds it there too), the
guest's memory from guestmem.memory_mb's sizing, the ports from portspec.parse_forwards, the
network on kvm's default back end (QEMU's slirp, the address layout of NetOptions.for_passt,
the listen backlog raised by slirp_backlog.py once QEMU listens), the exit code from the
control port and the same one-line error when there is none. QEMU starts by posix_spawn
(vfork) through setpriv for its death signal.

Whatever this module would refuse or cannot do the same way (a bad option value, an image
that needs more than sizing, no setpriv, a CPU level, no network in the runtime, another back
end) it leaves to the full CLI, which says why or runs it.
"""

from __future__ import annotations

import os
import sys

from . import qemulaunch as ql
from .spt_direct import kill_reaped, spawn


def plain_kvm_info(image: str) -> dict | None:
    """spt_direct.plain_info of an x86_64-kvm image."""
    from .spt_direct import plain_info

    return plain_info(image, "x86_64-kvm")


def quick_kvm_run(
    image: str, env: list[str], publish: list[str], listen: list[str], args: list[str]
) -> int | None:
    """spt_direct.quick_spt_run for an x86_64-kvm image, run as runner.run_kvm runs it."""
    from .spt_direct import quick_run_of

    run = quick_run_of(image, "x86_64-kvm", env, publish, listen)
    return None if run is None else _quick(image, *run, env, args)


def _quick(
    image: str, info: dict, publish: list[str], listen: list[str], env: list[str], args: list[str]
) -> int | None:
    """The run of an image quick_run_of takes, with its -p and --listen specs."""
    forwards = []
    if publish or listen:
        if info.get("network", True) is False:  # cmd_run's _check_network refuses it
            return None
        from .portspec import NetOptionError, parse_forwards

        try:
            forwards = parse_forwards(publish, listen)
        except NetOptionError:
            return None
    if ql.which(ql.QEMU) is None:
        return None  # the runner says QEMU is missing
    from .guestmem import guest_memory

    need = guest_memory(image, info, None)
    memory = need.suggested_for("microvm")  # guestmem.memory_mb with no --memory
    if need.refusal(memory, "microvm") is not None:
        return None
    tokens: list[str] = []
    if forwards:  # NetOptions.for_passt: the guest's address given, not asked of DHCP
        dns = f"{ql.PASST_DNS}:53"
        tokens = ql.net_tokens(forwards, ql.PASST_GUEST_IP, ql.PASST_GATEWAY, dns)
    name = info.get("module", os.path.splitext(os.path.basename(image))[0])  # cmd_run's
    cmdline = ql.kernel_cmdline(name, args, env, tokens)
    try:
        return _boot(os.path.abspath(image), memory, cmdline, forwards)
    except KeyboardInterrupt:  # ^C before QEMU ran (_boot then ended it): as the full CLI
        return 130


def _boot(image: str, memory: int, cmdline: str, forwards: list) -> int | None:
    """QEMU started as runner._run_qemu starts it on kvm's default back end; the guest's exit
    code, or None when it could not be started (the full CLI then runs it and says why)."""
    accel = "kvm" if ql.kvm_usable() else "tcg"
    ctl, control = ql.control_file()
    fds = ql.output_fds()
    try:
        net: list[str] = []
        if forwards:
            net = ql.slirp_netdev_args(forwards, ql.PASST_GUEST_IP, ql.PASST_GATEWAY, "microvm")
        boot = ql.boot_args(image, memory, cmdline, None, control, fds)
        cmd = ql.death_signal_argv(ql.qemu_x86_argv(accel, "microvm", boot, net))
        if cmd is None:
            return None  # no setpriv: the runner forks for the death signal
        qemu = spawn(cmd, fds, stdin_null=True)
        if qemu is None:
            return None
        try:
            if forwards:  # while the guest boots, as runner._slirp_backlog
                from .slirp_backlog import raise_or_warn

                raise_or_warn(qemu, {f.host_port for f in forwards}, lambda: _running(qemu))
            status = _wait(qemu)
        except KeyboardInterrupt:
            kill_reaped(qemu)
            return 130  # as the full CLI
        code = ql.exit_code(ctl)
        if code is None:
            print(f"wasmkiln: error: {ql.no_exit_code(status)}", file=sys.stderr)
            return 1
        return code
    finally:
        for fd in (ctl, *fds):
            os.close(fd)


def _running(pid: int) -> bool:
    """Whether child `pid` has not ended (asked without reaping it: its status stays for
    _wait)."""
    return os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is None


def _wait(pid: int) -> int:
    """Child `pid`'s exit status as Popen's returncode (-N: signal N)."""
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)
