#!/usr/bin/env python3
"""Boot the x86_64 kvm platform alone under QEMU (TCG, microvm) and check it.

Builds unikernel/platform/kvm as a static library with CMake + ninja (a scratch
project that includes only that folder, with the repo's kernel compile flags),
links tests/kvm_platform/kvm_platform_test.c against it with the ldflags of
platform/kvm/target.json, and boots the image in several cases: arguments and
environment, clocks against host time, the exception handler, refused command
lines. Prints the QEMU command line and the boot-to-exit wall time (median of 5).

    python3 tests/kvm_platform/run_kvm_platform_test.py [--keep DIR]

Needs gcc, cmake, ninja, qemu-system-x86_64. Exit status 0 when all cases pass.
"""
from __future__ import annotations

import argparse
import json
import re
import resource
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
UNIKERNEL = REPO / "unikernel"
KVM_DIR = UNIKERNEL / "platform" / "kvm"
TEST_C = Path(__file__).resolve().parent / "kvm_platform_test.c"

QEMU = "qemu-system-x86_64"


def kernel_flags() -> list[str]:
    """The kernel compile flags, read from unikernel/CMakeLists.txt (no copy to drift)."""
    text = (UNIKERNEL / "CMakeLists.txt").read_text()
    m = re.search(r"set\(WK_FREESTANDING_FLAGS(.*?)\)", text, re.S)
    if not m:
        raise SystemExit("cannot find WK_FREESTANDING_FLAGS in unikernel/CMakeLists.txt")
    return m.group(1).split()


def build(work: Path) -> Path:
    proj = work / "proj"
    proj.mkdir()
    flags = " ".join(kernel_flags())
    (proj / "CMakeLists.txt").write_text(f"""\
cmake_minimum_required(VERSION 3.20)
project(wk_kvm_platform_test C ASM)
set(CMAKE_C_STANDARD 11)
set(CMAKE_C_STANDARD_REQUIRED ON)
set(CMAKE_C_EXTENSIONS OFF)
function(wk_layer name)
  target_compile_options(${{name}} PRIVATE {flags})
  target_include_directories(${{name}} PRIVATE {UNIKERNEL}/include)
endfunction()
add_subdirectory({KVM_DIR} kvm)
add_library(wasmkiln-x86_64-kvm STATIC $<TARGET_OBJECTS:wk_plat_kvm>)
""")
    bld = work / "build"
    subprocess.run(["cmake", "-S", proj, "-B", bld, "-G", "Ninja"], check=True,
                   stdout=subprocess.DEVNULL)
    subprocess.run(["ninja", "-C", bld], check=True, stdout=subprocess.DEVNULL)
    lib = bld / "libwasmkiln-x86_64-kvm.a"

    obj = work / "test.o"
    subprocess.run(["gcc", "-std=c11", *kernel_flags(), f"-I{UNIKERNEL}/include",
                    "-c", TEST_C, "-o", obj], check=True)
    target = json.loads((KVM_DIR / "target.json").read_text())
    ldflags = [f.replace("{dir}", str(KVM_DIR)) for f in target["ldflags"]]
    image = work / "kvm_platform_test.elf"
    subprocess.run(["gcc", *ldflags, obj, "-Wl,--whole-archive", lib,
                    "-Wl,--no-whole-archive", "-o", image], check=True)
    return image


def qemu_command(image: Path, append: str, out: Path, err: Path, ctl: Path) -> list[str]:
    """The command line the Python runner copies (see platform/kvm/README.md)."""
    return [
        QEMU, "-M", "microvm,pit=on,rtc=on,acpi=off", "-accel", "tcg", "-cpu", "max",
        "-m", "128", "-nodefaults", "-no-user-config", "-nographic", "-no-reboot",
        "-kernel", str(image), "-append", append,
        "-chardev", f"file,id=wkout,path={out}", "-serial", "chardev:wkout",
        "-chardev", f"file,id=wkerr,path={err}", "-device", "isa-serial,chardev=wkerr,index=1",
        "-chardev", f"file,id=wkctl,path={ctl}", "-device", "isa-serial,chardev=wkctl,index=2",
        "-device", "isa-debug-exit,iobase=0xf4,iosize=4",
    ]


class Run:
    def __init__(self, out: str, err: str, ctl: str, status: int, seconds: float,
                 cpu: float) -> None:
        self.out, self.err, self.ctl, self.status, self.seconds = out, err, ctl, status, seconds
        self.cpu = cpu  # host CPU seconds QEMU used (user + system)

    @property
    def exit_code(self) -> int | None:
        m = re.fullmatch(r"exit (-?\d+)\n", self.ctl)
        return int(m.group(1)) if m else None


def boot(image: Path, append: str, work: Path, show: bool = False) -> Run:
    out, err, ctl = work / "stdout", work / "stderr", work / "control"
    cmd = qemu_command(image, append, out, err, ctl)
    if show:
        print("qemu:", shlex.join(cmd))
    t0, r0 = time.perf_counter(), resource.getrusage(resource.RUSAGE_CHILDREN)
    proc = subprocess.run(cmd, timeout=60, stdin=subprocess.DEVNULL)
    seconds = time.perf_counter() - t0
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)
    return Run(out.read_text(errors="replace"), err.read_text(errors="replace"),
               ctl.read_text(errors="replace"), proc.returncode, seconds, cpu)


def run_all(work: Path) -> list[str]:
    """Build and boot every case in work; returns the names of the failed checks."""
    image = build(work)
    failures: list[str] = []

    def check(name: str, ok: bool, run: Run) -> None:
        print(f"{'ok  ' if ok else 'FAIL'} {name}")
        if not ok:
            failures.append(name)
            print(f"  status={run.status} control={run.ctl!r}\n  stdout={run.out!r}\n"
                  f"  stderr={run.err!r}")

    # 1. argv/env, stdout/stderr/control, clocks, entropy, memory.
    r = boot(image, "arg=prog arg=alice env=A%3D1", work, show=True)
    want = "arg prog\narg alice\nenv A=1\n"
    check("argv and env on stdout", r.out.startswith(want), r)
    check("stderr line", r.err == "hello from stderr\n", r)
    check("exit code 42 on the control channel", r.exit_code == 42, r)
    check("isa-debug-exit status (42 << 1) | 1", r.status == 85, r)
    for line in ("mem ok", "monotonic ok", "entropy ok", "stdin eof", "resolution 1"):
        check(line, line in r.out, r)
    m = re.search(r"realtime (\d+)", r.out)
    check("realtime within 5 s of the host", bool(m) and abs(int(m.group(1)) - time.time()) < 5, r)

    # 2. Percent-encoding, unknown tokens, empty values, spaces.
    r = boot(image, "console=ttyS0 arg=a%20b%25c arg= env=K%3Dv%C3%A9 junk arg=%7e", work)
    check("percent-decoding", r.out.startswith("arg a b%c\narg \narg ~\nenv K=v\u00e9\n")
          and r.exit_code == 43, r)

    # 3. The monotonic clock agrees with host time (300 ms busy wait).
    base = statistics.median(boot(image, "arg=prog", work).seconds for _ in range(3))
    r = boot(image, "arg=prog arg=wait", work)
    extra = r.seconds - base
    print(f"     300 ms of guest monotonic time took {extra * 1000:.0f} ms of host time")
    check("monotonic clock rate", 0.2 < extra < 0.6 and r.exit_code == 42, r)

    # 3b. Idle: 1 s in wk_plat_idle halts the vCPU (local APIC timer) instead of spinning,
    # so QEMU uses a small part of that second of host CPU (spinning: all of it).
    plain = statistics.median(boot(image, "arg=prog", work).cpu for _ in range(3))
    r = boot(image, "arg=prog arg=idle", work)
    m = re.search(r"idle ok after (\d+) halts", r.out)
    print(f"     1 s idle: {r.seconds * 1000:.0f} ms wall, {(r.cpu - plain) * 1000:.0f} ms of "
          f"host CPU over a plain boot, {m.group(1) if m else '?'} halts")
    check("idle 1 s: halted, little host CPU", m is not None and r.exit_code == 42
          and r.seconds >= 1.0 and r.cpu - plain < 0.3, r)

    # 4. A CPU exception: the guard page below the stack.
    r = boot(image, "arg=prog arg=crash", work)
    check("page fault reported, exit 139",
          r.exit_code == 139 and re.search(
              r"wasmkiln: guest crashed: page fault \(vector 14\) at rip=0x[0-9a-f]+\n", r.err)
          is not None, r)

    # 5. Refused command lines: exit 125 with a message.
    for name, append in [
        ("too many arguments", " ".join(["arg=x"] * 300)),
        ("bad escape", "arg=%zz"),
        ("truncated escape", "arg=ab%4"),
        ("NUL escape", "arg=a%00"),
    ]:
        r = boot(image, append, work)
        check(f"refused: {name}", r.exit_code == 125 and r.err.startswith("wasmkiln: "), r)
    r = boot(image, "arg=" + "y" * (16384 - 4), work)
    check("16384-byte command line accepted", r.exit_code == 41 and len(r.out) > 16380, r)
    r = boot(image, "arg=" + "y" * (16385 - 4), work)
    check("16385-byte command line refused", r.exit_code == 125, r)
    r = boot(image, " ".join(["arg=" + "y" * 10] * 256), work)
    check("256 arguments accepted", r.exit_code == 296 and r.out.count("arg y") == 256, r)

    # Boot-to-exit wall time.
    times = [boot(image, "arg=prog arg=alice env=A%3D1", work).seconds for _ in range(5)]
    print(f"boot-to-exit: median {statistics.median(times) * 1000:.1f} ms "
          f"(runs: {', '.join(f'{t * 1000:.0f}' for t in times)})")

    return failures


def test_kvm_platform(tmp_path: Path) -> None:
    """pytest entry: the same checks, skipped when the tools are missing."""
    import shutil

    import pytest

    missing = [t for t in (QEMU, "gcc", "cmake", "ninja") if shutil.which(t) is None]
    if missing:
        pytest.skip(f"needs {', '.join(missing)}")
    assert run_all(tmp_path) == []


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--keep", type=Path, help="build in this folder and keep it")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="wk-kvm-") as tmp:
        work = args.keep or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        failures = run_all(work)
    if failures:
        print(f"{len(failures)} failed: {', '.join(failures)}")
        return 1
    print("all passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
