"""The image cache of `wasmkiln run MODULE.wasm` (pyhook/image/buildplan.py,
pyhook/image/imagecache.py).

Issue 14: a cached image must not outlive what built it (wasmkiln, the runtime), the cache must
stay under its cap, least recently used images out first, and `wasmkiln cache` lists and
cleans it. Runs on spt (a plain process): what is tested is the key and the cache, not a target.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from guest_programs import compile_fixture
from wkcli import wasmkiln

from wasmkiln.pyhook.image import imagecache
from wasmkiln.pyhook.image.buildplan import BuildPlan
from wasmkiln.pyhook.image.profiles import BUILTIN_PROFILES
from wasmkiln.pyhook.image.runtime import ENV_VAR, runtime_dir
from wasmkiln.pyhook.image.targets import get_target

TARGET = "x86_64-spt"


def cached(cache: Path) -> list[Path]:
    folder = cache / "wasmkiln" / "images"
    return sorted(folder.iterdir()) if folder.is_dir() else []


def test_changed_runtime_rebuilds_the_cached_image(tmp_path: Path) -> None:
    runtime = tmp_path / "runtime"
    shutil.copytree(runtime_dir(), runtime)
    env = {ENV_VAR: str(runtime), "XDG_CACHE_HOME": str(tmp_path / "cache")}
    hello = str(compile_fixture("hello"))

    first = wasmkiln("run", "--target", TARGET, hello, "--", "kiln", env=env)
    assert first.returncode == 0 and "hello, kiln!" in first.stdout, first.stderr
    [image] = cached(tmp_path / "cache")
    built_at = image.stat().st_ino

    again = wasmkiln("run", "--target", TARGET, hello, env=env)  # a hit: the same file
    assert again.returncode == 0, again.stderr
    assert cached(tmp_path / "cache") == [image] and image.stat().st_ino == built_at

    # A reinstalled runtime: same files, new modification time. The old image must not run.
    lib = runtime / TARGET / f"libwasmkiln-{TARGET}.a"
    later = lib.stat().st_mtime_ns + 5_000_000_000
    os.utime(lib, ns=(later, later))
    rebuilt = wasmkiln("run", "--target", TARGET, hello, "--", "again", env=env)
    assert rebuilt.returncode == 0 and "hello, again!" in rebuilt.stdout, rebuilt.stderr
    assert len(cached(tmp_path / "cache")) == 2

    # A changed link script (the other half of "the runtime") rebuilds too.
    with (runtime / TARGET / "link.ld").open("a") as f:
        f.write("/* changed */\n")
    assert wasmkiln("run", "--target", TARGET, hello, env=env).returncode == 0
    assert len(cached(tmp_path / "cache")) == 3


def test_plan_identity_covers_the_build_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    plan = BuildPlan.resolve(get_target(TARGET), BUILTIN_PROFILES["dev"])
    wasm = compile_fixture("hello").read_bytes()
    monkeypatch.delenv("WASMKILN_EXPLICIT_BOUNDS", raising=False)
    key = plan.cache_key(wasm, "hello")
    assert plan.cache_key(wasm, "hello") == key  # stable
    assert plan.cache_key(wasm, "other") != key
    monkeypatch.setenv("WASMKILN_EXPLICIT_BOUNDS", "1")  # build_image reads it
    assert plan.cache_key(wasm, "hello") != key
    release = BuildPlan.resolve(get_target(TARGET), BUILTIN_PROFILES["release"])
    assert release.backend == "llvm-tiered" and release.cache_key(wasm, "hello") != key


def test_cache_hit_loads_no_compiler(tmp_path: Path) -> None:
    """The path that runs a cached image stays free of the compiler (its start-up is measured)."""
    env = {"XDG_CACHE_HOME": str(tmp_path / "cache")}
    hello = str(compile_fixture("hello"))
    assert wasmkiln("run", "--target", TARGET, hello, env=env).returncode == 0
    probe = (
        "import sys\n"
        "from wasmkiln.pyhook.cli.main import main\n"
        f"code = main(['run', '--target', '{TARGET}', {hello!r}])\n"
        "heavy = [m for m in sys.modules if m in ('llvmlite', 'cranelift', 'cffi')\n"
        "         or m.startswith('wasmkiln.bridge.') and m.split('.')[-1] in\n"
        "         ('compile', 'codegen', 'translate', 'decode', 'validate')]\n"
        "print('HEAVY', heavy, code)\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", probe],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **env},
    )
    assert "HEAVY [] 0" in proc.stdout, proc.stdout + proc.stderr


def _fake(folder: Path, name: str, size: int, used: float) -> Path:
    p = folder / name
    p.write_bytes(b"x" * size)
    os.utime(p, (used, used))
    return p


def test_evict_least_recently_used_first(tmp_path: Path) -> None:
    now = time.time()
    old = _fake(tmp_path, "old.spt", 1000, now - 300)
    mid = _fake(tmp_path, "mid.spt", 1000, now - 200)
    new = _fake(tmp_path, "new.spt", 1000, now - 100)
    _fake(tmp_path, ".partial-1-2-x.spt", 5000, now)  # a build in progress: not an entry
    assert [c.path for c in imagecache.entries(tmp_path)] == [old, mid, new]
    removed = imagecache.evict(2000, folder=tmp_path)
    assert [c.path for c in removed] == [old] and not old.exists() and mid.exists()
    removed = imagecache.evict(500, keep=mid, folder=tmp_path)  # the image a run needs stays
    assert [c.path for c in removed] == [new] and mid.exists()


def test_parse_size() -> None:
    assert imagecache.parse_size("1000") == 1000
    assert imagecache.parse_size("64k") == 64 << 10
    assert imagecache.parse_size("500M") == 500 << 20
    assert imagecache.parse_size("1.5GiB") == 3 << 29
    with pytest.raises(imagecache.CacheError, match="not a size"):
        imagecache.parse_size("lots")


def test_cache_cap_list_and_clean(tmp_path: Path) -> None:
    env = {"XDG_CACHE_HOME": str(tmp_path / "cache"), imagecache.MAX_SIZE_ENV: "1"}
    hello, args = str(compile_fixture("hello")), str(compile_fixture("exit"))
    assert wasmkiln("run", "--target", TARGET, hello, env=env).returncode == 0
    [first] = cached(tmp_path / "cache")
    assert wasmkiln("run", "--target", TARGET, args, env=env).returncode == 0
    [second] = cached(tmp_path / "cache")  # over the 1-byte cap: only the image just built
    assert second != first and second.name.startswith("exit-")

    env[imagecache.MAX_SIZE_ENV] = "1G"
    assert wasmkiln("run", "--target", TARGET, hello, env=env).returncode == 0
    listing = wasmkiln("cache", env=env)
    assert listing.returncode == 0, listing.stderr
    lines = listing.stdout.splitlines()
    assert lines[1].endswith(".spt") and "hello-" in lines[1]  # most recently used first
    assert "exit-" in lines[2] and lines[-1].startswith("2 image(s)")

    trim = wasmkiln("cache", "clean", "--max-size", "1", env=env)
    assert trim.returncode == 0 and "removed 2 image(s)" in trim.stderr, trim.stderr
    assert cached(tmp_path / "cache") == []

    bad = wasmkiln("run", "--target", TARGET, hello, env={**env, imagecache.MAX_SIZE_ENV: "x"})
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1, bad.stderr
    assert "WASMKILN_CACHE_MAX_SIZE: not a size: 'x'" in bad.stderr
