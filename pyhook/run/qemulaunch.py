"""QEMU's and passt's command lines for an x86_64 kvm guest, and how they are launched.

The one source of these argvs for the runner (runner.qemu_command, NetOptions's kvm_tokens,
qemu_args and passt_args delegate here) and for `wasmkiln run`'s quick start of kvm images
(run/kvm_direct.py), which is why this module imports only os and sys (socket when a QEMU is
released): the full runner's imports (dataclasses with inspect, subprocess, pathlib,
urllib.parse with ipaddress, ctypes) cost tens of milliseconds of every `wasmkiln run`, more
than the quick start's whole budget (issue 13: it adds at most 40 ms to the first answer).
Forwards are portspec.PortForward tuples; addresses arrive checked ("A.B.C.D/N").

How the launched processes die with `wasmkiln run` (a SIGKILLed run must leave nothing
behind), without forking the Python process for a preexec_fn (death_signal_argv):
- QEMU gets SIGKILL when its parent dies: `setpriv --pdeathsig KILL` (util-linux, Essential in
  Debian) sets PR_SET_PDEATHSIG and execs QEMU, which keeps it; the parent starts setpriv by
  posix_spawn (vfork) instead of forking itself to call prctl before exec;
- passt needs nothing: with `--fd` it quits once the other end of its socket is closed
  (passt(1), "--fd ... implies --one-off"), which happens when QEMU, the only other holder
  once the runner has closed its copy, ends.
"""

from __future__ import annotations

import os
import sys

TYPE_CHECKING = False  # mypy takes it as typing's; typing is not imported (see above)
if TYPE_CHECKING:
    import _socket
    from collections.abc import Callable, Iterable, Sequence

    from .portspec import PortForward

QEMU = "qemu-system-x86_64"

PASST_GUEST_IP, PASST_GATEWAY, PASST_DNS = "10.0.2.15/24", "10.0.2.2", "10.0.2.3"
"""The guest's address behind passt when the run names none (NetOptions.for_passt)."""

SAFE = "._~/:=,+-"
"""Bytes the kvm command line may carry unencoded besides letters and digits (the rest are
percent-encoded: unikernel/platform/kvm decodes them)."""

_UNRESERVED = frozenset(
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-~" + SAFE.encode()
)


def quote(text: str) -> str:
    """`urllib.parse.quote(text, safe=SAFE)` (tests/test_kvm_quick_start.py compares them),
    without importing urllib.parse and, through it, ipaddress."""
    return "".join(
        chr(b) if b in _UNRESERVED else f"%{b:02X}" for b in text.encode("utf-8", "strict")
    )


def kernel_cmdline(
    program_name: str, args: Iterable[str], env: Iterable[str], net_tokens: Iterable[str]
) -> str:
    """The guest's command line: its argv (program name first), environment and network."""
    tokens = [f"arg={quote(program_name)}"]
    tokens += [f"arg={quote(a)}" for a in args]
    tokens += [f"env={quote(e)}" for e in env]
    tokens += net_tokens
    return " ".join(tokens)


def listen_ports(forwards: Iterable[PortForward]) -> list[int]:
    """Guest ports that get a listener before the directories (--listen), first appearance
    first."""
    return list(dict.fromkeys(f.guest_port for f in forwards if f.wasmtime_layout))


def publish_ports(forwards: Sequence[PortForward]) -> list[int]:
    """Guest ports that get a listener after the directories (-p), unless --listen already
    gave the port one."""
    early = set(listen_ports(forwards))
    return list(dict.fromkeys(f.guest_port for f in forwards if f.guest_port not in early))


def net_tokens(
    forwards: Sequence[PortForward], ip: str | None, gateway: str | None, dns: str | None
) -> list[str]:
    """The kernel command-line tokens of the network (unikernel/platform/kvm/net_kvm.c)."""
    tokens = [f"net.listen=0.0.0.0:{p}" for p in listen_ports(forwards)]
    tokens += [f"net.publish=0.0.0.0:{p}" for p in publish_ports(forwards)]
    if ip:
        tokens.append(f"net.ip={ip}")
    if gateway:
        tokens.append(f"net.gw={gateway}")
    if dns:
        tokens.append(f"net.dns={dns}")
    return tokens


JUMBO_MTU = 9000
"""The MTU the NIC reports with passt (stream_netdev_args); the guest takes up to 9000
(unikernel/drivers/virtio_net.h, docs/network.md "The driver", MTU)."""


def nic_device_args(machine: str, mtu: int | None = None) -> list[str]:
    """QEMU's virtio-net NIC, modern, on netdev n0: over virtio-mmio (microvm) or virtio-pci
    (q35, with no option ROM: the guest needs no network boot); with `mtu`, the MTU it reports
    to the guest (`host_mtu`, VIRTIO_NET_F_MTU)."""
    extra = f",host_mtu={mtu}" if mtu else ""
    if machine == "q35":
        return ["-device", f"virtio-net-pci,netdev=n0,disable-legacy=on,romfile={extra}"]
    return [
        "-global",
        "virtio-mmio.force-legacy=false",
        "-device",
        f"virtio-net-device,netdev=n0{extra}",
    ]


def slirp_netdev_args(
    forwards: Iterable[PortForward], ip: str | None, gateway: str | None, machine: str
) -> list[str]:
    """The NIC on QEMU's built-in slirp (`-netdev user`), the published ports as its
    `hostfwd`s (their listen backlog is raised by slirp_backlog.py once QEMU listens). A
    static address needs slirp's network to hold it (slirp's default is 10.0.2.0/24)."""
    guest = ip.split("/")[0] if ip else ""
    netdev = "user,id=n0"
    if ip:
        netdev += f",net={ipv4_network(ip)}"
        if gateway:
            netdev += f",host={gateway}"
    netdev += "".join(
        f",hostfwd=tcp:{f.host_addr}:{f.host_port}-{guest}:{f.guest_port}" for f in forwards
    )
    return ["-netdev", netdev, *nic_device_args(machine)]


def ipv4_network(interface: str) -> str:
    """ "A.B.C.D/N" -> its network "W.X.Y.Z/N", as ipaddress.IPv4Interface(...).network gives
    it for a valid interface (checked by the callers' parsers; not imported here: it costs
    milliseconds of the quick start)."""
    addr, _, bits = interface.partition("/")
    n = int(bits) if bits else 32
    value = 0
    for part in addr.split("."):
        value = value << 8 | int(part)
    value &= (0xFFFFFFFF << (32 - n)) & 0xFFFFFFFF
    return ".".join(str(value >> s & 0xFF) for s in (24, 16, 8, 0)) + f"/{n}"


def stream_netdev_args(net_fd: int, machine: str) -> list[str]:
    """The NIC on one end of a socketpair whose other end passt holds (`-netdev stream`),
    reporting a 9000-byte MTU (passt takes frames up to 65520): a 1 MiB answer is ~117
    frames instead of ~720. slirp (its MTU is 1500) and a tap (the host interface's) keep
    1500."""
    netdev = f"stream,id=n0,server=off,addr.type=fd,addr.str={net_fd}"
    return ["-netdev", netdev, *nic_device_args(machine, JUMBO_MTU)]


def passt_argv(
    fd: int,
    forwards: Iterable[PortForward],
    ip: str | None,
    gateway: str | None,
    dns_forward: bool,
) -> list[str]:
    """passt on the other end of the frames socket `fd` (spt's, or QEMU's `-netdev stream`):
    the forwards, and the static address `ip` ("A.B.C.D/N") when there is one (passt's DHCP
    then hands out the same); `dns_forward`: passt answers PASST_DNS with the host's resolver."""
    args = ["passt", "--foreground", "--quiet", "--fd", str(fd), "--udp-ports", "none"]
    ports = [
        f"{f'{f.host_addr}/' if f.host_addr else ''}{f.host_port}:{f.guest_port}" for f in forwards
    ]
    for spec in ports:
        args += ["--tcp-ports", spec]
    if not ports:
        args += ["--tcp-ports", "none"]
    if ip:
        addr, _, prefix = ip.partition("/")
        args += ["--address", addr, "--netmask", prefix or "32"]
        if gateway:
            args += ["--gateway", gateway]
    if dns_forward:
        args += ["--dns-forward", PASST_DNS]
    return args


def kvm_usable() -> bool:
    """KVM is used by default only where it is real hardware virtualization.

    /dev/kvm on these machines is a software PVM under which firmware and
    kernel-mode code run thousands of times slower than under TCG, so mere
    presence of /dev/kvm is not enough: ask for the CPU's vmx/svm flags too.
    """
    if not os.access("/dev/kvm", os.R_OK | os.W_OK):
        return False
    try:
        with open("/proc/cpuinfo") as f:
            cpuinfo = f.read()
    except OSError:
        return False
    return " vmx" in cpuinfo or " svm" in cpuinfo


def qemu_x86_argv(accel: str, machine: str, boot: list[str], net_args: list[str]) -> list[str]:
    """QEMU's argv for an x86_64 guest: `accel` "kvm" or "tcg", `machine` "microvm" or "q35",
    `boot` from boot_args, `net_args` the NIC's (none without a network)."""
    cpu = ["-cpu", "host,-arch-capabilities"] if accel == "kvm" else ["-cpu", "max"]
    # microvm, acpi=off: microvm then names its virtio-mmio devices, with their IRQs, on the
    # kernel command line (virtio_mmio.device=...), which the guest reads to wait for its
    # NIC's interrupt (platform/kvm/README.md "Network"); and ACPI tables are not built.
    spec = "q35" if machine == "q35" else "microvm,pit=on,rtc=on,isa-serial=on,acpi=off"
    return [
        QEMU,
        "-M",
        spec,
        "-accel",
        accel,
        *cpu,
        *boot,
        # microvm creates only COM1 itself; COM2 (stderr) and COM3 (control) are added.
        "-device",
        "isa-serial,chardev=err,index=1",
        "-device",
        "isa-serial,chardev=ctl,index=2",
        "-device",
        "isa-debug-exit,iobase=0xf4,iosize=4",
        *net_args,
    ]


def boot_args(
    image: str,
    memory_mb: int,
    cmdline: str,
    fs_image: str | None,
    control: str,
    out_fds: tuple[int, int],
) -> list[str]:
    """What every machine's QEMU argv shares (x86_64's, qemu_aarch64's): memory, no default
    devices or display, the kernel with its boot module (`--dir` at run time) and command line,
    and the guest's output: chardevs `out` and `err` on `out_fds` (fd sets, runner.qemu_command
    says why), `ctl` on the control file, and the first serial port on `out`."""
    return [
        "-m",
        str(memory_mb),
        # -display none, not -nographic: with it SeaBIOS (q35) would print on COM1 (stdout).
        "-nodefaults",
        "-no-user-config",
        "-display",
        "none",
        "-no-reboot",
        "-kernel",
        image,
        *(["-initrd", fs_image] if fs_image else []),  # the boot module
        "-append",
        cmdline,
        "-add-fd",
        f"fd={out_fds[0]},set=1",
        "-chardev",
        "file,id=out,path=/dev/fdset/1,append=on",
        "-add-fd",
        f"fd={out_fds[1]},set=2",
        "-chardev",
        "file,id=err,path=/dev/fdset/2,append=on",
        "-chardev",
        f"file,id=ctl,path={control}",
        "-serial",
        "chardev:out",
    ]


def control_file() -> tuple[int, str]:
    """The file the guest's control port (COM3, chardev `ctl`) writes its exit line to: an
    anonymous file (memfd) of ours, and the path QEMU opens it by (this process's /proc fd
    entry, the same file): nothing to create or remove on disk. Read it with exit_code."""
    fd = os.memfd_create("wasmkiln-control", os.MFD_CLOEXEC)
    return fd, f"/proc/{os.getpid()}/fd/{fd}"


def exit_code(control_fd: int) -> int | None:
    """The guest's exit code from the control file ("exit N"), else None."""
    os.lseek(control_fd, 0, os.SEEK_SET)
    text = os.read(control_fd, 4096).decode(errors="replace")
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[0] == "exit" and parts[1].lstrip("-").isdigit():
            return int(parts[1]) & 0xFF
    return None


def no_exit_code(qemu_status: int) -> str:
    """What `wasmkiln run` says when QEMU ended (exit status `qemu_status`, as Popen's
    returncode) and the guest left no exit code."""
    return (
        f"the virtual machine stopped without an exit code "
        f"(QEMU exit status {qemu_status}): the guest crashed or reset"
    )


def write_only_dup(fd: int) -> int:
    """A duplicate of fd that QEMU's fd set will take for a file chardev.

    QEMU matches an fd set's members by access mode and its file chardev opens
    O_WRONLY, so an O_RDWR stdout (a terminal, /dev/null from subprocess.DEVNULL)
    would be refused. Those get a write-only reopening of the same file; offsets
    of terminals, pipes and devices do not matter (regular files are O_WRONLY
    after a shell's `>` or `>>`, and keep sharing the caller's description)."""
    import fcntl

    if fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_ACCMODE != os.O_RDWR:
        return os.dup(fd)
    try:
        return os.open(f"/proc/self/fd/{fd}", os.O_WRONLY | os.O_APPEND | os.O_CLOEXEC)
    except OSError:
        return os.dup(fd)


def output_fds() -> tuple[int, int]:
    """The guest's stdout and stderr for QEMU's fd sets: our own, flushed, duplicated above
    fd 2 (QEMU refuses fds 0-2 in -add-fd) and write-only (write_only_dup)."""
    sys.stdout.flush()
    sys.stderr.flush()
    return write_only_dup(sys.stdout.fileno()), write_only_dup(sys.stderr.fileno())


def which(name: str) -> str | None:
    """shutil.which(name) for a plain command name, without shutil (which imports zlib, bz2
    and lzma for its archive functions)."""
    for folder in os.get_exec_path():
        path = os.path.join(folder, name)
        if os.access(path, os.X_OK) and not os.path.isdir(path):
            return path
    return None


def death_signal_argv(argv: list[str]) -> list[str] | None:
    """`argv` run so that it gets SIGKILL when the process that starts it dies (through
    setpriv, see the module's doc), or None without setpriv (then only a fork with
    PR_SET_PDEATHSIG before exec does it: runner._die_with_parent)."""
    setpriv = which("setpriv")
    return None if setpriv is None else [setpriv, "--pdeathsig", "KILL", "--", *argv]


def paused_args(monitor_fd: int) -> list[str]:
    """QEMU's arguments to start paused with a QMP monitor on `monitor_fd` (release_paused)."""
    return [
        "-S",
        "-chardev",
        f"socket,id=wkqmp,fd={monitor_fd}",
        "-mon",
        "chardev=wkqmp,mode=control",
    ]


PASST_READY_S = 2.0
"""How long the runner waits for passt to listen on the forwarded host ports."""

RELEASE_S = 10.0
"""How long release_paused waits for QEMU's monitor to confirm that the guest runs."""


def release_paused(
    running: Callable[[], bool], monitor: _socket.socket, ready: Callable[[], None]
) -> None:
    """Let a paused QEMU run once ``ready`` returns: QMP's handshake and `cont`, sent at once
    (QEMU reads them in order once its monitor is up), then QEMU's replies read until its
    RESUME event, after which the monitor may be closed (closed before, QEMU could see the
    hang-up first and drop the commands). A QEMU that ends meanwhile (``running`` says so) is
    left to its exit status, which says why."""
    ready()
    if not running():
        return
    monitor.settimeout(RELEASE_S)
    try:
        monitor.sendall(b'{"execute":"qmp_capabilities"}\n{"execute":"cont"}\n')
        seen = b""
        while b'"RESUME"' not in seen:
            chunk = monitor.recv(4096)
            if not chunk:
                return
            seen = seen[-64:] + chunk
    except OSError:  # a timeout included: QEMU is left as it is; its run's timeout applies
        pass
