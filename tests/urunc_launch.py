"""How urunc launches a unikernel, mirrored for tests (read from urunc's source, not copied).

Pinned: github.com/urunc-dev/urunc at commit URUNC_COMMIT (v0.5.0 + fixes, 12 Jun 2025), the
commit docs/kubernetes.md names. Each function names the Go code it follows:

- unikernel_config: pkg/unikontainers/config.go GetUnikernelConfig (the OCI spec's annotations
  first, else /urunc.json in the root file system; every value base64-decoded);
- qemu_argv: pkg/unikontainers/hypervisors/qemu.go Qemu.Execve with the unikernel type's
  MonitorNetCli/MonitorCli (unikernels/mewz.go) and CommandString, split on spaces exactly as
  urunc does, `-append` last;
- firecracker_config: hypervisors/firecracker.go Firecracker.Execve (the JSON it writes);
- mewz_cmdline / unikraft_cmdline: unikernels/mewz.go, unikernels/unikraft.go CommandString.

Two departures, both forced by this machine and said where they happen: `-cpu host
-enable-kvm` become `-accel tcg` (/dev/kvm here is PVM, software virtualisation, and `-cpu host`
aborts under it), and Firecracker, which cannot be installed here, is stood in for by QEMU
`microvm` with the same kernel, boot args, one virtio-mmio NIC on the tap and an i8042
(firecracker_on_microvm).
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from pathlib import Path

URUNC_REPO = "github.com/urunc-dev/urunc"
URUNC_COMMIT = "efbd251b12d824d0264c8dff3b21c4b46bbe58df"
DEFAULT_MEMORY_MB = 256  # hypervisors/vmm.go DefaultMemory
KEYS = (
    "unikernelType",
    "unikernelVersion",
    "cmdline",
    "binary",
    "hypervisor",
    "initrd",
    "block",
    "blkMntPoint",
    "useDMBlock",
)


@dataclass(frozen=True)
class UnikernelConfig:
    values: dict[str, str]  # decoded, by short key
    source: str  # "spec" or "urunc.json"

    def __getitem__(self, key: str) -> str:
        return self.values.get(key, "")


def unikernel_config(bundle: Path) -> UnikernelConfig:
    """config.go GetUnikernelConfig for an OCI bundle (config.json + its root): the spec's
    annotations when any of them is set, else <root>/urunc.json; then decode every value."""
    spec = json.loads((bundle / "config.json").read_text())
    notes = spec.get("annotations") or {}
    raw = {k: notes.get(f"com.urunc.unikernel.{k}", "") for k in KEYS}
    source = "spec"
    if not "".join(v for k, v in raw.items() if k != "useDMBlock"):
        root = Path(spec["root"]["path"])
        root = root if root.is_absolute() else bundle / root
        data = json.loads((root / "urunc.json").read_text())
        raw = {k: data.get(f"com.urunc.unikernel.{k}", "") for k in KEYS}
        source = "urunc.json"
    decoded = {k: base64.b64decode(v, validate=True).decode() for k, v in raw.items()}
    return UnikernelConfig(decoded, source)


def mask_to_prefix(mask: str) -> int:
    """unikernels/utils.go subnetMaskToCIDR."""
    return sum(bin(int(p)).count("1") for p in mask.split("."))


def mewz_cmdline(ip: str, mask: str, gateway: str) -> str:
    """unikernels/mewz.go CommandString (mask 24 when the device has none)."""
    prefix = mask_to_prefix(mask) if mask else 24
    return f"ip={ip}/{prefix} gateway={gateway} "


def unikraft_cmdline(args: list[str], env: list[str], ip: str, gateway: str) -> str:
    """unikernels/unikraft.go CommandString with the current (>= 0.16.1, or unparsable
    version) network form: app name, env.vars, netdev.ip, two empty compat fields, no rootfs."""
    app = args[0] if args else ""
    command = " ".join(args[1:])
    env_vars = "env.vars=[ " + " ".join(env) + " ]" if env else ""
    address = f"netdev.ip={ip}/24:{gateway}:8.8.8.8"
    return f"{app} {env_vars} {address}   -- {command}"


def qemu_argv(
    qemu: str,
    kernel: str,
    tap: str,
    cmdline: str,
    unikernel_type: str,
    *,
    memory_bytes: int = 0,
    seccomp: bool = True,
) -> list[str]:
    """hypervisors/qemu.go Qemu.Execve (x86_64), with `-cpu host -enable-kvm` replaced by
    `-accel tcg` (see the module docstring)."""
    mem = (memory_bytes // 1_000_000 if memory_bytes else 0) or DEFAULT_MEMORY_MB  # bytesToStringMB
    cmd = f"{qemu} -m {mem}M"
    cmd += " -L /usr/share/qemu"
    cmd += " -accel tcg"  # urunc: " -cpu host -enable-kvm"
    cmd += " -nographic -vga none"
    if seccomp:
        cmd += " --sandbox on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny"
    cmd += " -kernel " + kernel
    if tap:
        if unikernel_type == "mewz":  # mewz.go MonitorNetCli("qemu")
            net = " -device virtio-net-pci,netdev=net0,disable-legacy=on,disable-modern=off"
            net += " -netdev tap,script=no,downscript=no,id=net0,ifname="
        else:
            net = " -net nic,model=virtio -net tap,script=no,downscript=no,ifname="
        cmd += net + tap
    else:
        cmd += " -nic none"
    if unikernel_type == "mewz":  # mewz.go MonitorCli("qemu")
        cmd += " -no-reboot -device isa-debug-exit,iobase=0x501,iosize=2"
    return [*cmd.split(" "), "-append", cmdline]


def firecracker_config(kernel: str, tap: str, mac: str, boot_args: str) -> dict[str, object]:
    """hypervisors/firecracker.go: the --config-file JSON urunc writes (1 vCPU, 256 MiB, one
    NIC "net1" on the tap with the container's MAC, no drives, no initrd)."""
    return {
        "boot-source": {"kernel_image_path": kernel, "boot_args": boot_args},
        "machine-config": {
            "vcpu_count": 1,
            "mem_size_mib": DEFAULT_MEMORY_MB,
            "smt": False,
            "track_dirty_pages": False,
        },
        "drives": [],
        "network-interfaces": [{"iface_id": "net1", "guest_mac": mac, "host_dev_name": tap}],
    }


def firecracker_on_microvm(qemu: str, config: dict[str, object]) -> list[str]:
    """What Firecracker would give the guest, as QEMU microvm: the PVH kernel, `boot_args` with
    `virtio_mmio.device=` appended by the VMM (microvm's auto-kernel-cmdline, which needs
    acpi=off, as Firecracker appends its own), one modern virtio-mmio NIC on the tap with the
    config's MAC, COM1 as the console and an i8042 whose reset ends the VM (Firecracker stops
    on it; QEMU with -no-reboot exits)."""
    boot = config["boot-source"]
    machine = config["machine-config"]
    nic = config["network-interfaces"][0]  # type: ignore[index]
    assert isinstance(boot, dict) and isinstance(machine, dict) and isinstance(nic, dict)
    fixed = "-M microvm,acpi=off,pit=on,rtc=on -accel tcg -cpu max -nodefaults -no-user-config"
    fixed += " -nographic -no-reboot -serial stdio -device i8042"
    return [
        qemu,
        *fixed.split(" "),
        *("-smp", str(machine["vcpu_count"]), "-m", str(machine["mem_size_mib"])),
        *("-kernel", str(boot["kernel_image_path"]), "-append", str(boot["boot_args"])),
        "-netdev",
        f"tap,id=net1,ifname={nic['host_dev_name']},script=no,downscript=no",
        *("-global", "virtio-mmio.force-legacy=false", "-device"),
        f"virtio-net-device,netdev=net1,mac={nic['guest_mac']}",
    ]
