"""QEMU's command line for an aarch64-kvm image: the `virt` machine under TCG (runner.run_kvm
runs it, as it runs x86_64's microvm/q35 command line).

The image is a Linux arm64 Image (`-kernel`); argv, env and net tokens travel in the device
tree's /chosen/bootargs (`-append`, the same format as x86_64's command line), a run's packed
file system in /chosen's initrd (`-initrd`). The guest's stdout is virt's PL011 UART; its stderr
and its control line ("exit N", as on x86_64) are virtio consoles on virt's virtio-mmio
transports 31 and 30, because virt has one UART and no exit device; the guest then powers off
by PSCI (unikernel/platform/kvm/README.md "aarch64").
"""

from __future__ import annotations

from pathlib import Path

from ..image.targets import Target
from .runner import RunError, RunOptions, qemu_boot_args

__all__ = ["qemu_command_aarch64"]

# -cpu max gives RNDR (entropy); pointer authentication is off because TCG emulates its
# hashing slowly and nothing here uses it.
_CPU = "max,pauth=off"


def _console(name: str, chardev: str, transport: int) -> list[str]:
    """A virtio console (port 0 of its own virtio-serial device) on virt's virtio-mmio
    transport `transport`: the guest finds stderr and the control channel by transport."""
    return [
        "-device",
        f"virtio-serial-device,id={name},bus=virtio-mmio-bus.{transport},max_ports=1",
        "-device",
        f"virtconsole,chardev={chardev},bus={name}.0,nr=0",
    ]


def qemu_command_aarch64(
    target: Target,
    image: Path,
    opts: RunOptions,
    control: str | Path,
    out_fds: tuple[int, int],
    net_fd: int | None = None,
) -> list[str]:
    """QEMU's argv. The guest's stdout and stderr write to `out_fds` through fd sets, as on
    x86_64 (runner.qemu_command says why); its exit code arrives in `control`. The NIC, when
    the run wants one, is virtio-net on virt's virtio-mmio, with the x86_64 runner's back ends
    (`net_fd`: passt's socket or a tap device; None: slirp)."""
    if opts.accel == "kvm":
        raise RunError(
            "aarch64-kvm runs under TCG here (no AArch64 host): use --accel tcg or auto", 2
        )
    if opts.machine not in ("microvm", "virt"):  # microvm: the option's x86_64 default
        raise RunError(f"aarch64-kvm runs on QEMU's virt machine, not {opts.machine!r}", 2)
    return [
        target.qemu,
        "-M",
        "virt",
        "-accel",
        "tcg",
        "-cpu",
        _CPU,
        *qemu_boot_args(image, opts, control, out_fds),
        "-global",
        "virtio-mmio.force-legacy=false",
        *_console("wkerr", "err", 31),
        *_console("wkctl", "ctl", 30),
        *(opts.net.qemu_args(net_fd, "virt") if opts.net.wanted else []),
    ]
