"""Where a module's memory, tables, globals and functions live at run time.

Backends ask this environment for places and never compute vmctx offsets
themselves, so the ABI (abi.py) is applied in exactly one spirit by every
backend. Each answer is a small fact: an offset, whether an extra
indirection is needed, a signature.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass

from . import abi
from .abi import Builtin
from .module import ExternKind, Func, FuncType, HeapType, Module, ValType, ValueType
from .reftypes import as_ref

I32, I64 = ValType.I32, ValType.I64


@dataclass(frozen=True)
class GlobalSlot:
    """A global's cell: `vmctx->globals + offset`; imported cells hold a pointer."""

    index: int
    type: ValueType
    imported: bool
    offset: int


def _sig(params: tuple[ValType, ...], results: tuple[ValType, ...] = ()) -> FuncType:
    return FuncType(params, results)


# Builtin signatures after the vmctx; references travel as i64 (pointers).
BUILTIN_TYPES: dict[Builtin, FuncType] = {
    Builtin.TRAP: _sig((I32,)),
    Builtin.MEMORY_GROW: _sig((I32, I64), (I64,)),
    Builtin.MEMORY_FILL: _sig((I32, I64, I32, I64)),
    Builtin.MEMORY_COPY: _sig((I32, I32, I64, I64, I64)),
    Builtin.MEMORY_INIT: _sig((I32, I32, I64, I32, I32)),
    Builtin.DATA_DROP: _sig((I32,)),
    Builtin.TABLE_GROW: _sig((I32, I64, I64), (I64,)),
    Builtin.TABLE_FILL: _sig((I32, I64, I64, I64)),
    Builtin.TABLE_COPY: _sig((I32, I32, I64, I64, I64)),
    Builtin.TABLE_INIT: _sig((I32, I32, I64, I32, I32)),
    Builtin.ELEM_DROP: _sig((I32,)),
    Builtin.EXN_NEW: _sig((I32, I32, I64), (I64,)),
    Builtin.EXN_REF: _sig((I64, I32)),
}


def canonical_type_ids(module: Module) -> list[int]:
    """Type index -> the first index with the same signature.

    The runtime maps signatures to runtime-wide ids (vmctx->type_ids) for
    call_indirect; the compiler uses this only to share signature objects.
    """
    first: dict[FuncType, int] = {}
    return [first.setdefault(t, i) for i, t in enumerate(module.types)]


def uses_exceptions(module: Module) -> bool:
    """A module can see an exception only if it has a tag, a try_table/try (found by the
    decoder), an exnref somewhere in its types, or calls that can reach another instance's
    code (a function imported from outside WASI, an imported table): that code may throw,
    and the exception must end this module's functions on its way out, not let them run on
    (found by the fuzzer: tests/fixtures/fuzz/exception-through-import.wasm)."""
    if module.exception_ops or module.tags or module.imported(ExternKind.TAG):
        return True
    if calls_foreign_code(module):
        return True
    return any(_is_exn(v) for t in module.types for v in (*t.params, *t.results)) or any(
        _is_exn(g.type) for g in module.all_globals()
    )


def calls_foreign_code(module: Module) -> bool:
    """Whether a call may reach another instance's code: a function imported from outside
    WASI (HOST_MODULES), or a table imported with whatever functions it holds."""
    return bool(_foreign_functions(module)) or bool(module.imported(ExternKind.TABLE))


def _foreign_functions(module: Module) -> set[int]:
    """The imported functions (by function index) that are not host code: another
    instance's, which may throw."""
    imported = [i for i in module.imports if i.kind == ExternKind.FUNC]
    return {n for n, imp in enumerate(imported) if imp.module not in HOST_MODULES}


def _is_exn(t: ValueType) -> bool:
    """exnref or (ref exn) (typed references spell the non-null one as a RefType)."""
    r = as_ref(t)
    return r is not None and r.heap == HeapType.EXN


# Set to 1, every call of a module that uses exceptions gets its check, as if every callee
# may throw: what bench/exceptions.py measures as the worst case. Not for production use.
CHECK_ALL_CALLS = "WASMKILN_EXCEPTION_CHECK_ALL_CALLS"
# Imports that are host functions in every image and never raise a Wasm exception.
HOST_MODULES = ("wasi_snapshot_preview1", "wasi_unstable")
_RAISING = ("throw", "throw_ref", "rethrow")
# Calls by function index, and through a table or a reference. A tail call (return_call*)
# counts like a call: the callee's exception ends the caller too, which its own caller checks.
_DIRECT = ("call", "return_call")
_INDIRECT = ("call_indirect", "return_call_indirect", "call_ref", "return_call_ref")


def throwing_functions(
    module: Module, bodies: Iterable[tuple[int, Func]] | None = None
) -> tuple[frozenset[int], bool]:
    """(the functions a call to which may end in an exception, whether a call_indirect may):
    computed once per module (kept in Module.throwing) so that calls to the others need no
    exception check. Conservative: a defined function may throw when it holds a throw,
    throw_ref or rethrow, calls one that may, or makes an indirect call that may; an
    imported function may unless it is WASI (host code); an indirect call may when any
    function may or a table is imported (it may hold other instances' functions).
    `bodies`: (index, function) of every defined function, for a streamed module whose
    `module.funcs` hold no bodies (parallel.Source.functions); else module.funcs."""
    if module.throwing is not None:
        return module.throwing
    first = module.num_imported_funcs
    if os.environ.get(CHECK_ALL_CALLS) == "1":  # bench/exceptions.py: the worst case
        module.throwing = (frozenset(range(first + len(module.funcs))), True)
        return module.throwing
    may = _foreign_functions(module)
    callers: dict[int, list[int]] = {}
    indirect: list[int] = []
    wanted = frozenset((*_DIRECT, *_INDIRECT, *_RAISING))
    if bodies is None:
        bodies = ((first + n, f) for n, f in enumerate(module.funcs))
    for index, f in bodies:
        for ins in f.body:
            if ins[0] in wanted:  # one set lookup per instruction: this loop sees them all
                op = ins[0]
                if op in _DIRECT:
                    callers.setdefault(ins[1], []).append(index)
                elif op in _INDIRECT:
                    indirect.append(index)
                else:
                    may.add(index)
    indirect_may = bool(may) or bool(module.imported(ExternKind.TABLE))
    if indirect_may:
        may.update(indirect)
    work = list(may)
    while work:  # everything that calls a function that may throw may throw too
        for caller in callers.get(work.pop(), ()):
            if caller not in may:
                may.add(caller)
                work.append(caller)
    if not indirect_may and may:  # an indirect call may now reach one that throws
        indirect_may = True
        work = [i for i in indirect if i not in may]
        may.update(work)
        while work:
            for caller in callers.get(work.pop(), ()):
                if caller not in may:
                    may.add(caller)
                    work.append(caller)
    module.throwing = (frozenset(may), indirect_may)
    return module.throwing


class ModuleEnv:
    """Answers "where is X" for one module; shared by every function it compiles."""

    def __init__(self, module: Module) -> None:
        self.module = module
        self.num_imported_funcs = module.num_imported_funcs
        self.memories = module.all_memories()
        self.has_memory = bool(self.memories)
        imported = [i.desc for i in module.imports if i.kind == ExternKind.GLOBAL]
        self.globals = [
            GlobalSlot(i, g.type, True, i * abi.GLOBAL_SIZE)  # type: ignore[union-attr]
            for i, g in enumerate(imported)
        ]
        base = len(self.globals)
        self.globals += [
            GlobalSlot(base + i, g.type.type, False, (base + i) * abi.GLOBAL_SIZE)
            for i, g in enumerate(module.globals)
        ]
        self.table_types = module.all_tables()
        self.memory_guard = module.memory_guard
        # Whether calls check for a pending exception (docs/abi.md "Exceptions"): only in a
        # module that can throw or catch, so other modules pay nothing.
        self.exceptions = uses_exceptions(module)
        self.tag_types = module.all_tags()
        self._func_types: dict[int, FuncType] = {}

    def mem_is64(self, mem: int) -> bool:
        """Memory `mem` takes i64 addresses (memory64)."""
        return self.memories[mem].is64

    def table_is64(self, table: int) -> bool:
        """Table `table` takes i64 indices (table64)."""
        return self.table_types[table].is64

    def memory_slot(self, mem: int) -> int:
        """Offset of memory `mem`'s wk_memory pointer in vmctx->memories."""
        return mem * 8

    def needs_bounds_check(self, offset: int, mem: int = 0) -> bool:
        """Whether an access to memory `mem` with this static offset needs an explicit check.

        Only memory 0, and only a memory32, has a guard reservation: every other memory
        (multiple memories) and every memory64 (whose addresses the reservation cannot
        cover) is checked explicitly. Subtle, and the only place that decides it. With
        guard-region memory (docs/abi.md "Linear memory") the runtime reserves 4 GiB +
        memory_guard bytes from the memory's base, only its size accessible: zext(addr) +
        offset + size stays inside that reservation when offset < memory_guard (addr < 4 GiB,
        size <= 8 <= the page past the guard), so an out-of-bounds access faults and becomes
        the MEM_OOB trap. A larger offset could jump past the reservation into other memory:
        it keeps its check.
        """
        if mem != 0 or self.memories[0].is64:
            return True
        return self.memory_guard == 0 or offset >= self.memory_guard

    def func_type(self, index: int) -> FuncType:
        """Function `index`'s type, looked up once per module (Module.func_type counts the
        imports on every call, and every call site asks)."""
        ftype = self._func_types.get(index)
        if ftype is None:
            ftype = self._func_types[index] = self.module.func_type(index)
        return ftype

    def func_is_imported(self, index: int) -> bool:
        """Imported functions carry their own vmctx in their record; ours use ours."""
        return index < self.num_imported_funcs

    def func_record(self, index: int) -> int:
        """Offset of function `index`'s wk_funcref in vmctx->funcs."""
        return index * abi.FUNCREF_SIZE

    def table_slot(self, index: int) -> int:
        """Offset of table `index`'s wk_table pointer in vmctx->tables."""
        return index * 8

    def type_id_slot(self, type_index: int) -> int:
        """Offset of the runtime signature id of `type_index` in vmctx->type_ids."""
        return type_index * 4

    def call_may_throw(self, func_index: int) -> bool:
        """Whether a call to this function needs the exception check (exceptions only)."""
        return func_index in throwing_functions(self.module)[0]

    def indirect_may_throw(self) -> bool:
        return throwing_functions(self.module)[1]

    def tag_slot(self, index: int) -> int:
        """Offset of tag `index`'s wk_tag pointer in vmctx->tags."""
        return index * 8

    def tag_params(self, index: int) -> tuple[ValueType, ...]:
        """The payload types of tag `index`."""
        return self.module.types[self.tag_types[index]].params

    def global_slot(self, index: int) -> GlobalSlot:
        return self.globals[index]
