"""Module validation (spec chapter 3): the driver.

Checks the module-level rules (types of imports and definitions, limits, constant expressions,
segments, start, exports) here, and hands each function body to validate_code. The first broken
rule raises ValidationError naming the section, the function (index in the function index space)
and the file offset of the offending instruction.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from .errors import ValidationError
from .module import (
    Elem,
    ExternKind,
    GlobalType,
    Import,
    Instr,
    Limits,
    MemoryType,
    Module,
    TableType,
    ValType,
)
from .validate_code import ModuleCtx, validate_function

MAX_PAGES = 65536
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

    with _section("import"):
        for imp in m.imports:
            _check_import(m, imp)
    for f in m.funcs:
        if f.type_idx >= len(m.types):
            raise ValidationError(f"unknown type {f.type_idx}", section="function", offset=f.offset)
    with _section("table"):
        for t in m.tables:
            _check_limits(t.limits, None)
    with _section("memory"):
        for mem in m.memories:
            _check_limits(mem.limits, MAX_PAGES)
    if len(m.imported(ExternKind.MEMORY)) + len(m.memories) > 1:
        raise ValidationError("multiple memories", section="memory")

    # C.refs: functions referenced outside function bodies may be used by ref.func in bodies.
    refs: set[int] = {e.index for e in m.exports if e.kind == ExternKind.FUNC}
    for g in m.globals:
        refs.update(_ref_funcs(g.init))
    for el in m.elems:
        for expr in el.init:
            refs.update(_ref_funcs(expr))

    # Global initialisers see only the imported globals (spec: context C').
    with _section("global"):
        for g in m.globals:
            _const_expr(g.init, g.type.type, imported_globals, nfuncs)

    c = ModuleCtx(m, refs)
    with _section("element"):
        for el in m.elems:
            _check_elem(el, c, all_globals, nfuncs)
    with _section("data"):
        for d in m.datas:
            if d.mode == "active":
                if d.memory >= c.nmems:
                    raise ValidationError(f"unknown memory {d.memory}")
                _const_expr(d.offset or [], ValType.I32, all_globals, nfuncs)

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


def _check_import(m: Module, imp: Import) -> None:
    desc = imp.desc
    if isinstance(desc, int):
        if desc >= len(m.types):
            raise ValidationError(f"unknown type {desc}")
    elif isinstance(desc, TableType):
        _check_limits(desc.limits, None)
    elif isinstance(desc, MemoryType):
        _check_limits(desc.limits, MAX_PAGES)


def _ref_funcs(expr: list[Instr]) -> list[int]:
    return [ins[1] for ins in expr if ins[0] == "ref.func"]


def _const_expr(
    expr: list[Instr], expected: ValType, globals_: list[GlobalType], nfuncs: int
) -> None:
    """A constant expression: only constant operators, leaving exactly one `expected` value."""
    stack: list[ValType] = []
    for ins in expr:
        op = ins[0]
        if op in _CONST_TYPES:
            stack.append(_CONST_TYPES[op])
        elif op == "ref.null":
            stack.append(ins[1])
        elif op == "ref.func":
            if ins[1] >= nfuncs:
                raise ValidationError(f"unknown function {ins[1]}")
            stack.append(ValType.FUNCREF)
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
    if stack != [expected]:
        found = " ".join(map(str, stack)) or "nothing"
        raise ValidationError(
            f"type mismatch: constant expression of type {expected} gives {found}"
        )


def _check_elem(el: Elem, c: ModuleCtx, globals_: list[GlobalType], nfuncs: int) -> None:
    etype = el.type
    if el.mode == "active":
        t = el.table
        if t >= len(c.tables):
            raise ValidationError(f"unknown table {t}")
        if c.tables[t] != etype:
            raise ValidationError(f"type mismatch: {etype} segment for a {c.tables[t]} table")
        _const_expr(el.offset or [], ValType.I32, globals_, nfuncs)
    for expr in el.init:
        _const_expr(expr, etype, globals_, nfuncs)


def _check_exports(m: Module, c: ModuleCtx, nfuncs: int) -> None:
    seen: set[str] = set()
    counts = {
        ExternKind.FUNC: ("function", nfuncs),
        ExternKind.TABLE: ("table", len(c.tables)),
        ExternKind.MEMORY: ("memory", c.nmems),
        ExternKind.GLOBAL: ("global", len(c.globals)),
    }
    for e in m.exports:
        if e.name in seen:
            raise ValidationError(f"duplicate export name {e.name!r}", section="export")
        seen.add(e.name)
        what, n = counts[e.kind]
        if e.index >= n:
            raise ValidationError(f"unknown {what} {e.index}", section="export")
