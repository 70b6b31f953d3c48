"""Build and run options around WASI: baked args/env, --dir on run, preview 0, unknown imports.

Small hand-written modules (WAT, assembled with WABT's wat2wasm) keep each check to the one
thing it is about. Everything runs on spt (fast); the kvm path shares all of it but the boot.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from wkcli import wasmkiln

TARGET = "x86_64-spt"

# Prints its argv and environ (one per line, "a:" / "e:" prefixed), via wasi_snapshot_preview1.
ECHO_WAT = r"""
(module
  (import "wasi_snapshot_preview1" "args_sizes_get" (func $as (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "args_get" (func $ag (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "environ_sizes_get" (func $es (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "environ_get" (func $eg (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write" (func $w (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 16) "a:e:\n")
  (func $put (param $p i32) (param $n i32)
    (i32.store (i32.const 0) (local.get $p)) (i32.store (i32.const 4) (local.get $n))
    (drop (call $w (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8))))
  (func $strlen (param $p i32) (result i32) (local $n i32)
    (block $done (loop $l
      (br_if $done (i32.eqz (i32.load8_u (i32.add (local.get $p) (local.get $n)))))
      (local.set $n (i32.add (local.get $n) (i32.const 1))) (br $l)))
    (local.get $n))
  (func $dump (param $count i32) (param $ptrs i32) (param $tag i32) (local $i i32) (local $s i32)
    (block $done (loop $l
      (br_if $done (i32.ge_u (local.get $i) (local.get $count)))
      (local.set $s (i32.load (i32.add (local.get $ptrs) (i32.shl (local.get $i) (i32.const 2)))))
      (call $put (local.get $tag) (i32.const 2))
      (call $put (local.get $s) (call $strlen (local.get $s)))
      (call $put (i32.const 20) (i32.const 1))
      (local.set $i (i32.add (local.get $i) (i32.const 1))) (br $l))))
  (func (export "_start")
    (drop (call $as (i32.const 32) (i32.const 36)))
    (drop (call $ag (i32.const 1024) (i32.const 4096)))
    (call $dump (i32.load (i32.const 32)) (i32.const 1024) (i32.const 16))
    (drop (call $es (i32.const 32) (i32.const 36)))
    (drop (call $eg (i32.const 2048) (i32.const 8192)))
    (call $dump (i32.load (i32.const 32)) (i32.const 2048) (i32.const 18))))
"""

# Preview 0: seeking stdout is ESPIPE (70) whatever the whence numbering; the file "f" of
# the preopen at fd 3 has size 5, read through the preview 0 filestat layout (size @24).
P0_WAT = r"""
(module
  (import "wasi_unstable" "fd_write" (func $w (param i32 i32 i32 i32) (result i32)))
  (import "wasi_unstable" "fd_seek" (func $seek (param i32 i64 i32 i32) (result i32)))
  (import "wasi_unstable" "path_filestat_get"
    (func $stat (param i32 i32 i32 i32 i32) (result i32)))
  (import "wasi_unstable" "proc_exit" (func $exit (param i32)))
  (memory (export "memory") 1)
  (data (i32.const 16) "p0\n")
  (data (i32.const 32) "f")
  (func (export "_start")
    (i32.store (i32.const 0) (i32.const 16)) (i32.store (i32.const 4) (i32.const 3))
    (drop (call $w (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))
    (if (i32.ne (call $seek (i32.const 1) (i64.const 0) (i32.const 2) (i32.const 64))
                (i32.const 70)) (then (call $exit (i32.const 1))))
    (if (call $stat (i32.const 3) (i32.const 1) (i32.const 32) (i32.const 1) (i32.const 128))
      (then (call $exit (i32.const 2))))
    (call $exit (i32.wrap_i64 (i64.load (i32.const 152))))))
"""

# Imports that no runtime provides (sightglass's timing hooks) and one that returns a value.
BENCH_WAT = r"""
(module
  (import "bench" "start" (func $start))
  (import "bench" "end" (func $end))
  (import "env" "answer" (func $answer (param i32 f64) (result i64)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
  (func (export "_start")
    (call $start)
    (call $end)
    (call $exit (i32.add (i32.const 7) (i32.wrap_i64
      (call $answer (i32.const 1) (f64.const 2)))))))
"""


def wat(tmp: Path, name: str, text: str) -> Path:
    if shutil.which("wat2wasm") is None:
        pytest.skip("wat2wasm is not installed (Debian: wabt)")
    (tmp / f"{name}.wat").write_text(text)
    subprocess.run(
        ["wat2wasm", str(tmp / f"{name}.wat"), "-o", str(tmp / f"{name}.wasm")], check=True
    )
    return tmp / f"{name}.wasm"


def test_baked_args_and_env(tmp_path: Path) -> None:
    module = wat(tmp_path, "echo", ECHO_WAT)
    image = tmp_path / "echo.img"
    proc = wasmkiln(
        "build",
        str(module),
        "--target",
        TARGET,
        "-o",
        str(image),
        "--arg",
        "baked1",
        "--arg",
        "baked 2",
        "--env",
        "A=1",
        "--env",
        "B=baked",
    )
    assert proc.returncode == 0, proc.stderr
    proc = wasmkiln("run", "--env", "B=run", "--env", "C=3", str(image), "--", "x", "y")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == ("a:echo.img\na:baked1\na:baked 2\na:x\na:y\ne:A=1\ne:B=run\ne:C=3\n")
    proc = wasmkiln("run", str(image))
    assert proc.stdout == "a:echo.img\na:baked1\na:baked 2\ne:A=1\ne:B=baked\n"


def test_preview0_module_with_run_dir(tmp_path: Path) -> None:
    module = wat(tmp_path, "p0", P0_WAT)
    data = tmp_path / "data"
    data.mkdir()
    (data / "f").write_text("12345")
    cache = {"XDG_CACHE_HOME": str(tmp_path / "cache")}
    proc = wasmkiln("run", "--target", TARGET, "--dir", f"{data}::/", str(module), env=cache)
    assert proc.stdout == "p0\n", proc.stderr
    assert proc.returncode == 5, proc.stderr
    # The packed folder is part of the cached image's key: a change gives a new image.
    (data / "f").write_text("1234567")
    proc = wasmkiln("run", "--target", TARGET, "--dir", f"{data}::/", str(module), env=cache)
    assert proc.returncode == 7, proc.stderr
    assert len(list((tmp_path / "cache" / "wasmkiln" / "images").iterdir())) == 2


@pytest.mark.parametrize("target", ["x86_64-spt", "x86_64-kvm", "aarch64-kvm"])
def test_run_dir_on_a_built_image_replaces_its_folders(target: str, tmp_path: Path) -> None:
    """`wasmkiln run IMAGE --dir`: packed at run time and handed over at boot (x86_64 kvm: a
    PVH boot module; aarch64 kvm: the device tree's initrd; spt: a mapped file), in place of
    what the build packed."""
    qemu = {"x86_64-kvm": "qemu-system-x86_64", "aarch64-kvm": "qemu-system-aarch64"}
    if target in qemu and shutil.which(qemu[target]) is None:
        pytest.skip(f"{qemu[target]} is not installed")
    from wasmkiln.pyhook.image.targets import TARGETS as KNOWN
    from wasmkiln.pyhook.image.targets import runtime_built

    if not runtime_built(KNOWN[target]):
        pytest.skip(f"the {target} runtime was not built (Debian: gcc-aarch64-linux-gnu)")
    module = wat(tmp_path, "p0", P0_WAT)
    baked, given = tmp_path / "baked", tmp_path / "given"
    for folder, text in ((baked, "12345"), (given, "1234567")):
        folder.mkdir()
        (folder / "f").write_text(text)
    image = tmp_path / "p0.img"
    built = wasmkiln(
        "build", str(module), "--target", target, "--dir", f"{baked}::/", "-o", str(image)
    )
    assert built.returncode == 0, built.stderr
    assert wasmkiln("run", str(image)).returncode == 5
    proc = wasmkiln("run", str(image), "--dir", f"{given}::/")
    assert proc.returncode == 7, proc.stderr
    missing = wasmkiln("run", str(image), "--dir", str(tmp_path / "nope"))
    assert missing.returncode == 2 and "does not exist" in missing.stderr


def test_missing_dir_is_a_usage_error(tmp_path: Path) -> None:
    module = wat(tmp_path, "echo", ECHO_WAT)
    proc = wasmkiln("build", str(module), "--target", TARGET, "--dir", str(tmp_path / "nope"))
    assert proc.returncode == 2
    assert "does not exist" in proc.stderr


def test_unknown_imports(tmp_path: Path) -> None:
    module = wat(tmp_path, "bench", BENCH_WAT)
    image = tmp_path / "bench.img"
    proc = wasmkiln("build", str(module), "--target", TARGET, "-o", str(image))
    assert proc.returncode == 1
    for name in ("bench.start", "bench.end", "env.answer"):
        assert name in proc.stderr
    proc = wasmkiln(
        "build",
        str(module),
        "--target",
        TARGET,
        "-o",
        str(image),
        "--default-values-unknown-imports",
    )
    assert proc.returncode == 0, proc.stderr
    assert wasmkiln("run", str(image)).returncode == 7
    proc = wasmkiln(
        "build", str(module), "--target", TARGET, "-o", str(image), "--trap-unknown-imports"
    )
    assert proc.returncode == 0, proc.stderr
    proc = wasmkiln("run", str(image))
    assert proc.returncode == 134 and "wasm trap" in proc.stderr
