"""Running an aarch64-kvm image: QEMU `virt` (TCG), kept apart from runner.py's x86_64 code.

The image is a Linux arm64 Image (`-kernel`); argv, env and net tokens travel in the device
tree's /chosen/bootargs (`-append`, the same format as x86_64's command line), a run's packed
file system in /chosen's initrd (`-initrd`). The guest's stdout is virt's PL011 UART; its stderr
and its exit code travel by Arm semihosting (QEMU writes the guest's stderr to its own stderr,
ours, and exits with the guest's code), because virt has one UART and no exit device
(unikernel/platform/kvm/README.md "aarch64").
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from .runner import (
    RunError,
    RunOptions,
    _die_with_parent,
    _net_fd,
    _stop_passt,
    _timed_out,
    _write_only_dup,
    kvm_cmdline,
)
from .targets import Target

__all__ = ["qemu_command_aarch64", "run_kvm_aarch64"]

# -cpu max gives RNDR (entropy); pointer authentication is off because TCG emulates its
# hashing slowly and nothing here uses it.
_CPU = "max,pauth=off"


def qemu_command_aarch64(target: Target, image: Path, opts: RunOptions,
                         out_fd: int, net_fd: int | None = None) -> list[str]:
    """QEMU's argv. The guest's stdout writes to `out_fd` through an fd set, as on x86_64
    (runner.qemu_command says why); its stderr is QEMU's. The NIC, when the run wants one,
    is virtio-net on virt's virtio-mmio, with the x86_64 runner's back ends (`net_fd`: passt's
    socket or a tap device; None: slirp)."""
    if opts.accel == "kvm":
        raise RunError("aarch64-kvm runs under TCG here (no AArch64 host): use --accel tcg "
                       "or auto", 2)
    if opts.machine not in ("microvm", "virt"):  # microvm: the option's x86_64 default
        raise RunError(f"aarch64-kvm runs on QEMU's virt machine, not {opts.machine!r}", 2)
    return [
        target.qemu,
        "-M", "virt", "-accel", "tcg", "-cpu", _CPU,
        "-m", str(opts.memory_mb),
        "-nodefaults", "-no-user-config", "-display", "none", "-no-reboot",
        "-kernel", str(image),
        *(["-initrd", str(opts.fs_image)] if opts.fs_image else []),
        "-append", kvm_cmdline(opts),
        "-add-fd", f"fd={out_fd},set=1", "-chardev", "file,id=out,path=/dev/fdset/1,append=on",
        "-serial", "chardev:out",
        "-semihosting-config", "enable=on,target=native",
        *(opts.net.qemu_args(net_fd, "virt") if opts.net.wanted else []),
    ]


def run_kvm_aarch64(target: Target, image: Path, opts: RunOptions) -> int:
    """Boot the image; the guest's exit code (QEMU's status, low 8 bits)."""
    if shutil.which(target.qemu) is None:
        raise RunError(f"{target.qemu} is not installed (Debian: apt-get install "
                       f"{target.qemu_package})")
    passt, net_fd = _net_fd(opts, kvm=True)
    sys.stdout.flush()
    sys.stderr.flush()
    fd = _write_only_dup(sys.stdout.fileno())
    try:
        cmd = qemu_command_aarch64(target, image, opts, fd, net_fd)
        proc = subprocess.run(cmd, stdin=subprocess.DEVNULL, timeout=opts.timeout,
                              pass_fds=(fd,) if net_fd is None else (fd, net_fd),
                              preexec_fn=_die_with_parent)
    except subprocess.TimeoutExpired:
        raise RunError(_timed_out(opts)) from None
    finally:
        os.close(fd)
        if net_fd is not None:
            os.close(net_fd)
        if passt is not None:
            _stop_passt(passt)
    # QEMU's own failures (a bad option) are on stderr too, with status 1.
    return proc.returncode & 0xFF
