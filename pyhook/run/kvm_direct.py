"""Starting an x86_64-kvm image with little more than os and socket: `wasmkiln run IMAGE`'s
quick start for kvm images, as run/spt_direct.py is for spt ones.

The full CLI's imports (argparse, dataclasses with inspect, subprocess, pathlib, tempfile,
the compiler's profiles and targets) took ~30 ms of the ~60 ms that `wasmkiln run -p` added
to the first answer of a kvm guest (issue 13's target: at most 40). cli/entry.py hands a kvm
image here when the command line has only the options the quick start takes (--env,
-p/--publish, --listen); the run is the one runner.run_kvm makes of it, piece by piece from the
same code: QEMU's argv from qemulaunch.py (runner.qemu_command builds it there too), the
guest's memory from guestmem.memory_mb's sizing, the ports from portspec.parse_forwards and the
passt address layout of NetOptions.for_passt, QEMU started paused and released once passt
listens (qemulaunch.release_paused, listening.await_listening), the exit code from the control
port and the same one-line error when there is none. Both processes start by posix_spawn
(vfork): QEMU through setpriv for its death signal, passt bound to QEMU by its socket
(qemulaunch.py says how a killed run leaves neither behind).

Whatever this module would refuse or cannot do the same way (a bad option value, an image
that needs more than sizing, no passt (the runner falls back to slirp), no setpriv, a CPU
level, no network in the runtime) it leaves to the full CLI, which says why or runs it.
"""

from __future__ import annotations

import os
import sys

from . import qemulaunch as ql

TYPE_CHECKING = False  # mypy takes it as typing's; typing is not imported (see qemulaunch.py)
if TYPE_CHECKING:
    import _socket


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
    if ql.which(ql.QEMU) is None or (forwards and ql.which("passt") is None):
        return None  # the runner says QEMU is missing, or falls back to slirp
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
    """QEMU (and passt with `forwards`) started as runner._run_qemu and PasstAfterQemu start
    them; the guest's exit code, or None when it could not be started (the full CLI then
    runs it and says why)."""
    import _socket as socket  # not socket.py: its enums cost milliseconds of every start

    accel = "kvm" if ql.kvm_usable() else "tcg"
    ctl, control = ql.control_file()
    fds = ql.output_fds()
    keep: list[int] = [ctl, *fds]  # ours to close at the end
    try:
        net: list[str] = []
        pair = monitor = None
        if forwards:
            nic, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
            pair = (nic.detach(), theirs.detach())
            keep += pair
            net = ql.stream_netdev_args(pair[0], "microvm")
            monitor, qmp = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
            keep.append(qmp.detach())
            net += ql.paused_args(keep[-1])
        boot = ql.boot_args(image, memory, cmdline, None, control, fds)
        cmd = ql.death_signal_argv(ql.qemu_x86_argv(accel, "microvm", boot, net))
        if cmd is None:
            return None  # no setpriv: the runner forks for the death signal
        passed = (*fds, *(() if pair is None else (pair[0], keep[-1])))
        qemu = _spawn(cmd, passed)
        if qemu is None:
            return None
        for fd in passed[len(fds) :]:  # QEMU holds them now: passt must see QEMU's end alone
            os.close(fd)
            keep.remove(fd)
        passt = None
        if pair is not None and monitor is not None:
            passt = _start_passt(qemu, monitor, pair[1], forwards)
            os.close(pair[1])
            keep.remove(pair[1])
        try:
            status = _wait(qemu)
        except KeyboardInterrupt:
            return 130  # as the full CLI
        finally:
            if passt is not None:
                _end(passt)
        code = ql.exit_code(ctl)
        if code is None:
            print(f"wasmkiln: error: {ql.no_exit_code(status)}", file=sys.stderr)
            return 1
        return code
    finally:
        for fd in keep:
            os.close(fd)


def _start_passt(qemu: int, monitor: _socket.socket, fd: int, forwards: list) -> int | None:
    """passt on `fd`, then QEMU let go once passt listens on the published ports (or ends:
    QEMU's run then says what the guest makes of it, as in the runner); passt's pid."""
    from .listening import await_listening

    argv = ql.passt_argv(fd, forwards, ql.PASST_GUEST_IP, ql.PASST_GATEWAY, True)
    passt = _spawn(argv, (fd,), quiet=True)
    ports = {f.host_port for f in forwards}

    def ready() -> None:
        if passt is not None:
            await_listening(lambda: _running(passt), ports, ql.PASST_READY_S)

    try:
        ql.release_paused(lambda: _running(qemu), monitor, ready)
    except BaseException:  # as runner.start_qemu: a QEMU whose release failed is killed
        os.kill(qemu, 9)
        os.waitpid(qemu, 0)
        if passt is not None:
            _end(passt)
        raise
    finally:
        monitor.close()
    return passt


def _spawn(argv: list[str], fds: tuple[int, ...], quiet: bool = False) -> int | None:
    """posix_spawn `argv` (looked up on PATH) handed `fds`, stdin from /dev/null (and stdout
    and stderr too when `quiet`), SIGPIPE and SIGXFSZ at their defaults (as subprocess gives
    its children); its pid, or None when it cannot be started."""
    import signal

    null = [(os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0)]
    if quiet:
        null += [(os.POSIX_SPAWN_OPEN, n, os.devnull, os.O_WRONLY, 0) for n in (1, 2)]
    for fd in fds:
        os.set_inheritable(fd, True)
    try:
        return os.posix_spawnp(
            argv[0],
            argv,
            os.environ,
            file_actions=null,
            setsigdef=(signal.SIGPIPE, signal.SIGXFSZ),
        )
    except OSError:
        return None
    finally:
        for fd in fds:
            os.set_inheritable(fd, False)


def _running(pid: int) -> bool:
    """Whether child `pid` has not ended (asked without reaping it: its status stays for
    _wait)."""
    return os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is None


def _wait(pid: int) -> int:
    """Child `pid`'s exit status as Popen's returncode (-N: signal N). A ^C (the guest's QEMU
    got the terminal's SIGINT too) kills it, reaps it and goes on up."""
    try:
        _, status = os.waitpid(pid, 0)
    except KeyboardInterrupt:
        os.kill(pid, 9)
        os.waitpid(pid, 0)
        raise
    return os.waitstatus_to_exitcode(status)


def _end(pid: int) -> None:
    """passt, once QEMU has ended: it quits by itself when QEMU's end of its socket closes;
    told to (SIGTERM, as runner._stop_passt) if it has not yet, and reaped."""
    if _running(pid):
        os.kill(pid, 15)
    os.waitpid(pid, 0)
