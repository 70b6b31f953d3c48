"""Running an image: QEMU for kvm targets, a plain child process for spt.

Either way the guest's stdout and stderr reach ours unchanged and the exit
code returned is the guest's. How the kvm guest reports its exit code (a
control serial port, because isa-debug-exit can only express odd statuses) is
described in unikernel/platform/kvm/README.md.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

from .targets import Target

QEMU = "qemu-system-x86_64"
_SAFE = "._~/:=,+-"  # bytes the kvm command line may carry unencoded


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
    memory_mb: int = 256
    timeout: float | None = None
    program_name: str = "main"


def kvm_cmdline(opts: RunOptions) -> str:
    tokens = [f"arg={quote(opts.program_name, safe=_SAFE)}"]
    tokens += [f"arg={quote(a, safe=_SAFE)}" for a in opts.args]
    tokens += [f"env={quote(e, safe=_SAFE)}" for e in opts.env]
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
    ]


def _parse_control(text: str) -> int | None:
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[0] == "exit" and parts[1].lstrip("-").isdigit():
            return int(parts[1]) & 0xFF
    return None


def _timed_out(opts: RunOptions) -> str:
    return f"the guest did not finish within {opts.timeout:g} s; it was stopped"


def run_kvm(image: Path, opts: RunOptions) -> int:
    if shutil.which(QEMU) is None:
        raise RunError(f"{QEMU} is not installed (Debian: apt-get install qemu-system-x86)")
    with tempfile.TemporaryDirectory(prefix="wasmkiln-run-") as tmp:
        control = Path(tmp) / "control"
        control.touch()
        sys.stdout.flush()
        sys.stderr.flush()
        # QEMU refuses fds 0-2 in -add-fd, so hand it duplicates above them.
        fds = (os.dup(sys.stdout.fileno()), os.dup(sys.stderr.fileno()))
        cmd = qemu_command(image, opts, control, fds)
        try:
            proc = subprocess.run(cmd, stdin=subprocess.DEVNULL, timeout=opts.timeout,
                                  pass_fds=fds)
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


def run_spt(image: Path, opts: RunOptions) -> int:
    argv = [str(image)]
    for e in opts.env:
        argv += ["--env", e]
    argv += ["--", *opts.args]
    sys.stdout.flush()
    sys.stderr.flush()
    try:
        proc = subprocess.run(argv, stdin=None, timeout=opts.timeout)
    except subprocess.TimeoutExpired:
        raise RunError(_timed_out(opts)) from None
    except OSError as e:
        raise RunError(f"cannot start {image}: {e.strerror}") from None
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
