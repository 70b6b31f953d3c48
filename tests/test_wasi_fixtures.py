"""File-system fixtures of our own, for what the wasi-testsuite does not cover.

tests/fixtures/fs/*.c: large files and append mode (fs_files), many files, listing while
removing, deep trees and a packed tree that is read, changed and renamed (fs_dirs). Each
runs with a prepared folder preopened as /work: in wasmtime (a fresh copy of the folder, which
wasmtime changes on the host) to pin the expected output, and in wasmkiln on both targets
(the folder packed into the image with --dir, changed only in memory). Also here: baked
arguments and environment, preview 0 modules and the unknown-import choices.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import NamedTuple

import pytest
from guest_programs import CACHE_DIR, CFLAGS, CLANG, FIXTURES_DIR, _cache_key, _clang_version
from wkcli import wasmkiln

TARGETS = ["x86_64-spt", "x86_64-kvm"]


class FsCase(NamedTuple):
    fixture: str
    args: tuple[str, ...]
    stdout: str

    @property
    def id(self) -> str:
        return self.fixture


FS_CASES = [
    FsCase(
        "fs_files",
        ("/work", "8"),
        "large: size 8388608\n"
        "large: read 8388608 bytes, 0 wrong, checksum 7e849dc5\n"
        "large: at 4194311: 149 24 155 (expected 149 24 155)\n"
        "large: last byte 124, end 8388608\n"
        "large: truncated to 1000\n"
        "append: position after writes 8\n"
        "append: 14 bytes: ONE\ntwo\nthree\n",
    ),
    FsCase(
        "fs_dirs",
        ("/work",),
        "many: 1500 entries, all present 1, sum 3372750\n"
        "many: removed 1500 while listing, 0 left\n"
        "deep: 60 levels, path of 194 bytes, read bottom\n"
        "deep: removed, stat gives No such file or directory\n"
        "packed: 301 entries: n000.txt n001.txt n002.txt n003.txt n004.txt n005.txt ...\n"
        "packed: 300 files, numbers sum 89700\n"
        "packed: leaf holds 42\n"
        "packed: n007 now 700\n"
        "packed: rename a tree ok\n"
        "packed: leaf via the new name holds 42\n",
    ),
]


def compile_fs_fixture(name: str) -> Path:
    """Compile tests/fixtures/fs/NAME.c like guest_programs.compile_fixture (same cache)."""
    source = FIXTURES_DIR / "fs" / f"{name}.c"
    version = _clang_version()
    if version is None:
        pytest.skip(f"{CLANG} not found: install clang-14, lld-14, wasi-libc (bash .ci/run does)")
    target = CACHE_DIR / f"fs-{name}-{_cache_key(source, version)}.wasm"
    if not target.is_file():
        CACHE_DIR.mkdir(parents=True, exist_ok=True)
        partial = target.with_suffix(f".{os.getpid()}.tmp")
        proc = subprocess.run(
            [CLANG, *CFLAGS, str(source), "-o", str(partial)], capture_output=True, text=True
        )
        if proc.returncode != 0:
            partial.unlink(missing_ok=True)
            if "file not found" in proc.stderr or "unable to find library" in proc.stderr:
                pytest.skip(f"{CLANG} cannot build wasm32-wasi programs: {proc.stderr[:200]}")
            raise RuntimeError(f"compiling {source.name} failed:\n{proc.stderr}")
        os.replace(partial, target)
    return target


def make_tree(root: Path) -> Path:
    """The folder preopened as /work: 300 numbered files and a 9-level tree in packed/."""
    packed = root / "packed"
    leaf_dir = packed.joinpath("tree", *"abcdefgh")
    leaf_dir.mkdir(parents=True)
    (leaf_dir / "leaf.txt").write_text("42\n")
    for i in range(300):
        (packed / f"n{i:03d}.txt").write_text(f"{i * 2}\n")
    return root


@pytest.mark.parametrize("case", FS_CASES, ids=lambda c: c.id)
def test_fs_fixture_in_wasmtime(case: FsCase, tmp_path: Path) -> None:
    wasmtime = pytest.importorskip("wasmtime", reason="the wasmtime package is in [test]")
    work = make_tree(tmp_path / "work")
    engine = wasmtime.Engine()
    linker = wasmtime.Linker(engine)
    linker.define_wasi()
    config = wasmtime.WasiConfig()
    config.argv = [case.fixture, *case.args]
    config.preopen_dir(str(work), "/work")
    config.stdout_file = str(tmp_path / "stdout")
    config.stderr_file = str(tmp_path / "stderr")
    store = wasmtime.Store(engine)
    store.set_wasi(config)
    module = wasmtime.Module.from_file(engine, str(compile_fs_fixture(case.fixture)))
    code = 0
    try:
        linker.instantiate(store, module).exports(store)["_start"](store)
    except wasmtime.ExitTrap as e:
        code = e.code
    assert (tmp_path / "stdout").read_text() == case.stdout, (tmp_path / "stderr").read_text()
    assert code == 0


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("case", FS_CASES, ids=lambda c: c.id)
def test_fs_fixture_in_wasmkiln(case: FsCase, target: str, tmp_path: Path) -> None:
    if target.endswith("-kvm") and shutil.which("qemu-system-x86_64") is None:
        pytest.skip("qemu-system-x86_64 is not installed")
    work = make_tree(tmp_path / "work")
    image = tmp_path / "image"
    wasm = compile_fs_fixture(case.fixture)
    proc = wasmkiln(
        "build", str(wasm), "--target", target, "--dir", f"{work}::/work", "-o", str(image)
    )
    assert proc.returncode == 0, proc.stderr
    proc = wasmkiln("run", str(image), "--", *case.args)
    assert proc.stdout == case.stdout, proc.stderr
    assert proc.returncode == 0, proc.stderr
    assert sorted(p.name for p in (work / "packed").iterdir())[:2] == ["n000.txt", "n001.txt"]
    assert (work / "packed" / "n007.txt").read_text() == "14\n", "the host folder was changed"
