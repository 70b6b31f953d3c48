"""Where a module's memory, tables, globals and functions live at run time.

Backends ask this environment for places and never compute vmctx offsets
themselves, so the ABI (abi.py) is applied in exactly one spirit by every
backend. Each answer is a small fact: an offset, whether an extra
indirection is needed, a signature.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

from . import abi
from .abi import Builtin
from .module import ExternKind, FuncType, Module, ValType, ValueType

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
}


V = TypeVar("V")  # a backend's value

_BULK = {
    "memory.fill": Builtin.MEMORY_FILL,
    "memory.copy": Builtin.MEMORY_COPY,
    "memory.init": Builtin.MEMORY_INIT,
    "table.fill": Builtin.TABLE_FILL,
    "table.copy": Builtin.TABLE_COPY,
    "table.init": Builtin.TABLE_INIT,
}
BULK_OPS = frozenset(_BULK)


def bulk_call(
    op: str,
    imm: tuple[int, ...],
    args: Sequence[V],
    is64: Callable[[int], bool],
    const: Callable[[int], V],
    u64: Callable[[V, bool], V],
) -> tuple[Builtin, list[V]]:
    """The builtin and its arguments for memory/table fill, copy and init, for both
    backends: the index immediates as i32 constants (`const`), addresses and counts widened
    to the builtins' u64 (`u64(value, is64)`: i32 operands zero-extended). `is64` says
    whether memory (or table) i takes i64 addresses; a copy between a 32- and a 64-bit one
    counts in i32 (the spec's minimum)."""
    if op.endswith("fill"):  # imm (x,); (dst, value, n)
        w = is64(imm[0])
        return _BULK[op], [const(imm[0]), u64(args[0], w), args[1], u64(args[2], w)]
    if op.endswith("copy"):  # imm (dst x, src x); (dst, src, n)
        d, s = is64(imm[0]), is64(imm[1])
        ids = [const(imm[0]), const(imm[1])]
        return _BULK[op], [*ids, u64(args[0], d), u64(args[1], s), u64(args[2], d and s)]
    # init: imm (segment, x); (dst, src, n): the segment's src and n stay i32
    ids = [const(imm[1]), const(imm[0])]
    return _BULK[op], [*ids, u64(args[0], is64(imm[1])), args[1], args[2]]


def canonical_type_ids(module: Module) -> list[int]:
    """Type index -> the first index with the same signature.

    The runtime maps signatures to runtime-wide ids (vmctx->type_ids) for
    call_indirect; the compiler uses this only to share signature objects.
    """
    first: dict[FuncType, int] = {}
    return [first.setdefault(t, i) for i, t in enumerate(module.types)]


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

    def global_slot(self, index: int) -> GlobalSlot:
        return self.globals[index]
