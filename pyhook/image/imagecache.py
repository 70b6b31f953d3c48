"""The image cache of `wasmkiln run MODULE.wasm`: bounded, least recently used out first.

`run` builds a module into `$XDG_CACHE_HOME/wasmkiln/images/<name>-<key><suffix>` (the key is
`BuildPlan.cache_key`: everything that shapes the image). Every distinct `--dir` content adds
a full image, so the cache is bounded: after a build, the least recently used images go until
the total is under the cap (`WASMKILN_CACHE_MAX_SIZE`, default `DEFAULT_MAX_SIZE`). "Used" is
the file's modification time, which a cache hit sets to now: access times are not reliable
(relatime, noatime mounts). The image just built is never evicted, even when it alone is over
the cap: the run needs it. `wasmkiln cache` lists and cleans the cache.

A new image is written under a temporary name and renamed into place, so a concurrent run never
sees a half-written image under the final name.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "DEFAULT_MAX_SIZE",
    "MAX_SIZE_ENV",
    "CacheEntry",
    "cache_dir",
    "entries",
    "evict",
    "format_size",
    "max_size",
    "parse_size",
    "remove_partial",
    "use",
]

MAX_SIZE_ENV = "WASMKILN_CACHE_MAX_SIZE"
"""Environment variable with the cache's cap: bytes, or a number with K, M, G (powers of 1024)."""

DEFAULT_MAX_SIZE = 2 << 30
"""2 GiB: hundreds of ordinary images (0.2-2 MB each), or a few with large packed folders."""

_PARTIAL = ".partial-"
_UNITS = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}


class CacheError(ValueError):
    """A cache setting that cannot be read (a malformed size)."""


@dataclass(frozen=True)
class CacheEntry:
    path: Path
    size: int
    used: float  # seconds since the epoch: the last build or cache hit


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "wasmkiln" / "images"


def parse_size(text: str) -> int:
    """`2G`, `500M`, `64k`, `1.5G`, `1000` (bytes); an optional trailing `B`/`iB` is allowed."""
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([KMGT]?)(?:I?B)?\s*", text.upper())
    if m is None:
        raise CacheError(f"not a size: {text!r} (examples: 2G, 500M, 1048576)")
    return int(float(m.group(1)) * _UNITS[m.group(2)])


def max_size() -> int:
    """The cap: `WASMKILN_CACHE_MAX_SIZE` when set, else DEFAULT_MAX_SIZE."""
    text = os.environ.get(MAX_SIZE_ENV)
    if not text:
        return DEFAULT_MAX_SIZE
    try:
        return parse_size(text)
    except CacheError as e:
        raise CacheError(f"{MAX_SIZE_ENV}: {e}") from None


def format_size(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    raise AssertionError("unreachable")


def entries(folder: Path | None = None) -> list[CacheEntry]:
    """The cached images, least recently used first (half-written ones are left out)."""
    folder = folder or cache_dir()
    found: list[CacheEntry] = []
    try:
        names = list(os.scandir(folder))
    except FileNotFoundError:
        return []
    for e in names:
        if e.name.startswith(_PARTIAL) or not e.is_file(follow_symlinks=False):
            continue
        try:
            st = e.stat(follow_symlinks=False)
        except FileNotFoundError:  # evicted by a concurrent run
            continue
        found.append(CacheEntry(Path(e.path), st.st_size, st.st_mtime))
    found.sort(key=lambda c: (c.used, c.path.name))
    return found


def evict(limit: int, keep: Path | None = None, folder: Path | None = None) -> list[CacheEntry]:
    """Remove least recently used images until the total is at most `limit` bytes; never
    `keep`. Returns what was removed."""
    current = entries(folder)
    total = sum(c.size for c in current)
    removed: list[CacheEntry] = []
    for c in current:
        if total <= limit:
            break
        if keep is not None and c.path == keep:
            continue
        try:
            c.path.unlink()
        except FileNotFoundError:
            pass
        total -= c.size
        removed.append(c)
    return removed


def remove_partial(folder: Path | None = None, older_than: float = 3600) -> None:
    """Remove temporary files of builds that died (older than `older_than` seconds: a
    younger one may belong to a build still running)."""
    folder = folder or cache_dir()
    now = time.time()
    for p in folder.glob(f"{_PARTIAL}*"):
        try:
            if now - p.stat().st_mtime > older_than:
                p.unlink()
        except FileNotFoundError:
            pass


def use(name: str, build: Callable[[Path], object]) -> Path:
    """The cached image `name`: touched when present (a use), else built by `build(path)`
    into a temporary file, renamed into place, and the cache trimmed to its cap."""
    folder = cache_dir()
    out = folder / name
    try:
        os.utime(out)
        return out
    except FileNotFoundError:
        pass
    limit = max_size()  # a malformed setting fails before the build, not after
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / f"{_PARTIAL}{os.getpid()}-{time.monotonic_ns()}-{name}"
    try:
        build(tmp)
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
    evict(limit, keep=out, folder=folder)
    return out
