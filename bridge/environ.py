"""Where a module's memory, tables, globals and functions live at run time.

Backends ask this environment for places and never compute vmctx offsets
themselves, so the ABI (abi.py) is applied in exactly one spirit by every
backend. Each answer is a small fact: an offset, whether an extra
indirection is needed, a signature.
"""

from __future__ import annotations

from dataclasses import dataclass

from . import abi
from .abi import Builtin
from .module import ExternKind, FuncType, Module, ValType

I32, I64 = ValType.I32, ValType.I64


@dataclass(frozen=True)
class GlobalSlot:
    """A global's cell: `vmctx->globals + offset`; imported cells hold a pointer."""

    index: int
    type: ValType
    imported: bool
    offset: int


def _sig(params: tuple[ValType, ...], results: tuple[ValType, ...] = ()) -> FuncType:
    return FuncType(params, results)


# Builtin signatures after the vmctx; references travel as i64 (pointers).
BUILTIN_TYPES: dict[Builtin, FuncType] = {
    Builtin.TRAP: _sig((I32,)),
    Builtin.MEMORY_GROW: _sig((I32,), (I32,)),
    Builtin.MEMORY_FILL: _sig((I32, I32, I32)),
    Builtin.MEMORY_COPY: _sig((I32, I32, I32)),
    Builtin.MEMORY_INIT: _sig((I32, I32, I32, I32)),
    Builtin.DATA_DROP: _sig((I32,)),
    Builtin.TABLE_GROW: _sig((I32, I64, I32), (I32,)),
    Builtin.TABLE_FILL: _sig((I32, I32, I64, I32)),
    Builtin.TABLE_COPY: _sig((I32, I32, I32, I32, I32)),
    Builtin.TABLE_INIT: _sig((I32, I32, I32, I32, I32)),
    Builtin.ELEM_DROP: _sig((I32,)),
    Builtin.EXN_NEW: _sig((I32, I32, I64), (I64,)),
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
    decoder) or an exnref somewhere in its types."""
    if module.exception_ops or module.tags or module.imported(ExternKind.TAG):
        return True
    exn = ValType.EXNREF
    return any(exn in t.params or exn in t.results for t in module.types) or any(
        g.type == exn for g in module.all_globals()
    )


class ModuleEnv:
    """Answers "where is X" for one module; shared by every function it compiles."""

    def __init__(self, module: Module) -> None:
        self.module = module
        self.num_imported_funcs = module.num_imported_funcs
        self.has_memory = bool(module.memories) or any(
            i.kind == ExternKind.MEMORY for i in module.imports
        )
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
        tables = [i.desc for i in module.imports if i.kind == ExternKind.TABLE]
        self.table_types = tables + list(module.tables)
        self.memory_guard = module.memory_guard
        # Whether calls check for a pending exception (docs/abi.md "Exceptions"): only in a
        # module that can throw or catch, so other modules pay nothing.
        self.exceptions = uses_exceptions(module)
        self.tag_types = module.all_tags()

    def needs_bounds_check(self, offset: int) -> bool:
        """Whether a memory32 access with this static offset needs an explicit check.

        Subtle, and the only place that decides it. With guard-region memory (docs/abi.md
        "Linear memory") the runtime reserves 4 GiB + memory_guard bytes from the memory's
        base, only its size accessible: zext(addr) + offset + size stays inside that
        reservation when offset < memory_guard (addr < 4 GiB, size <= 8 <= the page past
        the guard), so an out-of-bounds access faults and becomes the MEM_OOB trap. A larger
        offset could jump past the reservation into other memory: it keeps its check.
        """
        return self.memory_guard == 0 or offset >= self.memory_guard

    def func_type(self, index: int) -> FuncType:
        return self.module.func_type(index)

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

    def tag_slot(self, index: int) -> int:
        """Offset of tag `index`'s wk_tag pointer in vmctx->tags."""
        return index * 8

    def tag_params(self, index: int) -> tuple[ValType, ...]:
        """The payload types of tag `index`."""
        return self.module.types[self.tag_types[index]].params

    def global_slot(self, index: int) -> GlobalSlot:
        return self.globals[index]
