"""Module validation (spec chapter 3): the driver.

Checks the module-level rules (types of imports and definitions, limits, constant expressions,
segments, start, exports) here, and hands each function body to validate_code. The first broken
rule raises ValidationError naming the section, the function (index in the function index space)
and the file offset of the offending instruction.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING

from .errors import ValidationError
from .features import WASM3
from .module import ExternKind, GlobalType, MemoryType, RefType, TableType, TagType, ValType
from .reftypes import TypeSpace, defaultable, type_indices
from .validate_code import ModuleCtx, validate_function

if TYPE_CHECKING:  # names of annotations only
    from .module import Elem, Import, Instr, Limits, Module, ValueType

MAX_PAGES = 65536
MAX_PAGES64 = 1 << 48  # 2^64 bytes of 64 KiB pages
# Extended constant expressions (3.0): these may follow constants and global.get.
_CONST_ARITH = {
    f"{t}.{op}": ValType.I32 if t == "i32" else ValType.I64
    for t in ("i32", "i64")
    for op in ("add", "sub", "mul")
}
_CONST_TYPES = {
    "i32.const": ValType.I32,
    "i64.const": ValType.I64,
    "f32.const": ValType.F32,
    "f64.const": ValType.F64,
    "v128.const": ValType.V128,
}


def validate(module: Module) -> None:
    """Raise ValidationError if `module` (as decoded) is not valid WebAssembly 2.0."""
    c = validate_module(module)
    first = module.num_imported_funcs
    for i, f in enumerate(module.funcs):
        validate_function(c, module.types[f.type_idx], f, first + i)


def validate_module(module: Module) -> ModuleCtx:
    """Everything but the function bodies; the context validate_function checks them in (for
    bridge/stream.py, which decodes and validates one body at a time)."""
    m = module
    nfuncs = m.num_imported_funcs + len(m.funcs)
    imported_globals = [i.desc for i in m.imports if isinstance(i.desc, GlobalType)]
    all_globals = m.all_globals()

    space = TypeSpace(m.types)
    with _section("type"):
        for ft in m.types:
            _check_types(m, (*ft.params, *ft.results))
    with _section("import"):
        for imp in m.imports:
            _check_import(m, imp)
    for f in m.funcs:
        if f.type_idx >= len(m.types):
            raise ValidationError(f"unknown type {f.type_idx}", section="function", offset=f.offset)
    with _section("table"):
        for t in m.tables:
            _check_limits(t.limits, None)
            _check_table(m, t, imported_globals, nfuncs, space)
    with _section("memory"):
        for mem in m.memories:
            _check_memory(mem)
    with _section("tag"):
        for tag_type in m.tags:
            _check_tag_type(m, tag_type)
    if len(m.all_memories()) > 1 and not m.features.multi_memory:
        raise ValidationError("multiple memories", section="memory")

    # C.refs: functions referenced outside function bodies may be used by ref.func in bodies.
    refs: set[int] = {e.index for e in m.exports if e.kind == ExternKind.FUNC}
    for g in m.globals:
        refs.update(_ref_funcs(g.init))
    for el in m.elems:
        for expr in el.init:
            refs.update(_ref_funcs(expr))

    # Global initialisers see only the imported globals (spec: context C'), in 3.0 also the
    # defined globals before them (the rule came with typed references and GC).
    with _section("global"):
        for i, g in enumerate(m.globals):
            _check_types(m, (g.type.type,))
            seen = all_globals[: len(imported_globals) + i] if m.features.extended_const else []
            _const_expr(g.init, g.type.type, seen or imported_globals, nfuncs, m)

    c = ModuleCtx(m, refs)
    with _section("element"):
        for el in m.elems:
            _check_elem(el, c, all_globals, nfuncs, m)
    with _section("data"):
        for d in m.datas:
            if d.mode == "active":
                if d.memory >= c.nmems:
                    raise ValidationError(f"unknown memory {d.memory}")
                at = c.mems[d.memory].addr
                _const_expr(d.offset or [], at, all_globals, nfuncs, m)

    if m.start is not None:
        if m.start >= nfuncs:
            raise ValidationError(f"unknown function {m.start}", section="start")
        st = m.func_type(m.start)
        if st.params or st.results:
            raise ValidationError(
                f"start function must have type [] -> [], not {st}", section="start"
            )

    _check_exports(m, c, nfuncs)
    return c


@contextmanager
def _section(section: str) -> Iterator[None]:
    """Name `section` in any ValidationError raised inside the block."""
    try:
        yield
    except ValidationError as e:
        if e.section is None:
            e.section = section
        raise


def _check_limits(lim: Limits, max_pages: int | None) -> None:
    if max_pages is not None and (
        lim.min > max_pages or (lim.max is not None and lim.max > max_pages)
    ):
        raise ValidationError("memory size must be at most 65536 pages (4GiB)")
    if lim.max is not None and lim.min > lim.max:
        raise ValidationError("size minimum must not be greater than maximum")


def _check_memory(mem: MemoryType) -> None:
    if mem.is64:
        lim = mem.limits
        if lim.min > MAX_PAGES64 or (lim.max is not None and lim.max > MAX_PAGES64):
            raise ValidationError("memory size must be at most 2^48 pages (16 EiB)")
    _check_limits(mem.limits, MAX_PAGES64 if mem.is64 else MAX_PAGES)


def _check_tag_type(m: Module, type_idx: int) -> None:
    if type_idx >= len(m.types):
        raise ValidationError(f"unknown type {type_idx}")
    if m.types[type_idx].results:
        raise ValidationError("non-empty tag result type")


def _check_import(m: Module, imp: Import) -> None:
    desc = imp.desc
    if isinstance(desc, TagType):
        _check_tag_type(m, desc.type_idx)
    if isinstance(desc, int):
        if desc >= len(m.types):
            raise ValidationError(f"unknown type {desc}")
    elif isinstance(desc, TableType):
        _check_limits(desc.limits, None)
        _check_types(m, (desc.elem,))
    elif isinstance(desc, MemoryType):
        _check_memory(desc)
    elif isinstance(desc, GlobalType):
        _check_types(m, (desc.type,))


def _check_types(m: Module, types: Sequence[ValueType]) -> None:
    """Typed references name existing type indices."""
    for t in types:
        idx = type_indices(t)
        if idx is not None and idx >= len(m.types):
            raise ValidationError(f"unknown type {idx}")


def _check_table(
    m: Module, t: TableType, globals_: list[GlobalType], nfuncs: int, space: TypeSpace
) -> None:
    """A table of a non-nullable type needs an initial value (3.0 typed tables)."""
    _check_types(m, (t.elem,))
    if t.init is not None:
        _const_expr(list(t.init), t.elem, globals_, nfuncs, m)
    elif not defaultable(t.elem):
        raise ValidationError(f"type mismatch: a table of {t.elem} needs an initial value")


def _ref_funcs(expr: list[Instr]) -> list[int]:
    return [ins[1] for ins in expr if ins[0] == "ref.func"]


def _const_expr(
    expr: list[Instr],
    expected: ValueType,
    globals_: list[GlobalType],
    nfuncs: int,
    m: Module | None = None,
) -> None:
    """A constant expression: only constant operators, leaving exactly one `expected` value
    (with extended constants, i32/i64 add, sub and mul are constant too; the module's
    features say which, 3.0's without one)."""
    features = m.features if m is not None else WASM3
    stack: list[ValueType] = []
    for ins in expr:
        op = ins[0]
        if op in _CONST_ARITH and features.extended_const:
            t = _CONST_ARITH[op]
            if stack[-2:] != [t, t]:
                raise ValidationError(f"type mismatch: {op} needs two {t} operands")
            stack.pop()
        elif op in _CONST_TYPES:
            stack.append(_CONST_TYPES[op])
        elif op == "ref.null":
            if m is not None:
                _check_types(m, (ins[1],))
            stack.append(ins[1])
        elif op == "ref.func":
            if ins[1] >= nfuncs:
                raise ValidationError(f"unknown function {ins[1]}")
            # (ref $t) of the function's type; FUNCREF when the types are not at hand
            stack.append(ValType.FUNCREF if m is None else _func_ref_type(m, ins[1]))
        elif op == "global.get":
            if ins[1] >= len(globals_):
                raise ValidationError(f"unknown global {ins[1]}")
            g = globals_[ins[1]]
            if g.mutable:
                raise ValidationError(
                    "constant expression required (global.get of a mutable global)"
                )
            stack.append(g.type)
        else:
            raise ValidationError(f"constant expression required, found {op}")
    space = TypeSpace(m.types if m is not None else [])
    if len(stack) != 1 or not space.matches(stack[0], expected):
        found = " ".join(map(str, stack)) or "nothing"
        raise ValidationError(
            f"type mismatch: constant expression of type {expected} gives {found}"
        )


def _func_ref_type(m: Module, index: int) -> ValueType:
    n = m.num_imported_funcs
    if index < n:
        desc = m.imported(ExternKind.FUNC)[index].desc
        assert isinstance(desc, int)
        return RefType(False, desc)
    return RefType(False, m.funcs[index - n].type_idx)


def _check_elem(el: Elem, c: ModuleCtx, globals_: list[GlobalType], nfuncs: int, m: Module) -> None:
    etype = el.type
    _check_types(m, (etype,))
    if el.mode == "active":
        t = el.table
        if t >= len(c.tables):
            raise ValidationError(f"unknown table {t}")
        if not c.space.matches(etype, c.tables[t]):
            raise ValidationError(f"type mismatch: {etype} segment for a {c.tables[t]} table")
        at = c.table_addr(t)
        _const_expr(el.offset or [], at, globals_, nfuncs, m)
    for expr in el.init:
        _const_expr(expr, etype, globals_, nfuncs, m)


def _check_exports(m: Module, c: ModuleCtx, nfuncs: int) -> None:
    seen: set[str] = set()
    counts = {
        ExternKind.FUNC: ("function", nfuncs),
        ExternKind.TABLE: ("table", len(c.tables)),
        ExternKind.MEMORY: ("memory", c.nmems),
        ExternKind.GLOBAL: ("global", len(c.globals)),
        ExternKind.TAG: ("tag", len(c.tags)),
    }
    for e in m.exports:
        if e.name in seen:
            raise ValidationError(f"duplicate export name {e.name!r}", section="export")
        seen.add(e.name)
        what, n = counts[e.kind]
        if e.index >= n:
            raise ValidationError(f"unknown {what} {e.index}", section="export")
