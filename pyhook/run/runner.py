"""Running an image: QEMU for kvm targets, a plain child process for spt.

Either way the guest's stdout and stderr reach ours unchanged and the exit
code returned is the guest's. How the kvm guest reports its exit code (a
control serial port, because isa-debug-exit can only express odd statuses) is
described in unikernel/platform/kvm/README.md.
"""

from __future__ import annotations

import errno
import fcntl
import functools
import os
import re
import shutil
import signal
import struct
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..image.targets import Target
from . import qemulaunch
from .guestmem import DEFAULT_MEMORY_MB
from .netopts import NetOptionError, NetOptions
from .portspec import bind_host_listeners
from .qemulaunch import (  # (runner.QEMU etc.: their old home)
    PASST_READY_S,
    QEMU,
    kvm_usable,
    paused_args,
)

if TYPE_CHECKING:
    import ctypes
    import socket


class RunError(Exception):
    """The image could not be started, or the machine died without an exit code."""

    def __init__(self, message: str, exit_code: int = 1) -> None:
        super().__init__(message)
        self.exit_code = exit_code


@dataclass
class RunOptions:
    args: list[str] = field(default_factory=list)  # guest argv[1:]
    env: list[str] = field(default_factory=list)  # "KEY=VALUE"
    accel: str = "auto"  # kvm targets: "tcg", "kvm" or "auto"
    memory_mb: int = DEFAULT_MEMORY_MB
    spt_memory_mb: int | None = None  # spt: the region's size (--memory), None: the default
    timeout: float | None = None
    program_name: str = "main"
    net: NetOptions = field(default_factory=NetOptions)
    net_backend: str = "auto"  # NET_BACKENDS (kvm) or SPT_NET_BACKENDS (spt)
    fs_image: Path | None = None  # a packed file system for a built image (`run IMAGE --dir`)
    machine: str = "microvm"  # kvm targets: MACHINES


MACHINES = ("microvm", "q35")
"""QEMU machine for kvm targets. microvm (default): no firmware, no PCI, virtio-mmio; boots in
~40 ms. q35: a PC with PCI Express, SeaBIOS before the PVH entry, virtio-pci (the layout of
cloud VMs; boots slower, see platform/kvm/README.md "Machines")."""


NET_BACKENDS = ("auto", "passt", "slirp")
"""QEMU's side of a kvm guest's NIC. auto is slirp (built into QEMU), whose published ports
the runner gives a listen backlog of 1024 (slirp_backlog.py; slirp's own is 1). passt (a
user-mode network stack in its own process, reached through `-netdev stream`) is an option
only: Debian bookworm's passt dies of a division by zero when a client reuses its source
port while passt still holds that port's previous connection, which a long run of short
connections does within minutes (docs/network.md "Known problem (passt)")."""


SPT_NET_BACKENDS = ("auto", "host", "passt")
"""The spt guest's network. host: the host's own sockets (no second TCP/IP stack: the fast
path, platform/spt/sock_spt.c): the listeners the run publishes handed in as descriptors, and
with --net or --dns the grant to reach out (TCP connections, UDP, name lookups), everything
else refused by the sandbox. passt: lwIP over Ethernet frames to passt, a NIC with an address
of its own. auto: host unless the run gives the guest an address (--ip, --gateway), which only
a NIC has (docs/network.md "spt back ends"). --tap is a third, given on its own."""


def kvm_cmdline(opts: RunOptions) -> str:
    """The guest's command line (qemulaunch.kernel_cmdline)."""
    return qemulaunch.kernel_cmdline(opts.program_name, opts.args, opts.env, opts.net.kvm_tokens())


def qemu_command(
    image: Path,
    opts: RunOptions,
    control: str | Path,
    out_fds: tuple[int, int] = (1, 2),
    net_fd: int | None = None,
) -> list[str]:
    """QEMU's argv; ``net_fd``: the NIC's frames socket (passt at its other end), else slirp.
    The guest's COM1/COM2 write to ``out_fds`` handed over as
    fd sets: QEMU then writes through our own open file descriptions, so when
    stdout is a regular file the offsets stay shared with the caller (reopening
    /proc/self/fd/1 would give QEMU a second offset and the two would overwrite
    each other). ``append=on`` matters: without it QEMU would truncate them."""
    accel = opts.accel
    if accel == "auto":
        accel = "kvm" if kvm_usable() else "tcg"
    if opts.machine not in MACHINES:
        raise RunError(f"unknown machine {opts.machine!r} (choose from {', '.join(MACHINES)})", 2)
    return qemulaunch.qemu_x86_argv(
        accel,
        opts.machine,
        qemu_boot_args(image, opts, control, out_fds),
        opts.net.qemu_args(net_fd, opts.machine) if opts.net.wanted else [],
    )


def qemu_boot_args(
    image: Path, opts: RunOptions, control: str | Path, out_fds: tuple[int, int]
) -> list[str]:
    """qemulaunch.boot_args of a run: what every machine's QEMU argv shares (x86_64's
    qemu_command, qemu_aarch64's)."""
    fs_image = str(opts.fs_image) if opts.fs_image else None
    return qemulaunch.boot_args(
        str(image), opts.memory_mb, kvm_cmdline(opts), fs_image, str(control), out_fds
    )


def _timed_out(opts: RunOptions) -> str:
    return f"the guest did not finish within {opts.timeout:g} s; it was stopped"


def kvm_net_backend(opts: RunOptions) -> str:
    """ "passt" or "slirp": what the run asked for, auto resolved (RunError if unusable)."""
    if opts.net_backend not in NET_BACKENDS:
        raise RunError(
            f"--net-backend {opts.net_backend}: kvm targets take {', '.join(NET_BACKENDS)}", 2
        )
    if opts.net_backend == "auto":
        return "slirp"
    return opts.net_backend


_TUNSETIFF = 0x400454CA
_IFF_TAP, _IFF_NO_PI = 0x0002, 0x1000


def open_tap(name: str) -> int:
    """An fd on host tap interface `name` (which must exist: wasmkiln does not configure the
    host's network), frames without a packet-info header, for QEMU or the spt process."""
    if not Path(f"/sys/class/net/{name}").exists():
        raise RunError(
            f"--tap {name}: no such interface; create and address it first, e.g. "
            f"`ip tuntap add dev {name} mode tap && ip addr add 10.0.3.1/24 dev "
            f"{name} && ip link set {name} up`",
            2,
        )
    try:
        fd = os.open("/dev/net/tun", os.O_RDWR | os.O_CLOEXEC)
    except OSError as e:
        raise RunError(f"--tap {name}: cannot open /dev/net/tun: {e.strerror}", 2) from None
    try:
        fcntl.ioctl(fd, _TUNSETIFF, struct.pack("16sH22x", name.encode(), _IFF_TAP | _IFF_NO_PI))
    except OSError as e:
        os.close(fd)
        why = {
            errno.EPERM: "needs root (CAP_NET_ADMIN) or a tap owned by this user",
            errno.EBUSY: "another process holds it",
            errno.EINVAL: "it is not a tap interface (a tun, or a bridge?)",
        }
        raise RunError(f"--tap {name}: {why.get(e.errno or 0, e.strerror or str(e))}", 2) from None
    return fd


def _net_fd(opts: RunOptions, *, kvm: bool) -> tuple[subprocess.Popen[bytes] | None, int | None]:
    """The NIC's host end: a tap device (--tap), else passt's socketpair end (spt), else None
    (kvm: QEMU's slirp, or no NIC; kvm's passt is run_kvm's PasstAfterQemu)."""
    if not opts.net.wanted:
        return None, None
    if opts.net.tap:
        if opts.net_backend != "auto":
            raise RunError(
                f"--tap and --net-backend {opts.net_backend} are two back ends: give one", 2
            )
        return None, open_tap(opts.net.tap)
    opts.net = opts.net.for_passt()  # the guest's address given, not asked of DHCP
    if kvm:
        return None, None  # QEMU's slirp (for_passt's layout is slirp's own)
    return _start_passt(opts.net)


def _kvm_passt(opts: RunOptions) -> PasstAfterQemu | None:
    """passt for a kvm run that uses it as the NIC's back end (not yet started), else None."""
    if not opts.net.wanted or opts.net.tap or kvm_net_backend(opts) != "passt":
        return None
    opts.net = opts.net.for_passt()  # the guest's address given, not asked of DHCP
    return PasstAfterQemu(opts.net)


def run_kvm(image: Path, opts: RunOptions, target: Target | None = None) -> int:
    """Boot a kvm image. An aarch64 one (`target`) runs on QEMU virt, whose command line is
    built in its own module (qemu_aarch64.py); everything else is shared."""
    qemu, package, build = QEMU, "qemu-system-x86", None
    if target is not None and target.arch == "aarch64":
        from .qemu_aarch64 import qemu_command_aarch64

        qemu, package = target.qemu, target.qemu_package
        build = partial(qemu_command_aarch64, target)
    if shutil.which(qemu) is None:
        raise RunError(f"{qemu} is not installed (Debian: apt-get install {package})")
    passt = _kvm_passt(opts)
    net_fd = passt.nic_fd if passt is not None else _net_fd(opts, kvm=True)[1]
    try:
        return _run_qemu(image, opts, net_fd, build, None if passt is None else passt.ready)
    finally:
        if net_fd is not None:
            os.close(net_fd)
        if passt is not None:
            passt.stop()


def _run_qemu(
    image: Path,
    opts: RunOptions,
    net_fd: int | None,
    build: Callable[..., list[str]] | None = None,
    ready: Callable[[], None] | None = None,
) -> int:
    """Boot and return the control line's exit code. ``build`` makes QEMU's argv from
    (image, opts, control, fds, net_fd): qemu_command, or another machine's (aarch64).

    With ``ready`` (passt binding the published ports), QEMU starts paused (-S) and is let go
    through its QMP monitor once ``ready`` returns: QEMU's own start-up (~20 ms of loading
    its libraries) overlaps passt's, and the guest still cannot say it serves before the
    host's ports listen."""
    ctl, control = qemulaunch.control_file()
    try:
        fds = qemulaunch.output_fds()
        cmd = (build or qemu_command)(image, opts, control, fds, net_fd)
        passed = fds if net_fd is None else (*fds, net_fd)
        launch, preexec = _dying_with_parent(cmd)
        try:
            proc = start_qemu(launch, passed, ready, stdin=subprocess.DEVNULL, preexec_fn=preexec)
            if net_fd is None and ready is None:
                _slirp_backlog(proc, opts)
            proc.wait(timeout=opts.timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            raise RunError(_timed_out(opts)) from None
        except OSError as e:
            raise RunError(f"cannot start {cmd[0]}: {e.strerror}") from None
        finally:
            for fd in fds:
                os.close(fd)
        code = qemulaunch.exit_code(ctl)
        if code is None:
            raise RunError(qemulaunch.no_exit_code(proc.returncode))
        return code
    finally:
        os.close(ctl)


def _slirp_backlog(proc: subprocess.Popen[bytes], opts: RunOptions) -> None:
    """slirp's published ports get a listen backlog (slirp_backlog.py), while the guest
    boots; where that cannot be done the run goes on with slirp's backlog of 1, said once."""
    if not opts.net.forwards or opts.net.tap:
        return
    from .slirp_backlog import raise_or_warn

    raise_or_warn(proc.pid, {f.host_port for f in opts.net.forwards}, lambda: proc.poll() is None)


def start_qemu(
    cmd: list[str],
    pass_fds: tuple[int, ...],
    ready: Callable[[], None] | None = None,
    **popen: Any,
) -> subprocess.Popen[bytes]:
    """Start QEMU (``cmd``, handed ``pass_fds``; ``popen``: Popen's other arguments). With
    ``ready``, QEMU starts paused with a QMP monitor on a socketpair (paused_args) and is let
    go once ``ready`` returns (release_paused); both ends of the pair are closed whatever
    happens, and a QEMU started when the release fails is killed. The runner's and the
    benchmarks' (bench/first_response.py) one way to do it."""
    if ready is None:
        return subprocess.Popen(cmd, pass_fds=pass_fds, **popen)
    import socket

    monitor, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        try:
            proc = subprocess.Popen(
                [*cmd, *paused_args(theirs.fileno())],
                pass_fds=(*pass_fds, theirs.fileno()),
                **popen,
            )
        finally:
            theirs.close()
        try:
            release_paused(proc, monitor, ready)
        except BaseException:
            proc.kill()
            proc.wait()
            raise
    finally:
        monitor.close()
    return proc


def release_paused(
    proc: subprocess.Popen[bytes], monitor: socket.socket, ready: Callable[[], None]
) -> None:
    """qemulaunch.release_paused for a QEMU started by subprocess."""
    qemulaunch.release_paused(lambda: proc.poll() is None, monitor, ready)


def _dying_with_parent(cmd: list[str]) -> tuple[list[str], Callable[[], None] | None]:
    """QEMU's argv and Popen's preexec_fn so that it dies with us: through setpriv, started
    by vfork (qemulaunch.death_signal_argv), else a fork that calls prctl (_die_with_parent)."""
    argv = qemulaunch.death_signal_argv(cmd)
    if argv is not None:
        return argv, None
    _libc()  # before the fork: _die_with_parent runs in the child
    return cmd, _die_with_parent


def _die_with_parent() -> None:
    """In the child before exec: get SIGKILL when wasmkiln dies, however it dies, so a
    killed `wasmkiln run` leaves no QEMU behind, where setpriv is missing (_dying_with_parent).
    (The spt process does this itself, `--die-with-parent`, and passt quits when the other
    end of its socket closes: both start by vfork, without a preexec_fn.)"""
    try:
        _libc().prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


@functools.cache
def _libc() -> ctypes.CDLL:
    """libc for prctl, loaded by the parent before it forks a child that needs it (not on
    every run: ctypes costs start-up time)."""
    import ctypes

    return ctypes.CDLL(None, use_errno=True)


def _passt_pair() -> tuple[socket.socket, socket.socket]:
    """(ours, theirs): the socketpair whose ends are the guest's NIC and passt's --fd."""
    if shutil.which("passt") is None:
        raise RunError(
            "networking on spt targets, and --net-backend passt on kvm targets, "
            "need passt (Debian: apt-get install passt)"
        )
    _warn_if_passt_resets()
    import socket

    return socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)


PASST_FIXED = 20230908
"""passt 2023_09_08: from it on, a client reusing a source port no longer kills passt."""


@functools.cache
def _warn_if_passt_resets() -> None:
    """One warning line when the installed passt (asked of dpkg, the only place Debian's
    passt states its version: `passt --version` says "unknown") predates PASST_FIXED: it
    dies when a client opens a connection from a source port it still holds, and the
    published port closes (docs/network.md "Known problem (passt): the published port
    closes"). Only runs that chose passt pay for the query (~20 ms); none without dpkg."""
    try:
        out = subprocess.run(
            ["dpkg-query", "-W", "-f=${Version}", "passt"],
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return
    match = re.search(r"git(20\d{6})", out.stdout)
    if out.returncode == 0 and match is not None and int(match.group(1)) < PASST_FIXED:
        print(
            f"wasmkiln: warning: passt {out.stdout.strip()} stops forwarding once a client "
            "reuses a source port (fixed in passt 2023_09_08), so a busy server becomes "
            "unreachable; see docs/network.md, Known problem (passt)",
            file=sys.stderr,
        )


def _spawn_passt(net: NetOptions, theirs: socket.socket) -> subprocess.Popen[bytes]:
    """passt on ``theirs`` (closed here, whatever happens). No death signal is needed: with
    --fd, passt quits once the other end (the guest's NIC: QEMU's or the spt process's, and
    our copy until the run ends) is closed, so a killed run leaves no passt behind
    (qemulaunch.py); without a preexec_fn, subprocess starts it by vfork, not fork."""
    try:
        return subprocess.Popen(
            net.passt_args(theirs.fileno()),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            pass_fds=(theirs.fileno(),),
        )
    except OSError as e:
        raise RunError(f"cannot start passt: {e.strerror}") from None
    finally:
        theirs.close()


def _start_passt(net: NetOptions, wait: bool = True) -> tuple[subprocess.Popen[bytes], int]:
    """passt on one end of a socketpair; the other end (returned) is the guest's NIC.
    ``wait``: return once passt listens on the published ports (else the caller waits)."""
    ours, theirs = _passt_pair()
    try:
        proc = _spawn_passt(net, theirs)
    except BaseException:
        ours.close()
        raise
    if wait:
        passt_ready(proc, net)()
    return proc, ours.detach()


class PasstAfterQemu:
    """passt for a kvm run, started once QEMU has been (paused, start_qemu's ``ready``).

    Why this order: QEMU's own start (loading its ~51 libraries, building the machine:
    ~30 ms of CPU) is the longest step before the guest runs, and passt listens ~10 ms
    after its start; started first, passt's fork and exec (a fork of the whole Python
    process, for its death signal) came before QEMU's and added to the first answer.
    ``nic_fd``: the guest's end of the socketpair, for QEMU's -netdev stream (the caller
    closes it); ``ready`` starts passt and waits until it listens on the published ports;
    ``stop`` ends passt (or closes its unused end if it never started)."""

    def __init__(self, net: NetOptions) -> None:
        self.net = net
        ours, theirs = _passt_pair()
        self._theirs: socket.socket | None = theirs
        self.nic_fd = ours.detach()
        self.proc: subprocess.Popen[bytes] | None = None

    def ready(self) -> None:
        theirs, self._theirs = self._theirs, None
        if theirs is None:
            raise RunError("passt was already started")
        self.proc = _spawn_passt(self.net, theirs)
        passt_ready(self.proc, self.net)()

    def stop(self) -> None:
        if self._theirs is not None:
            self._theirs.close()
            self._theirs = None
        if self.proc is not None:
            _stop_passt(self.proc)


def passt_ready(proc: subprocess.Popen[bytes], net: NetOptions) -> Callable[[], None]:
    """What waits until passt (``proc``) listens on ``net``'s published ports: start_qemu's
    ``ready`` for a passt started with ``wait=False``."""
    return partial(_await_listening, proc, {f.host_port for f in net.forwards})


def _await_listening(proc: subprocess.Popen[bytes], ports: set[int]) -> None:
    """Wait until the host has a listening TCP socket on each of `ports` (passt binds them
    as it starts), passt exits, or PASST_READY_S pass (asked of sock_diag, listening.py: a
    cost that does not grow with the host's other connections). Without it a guest that
    starts listening at once (an address given at boot, no DHCP through passt first) says
    it serves while a client of the published port is still refused."""
    from .listening import await_listening

    await_listening(lambda: proc.poll() is None, ports, PASST_READY_S)


def _stop_passt(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def spt_net_backend(info: dict, opts: RunOptions) -> str | None:
    """ "host", "passt" or "tap" for an spt run that wants a network (None: it does not);
    RunError when the choice cannot work."""
    if opts.net_backend not in SPT_NET_BACKENDS:
        raise RunError(
            f"--net-backend {opts.net_backend}: spt targets take {', '.join(SPT_NET_BACKENDS)}", 2
        )
    if not opts.net.wanted and opts.net_backend != "host":
        return None
    if opts.net.tap:
        if opts.net_backend != "auto":
            raise RunError(
                f"--tap and --net-backend {opts.net_backend} are two back ends: give one", 2
            )
        return "tap"
    if opts.net_backend == "host":
        if opts.net.ip or opts.net.gateway:
            raise RunError(
                "--net-backend host has no NIC: --ip and --gateway need --net-backend passt", 2
            )
        if not opts.net.forwards and not opts.net.outbound:
            raise RunError(
                "--net-backend host needs a port to publish (-p or --listen) or --net", 2
            )
        return "host"
    # Own sockets (info["own_sockets"]) are served by either: the host's bind takes the
    # published listener over, and --net grants connections out.
    if opts.net_backend == "passt" or opts.net.ip or opts.net.gateway:
        return "passt"
    return "host"


def _host_listeners(net: NetOptions) -> list[int]:
    """The listening sockets of --net-backend host, bound on the host now (so a taken port
    fails here, in one line), in host_listeners() order (portspec.bind_host_listeners, which
    the quick start of `wasmkiln run` uses too)."""
    try:
        return bind_host_listeners(net.forwards)
    except NetOptionError as e:
        raise RunError(str(e), 2) from None


def run_spt(image: Path, opts: RunOptions, info: dict) -> int:
    argv = [str(image.absolute()), "--die-with-parent"]  # a bare name would be looked up on PATH
    if opts.spt_memory_mb is not None:  # main_spt.c: the region (default 16 GiB + 64 MiB)
        argv += ["--memory", str(opts.spt_memory_mb)]
    for e in opts.env:
        argv += ["--env", e]
    fs_fd = -1
    if opts.fs_image is not None:
        fs_fd = os.open(opts.fs_image, os.O_RDONLY | os.O_CLOEXEC)
        argv += ["--fs-fd", str(fs_fd)]
    backend = spt_net_backend(info, opts)
    passt, fd = _net_fd(opts, kvm=False) if backend in ("passt", "tap") else (None, None)
    host_fds = _host_listeners(opts.net) if backend == "host" else []
    net_fd = -1 if fd is None else fd
    if net_fd >= 0:
        argv += opts.net.spt_args(net_fd)
    if backend == "host":
        argv += opts.net.spt_host_args(host_fds)
    argv += ["--", *opts.args]
    sys.stdout.flush()
    sys.stderr.flush()
    try:
        proc = subprocess.run(
            argv,
            stdin=None,
            timeout=opts.timeout,
            pass_fds=(*(f for f in (net_fd, fs_fd) if f >= 0), *host_fds),
        )
    except subprocess.TimeoutExpired:
        raise RunError(_timed_out(opts)) from None
    except OSError as e:
        raise RunError(f"cannot start {image}: {e.strerror}") from None
    finally:
        for f in (net_fd, fs_fd, *host_fds):
            if f >= 0:
                os.close(f)
        if passt is not None:
            _stop_passt(passt)
    if proc.returncode < 0:
        from .spt_direct import guest_death

        raise RunError(guest_death(-proc.returncode), 128 - proc.returncode)
    return proc.returncode


def check_cpu(image: Path, info: dict, target: Target, opts: RunOptions) -> None:
    """Refuse, before starting, an image built for a CPU level (--target-cpu) that the CPU
    it would run on lacks: the host's for spt and KVM. QEMU's TCG CPU (`-cpu max`) is not
    checked here: QEMU 7.2 emulates x86-64-v3 but not v4, and a missing instruction there
    ends the guest with an "invalid opcode" crash report."""
    level = info.get("cpu")
    on_host = (
        target.platform == "spt" or opts.accel == "kvm" or (opts.accel == "auto" and kvm_usable())
    )
    if not level or not on_host:
        return
    from wasmkiln.bridge.cpu import missing_flags

    missing = missing_flags(level)
    if missing:
        raise RunError(
            f"{image} was built for {level} (--target-cpu), and this CPU lacks "
            f"{' '.join(missing)}: rebuild it with --target-cpu baseline",
            2,
        )


def run_image(image: Path, target: Target, opts: RunOptions, info: dict | None = None) -> int:
    """Start `image`; `info` is its build info (imageinfo.read_image_info) when the caller has
    read it already, so a run reads it once."""
    if info is None:
        from ..image.imageinfo import read_image_info

        info = read_image_info(image) or {}
    check_cpu(image, info, target, opts)
    if target.platform == "kvm":
        return run_kvm(image, opts, target)
    return run_spt(image, opts, info)
