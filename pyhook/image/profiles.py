"""Build profiles, cargo-style: a name that stands for a set of compiler choices.

`dev` favours compile speed (Cranelift), `release` favours the speed of the code (LLVM -O2).
The mapping of `release` to LLVM lives in `RELEASE_BACKEND` and nowhere else; a profile's
`opt-level` picks LLVM's optimisation level (`Profile.compile_backend`). Custom profiles come
from a manifest (`[profile.NAME]`, see manifest.py) and must say which profile they start from
(`inherits`), as cargo's do, so that every profile resolves to a complete set of settings.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

__all__ = [
    "BACKENDS",
    "BUILTIN_PROFILES",
    "DEFAULT_PROFILE",
    "PIPELINES",
    "Profile",
    "ProfileError",
    "RELEASE_BACKEND",
    "resolve_profile",
]

BACKENDS: tuple[str, ...] = ("cranelift", "llvm", "llvm-O0")
"""Backends this wasmkiln can compile with (bridge.compile.compile_wasm's `backend`)."""

RELEASE_BACKEND = "llvm"
"""The backend of `release`: LLVM, the optimising tier (at the profile's opt-level, 2, with the
tiered pipeline: -O2 everywhere but in very large modules, docs/build-hooks.md)."""

DEFAULT_PROFILE = "dev"

PIPELINES: tuple[str, ...] = ("tiered", "full")
"""LLVM -O2's pass pipelines for a profile: `tiered` (release's) compiles a module of over
bridge.codegen.TIER_ABOVE operators with -O2 for its small functions and a light pipeline
for the rest (python.wasm: 31.5M operators, ~25 -> ~11 minutes on 2 cores); smaller
modules get -O2 everywhere either way. `full`: -O2 for every function, whatever the size."""


class ProfileError(Exception):
    """An unknown profile, or a custom profile that does not resolve."""


@dataclass(frozen=True)
class Profile:
    """What a profile decides. Every field feeds the build stamp, so changing one rebuilds."""

    name: str
    backend: str
    opt_level: int  # 0-3; used by the LLVM backend, recorded (and ignored) for Cranelift
    trap_unknown_imports: bool = False  # link unprovided imports as trapping stubs
    debug: bool = False  # keep the runtime's DWARF in the image (pyhook.image.image.build_image)
    target_cpu: str = "baseline"  # LLVM only: "baseline", "native" or a level (bridge/cpu.py)
    # LLVM at opt-level 2 only: "tiered" gives the -O2 pipeline to the small functions of a
    # very large module and a light one to the rest (bridge/codegen.py "llvm-tiered"); "full"
    # gives -O2 to every function.
    pipeline: str = "full"

    @property
    def unknown_imports(self) -> str:
        """The value bridge.compile_wasm's `unknown_imports` takes for this profile."""
        return "trap" if self.trap_unknown_imports else "error"

    @property
    def compile_backend(self) -> str:
        """The value bridge.compile_wasm's `backend` takes: LLVM at this profile's opt-level."""
        if self.backend == "llvm" and self.opt_level != 2:
            return f"llvm-O{self.opt_level}"
        if self.backend == "llvm" and self.pipeline == "tiered":
            return "llvm-tiered"
        return self.backend

    def describe(self) -> str:
        debug = ", debug info" if self.debug else ""
        return f"{self.name} ({self.backend}, opt-level {self.opt_level}{debug})"


BUILTIN_PROFILES: dict[str, Profile] = {
    "dev": Profile("dev", "cranelift", 0),
    "release": Profile("release", RELEASE_BACKEND, 2, pipeline="tiered"),
}


def resolve_profile(name: str, custom: dict[str, dict[str, object]] | None = None) -> Profile:
    """Return the profile called `name`, a built-in one or one declared in a manifest.

    `custom` maps profile names to their manifest tables, already checked for key names and
    types by manifest.py: `inherits` (required), `backend`, `opt-level`, `trap-unknown-imports`,
    `debug` (keep debug info in the image; images are stripped by default, being 3-4x smaller),
    `target-cpu` (the x86-64 level LLVM may assume, bridge/cpu.py: images stay portable unless
    asked; a profile with it must use the LLVM backend), `pipeline` ("tiered" or "full": LLVM
    -O2's passes for every function of a very large module, or only for its small ones; see
    PIPELINES).
    A custom profile may inherit from another custom profile; cycles are an error.
    """
    custom = custom or {}
    seen: list[str] = []

    def walk(current: str) -> Profile:
        if current in seen:
            chain = " -> ".join([*seen, current])
            raise ProfileError(f"profile inheritance loops: {chain}")
        seen.append(current)
        table = custom.get(current)
        if table is None:
            if current in BUILTIN_PROFILES:
                return BUILTIN_PROFILES[current]
            extra = [n for n in custom if n not in BUILTIN_PROFILES]
            known = ", ".join([*BUILTIN_PROFILES, *extra])
            raise ProfileError(f"unknown profile {current!r} (known profiles: {known})")
        parent = table.get("inherits")
        if parent is None:
            if current in BUILTIN_PROFILES:  # [profile.release] tweaks the built-in one
                base = BUILTIN_PROFILES[current]
            else:
                raise ProfileError(
                    f"profile {current!r} must say which profile it starts from, "
                    f'e.g. inherits = "release"'
                )
        elif parent == current and current in BUILTIN_PROFILES:
            base = BUILTIN_PROFILES[current]
        else:
            base = walk(str(parent))
        backend = str(table.get("backend", base.backend))
        if backend not in BACKENDS:
            raise ProfileError(
                f"profile {current!r}: backend {backend!r} is not available "
                f"(available: {', '.join(BACKENDS)})"
            )
        opt = table.get("opt-level", base.opt_level)
        if not isinstance(opt, int) or isinstance(opt, bool) or not 0 <= opt <= 3:
            raise ProfileError(f"profile {current!r}: opt-level must be 0, 1, 2 or 3")
        trap = table.get("trap-unknown-imports", base.trap_unknown_imports)
        debug = table.get("debug", base.debug)
        if not isinstance(debug, bool):
            raise ProfileError(f"profile {current!r}: debug must be true or false")
        cpu = table.get("target-cpu", base.target_cpu)
        try:
            from wasmkiln.bridge.cpu import check_backend  # not on `run IMAGE`'s path

            check_backend(str(cpu), backend)
        except ValueError as e:
            raise ProfileError(f"profile {current!r}: {e}") from None
        pipeline = table.get("pipeline", base.pipeline)
        if pipeline not in PIPELINES:
            raise ProfileError(
                f"profile {current!r}: pipeline must be one of {', '.join(PIPELINES)}"
            )
        return replace(
            base,
            name=current,
            backend=backend,
            opt_level=opt,
            trap_unknown_imports=bool(trap),
            debug=debug,
            target_cpu=str(cpu),
            pipeline=str(pipeline),
        )

    return walk(name)
