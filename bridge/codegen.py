"""Translate every function of a validated module into object code, on every core.

Which backend, and how it is driven: a `Backend` says only how to make a ModuleBackend
(backend.py) and from what size forking pays off; parallel.py splits the functions into
chunks, forks one worker per core and streams the bodies of large modules. Backends are
imported lazily, so a Cranelift build never loads llvmlite and vice versa.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from . import parallel
from .backend import ModuleBackend
from .cpu import check_backend
from .module import Module
from .parallel import CompilerBug

__all__ = ["BACKENDS", "Backend", "CompilerBug", "backend_named", "generate", "generate_source"]


@dataclass(frozen=True)
class Backend:
    """A code generator as the user names it, and how to drive it."""

    name: str  # as `--backend` spells it
    family: str  # "cranelift" | "llvm"
    opt_level: int  # LLVM's -O level; Cranelift always optimises for speed
    parallel_threshold: int  # instructions; below this one process is faster (measured)
    cpu: str = "baseline"  # LLVM only: "baseline" or an x86-64 psABI level (cpu.CPU_LEVELS)
    arch: str = "x86_64"  # what the code is for: x86_64 (every backend) or aarch64 (LLVM)
    tier_above: int = 0  # LLVM: tier modules of more operators than this (0: never)
    hot_lines: int = 0  # in a tiered module: functions of more IR lines get the light pipeline

    def module(self, module: Module, pic: bool, tiered: bool = False) -> ModuleBackend:
        """A fresh ModuleBackend for `module`; pic: position-independent code (shared objects);
        tiered: the module is over `tier_above` (llvm_backend.TIERED_PASSES)."""
        if self.family == "cranelift":
            from .cranelift_backend import CraneliftModule

            return CraneliftModule(module, pic=pic)
        from .llvm_backend import LLVMModule

        return LLVMModule(
            module,
            triple=LLVM_TRIPLES[self.arch],
            opt_level=self.opt_level,
            pic=pic,
            cpu=self.cpu,
            hot_lines=self.hot_lines if tiered else None,
        )


TIER_ABOVE = 2_000_000
"""Operators above which llvm-tiered tiers a module (sqlite3: 0.35M; python.wasm: 31.5M)."""

HOT_LINES = 400
"""In a tiered module, functions of at most this many lines of LLVM IR (~2 per operator)
keep the -O2 pipeline."""

# LLVM costs more per instruction than Cranelift, so forking pays off on smaller modules.
BACKENDS: dict[str, Backend] = {
    "cranelift": Backend("cranelift", "cranelift", 0, 40_000),
    "llvm": Backend("llvm", "llvm", 2, 10_000),  # the release tier
    "llvm-O0": Backend("llvm-O0", "llvm", 0, 10_000),
    "llvm-O1": Backend("llvm-O1", "llvm", 1, 10_000),
    "llvm-O3": Backend("llvm-O3", "llvm", 3, 10_000),
    # The release profile's: -O2, but in a module of over TIER_ABOVE operators (python.wasm:
    # 31.5M) only functions of at most HOT_LINES lines of IR get the -O2 pipeline, the bulk a
    # light one (docs/performance.md "Release builds of very large modules").
    "llvm-tiered": Backend(
        "llvm-tiered", "llvm", 2, 10_000, tier_above=TIER_ABOVE, hot_lines=HOT_LINES
    ),
}


# The LLVM triple of each architecture's objects. The same ELF and calling convention (SysV,
# AAPCS64) as Linux, which is what the runtime's C compiler uses too.
LLVM_TRIPLES = {"x86_64": "x86_64-unknown-linux-gnu", "aarch64": "aarch64-unknown-linux-gnu"}


def backend_named(name: str, cpu: str = "baseline", arch: str = "x86_64") -> Backend:
    """The Backend called `name`, generating code for `cpu` (cpu.check_backend) of `arch`; a
    ValueError that lists the known names, or says why the pair cannot be, otherwise."""
    found = BACKENDS.get(name)
    if found is None:
        raise ValueError(f"unknown backend {name!r} (available: {', '.join(BACKENDS)})")
    if arch not in LLVM_TRIPLES:
        raise ValueError(f"unknown architecture {arch!r} (known: {', '.join(LLVM_TRIPLES)})")
    if found.family == "cranelift" and arch != "x86_64":
        raise ValueError(
            f"the Cranelift backend generates x86_64 code only (cranelift-py is "
            f"built for the host ISA): {arch} needs an LLVM backend"
        )
    if arch != "x86_64" and cpu != "baseline":
        raise ValueError(f"target-cpu {cpu!r} is an x86-64 level: {arch} takes the baseline")
    level = check_backend(cpu, name)
    chosen = found if cpu == "baseline" else dataclasses.replace(found, cpu=level)
    return chosen if arch == "x86_64" else dataclasses.replace(chosen, arch=arch)


def compile_chunk(
    module: Module,
    indices: list[int],
    with_trampolines: bool,
    backend: Backend,
    pic: bool = False,
) -> bytes:
    """One object holding the functions `indices` (and every trampoline if asked)."""
    obj, _ = parallel.compile_chunk(
        parallel.Source(module), indices, with_trampolines, lambda m: backend.module(m, pic)
    )
    return obj


def generate_source(
    source: parallel.Source,
    backend: Backend,
    *,
    pic: bool = False,
    jobs: int | None = None,
    progress: parallel.Progress | None = None,
) -> tuple[list[bytes], int]:
    """(objects holding every function of `source` and every trampoline, operators)."""
    # x86_64 only: AArch64 code generation at -O0 miscompiled tail calls (llvm_backend.py
    # target_machine), and `optnone` functions are generated as at -O0.
    tiered = backend.arch == "x86_64" and 0 < backend.tier_above < source.operators()
    return parallel.compile_source(
        source,
        lambda m: backend.module(m, pic, tiered),
        backend.family,
        backend.parallel_threshold,
        jobs=jobs,
        progress=progress,
    )


def generate(
    module: Module,
    backend: Backend | str = "cranelift",
    *,
    pic: bool = False,
    jobs: int | None = None,
) -> list[bytes]:
    """Object files holding every defined function and every trampoline of a decoded,
    validated module.

    pic: position-independent objects, for a shared object (the spec runner's host build).
    """
    if isinstance(backend, str):
        backend = backend_named(backend)
    objects, _ = generate_source(parallel.Source(module), backend, pic=pic, jobs=jobs)
    return objects
