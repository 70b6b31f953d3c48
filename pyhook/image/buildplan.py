"""What to build, resolved once: the one value `build`, `run`, and manifest builds share.

A `BuildPlan` holds every choice that shapes an image (target, backend, unknown-import policy,
debug info, CPU level, packed folders, baked arguments, environment and ports). The profile is
resolved into it in one place (`BuildPlan.resolve`), and the cache key of `wasmkiln run` and the
stamp of a manifest build both come from `BuildPlan.identity`, which adds what the plan does not
choose but still shapes the image: wasmkiln's version, its compiler sources, the target's
installed runtime (library, link script, target.json, ABI headers) and the environment variables
the build reads. Anything missing from the identity would let a cached image outlive the
wasmkiln that built it (issue 14, bug 1), so a new input of `build_image` belongs here too.

Files are identified by path, size and modification time (ns), not by content: that is what
changes when wasmkiln is reinstalled or a source is edited, and it costs a `stat` per file on
the path that runs a cached image, where hashing a 2.5 MB runtime library would cost ~10 ms.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

from wasmkiln.bridge.cpu import check_backend, cpu_level

from .imageinfo import NetDefaults
from .pack import DirMapping, fingerprint
from .profiles import Profile, ProfileError
from .runtime import runtime_dir, target_dir
from .targets import Target

if TYPE_CHECKING:
    from collections.abc import Iterable

    from .image import BuildResult

__all__ = ["BuildPlan", "compiler_fingerprint", "runtime_fingerprint"]

UNKNOWN_IMPORTS = ("error", "trap", "default")
"""bridge.compile.bind_imports' policies a user may choose (`embed` is the spec runner's)."""

BUILD_ENV = ("CC", "WASMKILN_EXPLICIT_BOUNDS")
"""Environment variables build_image reads: the C compiler and the bounds-check switch."""


def _stat_identity(paths: Iterable[Path]) -> str:
    h = hashlib.sha256()
    for p in paths:
        try:
            st = p.stat()
        except OSError:
            h.update(f"{p}\0missing\0".encode())
            continue
        h.update(f"{p}\0{st.st_size}\0{st.st_mtime_ns}\0".encode())
    return h.hexdigest()


def _installed_version() -> str:
    """wasmkiln's installed version, from its dist-info folder's name. Not importlib.metadata:
    importing it (with email's parser) costs ~15 ms, which `wasmkiln run MODULE` pays on every
    cached run; a dist-info folder is found on sys.path the same way."""
    for entry in sys.path:
        for info in sorted(Path(entry or ".").glob("wasmkiln-*.dist-info")):
            return info.name[len("wasmkiln-") : -len(".dist-info")]
    return "unknown"


@cache
def compiler_fingerprint() -> str:
    """wasmkiln's version plus the identity of the Python code that writes an image: bridge/
    (the compiler) and pyhook/ (linking, packing, configuration)."""
    version = _installed_version()
    files: list[Path] = sorted(Path(__file__).parent.parent.rglob("*.py"))
    spec = importlib.util.find_spec("wasmkiln.bridge")
    if spec is not None and spec.submodule_search_locations:
        for loc in spec.submodule_search_locations:
            files.extend(sorted(Path(loc).rglob("*.py")))
    return f"{version}+{_stat_identity(files)[:16]}"


def runtime_fingerprint(triple: str) -> str:
    """The identity of the target's installed runtime: every file of its folder (library, link
    script, target.json) and the ABI headers the metadata is compiled against. Not cached: a
    long-lived process (a test session) may see the runtime reinstalled."""
    tdir = target_dir(triple)
    files = sorted(p for p in tdir.iterdir() if p.is_file())
    files += sorted((runtime_dir() / "include").rglob("*.h"))
    return f"{runtime_dir()}:{_stat_identity(files)[:16]}"


@dataclass(frozen=True)
class BuildPlan:
    """Every choice that shapes an image, resolved (see the module docstring)."""

    target: Target
    backend: str  # bridge.compile_wasm's `backend`, the profile's opt-level folded in
    unknown_imports: str = "error"  # UNKNOWN_IMPORTS
    debug: bool = False
    cpu: str = "baseline"  # as asked ("native" stays "native"; the identity holds its level)
    dirs: tuple[DirMapping, ...] = ()
    args: tuple[str, ...] = ()  # baked into the image
    env: tuple[str, ...] = ()  # baked into the image, "KEY=VALUE"
    net: NetDefaults = field(default_factory=NetDefaults)
    invoke: str | None = None  # a reactor's export to run instead of `_start`

    @classmethod
    def resolve(
        cls,
        target: Target,
        profile: Profile,
        *,
        backend: str | None = None,
        unknown_imports: str | None = None,
        debug: bool = False,
        cpu: str | None = None,
        dirs: Sequence[DirMapping] = (),
        args: Sequence[str] = (),
        env: Sequence[str] = (),
        net: NetDefaults | None = None,
        invoke: str | None = None,
    ) -> BuildPlan:
        """The profile's choices with the command line's overrides (None: the profile's).

        Raises ProfileError when the backend cannot honour the CPU level."""
        # A cross target may compile with another backend than the profile's (Cranelift is
        # x86_64-only): Target.backend_for; an explicit --backend it cannot honour is refused.
        chosen = (
            target.backend_for(backend, explicit=True)
            if backend
            else target.backend_for(profile.compile_backend, explicit=False)
        )
        level = cpu or profile.target_cpu
        try:
            check_backend(level, chosen)
        except ValueError as e:
            raise ProfileError(str(e)) from None
        policy = unknown_imports or profile.unknown_imports
        if policy not in UNKNOWN_IMPORTS:
            raise ProfileError(
                f"unknown-import policy {policy!r} is not one of {', '.join(UNKNOWN_IMPORTS)}"
            )
        return cls(
            target,
            chosen,
            policy,
            debug or profile.debug,
            level,
            tuple(dirs),
            tuple(args),
            tuple(env),
            net or NetDefaults(),
            invoke,
        )

    def identity(self, wasm: bytes, name: str) -> dict[str, object]:
        """Everything that shapes the image built from `wasm` under `name`, as JSON data.

        Reads the packed folders' metadata (PackError if one is missing) and the runtime's
        (RuntimeNotFound if the target is not installed)."""
        return {
            "wasm": hashlib.sha256(wasm).hexdigest(),
            "name": name,
            "compiler": compiler_fingerprint(),
            "runtime": runtime_fingerprint(self.target.triple),
            "env": {k: os.environ.get(k, "") for k in BUILD_ENV},
            "target": self.target.triple,
            "backend": self.backend,
            "unknown-imports": self.unknown_imports,
            "debug": self.debug,
            "target-cpu": cpu_level(self.cpu),  # "native" stands for this host's level
            "dirs": [f"{m.host}::{m.guest}" for m in self.dirs],
            "packed": fingerprint(self.dirs) if self.dirs else "",
            "args": list(self.args),
            "baked-env": list(self.env),
            "net": self.net.info(),
            "invoke": self.invoke,
        }

    def cache_key(self, wasm: bytes, name: str) -> str:
        """A short digest of `identity`: the name of the image in a cache."""
        text = repr(sorted(self.identity(wasm, name).items()))
        return hashlib.sha256(text.encode()).hexdigest()[:24]

    def build(self, wasm: bytes, out: Path, name: str) -> BuildResult:
        """Compile and link `wasm` into `out` (pyhook.image.image.build_image) as planned."""
        from .image import build_image  # the compiler: not imported to run a cached image

        return build_image(
            wasm,
            self.target,
            out,
            name=name,
            backend=self.backend,
            unknown_imports=self.unknown_imports,
            dirs=self.dirs,
            args=self.args,
            env=self.env,
            debug=self.debug,
            net=self.net,
            cpu=self.cpu,
            invoke=self.invoke,
        )
