"""A memory64 past 4 GiB in an image (issue 17 item 5), and initial memories that cannot fit.

spt: the runtime's region is `--memory` MiB of MAP_NORESERVE address space (default 16 GiB +
64 MiB, platform/spt/main_spt.c), so a memory64 grows past 4 GiB on a host with the RAM for
what it touches. kvm: the region is the largest RAM range of the guest (`--memory`; QEMU
splits x86_64 RAM around the PCI hole under 4 GiB, pyhook/run/guestmem.py ram_ranges), so
it grows past 4 GiB when --memory gives a range that large. Initial memories that cannot
fit are refused in one line: on kvm by the runner, before booting (guestmem refusal).

Each run touches a few pages only (TCG included): the stores at 4.5 GiB and at the last
bytes, and the trap one byte past the end.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from wkcli import TRAP_EXIT, need_target, wasmkiln

from wasmkiln.pyhook.run.guestmem import GIB, MIB, GuestMemory, ram_ranges

wasmtime = pytest.importorskip("wasmtime", reason="modules are written with wasmtime's wat2wasm")

PAGES_5_GIB = 81920


def _module(initial: int) -> str:
    """A memory64 of `initial` pages grown to 5 GiB (exit 3 when memory.grow says -1), then
    an i64 stored and loaded back at 4.5 GiB and at the last 8 bytes (exit 4, 5 when wrong),
    "grown" printed, and a load one byte past the end, which traps."""
    grow = PAGES_5_GIB - initial
    return f"""(module
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
  (memory i64 {initial})
  (data (i64.const 16) "grown\\n")
  (func (export "_start")
    (if (i64.eq (memory.grow (i64.const {grow})) (i64.const -1))
      (then (call $exit (i32.const 3))))
    (i64.store (i64.const 0x120000000) (i64.const 0x1122334455667788))
    (i64.store (i64.const 0x13ffffff8) (i64.const 42))
    (if (i64.ne (i64.load (i64.const 0x120000000)) (i64.const 0x1122334455667788))
      (then (call $exit (i32.const 4))))
    (if (i64.ne (i64.load (i64.const 0x13ffffff8)) (i64.const 42))
      (then (call $exit (i32.const 5))))
    (i32.store (i64.const 0) (i32.const 16))
    (i32.store (i64.const 4) (i32.const 6))
    (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))
    (drop (i64.load8_u (i64.const 0x140000000)))))
"""


def _image(tmp_path: Path, target: str, initial: int) -> Path:
    need_target(target)
    wasm = tmp_path / f"grow{initial}.wasm"
    wasm.write_bytes(bytes(wasmtime.wat2wasm(_module(initial))))
    image = tmp_path / f"grow{initial}.{'img' if target.endswith('kvm') else 'spt'}"
    built = wasmkiln("build", str(wasm), "--target", target, "-o", str(image))
    assert built.returncode == 0, built.stderr
    return image


def _run(target: str, image: Path, *flags: str) -> tuple[int, str, str, float]:
    accel = ["--accel", "tcg"] if target.endswith("kvm") else []
    t0 = time.monotonic()
    proc = wasmkiln("run", *accel, *flags, str(image), timeout=300)
    return proc.returncode, proc.stdout, proc.stderr, time.monotonic() - t0


def _need_host_ram(mib: int) -> None:
    """QEMU maps all of -m (backed only where touched): the host's overcommit heuristics
    refuse a mapping larger than its RAM and swap."""
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            total = int(line.split()[1]) // 1024
            if total < mib:
                pytest.skip(f"a {mib} MiB guest: this host has {total} MiB of RAM")
            return


GROWN = [
    ("x86_64-spt", ()),
    ("x86_64-kvm", ("--memory", "10240")),
    ("aarch64-kvm", ("--memory", "6144")),  # virt: one range, at 1 GiB
]


@pytest.mark.parametrize(("target", "flags"), GROWN)
def test_memory64_grows_past_4_gib(target: str, flags: tuple[str, ...], tmp_path: Path) -> None:
    """spt by default; x86_64-kvm with 10 GiB of RAM, whose range above 4 GiB is 7 GiB;
    aarch64-kvm with 6 GiB."""
    if flags:
        _need_host_ram(int(flags[1]))
    code, out, err, _ = _run(target, _image(tmp_path, target, 1), *flags)
    assert (code, out) == (TRAP_EXIT, "grown\n"), err
    assert err.strip() == "wasm trap: out of bounds memory access", err


# spt: 4 GiB + 64 MiB of region; x86_64-kvm: 6 GiB of RAM is 3 GiB under the PCI hole, 3
# above; aarch64-kvm: 4 GiB in one range.
SHORT = [("x86_64-spt", "4160"), ("x86_64-kvm", "6144"), ("aarch64-kvm", "4096")]


@pytest.mark.parametrize(("target", "mib"), SHORT)
def test_memory64_grow_fails_where_memory_does_not_allow(
    target: str, mib: str, tmp_path: Path
) -> None:
    """memory.grow returns -1 (the module exits 3), nothing crashes."""
    code, out, err, _ = _run(target, _image(tmp_path, target, 1), "--memory", mib)
    assert (code, out) == (3, ""), err


@pytest.mark.parametrize(("target", "mib"), SHORT)
def test_initial_memory64_that_cannot_fit_is_one_line(
    target: str, mib: str, tmp_path: Path
) -> None:
    """A 5 GiB initial memory64 runs with the default memory (kvm: sized past the PCI hole,
    guestmem.suggested_for) and is refused in one line, exit 1, with too little (kvm: by the
    runner, before booting: in well under a boot's time)."""
    image = _image(tmp_path, target, PAGES_5_GIB)
    machine = "microvm" if target.startswith("x86_64") else "virt"
    if target.endswith("kvm"):
        _need_host_ram(GuestMemory(1 * MIB, 0, PAGES_5_GIB * 65536).suggested_for(machine))
    code, out, err, _ = _run(target, image)
    assert (code, out) == (TRAP_EXIT, "grown\n"), err
    code, out, err, seconds = _run(target, image, "--memory", mib)
    assert (code, out) == (1, ""), err
    assert "memory" in err and "does not fit" in err and len(err.strip().splitlines()) == 1, err
    if target.endswith("kvm"):
        assert err.startswith("wasmkiln: error: memory of 81920 pages does not fit"), err
        assert seconds < 5, f"refused after {seconds:.1f} s: after a boot, not before"


def test_ram_ranges_follow_qemu() -> None:
    """What tests/test_memory64_grow.py's kvm runs measured: microvm keeps 3 GiB under the
    PCI hole, q35 2 GiB from 2.75 GiB of RAM on; aarch64's virt has one range."""
    assert ram_ranges(2048, "microvm") == [2 * GIB]
    assert ram_ranges(3072, "microvm") == [3 * GIB]
    assert ram_ranges(10240, "microvm") == [3 * GIB, 7 * GIB]
    assert ram_ranges(2048, "q35") == [2 * GIB]
    assert ram_ranges(3072, "q35") == [2 * GIB, 1 * GIB]
    assert ram_ranges(10240, "virt") == [10 * GIB]


def test_refusal_bounds() -> None:
    """Memory 0 as a memory32 of 65536 pages never fits (a 4 GiB kernel heap less its bitmap);
    a memory64 fits where one RAM range holds it; what the default gives fits; a guest too
    small to start is left to the platform's message."""
    full = GuestMemory(1 * MIB, 0, 4 * GIB, 4 * GIB)
    for mb in (128, 8192, 65536):
        assert "65536 pages does not fit" in (full.refusal(mb, "microvm") or ""), mb
    big64 = GuestMemory(1 * MIB, 0, 5 * GIB)
    assert big64.refusal(6144, "microvm") is not None
    assert big64.refusal(6144, "virt") is None
    assert big64.refusal(10240, "microvm") is None
    for machine in ("microvm", "q35", "virt"):
        assert big64.refusal(big64.suggested_for(machine), machine) is None, machine
    hello = GuestMemory(1 * MIB, 0, 64 << 10, 64 << 10)
    assert hello.refusal(128, "microvm") is None
    # too little RAM to start at all: the platform's "not enough memory" says so, not this
    assert hello.refusal(8, "microvm") is None
