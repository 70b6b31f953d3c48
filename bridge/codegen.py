"""Translate every function of a validated module into object code, on every core.

Functions are independent once the module is decoded, so a large module is
split into chunks of similar instruction counts, each compiled into its own
object by a forked worker (the decoded module is inherited, never pickled).
The objects are linked together; symbol names do not depend on the chunking.
Small modules stay in-process: a fork costs more than it saves.

This loop is the same for every backend: a `Backend` says only how to make a
ModuleBackend (backend.py) and from what size forking pays off. Backends are
imported lazily, so a Cranelift build never loads llvmlite and vice versa.
"""

from __future__ import annotations

import dataclasses
import multiprocessing
import os
from collections.abc import Callable
from dataclasses import dataclass

from .backend import ModuleBackend
from .cpu import check_backend
from .environ import throwing_functions, uses_exceptions
from .errors import UnsupportedError, WasmError
from .module import Module
from .translate import FunctionTranslator


class CompilerBug(Exception):
    """The backend failed on valid input (a Rust panic, an internal error)."""


@dataclass(frozen=True)
class Backend:
    """A code generator as the user names it, and how to drive it."""

    name: str  # as `--backend` spells it
    family: str  # "cranelift" | "llvm"
    opt_level: int  # LLVM's -O level; Cranelift always optimises for speed
    parallel_threshold: int  # instructions; below this one process is faster (measured)
    cpu: str = "baseline"  # LLVM only: "baseline" or an x86-64 psABI level (cpu.CPU_LEVELS)
    arch: str = "x86_64"  # what the code is for: x86_64 (every backend) or aarch64 (LLVM)

    def module(self, module: Module, pic: bool) -> ModuleBackend:
        """A fresh ModuleBackend for `module`; pic: position-independent code (shared objects)."""
        if self.family == "cranelift":
            from .cranelift_backend import CraneliftModule

            return CraneliftModule(module, pic=pic)
        from .llvm_backend import LLVMModule

        return LLVMModule(
            module, triple=LLVM_TRIPLES[self.arch], opt_level=self.opt_level, pic=pic, cpu=self.cpu
        )

    def symbols(self) -> tuple[Callable[[int], str], Callable[[int], str]]:
        """(symbol_name, trampoline_name) of this backend's objects."""
        if self.family == "cranelift":
            from .cranelift_backend import symbol_name, trampoline_name
        else:
            from .llvm_function import symbol_name, trampoline_name
        return symbol_name, trampoline_name


# LLVM costs more per instruction than Cranelift, so forking pays off on smaller modules.
BACKENDS: dict[str, Backend] = {
    "cranelift": Backend("cranelift", "cranelift", 0, 40_000),
    "llvm": Backend("llvm", "llvm", 2, 10_000),  # the release tier
    "llvm-O0": Backend("llvm-O0", "llvm", 0, 10_000),
    "llvm-O1": Backend("llvm-O1", "llvm", 1, 10_000),
    "llvm-O3": Backend("llvm-O3", "llvm", 3, 10_000),
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


@dataclass
class _Failure:
    """An exception of a forked worker, carried back as plain data and re-raised."""

    kind: str  # "wasm" | "bug"
    cls: str
    message: str
    section: str | None = None
    func: int | None = None
    offset: int | None = None


_FORKED: tuple[Module, Backend, bool] | None = None  # what workers inherit through fork


def compile_chunk(
    module: Module,
    indices: list[int],
    with_trampolines: bool,
    backend: Backend,
    pic: bool = False,
) -> bytes:
    """One object holding the functions `indices` (and every trampoline and host-call
    adapter if asked)."""
    mb = backend.module(module, pic)
    for i in indices:
        FunctionTranslator(module, mb.function()).translate(i)
    if with_trampolines:
        for t in range(len(module.types)):
            mb.trampoline(t)
        for f in range(module.num_imported_funcs):
            mb.hostcall(f)
    return mb.finish()


def _worker(indices: list[int], with_trampolines: bool) -> bytes | _Failure:
    assert _FORKED is not None
    module, backend, pic = _FORKED
    try:
        return compile_chunk(module, indices, with_trampolines, backend, pic)
    except WasmError as e:
        return _Failure("wasm", type(e).__name__, e.message, e.section, e.func, e.offset)
    except BaseException as e:  # PanicException is a BaseException
        return _Failure("bug", type(e).__name__, str(e))


def _chunks(module: Module, n: int) -> list[list[int]]:
    """Split function indices into n runs of similar size, keeping order."""
    first = module.num_imported_funcs
    sizes = [len(f.body) for f in module.funcs]
    target = sum(sizes) / n
    chunks: list[list[int]] = [[]]
    acc = 0
    for i, size in enumerate(sizes):
        if acc >= target * len(chunks) and len(chunks) < n:
            chunks.append([])
        chunks[-1].append(first + i)
        acc += size
    return chunks


def _raise(failure: _Failure) -> None:
    if failure.kind == "wasm":
        cls = UnsupportedError if failure.cls == "UnsupportedError" else WasmError
        raise cls(
            failure.message, section=failure.section, func=failure.func, offset=failure.offset
        )
    raise CompilerBug(f"{failure.cls}: {failure.message}")


def generate(
    module: Module,
    backend: Backend | str = "cranelift",
    *,
    pic: bool = False,
    jobs: int | None = None,
) -> list[bytes]:
    """Object files holding every defined function and every trampoline.

    pic: position-independent objects, for a shared object (the spec runner's host build).
    """
    global _FORKED
    if isinstance(backend, str):
        backend = backend_named(backend)
    total = sum(len(f.body) for f in module.funcs)
    jobs = jobs or len(os.sched_getaffinity(0))
    first = module.num_imported_funcs
    if jobs < 2 or total < backend.parallel_threshold or len(module.funcs) < 2:
        indices = list(range(first, first + len(module.funcs)))
        return [compile_chunk(module, indices, True, backend, pic)]
    chunks = _chunks(module, jobs)
    if uses_exceptions(module):
        throwing_functions(module)  # once, before the workers inherit the module
    _FORKED = (module, backend, pic)
    try:
        ctx = multiprocessing.get_context("fork")
        with ctx.Pool(len(chunks)) as pool:
            results = pool.starmap(_worker, [(c, i == 0) for i, c in enumerate(chunks)])
    finally:
        _FORKED = None
    objects = []
    for r in results:
        if isinstance(r, _Failure):
            _raise(r)
        else:
            objects.append(r)
    return objects
