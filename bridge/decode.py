"""Binary decoder: bytes -> Module (spec chapter 5, "Binary Format").

Decoding only checks well-formedness (spec: "malformed"); typing rules live in validate.py.
The one exception: a block type naming a type index is resolved to its FuncType here (module.py
stores resolved block types), so an unknown index there is reported as a ValidationError, raised
only after the whole module decoded, so it never hides a DecodeError.

Two speeds of code:
  * sections use `_Reader`, a small cursor over the section's own bytes (so a read can never run
    into the next section, and every error knows its file offset);
  * function bodies and constant expressions use decode_expr.decode_expr, the hot loop.

Truncated input shows up as IndexError from bytes indexing; it is turned into DecodeError at the
section or function boundary (never wider), with the offset of the end of the region.
"""

from __future__ import annotations

from .decode_expr import ExprContext, LebError, decode_expr, read_sleb, read_uleb
from .errors import DecodeError, UnsupportedError
from .module import (
    Data,
    Elem,
    Export,
    ExternKind,
    Func,
    FuncType,
    Global,
    GlobalType,
    Import,
    Instr,
    Limits,
    MemoryType,
    Module,
    TableType,
    ValType,
)
from .opcodes import REFTYPES, VALTYPES

__all__ = ["decode", "decode_function", "read_sleb", "read_uleb", "MAX_EXPANDED_LOCALS"]

MAGIC = b"\x00asm"
VERSION = b"\x01\x00\x00\x00"

SECTION_NAMES = [
    "custom", "type", "import", "function", "table", "memory", "global",
    "export", "start", "element", "code", "data", "datacount",
]  # fmt: skip
# Required order of the non-custom sections (datacount sits between element and code).
_ORDER = {1: 1, 2: 2, 3: 3, 4: 4, 5: 5, 6: 6, 7: 7, 8: 8, 9: 9, 12: 10, 10: 11, 11: 12}

_MAX_LOCALS = 0xFFFFFFFF
# Locals one function may declare here (wasmtime's and V8's limit is 50000; the spec's is 2^32-1).
MAX_EXPANDED_LOCALS = 50000


# --- section cursor -------------------------------------------------------------------------------
class _Reader:
    """Cursor over one section's bytes; `base` is the section's file offset, for errors."""

    __slots__ = ("b", "pos", "base", "section")

    def __init__(self, b: bytes, base: int, section: str) -> None:
        self.b = b
        self.pos = 0
        self.base = base
        self.section = section

    def error(self, msg: str, at: int | None = None) -> DecodeError:
        return DecodeError(
            msg, section=self.section, offset=self.base + (self.pos if at is None else at)
        )

    def byte(self) -> int:
        v = self.b[self.pos]
        self.pos += 1
        return v

    def u32(self) -> int:
        v, self.pos = read_uleb(self.b, self.pos, 32)
        return v

    def uleb(self, bits: int) -> int:
        v, self.pos = read_uleb(self.b, self.pos, bits)
        return v

    def length(self) -> int:
        """A vector length. Not checked against what is left: every element takes at least one
        byte, so a lying count ends in "unexpected end" after at most len(section) elements."""
        return self.u32()

    def size(self) -> int:
        """A byte count of what follows; it must fit in what is left of the section."""
        at = self.pos
        n = self.u32()
        if n > len(self.b) - self.pos:
            raise self.error("length out of bounds", at)
        return n

    def bytes(self) -> bytes:
        n = self.size()
        v = self.b[self.pos : self.pos + n]
        self.pos += n
        return v

    def name(self) -> str:
        at = self.pos
        raw = self.bytes()
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            raise self.error("malformed UTF-8 encoding", at) from None

    def valtype(self) -> ValType:
        code = self.byte()
        t = VALTYPES.get(code)
        if t is None:
            raise self.error("malformed value type", self.pos - 1)
        return t

    def reftype(self) -> ValType:
        code = self.byte()
        t = REFTYPES.get(code)
        if t is None:
            raise self.error("malformed reference type", self.pos - 1)
        return t

    def limits(self) -> Limits:
        has_max = self.uleb(1)
        lo = self.u32()
        return Limits(lo, self.u32() if has_max else None)


# --- module ---------------------------------------------------------------------------------------
def decode(data: bytes) -> Module:
    """Decode a binary module. Raises DecodeError (malformed), UnsupportedError (threads,
    proposals after 2.0), or ValidationError (only for a block type naming an unknown type; see
    the module docstring)."""
    data = bytes(data)
    if len(data) < 4:
        raise DecodeError("unexpected end", offset=len(data))
    if data[:4] != MAGIC:
        raise DecodeError("magic header not detected", offset=0)
    if len(data) < 8:
        raise DecodeError("unexpected end", offset=len(data))
    if data[4:8] != VERSION:
        raise DecodeError("unknown binary version", offset=4)
    m = Module()
    ctx = ExprContext()
    func_types: list[int] | None = None
    code_seen = False
    data_seen = False
    last = 0
    pos = 8
    n = len(data)
    while pos < n:
        sec_start = pos
        sid = data[pos]
        if sid > 12:
            raise DecodeError("malformed section id", offset=pos)
        try:
            size, pos = read_uleb(data, pos + 1, 32)
        except IndexError:
            raise DecodeError("unexpected end", offset=n) from None
        except LebError as e:
            e.section = SECTION_NAMES[sid]
            e.offset = e.at  # read from the whole file: already a file offset
            raise
        if size > n - pos:
            raise DecodeError("length out of bounds", section=SECTION_NAMES[sid], offset=sec_start)
        if sid:
            rank = _ORDER[sid]
            if rank <= last:
                raise DecodeError(
                    "unexpected content after last section",
                    section=SECTION_NAMES[sid],
                    offset=sec_start,
                )
            last = rank
        r = _Reader(data[pos : pos + size], pos, SECTION_NAMES[sid])
        pos += size
        try:
            if sid == 0:
                _custom(r, m)
            elif sid == 1:
                m.types = [_functype(r) for _ in range(r.length())]
                ctx.types = m.types
            elif sid == 2:
                m.imports = [_import(r) for _ in range(r.length())]
            elif sid == 3:
                func_types = [r.u32() for _ in range(r.length())]
            elif sid == 4:
                m.tables = [_tabletype(r) for _ in range(r.length())]
            elif sid == 5:
                m.memories = [MemoryType(r.limits()) for _ in range(r.length())]
            elif sid == 6:
                m.globals = [_global(r, ctx) for _ in range(r.length())]
            elif sid == 7:
                m.exports = [_export(r) for _ in range(r.length())]
            elif sid == 8:
                m.start = r.u32()
            elif sid == 9:
                m.elems = [_elem(r, ctx) for _ in range(r.length())]
            elif sid == 12:
                m.data_count = r.u32()
                ctx.has_datacount = True
            elif sid == 10:
                code_seen = True
                _code(r, m, ctx, func_types or [])
            elif sid == 11:
                data_seen = True
                m.datas = [_data(r, ctx) for _ in range(r.length())]
                if m.data_count is not None and m.data_count != len(m.datas):
                    raise r.error("data count and data section have inconsistent lengths", 0)
        except IndexError:
            raise r.error("unexpected end of section or function", len(r.b)) from None
        except (DecodeError, UnsupportedError) as e:
            if e.section is None:
                e.section = r.section
            if e.offset is None:
                e.offset = r.base + (e.at if isinstance(e, LebError) else r.pos)
            raise
        if sid and r.pos != len(r.b):
            raise r.error("section size mismatch")
    if not code_seen and func_types:
        raise DecodeError("function and code section have inconsistent lengths", section="function")
    if not data_seen and m.data_count:
        raise DecodeError(
            "data count and data section have inconsistent lengths", section="datacount"
        )
    if ctx.bad_blocktypes:
        raise ctx.bad_blocktypes[0]
    return m


def _custom(r: _Reader, m: Module) -> None:
    name = r.name()
    content = r.b[r.pos :]
    r.pos = len(r.b)
    m.customs.append((name, content))
    if name == "name":
        try:
            m.func_names = _function_names(content)
        except (DecodeError, IndexError):
            m.func_names = {}  # a bad name section is debug info only; never fail a module for it


def _function_names(content: bytes) -> dict[int, str]:
    """Subsection 1 of the "name" custom section: function index -> name."""
    pos = 0
    while pos < len(content):
        sub = content[pos]
        size, pos = read_uleb(content, pos + 1, 32)
        if sub == 1:
            r = _Reader(content[pos : pos + size], 0, "name")
            names: dict[int, str] = {}
            for _ in range(r.length()):
                idx = r.u32()
                try:
                    names[idx] = r.name()
                except DecodeError:
                    continue
            return names
        pos += size
    return {}


def _functype(r: _Reader) -> FuncType:
    form = r.byte()
    if form != 0x60:
        # The form is a one-byte LEB128 (s7) in the spec's grammar, hence its wording.
        msg = "integer representation too long" if form & 0x80 else "malformed function type"
        raise r.error(msg, r.pos - 1)
    params = tuple(r.valtype() for _ in range(r.length()))
    results = tuple(r.valtype() for _ in range(r.length()))
    return FuncType(params, results)


def _tabletype(r: _Reader) -> TableType:
    t = r.reftype()
    return TableType(t, r.limits())


def _globaltype(r: _Reader) -> GlobalType:
    t = r.valtype()
    mut = r.byte()
    if mut > 1:
        raise r.error("malformed mutability", r.pos - 1)
    return GlobalType(t, bool(mut))


def _import(r: _Reader) -> Import:
    module = r.name()
    name = r.name()
    kind = r.byte()
    desc: int | TableType | MemoryType | GlobalType
    if kind == 0:
        desc = r.u32()
    elif kind == 1:
        desc = _tabletype(r)
    elif kind == 2:
        desc = MemoryType(r.limits())
    elif kind == 3:
        desc = _globaltype(r)
    else:
        raise r.error("malformed import kind", r.pos - 1)
    return Import(module, name, ExternKind(kind), desc)


def _export(r: _Reader) -> Export:
    name = r.name()
    kind = r.byte()
    if kind > 3:
        raise r.error("malformed export kind", r.pos - 1)
    return Export(name, ExternKind(kind), r.u32())


def _const_expr(r: _Reader, ctx: ExprContext) -> list[Instr]:
    """A constant expression: decoded like code (validate.py checks it is constant)."""
    ctx.func = None
    ctx.section = r.section
    instrs, _, r.pos = decode_expr(r.b, r.pos, r.base, ctx)
    return instrs[:-1]


def _global(r: _Reader, ctx: ExprContext) -> Global:
    gt = _globaltype(r)
    return Global(gt, _const_expr(r, ctx))


def _elem(r: _Reader, ctx: ExprContext) -> Elem:
    """Element segment forms 0-7: bit 0 passive/declarative, bit 1 explicit table or
    declarative, bit 2 expressions instead of function indices."""
    at = r.pos
    flags = r.u32()
    if flags > 7:
        raise r.error("malformed elements segment kind", at)
    table = 0
    offset = None
    if flags & 1:
        mode = "declarative" if flags & 2 else "passive"
    else:
        mode = "active"
        if flags & 2:
            table = r.u32()
        offset = _const_expr(r, ctx)
    etype = ValType.FUNCREF
    if flags & 3:  # forms 1,2,3,5,6,7 carry an element kind or reference type
        if flags & 4:
            etype = r.reftype()
        elif r.byte() != 0x00:
            raise r.error("malformed element kind", r.pos - 1)
    if flags & 4:
        init = [_const_expr(r, ctx) for _ in range(r.length())]
    else:
        init = [[("ref.func", r.u32())] for _ in range(r.length())]
    return Elem(mode, etype, init, table, offset)


def _data(r: _Reader, ctx: ExprContext) -> Data:
    at = r.pos
    flags = r.u32()
    if flags == 1:
        return Data("passive", r.bytes())
    if flags == 0:
        offset = _const_expr(r, ctx)
        return Data("active", r.bytes(), 0, offset)
    if flags == 2:
        mem = r.u32()
        offset = _const_expr(r, ctx)
        return Data("active", r.bytes(), mem, offset)
    raise r.error("malformed data segment kind", at)


def _code(r: _Reader, m: Module, ctx: ExprContext, func_types: list[int]) -> None:
    count = r.length()
    if count != len(func_types):
        raise r.error("function and code section have inconsistent lengths", 0)
    first = m.num_imported_funcs
    ctx.section = "code"
    for i in range(count):
        size = r.size()
        start = r.pos
        r.pos = start + size
        m.funcs.append(decode_function(r.b, start, size, r.base, first + i, ctx, func_types[i]))


def decode_function(
    section: bytes, start: int, size: int, base: int, fidx: int, ctx: ExprContext, type_idx: int
) -> Func:
    """The body at section[start:start+size] (file offset base+start) of function `fidx`.

    Also what bridge/stream.py calls to decode one body at a time; every error names the code
    section, the function and the file offset."""
    body = section[start : start + size]
    base += start
    ctx.func = fidx
    try:
        return _func_body(body, base, ctx, type_idx)
    except IndexError:
        # Spec wording: a body that stops inside its section lacks its END; one that stops
        # at the end of the section ran out of section.
        msg = (
            "END opcode expected"
            if start + size < len(section)
            else "unexpected end of section or function"
        )
        raise DecodeError(msg, section="code", func=fidx, offset=base + size) from None
    except (DecodeError, UnsupportedError) as e:
        if e.offset is None and isinstance(e, LebError):
            e.offset = base + e.at
        if e.func is None:
            e.func = fidx
        if e.section is None:
            e.section = "code"
        raise


def _func_body(body: bytes, base: int, ctx: ExprContext, type_idx: int) -> Func:
    pos = 0
    n, pos = read_uleb(body, pos, 32)
    if n > len(body) - pos:
        raise DecodeError("length out of bounds", offset=base)
    groups: list[tuple[int, ValType]] = []
    total = 0
    for _ in range(n):
        cnt, pos = read_uleb(body, pos, 32)
        code = body[pos]
        t = VALTYPES.get(code)
        if t is None:
            raise DecodeError("malformed value type", offset=base + pos)
        pos += 1
        total += cnt
        groups.append((cnt, t))
    if total > _MAX_LOCALS:
        raise DecodeError("too many locals", offset=base)
    if total > MAX_EXPANDED_LOCALS:
        # Valid, but Func.locals is expanded and billions of locals would exhaust memory.
        raise UnsupportedError(
            f"too many locals ({total}, at most {MAX_EXPANDED_LOCALS})", offset=base
        )
    locals_: list[ValType] = []
    for cnt, t in groups:
        locals_.extend([t] * cnt)
    instrs, offsets, pos = decode_expr(body, pos, base, ctx)
    if pos != len(body):
        raise DecodeError("section size mismatch", offset=base + pos)
    return Func(type_idx, locals_, instrs, offsets, base)
