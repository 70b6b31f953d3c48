"""Running an image: QEMU for kvm targets, a plain child process for spt.

Either way the guest's stdout and stderr reach ours unchanged and the exit
code returned is the guest's. How the kvm guest reports its exit code (a
control serial port, because isa-debug-exit can only express odd statuses) is
described in unikernel/platform/kvm/README.md.
"""

from __future__ import annotations

import ctypes
import fcntl
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

from .netopts import NetOptions
from .targets import Target

QEMU = "qemu-system-x86_64"
_SAFE = "._~/:=,+-"  # bytes the kvm command line may carry unencoded


class RunError(Exception):
    """The image could not be started, or the machine died without an exit code."""

    def __init__(self, message: str, exit_code: int = 1) -> None:
        super().__init__(message)
        self.exit_code = exit_code


DEFAULT_MEMORY_MB = 128
"""Guest RAM (QEMU -m) unless the run says otherwise. The image itself needs ~12 MiB (hello runs
in 12, an HTTP server in 32; docs/performance.md "Memory"): the rest is for linear memory and the
kernel heap (files written, network buffers). 128 MiB is Firecracker's default too; QEMU only
backs the pages a guest touches, so a larger -m costs the host nothing until used."""


@dataclass
class RunOptions:
    args: list[str] = field(default_factory=list)  # guest argv[1:]
    env: list[str] = field(default_factory=list)  # "KEY=VALUE"
    accel: str = "auto"  # kvm targets: "tcg", "kvm" or "auto"
    memory_mb: int = DEFAULT_MEMORY_MB
    timeout: float | None = None
    program_name: str = "main"
    net: NetOptions = field(default_factory=NetOptions)


def kvm_cmdline(opts: RunOptions) -> str:
    tokens = [f"arg={quote(opts.program_name, safe=_SAFE)}"]
    tokens += [f"arg={quote(a, safe=_SAFE)}" for a in opts.args]
    tokens += [f"env={quote(e, safe=_SAFE)}" for e in opts.env]
    tokens += opts.net.kvm_tokens()
    return " ".join(tokens)


def kvm_usable() -> bool:
    """KVM is used by default only where it is real hardware virtualization.

    /dev/kvm on these machines is a software PVM under which firmware and
    kernel-mode code run thousands of times slower than under TCG, so mere
    presence of /dev/kvm is not enough: ask for the CPU's vmx/svm flags too.
    """
    if not os.access("/dev/kvm", os.R_OK | os.W_OK):
        return False
    try:
        cpuinfo = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return " vmx" in cpuinfo or " svm" in cpuinfo


def qemu_command(image: Path, opts: RunOptions, control: Path,
                 out_fds: tuple[int, int] = (1, 2)) -> list[str]:
    """QEMU's argv. The guest's COM1/COM2 write to ``out_fds`` handed over as
    fd sets: QEMU then writes through our own open file descriptions, so when
    stdout is a regular file the offsets stay shared with the caller (reopening
    /proc/self/fd/1 would give QEMU a second offset and the two would overwrite
    each other). ``append=on`` matters: without it QEMU would truncate them."""
    accel = opts.accel
    if accel == "auto":
        accel = "kvm" if kvm_usable() else "tcg"
    cpu = ["-cpu", "host,-arch-capabilities"] if accel == "kvm" else ["-cpu", "max"]
    return [
        QEMU,
        "-M", "microvm,pit=on,rtc=on,isa-serial=on",
        "-accel", accel, *cpu,
        "-m", str(opts.memory_mb),
        "-nodefaults", "-no-user-config", "-nographic", "-no-reboot",
        "-kernel", str(image),
        "-append", kvm_cmdline(opts),
        "-add-fd", f"fd={out_fds[0]},set=1", "-chardev", "file,id=out,path=/dev/fdset/1,append=on",
        "-add-fd", f"fd={out_fds[1]},set=2", "-chardev", "file,id=err,path=/dev/fdset/2,append=on",
        "-chardev", f"file,id=ctl,path={control}",
        # microvm creates only COM1 itself; COM2 (stderr) and COM3 (control) are added.
        "-serial", "chardev:out",
        "-device", "isa-serial,chardev=err,index=1",
        "-device", "isa-serial,chardev=ctl,index=2",
        "-device", "isa-debug-exit,iobase=0xf4,iosize=4",
        *(opts.net.qemu_args() if opts.net.wanted else []),
    ]


def _parse_control(text: str) -> int | None:
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[0] == "exit" and parts[1].lstrip("-").isdigit():
            return int(parts[1]) & 0xFF
    return None


def _timed_out(opts: RunOptions) -> str:
    return f"the guest did not finish within {opts.timeout:g} s; it was stopped"


def _write_only_dup(fd: int) -> int:
    """A duplicate of fd that QEMU's fd set will take for a file chardev.

    QEMU matches an fd set's members by access mode and its file chardev opens
    O_WRONLY, so an O_RDWR stdout (a terminal, /dev/null from subprocess.DEVNULL)
    would be refused. Those get a write-only reopening of the same file; offsets
    of terminals, pipes and devices do not matter (regular files are O_WRONLY
    after a shell's `>` or `>>`, and keep sharing the caller's description)."""
    if fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_ACCMODE != os.O_RDWR:
        return os.dup(fd)
    try:
        return os.open(f"/proc/self/fd/{fd}", os.O_WRONLY | os.O_APPEND | os.O_CLOEXEC)
    except OSError:
        return os.dup(fd)


def run_kvm(image: Path, opts: RunOptions) -> int:
    if shutil.which(QEMU) is None:
        raise RunError(f"{QEMU} is not installed (Debian: apt-get install qemu-system-x86)")
    with tempfile.TemporaryDirectory(prefix="wasmkiln-run-") as tmp:
        control = Path(tmp) / "control"
        control.touch()
        sys.stdout.flush()
        sys.stderr.flush()
        # QEMU refuses fds 0-2 in -add-fd, so hand it duplicates above them.
        fds = (_write_only_dup(sys.stdout.fileno()), _write_only_dup(sys.stderr.fileno()))
        cmd = qemu_command(image, opts, control, fds)
        try:
            proc = subprocess.run(cmd, stdin=subprocess.DEVNULL, timeout=opts.timeout,
                                  pass_fds=fds, preexec_fn=_die_with_parent)
        except subprocess.TimeoutExpired:
            raise RunError(_timed_out(opts)) from None
        finally:
            for fd in fds:
                os.close(fd)
        code = _parse_control(control.read_text(errors="replace"))
        if code is None:
            raise RunError(f"the virtual machine stopped without an exit code "
                           f"(QEMU exit status {proc.returncode}): the guest crashed or reset")
        return code


def _die_with_parent() -> None:
    """In the child before exec: get SIGKILL when wasmkiln dies, however it dies, so a
    killed `wasmkiln run` leaves no QEMU, guest process or passt behind."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def _start_passt(net: NetOptions) -> tuple[subprocess.Popen[bytes], int]:
    """passt on one end of a socketpair; the other end (returned) is the guest's NIC."""
    if shutil.which("passt") is None:
        raise RunError("networking on spt targets needs passt (Debian: apt-get install passt)")
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        proc = subprocess.Popen(net.passt_args(theirs.fileno()), stdin=subprocess.DEVNULL,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                pass_fds=(theirs.fileno(),), preexec_fn=_die_with_parent)
    except OSError as e:
        ours.close()
        raise RunError(f"cannot start passt: {e.strerror}") from None
    finally:
        theirs.close()
    return proc, ours.detach()


def _stop_passt(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def run_spt(image: Path, opts: RunOptions) -> int:
    argv = [str(image.absolute())]  # a bare name would be looked up on PATH
    for e in opts.env:
        argv += ["--env", e]
    passt, net_fd = None, -1
    if opts.net.wanted:
        passt, net_fd = _start_passt(opts.net)
        argv += opts.net.spt_args(net_fd)
    argv += ["--", *opts.args]
    sys.stdout.flush()
    sys.stderr.flush()
    try:
        proc = subprocess.run(argv, stdin=None, timeout=opts.timeout,
                              pass_fds=(net_fd,) if net_fd >= 0 else (),
                              preexec_fn=_die_with_parent)
    except subprocess.TimeoutExpired:
        raise RunError(_timed_out(opts)) from None
    except OSError as e:
        raise RunError(f"cannot start {image}: {e.strerror}") from None
    finally:
        if passt is not None:
            os.close(net_fd)
            _stop_passt(passt)
    if proc.returncode < 0:
        sig = -proc.returncode
        if sig == signal.SIGSYS:
            why = "the sandbox killed it (a forbidden system call)"
        else:
            why = f"it crashed ({signal.Signals(sig).name})"
        raise RunError(f"the guest process died: {why}", 128 + sig)
    return proc.returncode


def run_image(image: Path, target: Target, opts: RunOptions) -> int:
    if target.platform == "kvm":
        return run_kvm(image, opts)
    return run_spt(image, opts)
