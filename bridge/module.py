"""Small types for a decoded WebAssembly module.

The decoder produces these, the validator checks them, and the translator and
the metadata emitter read them. Nothing here knows about a backend.

Instructions are plain tuples, `(opname, *immediates)`, because a module has
hundreds of thousands of them and tuples are the cheapest Python object that
still reads well. The immediates per operator family are:

    block/loop/if            ("block", FuncType)       block type resolved
    br, br_if                ("br", depth)
    br_table                 ("br_table", (depth, ...), default_depth)
    call                     ("call", funcidx)
    call_indirect            ("call_indirect", typeidx, tableidx)
    local.*/global.*         ("local.get", index)
    loads and stores         ("i32.load", align_log2, offset[, memidx]): memidx only when
                             not 0 (multiple memories); SIMD memory operators always end
                             with it: ("v128.load", align, offset, memidx),
                             ("v128.load8_lane", align, offset, lane, memidx)
    memory.size/grow         ("memory.size", memidx)
    i32.const / i64.const    ("i32.const", value)      signed Python int
    f32.const / f64.const    ("f32.const", bits)       raw IEEE bits as int
    select (typed)           ("select", (ValueType, ...)); untyped: ("select",)
    ref.null                 ("ref.null", ValueType)  a nullable reference type
    return_call, call_ref    ("return_call", funcidx), ("call_ref", typeidx)
    return_call_indirect     ("return_call_indirect", typeidx, tableidx)
    br_on_null/non_null      ("br_on_null", depth)
    ref.func                 ("ref.func", funcidx)
    memory.init              ("memory.init", dataidx, memidx)
    data.drop, elem.drop     ("data.drop", index)
    memory.copy              ("memory.copy", dst_mem, src_mem)
    memory.fill              ("memory.fill", memidx)
    table.init               ("table.init", elemidx, tableidx)
    table.copy               ("table.copy", dst_table, src_table)
    table.get/set/size/grow/fill ("table.get", tableidx)
    throw, catch (legacy)    ("throw", tagidx)
    rethrow, delegate        ("rethrow", depth)
    try_table                ("try_table", FuncType, ((kind, tagidx, depth), ...)) kind is
                             "catch" | "catch_ref" | "catch_all" | "catch_all_ref" (tagidx
                             None for the catch_all forms)
    try (legacy)             ("try", FuncType)
    everything else          ("i32.add",)
"""

from __future__ import annotations

import enum
from array import array
from dataclasses import dataclass, field
from typing import Any

from .features import WASM3, Features


class ValType(enum.IntEnum):
    I32 = 0x7F
    I64 = 0x7E
    F32 = 0x7D
    F64 = 0x7C
    V128 = 0x7B
    FUNCREF = 0x70
    EXTERNREF = 0x6F
    EXNREF = 0x69  # exception handling (Wasm 3.0): a caught exception, see bridge/exceptions.py

    def __str__(self) -> str:
        return self.name.lower()


class HeapType(enum.IntEnum):
    """Abstract heap types, by their one-byte binary encoding (reftypes.py reads them)."""

    FUNC = 0x70
    EXTERN = 0x6F
    EXN = 0x69  # exception handling: (ref null exn) is exnref

    def __str__(self) -> str:
        return self.name.lower()


@dataclass(frozen=True)
class RefType:
    """A reference type of the function-references proposal: `(ref null? heap)`, where heap
    is an abstract HeapType or a type index. `(ref null func)`/`(ref null extern)` are spelled
    ValType.FUNCREF/EXTERNREF/EXNREF instead (reftypes.normalize), as in 2.0 modules."""

    nullable: bool
    heap: HeapType | int

    def __str__(self) -> str:
        return f"(ref {'null ' if self.nullable else ''}{self.heap})"


# Every value type: a number/vector type or 2.0 reference type (ValType), or a RefType.
ValueType = ValType | RefType


class ExternKind(enum.IntEnum):
    FUNC = 0
    TABLE = 1
    MEMORY = 2
    GLOBAL = 3
    TAG = 4  # exception handling (Wasm 3.0)


Instr = tuple[Any, ...]  # (opname: str, *immediates)


@dataclass(frozen=True)
class FuncType:
    params: tuple[ValueType, ...]
    results: tuple[ValueType, ...]

    def __str__(self) -> str:
        p = " ".join(map(str, self.params))
        r = " ".join(map(str, self.results))
        return f"[{p}] -> [{r}]"


@dataclass(frozen=True)
class Limits:
    min: int
    max: int | None


@dataclass(frozen=True)
class TableType:
    elem: ValueType
    limits: Limits
    is64: bool = False  # table64: i64 indices (WebAssembly 3.0)
    init: tuple[Instr, ...] | None = None  # typed tables: the elements' initial value


@dataclass(frozen=True)
class MemoryType:
    limits: Limits
    is64: bool = False  # memory64: i64 addresses (WebAssembly 3.0)

    @property
    def addr(self) -> ValType:
        """The address (and size, delta) type of memory instructions on this memory."""
        return ValType.I64 if self.is64 else ValType.I32


@dataclass(frozen=True)
class GlobalType:
    type: ValueType
    mutable: bool


@dataclass(frozen=True)
class TagType:
    """An exception tag: the index of a function type with no results (its params are the
    exception's payload)."""

    type_idx: int


@dataclass
class Import:
    module: str
    name: str
    kind: ExternKind
    # FUNC: type index (int); TABLE: TableType; MEMORY: MemoryType; GLOBAL: GlobalType;
    # TAG: TagType
    desc: int | TableType | MemoryType | GlobalType | TagType


@dataclass
class Export:
    name: str
    kind: ExternKind
    index: int


@dataclass
class Global:
    type: GlobalType
    init: list[Instr]  # constant expression, without the final "end"


@dataclass
class Elem:
    mode: str  # "active" | "passive" | "declarative"
    type: ValueType  # a reference type
    init: list[list[Instr]]  # one constant expression per element
    table: int = 0
    offset: list[Instr] | None = None  # active only


@dataclass
class Data:
    mode: str  # "active" | "passive"
    data: bytes
    memory: int = 0
    offset: list[Instr] | None = None  # active only


@dataclass
class Func:
    """A function defined in the module (imports are in Module.imports)."""

    type_idx: int
    locals: list[ValueType]  # declared locals only, expanded, params not included
    body: list[Instr]  # ends with the function's final ("end",)
    offsets: array[int] = field(default_factory=lambda: array("I"))  # byte offset of each instr
    offset: int = 0  # byte offset of the body in the file


@dataclass
class Module:
    types: list[FuncType] = field(default_factory=list)
    imports: list[Import] = field(default_factory=list)
    funcs: list[Func] = field(default_factory=list)
    tables: list[TableType] = field(default_factory=list)
    memories: list[MemoryType] = field(default_factory=list)
    globals: list[Global] = field(default_factory=list)
    tags: list[int] = field(default_factory=list)  # defined tags: their type indices
    # Per type: (first type of its recursion group, group size); (i, 1) outside any `rec`.
    rec_groups: list[tuple[int, int]] = field(default_factory=list)
    exports: list[Export] = field(default_factory=list)
    start: int | None = None
    elems: list[Elem] = field(default_factory=list)
    datas: list[Data] = field(default_factory=list)
    data_count: int | None = None
    customs: list[tuple[str, bytes]] = field(default_factory=list)
    func_names: dict[int, str] = field(default_factory=dict)  # from the "name" section
    # Not from the binary: the bounds-check policy compile_wasm chose (environ.ModuleEnv.
    # needs_bounds_check). 0: explicit checks; else the guard size (abi.MEMORY_GUARD).
    memory_guard: int = 0
    # Not from the binary: the rules it was decoded under (features.WASM3 unless told).
    features: Features = WASM3
    # Set by the decoder: a function body holds try_table or try (environ.uses_exceptions).
    exception_ops: bool = False
    # Not from the binary: environ.throwing_functions' answer, computed once per module.
    throwing: tuple[frozenset[int], bool] | None = None

    def imported(self, kind: ExternKind) -> list[Import]:
        return [i for i in self.imports if i.kind == kind]

    @property
    def num_imported_funcs(self) -> int:
        return sum(1 for i in self.imports if i.kind == ExternKind.FUNC)

    def func_type(self, index: int) -> FuncType:
        """Type of function `index` in the function index space (imports first)."""
        n = self.num_imported_funcs
        if index < n:
            return self.types[self.imported(ExternKind.FUNC)[index].desc]  # type: ignore[index]
        return self.types[self.funcs[index - n].type_idx]

    def all_memories(self) -> list[MemoryType]:
        """Every memory in the memory index space, imports first."""
        imported = [i.desc for i in self.imported(ExternKind.MEMORY)]
        return [d for d in imported if isinstance(d, MemoryType)] + list(self.memories)

    def all_tables(self) -> list[TableType]:
        """Every table in the table index space, imports first."""
        imported = [i.desc for i in self.imported(ExternKind.TABLE)]
        return [d for d in imported if isinstance(d, TableType)] + list(self.tables)

    def type_key(self, index: int) -> tuple[tuple[FuncType, ...], int]:
        """What makes two types (of any modules) the same type: their recursion group's types
        and the position in it (function types only, so no index inside them to resolve)."""
        first, n = self.rec_groups[index] if index < len(self.rec_groups) else (index, 1)
        return tuple(self.types[first : first + n]), index - first

    def all_tags(self) -> list[int]:
        """Type index of every tag in the tag index space (imports first)."""
        imported = [i.desc.type_idx for i in self.imports if isinstance(i.desc, TagType)]
        return imported + self.tags

    def all_globals(self) -> list[GlobalType]:
        imported = [i.desc for i in self.imported(ExternKind.GLOBAL)]
        return [d for d in imported if isinstance(d, GlobalType)] + [g.type for g in self.globals]
