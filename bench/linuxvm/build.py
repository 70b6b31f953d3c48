"""The seed's baseline: a Linux VM running the wasmtime CLI, built from Debian packages.

    python bench/linuxvm/build.py [--force]      # prints the QEMU command it would boot

Builds, into bench/.cache/linuxvm/ (nothing here is committed):
- ``vmlinuz``: Debian's kernel, from the package that ``linux-image-amd64`` depends on, fetched
  with ``apt-get download`` into a private folder and extracted with dpkg-deb (only the
  kernel file: the package's modules are not needed, since nothing here is a module: serial
  console and initramfs are built in). No system install.
- ``initramfs.cpio``: an uncompressed newc archive (decompressing 50 MiB under TCG would cost
  seconds that are not wasmtime's), written by this script: Debian's ``busybox-static`` as
  /bin/busybox with a few applets linked, the wasmtime CLI of bench/.venv with the shared
  libraries ``ldd`` lists for it at their host paths, hello modules precompiled by that
  wasmtime (``wasmtime compile --target x86_64-unknown-linux-gnu``: the baseline ISA, since
  QEMU's TCG CPU lacks some of this host's extensions) and /init.
- /init mounts /proc, /sys and /dev, runs ``wasmtime run --allow-precompiled
  /hello.cwasm ARGS`` (or what ``wasmk.cmd=`` on the kernel command line names), prints
  ``wasmk-exit=N`` and powers the machine off. QEMU is run with ``-no-reboot``: a poweroff or
  a panic both end the process.

``linuxvm_command`` gives the QEMU command: the same binary, machine type (microvm) and CPU
count (one) as the wasmkiln image, ``-kernel vmlinuz -initrd initramfs.cpio``. KVM is never
used: on this machine's PVM /dev/kvm a Linux guest does not boot in reasonable time.
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
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from benchlib import CACHE, REPO, BenchError, run_script, say, wasmtime_binary  # noqa: E402

OUT = CACHE / "linuxvm"
HELLO_WAT_WASM = REPO / "pyhook" / "examples" / "hello.wasm"
HELLO_C = REPO / "tests" / "fixtures" / "hello.c"
APPLETS = ["sh", "mount", "poweroff", "reboot", "echo", "cat", "sleep"]

INIT = """#!/bin/sh
# wasmkiln bench: Linux-VM baseline. Runs one wasmtime command and powers off.
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
cmd="/bin/wasmtime run --allow-precompiled /hello.cwasm"
for word in $(cat /proc/cmdline); do
  case "$word" in
    wasmk.cmd=*) cmd=$(echo "${word#wasmk.cmd=}" | sed 's/,/ /g') ;;
  esac
done
$cmd
echo "wasmk-exit=$?"
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
    proc = subprocess.run(["apt-get", "download", package], cwd=into, capture_output=True,
                          text=True)
    if proc.returncode != 0:
        raise BenchError(f"apt-get download {package} failed (run apt-get update first?): "
                         f"{proc.stderr.strip()[-400:]}")
    found = sorted(into.glob(f"{package}_*.deb"))
    if not found:
        raise BenchError(f"apt-get download {package} left no .deb in {into}")
    return found[-1]


def _kernel_package() -> str:
    proc = subprocess.run(["apt-cache", "depends", "linux-image-amd64"], capture_output=True,
                          text=True)
    m = re.search(r"Depends: (linux-image-[0-9][^\s]*-amd64)", proc.stdout)
    if m is None:
        raise BenchError("apt-cache depends linux-image-amd64 names no kernel package "
                         "(apt-get update first?)")
    return m.group(1)


def _extract_member(deb: Path, member_re: str, dest: Path) -> Path:
    """Extract the first file of deb's data archive whose path matches member_re."""
    listing = subprocess.run(["dpkg-deb", "--fsys-tarfile", str(deb)], capture_output=True,
                             check=True).stdout
    with tempfile.TemporaryDirectory() as tmp:
        tar = Path(tmp) / "data.tar"
        tar.write_bytes(listing)
        names = subprocess.run(["tar", "-tf", str(tar)], capture_output=True, text=True,
                               check=True).stdout.split()
        member = next((n for n in names if re.fullmatch(member_re, n)), None)
        if member is None:
            raise BenchError(f"{deb.name} holds no file matching {member_re}")
        subprocess.run(["tar", "-xf", str(tar), "-C", tmp, member], check=True)
        shutil.copyfile(Path(tmp) / member, dest)
    return dest


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
        subprocess.run(["clang-14", "--target=wasm32-wasi", "-O2", "-s", "-o", str(c_wasm),
                        str(HELLO_C)], check=True)
    out: dict[str, Path] = {}
    for name, wasm in (("hello", HELLO_WAT_WASM), ("hello-c", c_wasm)):
        cwasm = work / f"{name}.cwasm"
        subprocess.run([str(wasmtime), "compile", "--target", "x86_64-unknown-linux-gnu",
                        str(wasm), "-o", str(cwasm)], check=True)
        out[name] = cwasm
    return out


def build(force: bool = False) -> LinuxVM:
    OUT.mkdir(parents=True, exist_ok=True)
    kernel, initramfs = OUT / "vmlinuz", OUT / "initramfs.cpio"
    version_file = OUT / "kernel-version"
    if not force and kernel.exists() and initramfs.exists() and version_file.exists():
        return LinuxVM(kernel, initramfs, version_file.read_text().strip())
    debs = OUT / "debs"
    package = _kernel_package()
    kdeb = _apt_download(package, debs)
    _extract_member(kdeb, r"\./boot/vmlinuz-.*", kernel)
    version_file.write_text(package.removeprefix("linux-image-") + "\n")
    bdeb = _apt_download("busybox-static", debs)
    busybox = _extract_member(bdeb, r"\./bin/busybox", OUT / "busybox")

    wasmtime = wasmtime_binary()
    cpio = Cpio()
    for d in ("proc", "sys", "dev", "tmp", "root"):
        cpio.mkdir(d)
    cpio.file("bin/busybox", busybox.read_bytes(), 0o755)
    for applet in APPLETS:
        cpio.symlink(f"bin/{applet}", "busybox")
    cpio.symlink("bin/sed", "busybox")
    cpio.file("bin/wasmtime", wasmtime.read_bytes(), 0o755)
    for lib in _ldd(wasmtime):
        cpio.file(str(lib), lib.resolve().read_bytes(), 0o755)
    for name, cwasm in _hello_modules(wasmtime, OUT).items():
        cpio.file(f"{name}.cwasm", cwasm.read_bytes())
    cpio.file("init", INIT.encode(), 0o755)
    cpio.write(initramfs)
    say(f"built {kernel} ({kernel.stat().st_size} bytes, {package}) and {initramfs} "
        f"({initramfs.stat().st_size} bytes)")
    return LinuxVM(kernel, initramfs, version_file.read_text().strip())


def host_tsc_khz() -> int | None:
    """The host's TSC frequency (TCG's guest TSC ticks at the host's), from /proc/cpuinfo."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return None
    m = re.search(r"^cpu MHz\s*:\s*([0-9.]+)", text, re.M)
    return int(float(m.group(1)) * 1000) if m else None


def linuxvm_command(vm: LinuxVM, memory_mb: int, guest_cmd: list[str] | None = None) -> list[str]:
    """QEMU microvm under TCG, one vCPU, serial console on stdout.

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
    return [
        "qemu-system-x86_64",
        "-M", "microvm,pit=on,rtc=on,isa-serial=on",
        "-accel", "tcg", "-cpu", "max",
        "-m", str(memory_mb),
        "-nodefaults", "-no-user-config", "-nographic", "-no-reboot",
        "-serial", "stdio",
        "-kernel", str(vm.kernel), "-initrd", str(vm.initramfs),
        "-append", append,
    ]


def main() -> int:
    ap = argparse.ArgumentParser(description="build the Linux-VM baseline")
    ap.add_argument("--force", action="store_true", help="rebuild even if the outputs exist")
    args = ap.parse_args()
    vm = build(args.force)
    print(" ".join(linuxvm_command(vm, 256)))
    return 0


if __name__ == "__main__":
    run_script(main)
