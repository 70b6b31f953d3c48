"""Translate every function of a validated module into object code, on every core.

Functions are independent once the module is decoded, so a large module is
split into chunks of similar instruction counts, each compiled into its own
object by a forked worker (the decoded module is inherited, never pickled).
The objects are linked together; symbol names do not depend on the chunking.
Small modules stay in-process: a fork costs more than it saves.
"""

from __future__ import annotations

import multiprocessing
import os
from dataclasses import dataclass

from .errors import UnsupportedError, WasmError
from .module import Module
from .translate import FunctionTranslator

PARALLEL_THRESHOLD = 40_000  # instructions; below this one process is faster
_FORKED: Module | None = None  # the module workers inherit through fork


class CompilerBug(Exception):
    """The backend failed on valid input (a Rust panic, an internal error)."""


@dataclass
class _Failure:
    kind: str  # "wasm" | "bug"
    cls: str
    message: str
    section: str | None = None
    func: int | None = None
    offset: int | None = None


def _compile_chunk(module: Module, indices: list[int], with_trampolines: bool) -> bytes:
    from .cranelift_backend import CraneliftModule

    cm = CraneliftModule(module)
    for i in indices:
        FunctionTranslator(module, cm.function()).translate(i)
    if with_trampolines:
        for t in range(len(module.types)):
            cm.trampoline(t)
    return cm.finish()


def _worker(indices: list[int], with_trampolines: bool) -> bytes | _Failure:
    assert _FORKED is not None
    try:
        return _compile_chunk(_FORKED, indices, with_trampolines)
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
        raise cls(failure.message, section=failure.section, func=failure.func,
                  offset=failure.offset)
    raise CompilerBug(f"{failure.cls}: {failure.message}")


def generate(module: Module, jobs: int | None = None) -> list[bytes]:
    """Object files holding every defined function and every trampoline."""
    global _FORKED
    total = sum(len(f.body) for f in module.funcs)
    jobs = jobs or len(os.sched_getaffinity(0))
    if jobs < 2 or total < PARALLEL_THRESHOLD or len(module.funcs) < 2:
        first = module.num_imported_funcs
        return [_compile_chunk(module, list(range(first, first + len(module.funcs))), True)]
    chunks = _chunks(module, jobs)
    _FORKED = module
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
