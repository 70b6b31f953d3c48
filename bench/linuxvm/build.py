"""The seed's baseline: a Linux VM running the wasmtime CLI, built from Debian packages.

    python bench/linuxvm/build.py [--force]      # prints the QEMU command it would boot

Builds, into bench/.cache/linuxvm/ (nothing here is committed):
- ``vmlinuz``: Debian's kernel, from the package that ``linux-image-amd64`` depends on, fetched
  with ``apt-get download`` into a private folder and extracted with dpkg-deb: the kernel
  file, and the modules of its virtio-net stack (``virtio_mmio``, ``virtio_net`` and what
  their ``.modinfo`` says they depend on: Debian builds them as modules, while the serial
  console and initramfs support are built in). No system install.
- ``initramfs.cpio``: an uncompressed newc archive (decompressing 50 MiB under TCG would cost
  seconds that are not wasmtime's), written by this script: Debian's ``busybox-static`` as
  /bin/busybox with a few applets linked, the wasmtime CLI of bench/.venv with the shared
  libraries ``ldd`` lists for it at their host paths, hello modules precompiled by that
  wasmtime (``wasmtime compile --target x86_64-unknown-linux-gnu``: the baseline ISA, since
  QEMU's TCG CPU lacks some of this host's extensions) and /init.
- /init mounts /proc, /sys and /dev; with ``wasmk.net=ADDR/N,GATEWAY`` on the kernel command
  line it insmods the virtio-net modules and configures eth0 statically; then it runs
  ``wasmtime run --allow-precompiled /hello.cwasm ARGS`` (or what ``wasmk.cmd=`` names,
  commas for spaces), prints ``wasmk-exit=N`` (and ``exit N`` on COM3, the control port
  wasmkiln's runner reads) and powers the machine off. QEMU is run with ``-no-reboot``: a
  poweroff or a panic both end the process.
- ``initramfs-NAME.cpio`` (``build(payload=...)``): the same plus a payload's files, e.g. the
  HTTP benchmark's server.cwasm and its site (bench/http.py).

``linuxvm_command`` gives a QEMU command of its own (boot.py: hello, no network): the same
binary, machine type (microvm) and CPU count (one) as the wasmkiln image, ``-kernel vmlinuz
-initrd initramfs.cpio``. ``runner_command`` instead runs the VM through wasmkiln's own runner
(bench/linuxvm/vmrun.py), so that a networked Linux VM gets exactly the QEMU command, netdev
included, that ``wasmkiln run`` gives the wasmkiln image. KVM is never used: on this machine's
PVM /dev/kvm a Linux guest does not boot in reasonable time.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import stat
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from benchlib import CACHE, REPO, BenchError, run_script, say, wasmtime_binary  # noqa: E402

OUT = CACHE / "linuxvm"
HELLO_WAT_WASM = REPO / "pyhook" / "examples" / "hello.wasm"
HELLO_C = REPO / "tests" / "fixtures" / "hello.c"
APPLETS = ["sh", "mount", "poweroff", "reboot", "echo", "cat", "sleep", "sed", "insmod", "ip"]
NET_MODULES = ("virtio_mmio", "virtio_net")  # the NIC of QEMU microvm (wasmkiln's too)
LAYOUT = "4"  # bump when the initramfs' layout or /init changes: cached ones are rebuilt

INIT = """#!/bin/sh
# wasmkiln bench: Linux-VM baseline. Runs one wasmtime command and powers off.
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
cmd="/bin/wasmtime run --allow-precompiled /hello.cwasm"
net=""
for word in $(cat /proc/cmdline); do
  case "$word" in
    wasmk.cmd=*) cmd=$(echo "${word#wasmk.cmd=}" | sed 's/,/ /g') ;;
    wasmk.net=*) net="${word#wasmk.net=}" ;;
  esac
done
if [ -n "$net" ]; then
  for m in $(cat /modules/order); do
    # Module options from the kernel command line (MODULE.OPTION=VALUE), as modprobe
    # would pass them: the kernel applies them only to built-in code.
    opts=""
    for word in $(cat /proc/cmdline); do
      case "$word" in "$m".*=*) opts="$opts ${word#"$m".}" ;; esac
    done
    insmod "/modules/$m.ko" $opts || echo "wasmk: insmod $m failed"
  done
  n=0
  while [ ! -e /sys/class/net/eth0 ] && [ $n -lt 100 ]; do sleep 0.05; n=$((n + 1)); done
  ip link set lo up
  ip addr add "${net%,*}" dev eth0
  ip link set eth0 up
  ip route add default via "${net#*,}"
fi
$cmd
rc=$?
echo "wasmk-exit=$rc"
echo "exit $rc" 2>/dev/null > /dev/ttyS2  # COM3: the runner's control port, when there is one
poweroff -f
"""


@dataclass(frozen=True)
class LinuxVM:
    kernel: Path
    initramfs: Path
    kernel_version: str


# ---- Debian packages, without installing them ------------------------------------------------
def _apt_download(package: str, into: Path) -> Path:
    into.mkdir(parents=True, exist_ok=True)
    found = sorted(into.glob(f"{package}_*.deb"))
    if found:
        return found[-1]
    say(f"apt-get download {package}")
    proc = subprocess.run(
        ["apt-get", "download", package], cwd=into, capture_output=True, text=True
    )
    if proc.returncode != 0:
        raise BenchError(
            f"apt-get download {package} failed (run apt-get update first?): "
            f"{proc.stderr.strip()[-400:]}"
        )
    found = sorted(into.glob(f"{package}_*.deb"))
    if not found:
        raise BenchError(f"apt-get download {package} left no .deb in {into}")
    return found[-1]


def _kernel_package() -> str:
    proc = subprocess.run(
        ["apt-cache", "depends", "linux-image-amd64"], capture_output=True, text=True
    )
    m = re.search(r"Depends: (linux-image-[0-9][^\s]*-amd64)", proc.stdout)
    if m is None:
        raise BenchError(
            "apt-cache depends linux-image-amd64 names no kernel package (apt-get update first?)"
        )
    return m.group(1)


def _extract_members(deb: Path, member_res: list[str], dest: Path) -> dict[str, Path]:
    """Extract, for each regex, the first file of deb's data archive whose path matches it,
    into dest under its base name; regex -> extracted file."""
    data = subprocess.run(
        ["dpkg-deb", "--fsys-tarfile", str(deb)], capture_output=True, check=True
    ).stdout
    dest.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        tar = Path(tmp) / "data.tar"
        tar.write_bytes(data)
        names = subprocess.run(
            ["tar", "-tf", str(tar)], capture_output=True, text=True, check=True
        ).stdout.split()
        found: dict[str, Path] = {}
        for member_re in member_res:
            member = next((n for n in names if re.fullmatch(member_re, n)), None)
            if member is None:
                raise BenchError(f"{deb.name} holds no file matching {member_re}")
            subprocess.run(["tar", "-xf", str(tar), "-C", tmp, member], check=True)
            found[member_re] = dest / Path(member).name
            shutil.copyfile(Path(tmp) / member, found[member_re])
    return found


def _extract_member(deb: Path, member_re: str, dest: Path) -> Path:
    """Extract the first file of deb's data archive whose path matches member_re to dest."""
    got = _extract_members(deb, [member_re], dest.parent)[member_re]
    if got != dest:
        got.replace(dest)
    return dest


def _module_depends(ko: Path) -> list[str]:
    """The modules ko needs loaded first: the ``depends=`` entry of its ``.modinfo`` section
    (NUL-separated key=value strings; what modprobe reads through modules.dep, which the
    package does not ship: depmod writes it at install)."""
    m = re.search(rb"(?:^|\0)depends=([^\0]*)\0", ko.read_bytes())
    return [d.decode() for d in m.group(1).split(b",") if d] if m else []


def _extract_modules(kdeb: Path, dest: Path) -> list[str]:
    """NET_MODULES and everything they depend on, from the kernel package into dest as
    NAME.ko; their names in an order insmod accepts (dependencies first), also written to
    dest/order."""
    order: list[str] = []

    def visit(name: str, trail: tuple[str, ...]) -> None:
        if name in order:
            return
        if name in trail:
            raise BenchError(f"module dependency cycle: {' -> '.join((*trail, name))}")
        ko = dest / f"{name}.ko"
        if not ko.exists():
            pattern = r"\./lib/modules/[^/]+/kernel/.*/" + re.escape(name).replace("_", "[_-]")
            _extract_members(kdeb, [pattern + r"\.ko"], dest)
            got = next(dest.glob(f"{name.replace('_', '?')}.ko"), None)
            if got is None:
                raise BenchError(f"{kdeb.name}: no module {name}.ko")
            if got != ko:
                got.replace(ko)
        for dep in _module_depends(ko):
            visit(dep.replace("-", "_"), (*trail, name))
        order.append(name)

    for name in NET_MODULES:
        visit(name, ())
    (dest / "order").write_text("\n".join(order) + "\n")
    return order


# ---- the initramfs: a newc cpio written here ---------------------------------------------------
class Cpio:
    """A minimal writer of the "newc" format the kernel unpacks (see the kernel's
    Documentation/driver-api/early-userspace/buffer-format.rst)."""

    def __init__(self) -> None:
        self.chunks: list[bytes] = []
        self.ino = 1
        self.dirs: set[str] = set()

    def _entry(self, name: str, mode: int, data: bytes = b"") -> None:
        fields = [self.ino, mode, 0, 0, 1, 0, len(data), 0, 0, 0, 0, len(name) + 1, 0]
        header = b"070701" + b"".join(f"{f:08x}".encode() for f in fields)
        blob = header + name.encode() + b"\0"
        blob += b"\0" * (-len(blob) % 4)
        blob += data + b"\0" * (-len(data) % 4)
        self.chunks.append(blob)
        self.ino += 1

    def mkdir(self, path: str) -> None:
        parts = path.strip("/").split("/")
        for i in range(1, len(parts) + 1):
            d = "/".join(parts[:i])
            if d and d not in self.dirs:
                self.dirs.add(d)
                self._entry(d, stat.S_IFDIR | 0o755)

    def file(self, path: str, data: bytes, mode: int = 0o644) -> None:
        self.mkdir(os.path.dirname(path.strip("/")))
        self._entry(path.strip("/"), stat.S_IFREG | mode, data)

    def symlink(self, path: str, target: str) -> None:
        self.mkdir(os.path.dirname(path.strip("/")))
        self._entry(path.strip("/"), stat.S_IFLNK | 0o777, target.encode())

    def write(self, dest: Path) -> None:
        self._entry("TRAILER!!!", 0)
        data = b"".join(self.chunks)
        data += b"\0" * (-len(data) % 512)
        dest.write_bytes(data)


def _ldd(binary: Path) -> list[Path]:
    out = subprocess.run(["ldd", str(binary)], capture_output=True, text=True, check=True).stdout
    libs = []
    for line in out.splitlines():
        m = re.search(r"(/\S+) \(0x", line)
        if m:
            libs.append(Path(m.group(1)))
    return libs


def _hello_modules(wasmtime: Path, work: Path) -> dict[str, Path]:
    """hello.cwasm (the shipped WAT example) and hello-c.cwasm (tests/fixtures/hello.c)."""
    c_wasm = work / "hello-c.wasm"
    if not c_wasm.exists() or c_wasm.stat().st_mtime < HELLO_C.stat().st_mtime:
        subprocess.run(
            ["clang-14", "--target=wasm32-wasi", "-O2", "-s", "-o", str(c_wasm), str(HELLO_C)],
            check=True,
        )
    out: dict[str, Path] = {}
    for name, wasm in (("hello", HELLO_WAT_WASM), ("hello-c", c_wasm)):
        cwasm = work / f"{name}.cwasm"
        subprocess.run(
            [
                str(wasmtime),
                "compile",
                "--target",
                "x86_64-unknown-linux-gnu",
                str(wasm),
                "-o",
                str(cwasm),
            ],
            check=True,
        )
        out[name] = cwasm
    return out


@dataclass(frozen=True)
class Payload:
    """What an initramfs carries beyond the hello one: guest path -> host file. It is written
    to initramfs-NAME.cpio, rebuilt when a file changes."""

    name: str
    files: dict[str, Path]


def _kernel(force: bool) -> tuple[Path, list[str], str]:
    """vmlinuz, the network modules in load order, the kernel's version: fetched once."""
    kernel, version_file, modules = OUT / "vmlinuz", OUT / "kernel-version", OUT / "modules"
    if not force and kernel.exists() and version_file.exists() and (modules / "order").exists():
        return kernel, (modules / "order").read_text().split(), version_file.read_text().strip()
    package = _kernel_package()
    kdeb = _apt_download(package, OUT / "debs")
    _extract_member(kdeb, r"\./boot/vmlinuz-.*", kernel)
    shutil.rmtree(modules, ignore_errors=True)
    order = _extract_modules(kdeb, modules)
    version_file.write_text(package.removeprefix("linux-image-") + "\n")
    return kernel, order, version_file.read_text().strip()


def build(force: bool = False, payload: Payload | None = None) -> LinuxVM:
    OUT.mkdir(parents=True, exist_ok=True)
    kernel, modules, version = _kernel(force)
    name = "initramfs.cpio" if payload is None else f"initramfs-{payload.name}.cpio"
    initramfs, stamp = OUT / name, OUT / f"{name}.stamp"
    # What the archive was made from: a change in any of it rebuilds the archive.
    key = (
        "\n".join(
            [
                LAYOUT,
                version,
                *modules,
                *(
                    f"{guest} {f.stat().st_size} {f.stat().st_mtime_ns}"
                    for guest, f in sorted((payload.files if payload else {}).items())
                ),
            ]
        )
        + "\n"
    )
    if not force and initramfs.exists() and stamp.exists() and stamp.read_text() == key:
        return LinuxVM(kernel, initramfs, version)
    busybox = OUT / "busybox"
    if force or not busybox.exists():
        _extract_member(_apt_download("busybox-static", OUT / "debs"), r"\./bin/busybox", busybox)

    wasmtime = wasmtime_binary()
    cpio = Cpio()
    for d in ("proc", "sys", "dev", "tmp", "root"):
        cpio.mkdir(d)
    cpio.file("bin/busybox", busybox.read_bytes(), 0o755)
    for applet in APPLETS:
        cpio.symlink(f"bin/{applet}", "busybox")
    cpio.file("bin/wasmtime", wasmtime.read_bytes(), 0o755)
    for lib in _ldd(wasmtime):
        cpio.file(str(lib), lib.resolve().read_bytes(), 0o755)
    for mod in modules:
        cpio.file(f"modules/{mod}.ko", (OUT / "modules" / f"{mod}.ko").read_bytes())
    cpio.file("modules/order", (OUT / "modules" / "order").read_bytes())
    for hello, cwasm in _hello_modules(wasmtime, OUT).items():
        cpio.file(f"{hello}.cwasm", cwasm.read_bytes())
    for guest, f in (payload.files if payload else {}).items():
        cpio.file(guest, f.read_bytes())
    cpio.file("init", INIT.encode(), 0o755)
    cpio.write(initramfs)
    stamp.write_text(key)
    say(
        f"built {initramfs} ({initramfs.stat().st_size} bytes) for {kernel} "
        f"({kernel.stat().st_size} bytes, linux-image-{version}; modules {', '.join(modules)})"
    )
    return LinuxVM(kernel, initramfs, version)


def host_tsc_khz() -> int | None:
    """The host's TSC frequency (TCG's guest TSC ticks at the host's), from /proc/cpuinfo."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return None
    m = re.search(r"^cpu MHz\s*:\s*([0-9.]+)", text, re.M)
    return int(float(m.group(1)) * 1000) if m else None


def linux_append(guest_cmd: list[str] | None = None, net: str | None = None) -> str:
    """The Linux kernel command line: console on COM1, the /init options (``wasmk.cmd``: the
    command, commas for spaces; ``wasmk.net``: "ADDR/N,GATEWAY" for eth0).

    ``tsc_early_khz``: microvm has neither HPET nor an ACPI PM timer, so Linux calibrates the
    TSC against the PIT, and under TCG on a busy host that calibration fails often (measured: 6
    boots of 8 with the host under load); the kernel then marks the TSC unstable and hangs
    with no usable clocksource. Giving it the frequency, as a hypervisor's paravirtual clock
    would, makes every boot finish. It skips a calibration, it does not speed up anything else.
    """
    append = "console=ttyS0 quiet panic=-1 reboot=t"
    khz = host_tsc_khz()
    if khz:
        append += f" tsc_early_khz={khz}"
    if guest_cmd:
        append += " wasmk.cmd=" + ",".join(guest_cmd)
    if net:
        append += f" wasmk.net={net}"
    return append


def linuxvm_command(vm: LinuxVM, memory_mb: int, guest_cmd: list[str] | None = None) -> list[str]:
    """QEMU microvm under TCG, one vCPU, serial console on stdout, no network (boot.py)."""
    return [
        "qemu-system-x86_64",
        "-M",
        "microvm,pit=on,rtc=on,isa-serial=on",
        "-accel",
        "tcg",
        "-cpu",
        "max",
        "-m",
        str(memory_mb),
        "-nodefaults",
        "-no-user-config",
        "-nographic",
        "-no-reboot",
        "-serial",
        "stdio",
        "-kernel",
        str(vm.kernel),
        "-initrd",
        str(vm.initramfs),
        "-append",
        linux_append(guest_cmd),
    ]


def runner_command(
    vm: LinuxVM,
    memory_mb: int,
    guest_cmd: list[str],
    *,
    publish: list[str],
    ip: str,
    gateway: str,
    accel: str = "tcg",
    extra: Sequence[str] = (),
    python: str = sys.executable,
) -> list[str]:
    """The Linux VM booted by wasmkiln's runner (vmrun.py) with the network options of
    `wasmkiln run` (``-p``, ``--ip``, ``--gateway``): QEMU command, netdev and any helper
    process (passt) are the runner's, so this VM and a wasmkiln image run with the same
    options get the same machine, memory, accelerator and network backend. ``extra``: more
    `wasmkiln run` options vmrun.py passes on (``--net-backend B``). ``python`` must have
    wasmkiln installed."""
    cmd = [
        python,
        str(Path(__file__).resolve().parent / "vmrun.py"),
        "--kernel",
        str(vm.kernel),
        "--initrd",
        str(vm.initramfs),
        "--append",
        linux_append(guest_cmd, f"{ip},{gateway}"),
        "--memory",
        str(memory_mb),
        "--ip",
        ip,
        "--gateway",
        gateway,
        "--accel",
        accel,
        *extra,
    ]
    for spec in publish:
        cmd += ["-p", spec]
    return cmd


def main() -> int:
    ap = argparse.ArgumentParser(description="build the Linux-VM baseline")
    ap.add_argument("--force", action="store_true", help="rebuild even if the outputs exist")
    args = ap.parse_args()
    vm = build(args.force)
    print(" ".join(linuxvm_command(vm, 256)))
    return 0


if __name__ == "__main__":
    run_script(main)
