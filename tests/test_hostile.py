"""Hostile guests: each tries to escape or exhaust, and must end with a clear message.

The host process (and QEMU) must survive every case, and the exit code and message
must say what happened. Modules are written in WAT here and assembled with wat2wasm.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from wkcli import TRAP_EXIT

TARGETS = ["x86_64-spt", "x86_64-kvm"]


def _assemble(tmp_path: Path, name: str, wat: str) -> Path:
    if shutil.which("wat2wasm") is None:
        pytest.skip("wat2wasm (Debian: wabt) is not installed")
    src = tmp_path / f"{name}.wat"
    src.write_text(wat)
    out = tmp_path / f"{name}.wasm"
    subprocess.run(["wat2wasm", "--enable-all", str(src), "-o", str(out)], check=True)
    return out


def _run(
    tmp_path: Path,
    target: str,
    name: str,
    wat: str,
    *run_flags: str,
    timeout: float = 120,
    build_flags: tuple[str, ...] = (),
) -> subprocess.CompletedProcess[str]:
    if target.endswith("kvm") and shutil.which("qemu-system-x86_64") is None:
        pytest.skip("qemu-system-x86_64 is not installed")
    wasm = _assemble(tmp_path, name, wat)
    image = tmp_path / f"{name}-{target}.img"
    cli = [sys.executable, "-m", "wasmkiln.pyhook.cli.main"]
    build = subprocess.run(
        [*cli, "build", str(wasm), "--target", target, "-o", str(image), *build_flags],
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert build.returncode == 0, build.stderr
    return subprocess.run(
        [*cli, "run", *run_flags, str(image)], capture_output=True, text=True, timeout=timeout
    )


def _start(body: str, extra: str = "") -> str:
    return f'(module (memory 1 1) {extra} (func (export "_start") {body}))'


# (access, address of the first byte, whether it is in bounds) at the end of one page
EDGES = [
    (op, 65536 - size + delta, delta <= 0)
    for op, size in [
        ("i32.load8_u", 1),
        ("i32.load16_u", 2),
        ("i32.load", 4),
        ("i64.load", 8),
        ("f32.load", 4),
        ("f64.load", 8),
    ]
    for delta in (0, 1)
]


@pytest.mark.parametrize("target", TARGETS)
def test_loads_at_the_end_of_memory(target: str, tmp_path: Path) -> None:
    # One module, one access per run selected by argv length, would need WASI; instead
    # each edge is its own tiny module, all built and run on the target.
    for op, addr, ok in EDGES:
        proc = _run(
            tmp_path, target, f"edge_{op}_{addr}", _start(f"(drop ({op} (i32.const {addr})))")
        )
        if ok:
            assert proc.returncode == 0, (op, addr, proc.stderr)
        else:
            assert proc.returncode == TRAP_EXIT, (op, addr, proc.stderr)
            assert "out of bounds memory access" in proc.stderr


@pytest.mark.parametrize("target", TARGETS)
def test_store_offset_wraps_nothing(target: str, tmp_path: Path) -> None:
    # address + offset overflows 32 bits: must trap, never wrap around to low memory
    proc = _run(
        tmp_path,
        target,
        "wrap",
        _start("(i64.store offset=0xfffffff8 (i32.const 0x10) (i64.const -1))"),
    )
    assert proc.returncode == TRAP_EXIT and "out of bounds memory access" in proc.stderr


# Unbounded recursion: must end at the stack limit with a trap, never overflow the stack.
RECURSE = """(module (func $f (param i64) (result i64)
               (i64.add (call $f (i64.add (local.get 0) (i64.const 1))) (i64.const 1)))
             (func (export "_start") (drop (call $f (i64.const 0)))))"""


@pytest.mark.parametrize("target", TARGETS)
def test_deep_recursion_is_a_trap(target: str, tmp_path: Path) -> None:
    proc = _run(tmp_path, target, "recurse", RECURSE)
    assert proc.returncode == TRAP_EXIT, proc.stderr
    assert "call stack exhausted" in proc.stderr


def test_deep_recursion_with_the_stack_above_4_gib(tmp_path: Path) -> None:
    """With 10 GiB the runtime's region (and the run's stack at its bottom) is QEMU's RAM above
    4 GiB, mapped with 1 GiB pages: the stack's guard page splits one (mmu_x86_64.c) and the
    run still boots and traps cleanly at the stack limit."""
    proc = _run(tmp_path, "x86_64-kvm", "recurse_high", RECURSE, "--memory", "10240")
    assert proc.returncode == TRAP_EXIT, proc.stderr
    assert "call stack exhausted" in proc.stderr


@pytest.mark.parametrize("target", TARGETS)
def test_memory_grow_to_the_maximum(target: str, tmp_path: Path) -> None:
    # grow by the whole 4 GiB space: either it succeeds (spt reserves it) or returns -1
    # (kvm has 256 MiB); a second grow past 65536 pages must return -1; no crash either way
    body = """(if (i32.eq (memory.grow (i32.const 65535)) (i32.const -1))
                (then (if (i32.ne (memory.grow (i32.const 1)) (i32.const 1)) (then unreachable)))
                (else (if (i32.ne (memory.grow (i32.const 1)) (i32.const -1)) (then unreachable))
                      (i32.store (i32.const 0xfffffffc) (i32.const 7))))"""
    proc = _run(tmp_path, target, "grow", f'(module (memory 1) (func (export "_start") {body}))')
    assert proc.returncode == 0, proc.stderr


TABLE = """(type $v (func)) (type $i (func (result i32)))
           (table 2 funcref) (elem (i32.const 0) $ok)
           (func $ok (type $v))"""


@pytest.mark.parametrize(
    ("name", "call", "message"),
    [
        ("oob", "(call_indirect (type $v) (i32.const 2))", "undefined element"),
        ("null", "(call_indirect (type $v) (i32.const 1))", "uninitialized element"),
        ("sig", "(drop (call_indirect (type $i) (i32.const 0)))", "indirect call type mismatch"),
        ("huge", "(call_indirect (type $v) (i32.const -1))", "undefined element"),
    ],
)
def test_table_abuse(name: str, call: str, message: str, tmp_path: Path) -> None:
    wat = f'(module {TABLE} (func (export "_start") {call}))'
    proc = _run(tmp_path, "x86_64-spt", f"table_{name}", wat)
    assert proc.returncode == TRAP_EXIT and message in proc.stderr, proc.stderr


@pytest.mark.parametrize("target", TARGETS)
def test_busy_loop_ends_with_timeout(target: str, tmp_path: Path) -> None:
    proc = _run(tmp_path, target, "spin", _start("(loop $l (br $l))"), "--timeout", "2")
    assert proc.returncode != 0
    assert "did not finish within 2 s" in proc.stderr
    assert "Traceback" not in proc.stderr


# ---- WASI: escapes through paths, guest pointers out of range, descriptor exhaustion ----------
# Each check: (call, allowed errnos). EPERM 63 / ENOTCAPABLE 76 for escapes (docs/fs.md),
# EFAULT 21 for pointers outside linear memory, ENAMETOOLONG 37 for a 2 GiB path length.
WASI_ESCAPES = """(module
  (import "wasi_snapshot_preview1" "path_open" (func $path_open
    (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_close" (func $fd_close (param i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $proc_exit (param i32)))
  (memory 1)
  (data (i32.const 0) "../f.txt")
  (data (i32.const 16) "/etc/passwd")
  (data (i32.const 32) "out/passwd")
  (data (i32.const 48) "abs")
  (data (i32.const 64) "f.txt")
  (data (i32.const 80) "fail ?\\n")
  (func $open (param $path i32) (param $len i32) (result i32)
    (call $path_open (i32.const 3) (i32.const 1) (local.get $path) (local.get $len)
      (i32.const 0) (i64.const 2) (i64.const 0) (i32.const 0) (i32.const 200)))
  (func $check (param $id i32) (param $got i32) (param $a i32) (param $b i32)
    (if (i32.and (i32.ne (local.get $got) (local.get $a)) (i32.ne (local.get $got) (local.get $b)))
      (then
        (i32.store8 (i32.const 85) (i32.add (i32.const 65) (local.get $id)))
        (i32.store (i32.const 300) (i32.const 80))
        (i32.store (i32.const 304) (i32.const 7))
        (drop (call $fd_write (i32.const 1) (i32.const 300) (i32.const 1) (i32.const 308)))
        (call $proc_exit (i32.add (i32.const 100) (local.get $got))))))
  (func $esc (param $id i32) (param $got i32)  ;; an escape: EPERM or ENOTCAPABLE
    (call $check (local.get $id) (local.get $got) (i32.const 63) (i32.const 76)))
  (func $ok (param $id i32) (param $got i32)
    (call $check (local.get $id) (local.get $got) (i32.const 0) (i32.const 0)))
  (func (export "_start") (local $e i32) (local $n i32) (local $last i32)
    (call $esc (i32.const 0) (call $open (i32.const 0) (i32.const 8)))
    (call $esc (i32.const 1) (call $open (i32.const 16) (i32.const 11)))
    (call $esc (i32.const 2) (call $open (i32.const 32) (i32.const 10)))
    (call $esc (i32.const 3) (call $open (i32.const 48) (i32.const 3)))
    (call $ok (i32.const 4) (call $open (i32.const 64) (i32.const 5)))
    ;; iovecs outside memory, and an iovec whose buffer runs past its end
    (call $check (i32.const 5) (call $fd_write (i32.const 1) (i32.const 0xfffffff0) (i32.const 1)
      (i32.const 308)) (i32.const 21) (i32.const 21))
    (i32.store (i32.const 300) (i32.const 64))
    (i32.store (i32.const 304) (i32.const 0xffffffff))
    (call $check (i32.const 6) (call $fd_write (i32.const 1) (i32.const 300) (i32.const 1)
      (i32.const 308)) (i32.const 21) (i32.const 21))
    (call $check (i32.const 7) (call $open (i32.const 64) (i32.const 0x7fffffff)) (i32.const 21)
      (i32.const 37))
    ;; open the same file until the descriptor table is full
    (block $full (loop $more
      (local.set $e (call $open (i32.const 64) (i32.const 5)))
      (br_if $full (local.get $e))
      (local.set $last (i32.load (i32.const 200)))
      (local.set $n (i32.add (local.get $n) (i32.const 1)))
      (br_if $more (i32.lt_u (local.get $n) (i32.const 200000)))))
    (if (i32.eq (local.get $e) (i32.const 41)) (then (local.set $e (i32.const 33))))  ;; ENFILE
    (call $check (i32.const 8) (local.get $e) (i32.const 33) (i32.const 48))  ;; EMFILE, ENOMEM
    (call $ok (i32.const 9) (i32.lt_u (local.get $n) (i32.const 1000)))
    ;; one closed, one more open succeeds
    (call $ok (i32.const 10) (call $fd_close (local.get $last)))
    (call $ok (i32.const 11) (call $open (i32.const 64) (i32.const 5))))
)"""


@pytest.mark.parametrize("target", TARGETS)
def test_wasi_escapes_bad_pointers_and_fd_exhaustion(target: str, tmp_path: Path) -> None:
    box = tmp_path / "box"
    box.mkdir()
    (box / "f.txt").write_text("inside\n")
    (box / "out").symlink_to("../../etc")  # packed as links: resolved inside the guest's tree
    (box / "abs").symlink_to("/etc/passwd")
    proc = _run(
        tmp_path,
        target,
        "wasi_escape",
        WASI_ESCAPES,
        build_flags=("--dir", f"{box}::/box"),
        timeout=300,
    )
    # a failing check prints "fail X" (X = A + its index) and exits 100 + the errno it got
    assert proc.returncode == 0, (proc.returncode, proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stderr


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize(
    ("name", "decl"),
    [("table", "(table 0xfffffff funcref) (memory 1)"), ("memory", "(memory 65536)")],
)
def test_huge_initial_allocations(target: str, name: str, decl: str, tmp_path: Path) -> None:
    """A 2 GiB table or a 4 GiB memory at instantiation: spt reserves them lazily and runs;
    kvm's guest RAM cannot hold them and must say so in one line; the memory before booting
    (pyhook/run/guestmem.py: memory 0's pages come from a kernel heap of at most 4 GiB)."""
    proc = _run(tmp_path, target, f"huge_{name}", f'(module {decl} (func (export "_start")))')
    assert "Traceback" not in proc.stderr
    if proc.returncode != 0:
        assert proc.returncode == 1 and "does not fit" in proc.stderr, proc.stderr
        assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    else:
        assert target.endswith("spt"), "kvm: neither fits a guest's RAM or kernel heap"
    if target.endswith("kvm") and name == "memory":  # the run alone, timed: no boot
        image = tmp_path / f"huge_{name}-{target}.img"
        cli = [sys.executable, "-m", "wasmkiln.pyhook.cli.main", "run", str(image)]
        t0 = time.monotonic()
        again = subprocess.run(cli, capture_output=True, text=True, timeout=120)
        seconds = time.monotonic() - t0
        assert (again.returncode, again.stderr.split(" (")[0]) == (
            1,
            "wasmkiln: error: memory of 65536 pages does not fit in the machine's memory",
        ), again.stderr
        assert seconds < 5, f"refused after {seconds:.1f} s: after booting a guest, not before"
