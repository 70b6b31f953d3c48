"""Boot the Linux-VM baseline through wasmkiln's own runner (``wasmkiln run``'s kvm path).

    python vmrun.py --kernel VMLINUZ --initrd CPIO --append CMDLINE [--memory MIB]
                    [-p SPEC]... [--ip A.B.C.D/N --gateway A.B.C.D] [--accel A]
                    [--net-backend B]

Why not a QEMU command of our own: the benchmark's promise is that the Linux VM and the wasmkiln
image run under the same QEMU, machine type, memory, CPU count and *network backend*. The
runner (``wasmkiln.pyhook.run.runner``) is the one place that decides those for wasmkiln (QEMU's
argv in ``qemu_command``, the netdev from ``netopts``, and whatever helper process a backend
needs, such as passt), and it changes as wasmkiln's networking does. So this script calls
``runner.run_kvm`` itself and changes only what must differ for a Linux guest: the kernel
file, its command line, and an ``-initrd``. If the runner stops producing a ``-netdev`` for a
run with published ports, the script refuses rather than measure a VM without a network.
One machine option differs: ``acpi=off`` is dropped (see linux_qemu_command).

Run it with the Python that has wasmkiln installed; bench/linuxvm/build.py's
``runner_command`` builds the command line.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--kernel", type=Path, required=True)
    ap.add_argument("--initrd", type=Path, required=True)
    ap.add_argument("--append", required=True, help="the Linux kernel command line")
    ap.add_argument("--memory", type=int, default=None, metavar="MIB")
    ap.add_argument("-p", "--publish", action="append", default=[])
    ap.add_argument("--ip")
    ap.add_argument("--gateway")
    ap.add_argument("--accel", default="tcg", choices=["tcg", "kvm", "auto"])
    ap.add_argument(
        "--net-backend",
        help="the runner's kvm network back end, when it has a choice (RunOptions.net_backend)",
    )
    args = ap.parse_args()
    try:
        from wasmkiln.pyhook.run import runner
        from wasmkiln.pyhook.run.netopts import NetOptionError, NetOptions
    except ImportError as e:
        print(f"vmrun: wasmkiln is not installed for {sys.executable}: {e}", file=sys.stderr)
        return 2
    try:
        net = NetOptions.parse(publish=args.publish, listen=[], ip=args.ip, gateway=args.gateway)
    except NetOptionError as e:
        print(f"vmrun: {e}", file=sys.stderr)
        return 2
    opts = runner.RunOptions(accel=args.accel, net=net)
    if args.net_backend is not None:
        if not hasattr(opts, "net_backend"):
            print("vmrun: this wasmkiln's runner has no network back-end choice", file=sys.stderr)
            return 2
        opts.net_backend = args.net_backend
    if args.memory is not None:
        opts.memory_mb = args.memory
    wasmkiln_qemu_command = runner.qemu_command

    def linux_qemu_command(image: Path, run_opts: Any, *rest: Any, **kw: Any) -> list[str]:
        cmd: list[str] = wasmkiln_qemu_command(image, run_opts, *rest, **kw)
        if "-append" not in cmd or "-kernel" not in cmd:
            raise runner.RunError(
                "vmrun: the runner's QEMU command has no -kernel/-append "
                "any more; bench/linuxvm/vmrun.py needs updating"
            )
        if net.wanted and not any(a == "-netdev" or a.startswith("-netdev") for a in cmd):
            raise runner.RunError(
                "vmrun: the runner's QEMU command has no -netdev; the Linux "
                "VM would have no network (bench/linuxvm/vmrun.py)"
            )
        cmd[cmd.index("-append") + 1] = args.append
        # The one machine difference: Debian's kernel finds microvm's virtio-mmio NIC through
        # ACPI only (it is built without VIRTIO_MMIO_CMDLINE_DEVICES, so the
        # virtio_mmio.device= words QEMU adds with acpi=off are ignored), so ACPI stays on.
        m = cmd.index("-M") + 1
        cmd[m] = ",".join(o for o in cmd[m].split(",") if o != "acpi=off")
        cmd += ["-initrd", str(args.initrd)]
        print("vmrun: " + " ".join(cmd), file=sys.stderr, flush=True)
        return cmd

    # the runner's module-level name is what it calls
    runner.qemu_command = linux_qemu_command  # type: ignore[assignment]
    # The Linux console (COM1: kernel messages, /init, wasmtime's stdout and stderr) would
    # reach our stdout; send it to stderr, where callers look for a server's "ready" line
    # (tests/http_guests.launch), as for a wasmkiln guest, whose stderr is COM2.
    sys.stdout.flush()
    os.dup2(2, 1)
    try:
        return runner.run_kvm(args.kernel, opts)
    except runner.RunError as e:
        print(f"vmrun: {e}", file=sys.stderr)
        return e.exit_code


if __name__ == "__main__":
    sys.exit(main())
