"""Validation of one function body: the spec's algorithm (spec appendix "Validation Algorithm").

An operand stack of value types (None stands for the unknown type of unreachable code) and a
control stack of frames. Numeric operators are checked from the opcodes.SIGS table in the
driver loop; everything else goes through one small handler per operator family, picked from
`_HANDLERS` by name. Handlers raise ValidationError without a position; the driver adds the
function index and the instruction's file offset (from Func.offsets), so the handlers stay short.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from .errors import ValidationError
from .module import Func, FuncType, Instr, Module, RefType, TableType, TagType, ValType, ValueType
from .opcodes import MEMOPS, SIGS
from .opcodes_simd import SIMD_LANES, SIMD_MEMOPS, SIMD_SIGS
from .reftypes import TypeSpace, as_ref, defaultable, is_ref, non_null, type_indices

I32, I64, F32, F64 = ValType.I32, ValType.I64, ValType.F32, ValType.F64
FUNCREF, EXTERNREF, EXNREF = ValType.FUNCREF, ValType.EXTERNREF, ValType.EXNREF
_NUMERIC = (I32, I64, F32, F64, ValType.V128)
_REFS = (FUNCREF, EXTERNREF, EXNREF)
EXN_NON_NULL = non_null(EXNREF)  # what catch_ref/catch_all_ref carry: (ref exn)

Type = ValueType | None  # None: unknown (bottom), only in unreachable code


class ModuleCtx:
    """The spec's context C, minus what is per function: computed once per module."""

    def __init__(self, m: Module, refs: set[int]) -> None:
        self.types = m.types
        ntypes = len(m.types)
        # None marks a function whose type index is unknown (reported by the module checks).
        self.funcs: list[FuncType | None] = []
        self.func_type_idx: list[int] = []  # ref.func's type is (ref $t)
        self.tables: list[ValueType] = []
        # Per tag (imports first): its function type, None when the index is unknown.
        self.tags: list[FuncType | None] = []
        for imp in m.imports:
            d = imp.desc
            if isinstance(d, int):
                self.funcs.append(m.types[d] if d < ntypes else None)
                self.func_type_idx.append(d)
            elif isinstance(d, TableType):
                self.tables.append(d.elem)
            elif isinstance(d, TagType):
                self.tags.append(m.types[d.type_idx] if d.type_idx < ntypes else None)
        self.tags += [m.types[t] if t < ntypes else None for t in m.tags]
        self.funcs += [m.types[f.type_idx] if f.type_idx < ntypes else None for f in m.funcs]
        self.func_type_idx += [f.type_idx for f in m.funcs]
        self.space = TypeSpace(m.types)
        self.tables += [t.elem for t in m.tables]
        self.mems = m.all_memories()
        self.nmems = len(self.mems)
        self.table_types = m.all_tables()
        self.features = m.features
        self.globals = m.all_globals()
        self.elems = [e.type for e in m.elems]
        self.ndatas = m.data_count
        self.refs = refs

    def table_addr(self, idx: int) -> ValType:
        """The index type of table `idx` (i64 for a table64); the table must exist."""
        return I64 if self.table_types[idx].is64 else I32


class _Frame:
    __slots__ = ("kind", "params", "results", "height", "unreachable", "init_height")

    def __init__(
        self,
        kind: str,
        params: tuple[ValueType, ...],
        results: tuple[ValueType, ...],
        height: int,
        init_height: int = 0,
    ) -> None:
        self.kind = kind
        self.params = params
        self.results = results
        self.height = height
        self.unreachable = False
        self.init_height = init_height  # locals initialised inside the block are reset at end

    def labels(self) -> tuple[ValueType, ...]:
        """Types a branch to this frame carries: a loop's params, any other block's results."""
        return self.params if self.kind == "loop" else self.results


def _mismatch(detail: str = "") -> ValidationError:
    return ValidationError("type mismatch" + (f": {detail}" if detail else ""))


class _State:
    """Operand and control stacks of one function, with the spec's push/pop primitives."""

    __slots__ = ("c", "locals", "vals", "ctrls", "inits", "init_log")

    def __init__(self, c: ModuleCtx, locals_: list[ValueType], ft: FuncType) -> None:
        self.c = c
        self.locals = locals_
        self.vals: list[Type] = []
        self.ctrls: list[_Frame] = [_Frame("func", (), ft.results, 0)]
        # local_init: whether each local holds a value (params and defaultable locals do);
        # init_log lists the locals set since function entry, so a block's end can undo them.
        nparams = len(ft.params)
        self.inits = [i < nparams or defaultable(t) for i, t in enumerate(locals_)]
        self.init_log: list[int] = []

    def pop(self, expect: Type = None) -> Type:
        """Pop one operand, checking it against `expect`; returns it (None when unknown)."""
        vals = self.vals
        f = self.ctrls[-1]
        if len(vals) == f.height:
            if f.unreachable:
                return None
            raise _mismatch(f"expected {expect or 'a value'}, stack empty")
        actual = vals.pop()
        if (
            expect is not None
            and actual is not None
            and actual != expect
            and not self.c.space.matches(actual, expect)
        ):
            raise _mismatch(f"expected {expect}, found {actual}")
        return actual

    def pop_ref(self) -> RefType | None:
        """Pop a reference of any type; None when unknown (unreachable code)."""
        t = self.pop()
        if t is None:
            return None
        r = as_ref(t)
        if r is None:
            raise _mismatch(f"expected a reference, found {t}")
        return r

    def pop_many(self, types: Sequence[ValueType]) -> None:
        for t in reversed(types):
            self.pop(t)

    def push_ctrl(self, kind: str, ft: FuncType) -> None:
        self.ctrls.append(_Frame(kind, ft.params, ft.results, len(self.vals), len(self.init_log)))
        self.vals.extend(ft.params)

    def pop_ctrl(self) -> _Frame:
        f = self.ctrls[-1]
        self.pop_many(f.results)
        if len(self.vals) != f.height:
            raise _mismatch(f"{len(self.vals) - f.height} extra value(s) at end of block")
        self.ctrls.pop()
        for idx in self.init_log[f.init_height :]:
            self.inits[idx] = False
        del self.init_log[f.init_height :]
        return f

    def check_type(self, t: ValueType) -> None:
        """A value type naming a type index that exists."""
        idx = type_indices(t)
        if idx is not None and idx >= len(self.c.types):
            raise ValidationError(f"unknown type {idx}")

    def type_at(self, idx: int) -> FuncType:
        if idx >= len(self.c.types):
            raise ValidationError(f"unknown type {idx}")
        return self.c.types[idx]

    def returns(self, results: Sequence[ValueType]) -> None:
        """A tail call's callee results must match this function's results."""
        if not self.c.space.all_match(results, self.ctrls[0].results):
            raise _mismatch("tail call results differ from the function's results")

    def unreachable(self) -> None:
        f = self.ctrls[-1]
        del self.vals[f.height :]
        f.unreachable = True

    def label(self, depth: int) -> _Frame:
        if depth >= len(self.ctrls):
            raise ValidationError(f"unknown label {depth}")
        return self.ctrls[-1 - depth]

    def table(self, idx: int) -> ValueType:
        if idx >= len(self.c.tables):
            raise ValidationError(f"unknown table {idx}")
        return self.c.tables[idx]

    def memory(self, idx: int) -> ValType:
        """The address type of memory `idx` (i64 for a memory64)."""
        if idx >= self.c.nmems:
            raise ValidationError(f"unknown memory {idx}")
        return I64 if self.c.mems[idx].is64 else I32

    def table_addr(self, idx: int) -> ValType:
        return self.c.table_addr(idx)

    def data(self, idx: int) -> None:
        if self.c.ndatas is None or idx >= self.c.ndatas:
            raise ValidationError(f"unknown data segment {idx}")

    def elem(self, idx: int) -> ValueType:
        if idx >= len(self.c.elems):
            raise ValidationError(f"unknown elem segment {idx}")
        return self.c.elems[idx]

    def tag(self, idx: int) -> FuncType:
        ft = self.c.tags[idx] if idx < len(self.c.tags) else None
        if ft is None:
            raise ValidationError(f"unknown tag {idx}")
        return ft

    def functype(self, idx: int) -> FuncType:
        ft = self.c.funcs[idx] if idx < len(self.c.funcs) else None
        if ft is None:
            raise ValidationError(f"unknown function {idx}")
        return ft


# --- control --------------------------------------------------------------------------------------
def _block(s: _State, ins: Instr) -> None:
    ft: FuncType = ins[1]
    for t in (*ft.params, *ft.results):
        s.check_type(t)
    if ins[0] == "if":
        s.pop(I32)
    s.pop_many(ft.params)
    s.push_ctrl(ins[0], ft)


# --- exception handling (3.0, and the legacy try/catch/delegate/rethrow) --------------------------
def _throw(s: _State, ins: Instr) -> None:
    s.pop_many(s.tag(ins[1]).params)
    s.unreachable()


def _throw_ref(s: _State, ins: Instr) -> None:
    s.pop(EXNREF)
    s.unreachable()


def _try_table(s: _State, ins: Instr) -> None:
    """Catch clauses name labels outside the try_table: checked before its frame is pushed."""
    ft: FuncType = ins[1]
    for kind, tag, depth in ins[2]:
        carried = list(s.tag(tag).params) if tag is not None else []
        if kind.endswith("_ref"):
            carried.append(EXN_NON_NULL)
        labels = list(s.label(depth).labels())
        if not s.c.space.all_match(carried, labels):
            shown = " ".join(map(str, carried)) or "nothing"
            raise _mismatch(f"{kind} carries [{shown}] to a label that takes {_show(labels)}")
    s.pop_many(ft.params)
    s.push_ctrl("try_table", ft)


def _show(types: Sequence[ValueType]) -> str:
    return "[" + " ".join(map(str, types)) + "]"


def _catch(s: _State, ins: Instr) -> None:
    """Legacy catch/catch_all: ends the try body (or the previous catch) like `else`."""
    kind = s.ctrls[-1].kind
    if kind not in ("try", "catch"):
        raise ValidationError(f"{ins[0]} without a matching try")
    f = s.pop_ctrl()
    if ins[0] == "catch":
        ft = s.tag(ins[1])
        s.ctrls.append(_Frame("catch", f.params, f.results, len(s.vals)))
        s.vals.extend(ft.params)
    else:
        s.ctrls.append(_Frame("catch_all", f.params, f.results, len(s.vals)))


def _delegate(s: _State, ins: Instr) -> None:
    if s.ctrls[-1].kind != "try":
        raise ValidationError("delegate without a matching try")
    f = s.pop_ctrl()
    s.label(ins[1])  # relative to the frames outside the try
    s.vals.extend(f.results)


def _rethrow(s: _State, ins: Instr) -> None:
    if s.label(ins[1]).kind not in ("catch", "catch_all"):
        raise ValidationError(f"invalid rethrow label {ins[1]}")
    s.unreachable()


def _else(s: _State, ins: Instr) -> None:
    if s.ctrls[-1].kind != "if":
        raise ValidationError("else without matching if")
    f = s.pop_ctrl()
    s.push_ctrl("else", FuncType(f.params, f.results))


def _end(s: _State, ins: Instr) -> None:
    f = s.pop_ctrl()
    if f.kind == "if" and f.params != f.results:
        raise _mismatch("if without else must leave its parameters unchanged")
    s.vals.extend(f.results)


def _br(s: _State, ins: Instr) -> None:
    s.pop_many(s.label(ins[1]).labels())
    s.unreachable()


def _br_if(s: _State, ins: Instr) -> None:
    s.pop(I32)
    labels = s.label(ins[1]).labels()
    s.pop_many(labels)
    s.vals.extend(labels)


def _br_table(s: _State, ins: Instr) -> None:
    s.pop(I32)
    default = s.label(ins[2]).labels()
    arity = len(default)
    for depth in ins[1]:
        labels = s.label(depth).labels()
        if len(labels) != arity:
            raise _mismatch("br_table targets have different arities")
        # Pop and push back (unknowns stay unknown), so every target sees the same operands.
        popped = [s.pop(t) for t in reversed(labels)]
        s.vals.extend(reversed(popped))
    s.pop_many(default)
    s.unreachable()


def _return(s: _State, ins: Instr) -> None:
    s.pop_many(s.ctrls[0].results)
    s.unreachable()


def _unreachable(s: _State, ins: Instr) -> None:
    s.unreachable()


def _nop(s: _State, ins: Instr) -> None:
    pass


def _call(s: _State, ins: Instr) -> None:
    ft = s.functype(ins[1])
    s.pop_many(ft.params)
    s.vals.extend(ft.results)


def _call_indirect(s: _State, ins: Instr) -> None:
    if not s.c.space.matches(s.table(ins[2]), FUNCREF):
        raise _mismatch("call_indirect through a table that is not funcref")
    ft = s.type_at(ins[1])
    s.pop(s.table_addr(ins[2]))
    _call_type(s, ft, ins[0] == "return_call_indirect")


def _call_type(s: _State, ft: FuncType, tail: bool) -> None:
    """Pop a call's arguments; push its results, or (a tail call) check them and end."""
    s.pop_many(ft.params)
    if tail:
        s.returns(ft.results)
        s.unreachable()
    else:
        s.vals.extend(ft.results)


def _return_call(s: _State, ins: Instr) -> None:
    _call_type(s, s.functype(ins[1]), True)


def _call_ref(s: _State, ins: Instr) -> None:
    """call_ref $t / return_call_ref $t: the operand is a (ref null $t)."""
    ft = s.type_at(ins[1])
    s.pop(RefType(True, ins[1]))
    _call_type(s, ft, ins[0] == "return_call_ref")


def _ref_as_non_null(s: _State, ins: Instr) -> None:
    r = s.pop_ref()
    s.vals.append(None if r is None else non_null(r))


def _br_on_null(s: _State, ins: Instr) -> None:
    r = s.pop_ref()
    labels = s.label(ins[1]).labels()
    s.pop_many(labels)
    s.vals.extend(labels)
    s.vals.append(None if r is None else non_null(r))


def _br_on_non_null(s: _State, ins: Instr) -> None:
    r = s.pop_ref()
    labels = s.label(ins[1]).labels()
    if not labels or not is_ref(labels[-1]):
        raise _mismatch("br_on_non_null's label must take a reference last")
    if r is not None and not s.c.space.matches(non_null(r), labels[-1]):
        raise _mismatch(f"expected {labels[-1]}, found {non_null(r)}")
    s.pop_many(labels[:-1])
    s.vals.extend(labels[:-1])


# --- parametric -----------------------------------------------------------------------------------
def _drop(s: _State, ins: Instr) -> None:
    s.pop()


def _select(s: _State, ins: Instr) -> None:
    if len(ins) > 1:
        if len(ins[1]) != 1:
            raise ValidationError("invalid result arity")
        t = ins[1][0]
        s.check_type(t)
        s.pop(I32)
        s.pop(t)
        s.pop(t)
        s.vals.append(t)
        return
    s.pop(I32)
    t1 = s.pop()
    t2 = s.pop()
    if (t1 is not None and t1 not in _NUMERIC) or (t2 is not None and t2 not in _NUMERIC):
        raise _mismatch("untyped select needs numeric operands")
    if t1 is not None and t2 is not None and t1 != t2:
        raise _mismatch(f"select operands {t2} and {t1}")
    s.vals.append(t1 if t1 is not None else t2)


# --- variables ------------------------------------------------------------------------------------
def _local(s: _State, ins: Instr) -> None:
    idx = ins[1]
    if idx >= len(s.locals):
        raise ValidationError(f"unknown local {idx}")
    t = s.locals[idx]
    op = ins[0]
    if op == "local.get":
        if not s.inits[idx]:
            raise ValidationError(f"uninitialized local {idx}")
        s.vals.append(t)
        return
    s.pop(t)
    if not s.inits[idx]:
        s.inits[idx] = True
        s.init_log.append(idx)
    if op == "local.tee":
        s.vals.append(t)


def _global(s: _State, ins: Instr) -> None:
    idx = ins[1]
    if idx >= len(s.c.globals):
        raise ValidationError(f"unknown global {idx}")
    g = s.c.globals[idx]
    if ins[0] == "global.get":
        s.vals.append(g.type)
    else:
        if not g.mutable:
            raise ValidationError("global is immutable")
        s.pop(g.type)


# --- tables and references ------------------------------------------------------------------------
def _table(s: _State, ins: Instr) -> None:
    op = ins[0]
    if op == "table.init":
        t = s.table(ins[2])
        if not s.c.space.matches(s.elem(ins[1]), t):
            raise _mismatch("element segment and table types differ")
        s.pop_many((s.table_addr(ins[2]), I32, I32))
        return
    if op == "table.copy":
        if not s.c.space.matches(s.table(ins[2]), s.table(ins[1])):
            raise _mismatch("table.copy between tables of different types")
        dst, src = s.table_addr(ins[1]), s.table_addr(ins[2])
        s.pop_many((dst, src, I32 if I32 in (dst, src) else I64))
        return
    if op == "elem.drop":
        s.elem(ins[1])
        return
    t = s.table(ins[1])
    at = s.table_addr(ins[1])
    if op == "table.get":
        s.pop(at)
        s.vals.append(t)
    elif op == "table.set":
        s.pop_many((at, t))
    elif op == "table.size":
        s.vals.append(at)
    elif op == "table.grow":
        s.pop_many((t, at))
        s.vals.append(at)
    else:  # table.fill
        s.pop_many((at, t, at))


def _ref(s: _State, ins: Instr) -> None:
    op = ins[0]
    if op == "ref.null":
        s.check_type(ins[1])
        s.vals.append(ins[1])
    elif op == "ref.is_null":
        s.pop_ref()
        s.vals.append(I32)
    else:  # ref.func: (ref $t), a subtype of funcref
        s.functype(ins[1])
        if ins[1] not in s.c.refs:
            raise ValidationError(f"undeclared function reference {ins[1]}")
        s.vals.append(RefType(False, s.c.func_type_idx[ins[1]]))


# --- memory ---------------------------------------------------------------------------------------
def _memarg(s: _State, natural: int, align: int, offset: int, mem: int) -> ValType:
    """Check a memarg; the memory's address type."""
    at = s.memory(mem)
    if align > natural:
        raise ValidationError("alignment must not be larger than natural")
    if at is I32 and offset >= 1 << 32:
        raise ValidationError("offset out of range: a memory32 offset must be below 2^32")
    return at


def _memop(s: _State, ins: Instr) -> None:
    natural, t, store = MEMOPS[ins[0]]
    at = _memarg(s, natural, ins[1], ins[2], ins[3] if len(ins) > 3 else 0)
    if store:
        s.pop(t)
        s.pop(at)
    else:
        s.pop(at)
        s.vals.append(t)


def _memory(s: _State, ins: Instr) -> None:
    op = ins[0]
    if op == "memory.init":
        at = s.memory(ins[2])
        s.data(ins[1])
        s.pop_many((at, I32, I32))
        return
    if op == "memory.copy":
        dst, src = s.memory(ins[1]), s.memory(ins[2])
        s.pop_many((dst, src, I32 if I32 in (dst, src) else I64))
        return
    at = s.memory(ins[1])
    if op == "memory.size":
        s.vals.append(at)
    elif op == "memory.grow":
        s.pop(at)
        s.vals.append(at)
    else:  # memory.fill
        s.pop_many((at, I32, at))


def _data_drop(s: _State, ins: Instr) -> None:
    s.data(ins[1])


def _const(s: _State, ins: Instr) -> None:
    s.vals.append(_CONST_TYPES[ins[0]])


_CONST_TYPES = {
    "i32.const": I32,
    "i64.const": I64,
    "f32.const": F32,
    "f64.const": F64,
    "v128.const": ValType.V128,
}


# --- SIMD: operators with immediates (the rest are in the signature table) -----------------------
def _simd_memop(s: _State, ins: Instr) -> None:
    natural, _ = SIMD_MEMOPS[ins[0]]
    at = _memarg(s, natural, ins[1], ins[2], ins[-1])  # the memory index ends the tuple
    if len(ins) > 4 and ins[3] >= SIMD_LANES[ins[0]]:
        raise ValidationError(f"invalid lane index {ins[3]}")
    if at is I32:
        _simd_sig(s, ins)
        return
    pops, pushes = SIMD_SIGS[ins[0]]  # the address (first operand) is an i64
    s.pop_many((I64, *pops[1:]))
    s.vals.extend(pushes)


def _simd_lane(s: _State, ins: Instr) -> None:
    if ins[1] >= SIMD_LANES[ins[0]]:
        raise ValidationError(f"invalid lane index {ins[1]}")
    _simd_sig(s, ins)


def _shuffle(s: _State, ins: Instr) -> None:
    for lane in ins[1]:
        if lane >= 32:
            raise ValidationError(f"invalid lane index {lane}")
    _simd_sig(s, ins)


def _simd_sig(s: _State, ins: Instr) -> None:
    pops, pushes = SIMD_SIGS[ins[0]]
    s.pop_many(pops)
    s.vals.extend(pushes)


# Signature-only operators: SIMD ones without immediates that push one value.
_SIGS = {
    **SIGS,
    **{
        n: sig
        for n, sig in SIMD_SIGS.items()
        if len(sig[1]) == 1
        and sig[0]
        and n not in SIMD_MEMOPS
        and n not in SIMD_LANES
        and n != "i8x16.shuffle"
    },
}

_HANDLERS: dict[str, Callable[[_State, Instr], None]] = {
    "block": _block, "loop": _block, "if": _block, "else": _else, "end": _end,
    "br": _br, "br_if": _br_if, "br_table": _br_table, "return": _return,
    "unreachable": _unreachable, "nop": _nop, "call": _call, "call_indirect": _call_indirect,
    "return_call": _return_call, "return_call_indirect": _call_indirect,
    "call_ref": _call_ref, "return_call_ref": _call_ref, "ref.as_non_null": _ref_as_non_null,
    "br_on_null": _br_on_null, "br_on_non_null": _br_on_non_null,
    "throw": _throw, "throw_ref": _throw_ref, "try_table": _try_table, "try": _block,
    "catch": _catch, "catch_all": _catch, "delegate": _delegate, "rethrow": _rethrow,
    "drop": _drop, "select": _select,
    "local.get": _local, "local.set": _local, "local.tee": _local,
    "global.get": _global, "global.set": _global,
    "table.get": _table, "table.set": _table, "table.size": _table, "table.grow": _table,
    "table.fill": _table, "table.copy": _table, "table.init": _table, "elem.drop": _table,
    "ref.null": _ref, "ref.is_null": _ref, "ref.func": _ref,
    "memory.size": _memory, "memory.grow": _memory, "memory.init": _memory,
    "memory.copy": _memory, "memory.fill": _memory, "data.drop": _data_drop,
    "i32.const": _const, "i64.const": _const, "f32.const": _const, "f64.const": _const,
    "v128.const": _const, "i8x16.shuffle": _shuffle,
    **{name: _memop for name in MEMOPS},
    **{name: _simd_memop for name in SIMD_MEMOPS},
    **{name: _simd_lane for name in SIMD_LANES if name not in SIMD_MEMOPS},
}  # fmt: skip


def validate_function(c: ModuleCtx, ft: FuncType, func: Func, index: int) -> None:
    """Validate `func` (function `index` in the function index space) against type `ft`.

    Raises ValidationError naming the function and the offset of the failing instruction
    (set here from Func.offsets, so the handlers need not know positions).
    """
    body = func.body
    s = _State(c, list(ft.params) + func.locals, ft)
    for t in func.locals:
        try:
            s.check_type(t)
        except ValidationError as e:
            e.section, e.func, e.offset = "code", index, func.offset
            raise
    vals = s.vals
    ctrls = s.ctrls
    sigs = _SIGS
    handlers = _HANDLERS
    i = 0
    try:
        for i, ins in enumerate(body):
            op = ins[0]
            sig = sigs.get(op)
            if sig is not None:
                pops, pushes = sig
                # Fast path: all operands present and of the exact type.
                n = len(pops)
                if len(vals) - ctrls[-1].height >= n and tuple(vals[-n:]) == pops:
                    del vals[-n:]
                else:
                    s.pop_many(pops)
                vals.append(pushes[0])
                continue
            handlers[op](s, ins)
            if not ctrls:
                if i != len(body) - 1:
                    raise ValidationError("instructions after the function's final end")
                return
        raise ValidationError("function body does not end with end")  # decode guarantees it does
    except ValidationError as e:
        e.section = "code"
        e.func = index
        if i < len(func.offsets):
            e.offset = func.offsets[i]
        raise
