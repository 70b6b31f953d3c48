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

from .decode_expr import ExprContext, LebError, decode_expr, read_sleb, read_uleb, read_valtype
from .errors import DecodeError, UnsupportedError
from .features import WASM3, Features
from .module import (
    Data,
    Elem,
    Export,
    ExternKind,
    Func,
    FuncType,
    Global,
    GlobalType,
    HeapType,
    Import,
    Instr,
    Limits,
    MemoryType,
    Module,
    RefType,
    TableType,
    TagType,
    ValType,
    ValueType,
)
from .opcodes import REFTYPES
from .reftypes import REF, REF_NULL, is_later_type, later_type, read_ref_suffix

__all__ = ["decode", "decode_function", "read_sleb", "read_uleb", "MAX_EXPANDED_LOCALS"]

MAGIC = b"\x00asm"
VERSION = b"\x01\x00\x00\x00"

SECTION_NAMES = [
    "custom", "type", "import", "function", "table", "memory", "global",
    "export", "start", "element", "code", "data", "datacount", "tag",
]  # fmt: skip
# Required order of the non-custom sections (datacount sits between element and code, the tag
# section of exception handling between memory and global).
_ORDER = {1: 1, 2: 2, 3: 3, 4: 4, 5: 5, 13: 6, 6: 7, 7: 8, 8: 9, 9: 10, 12: 11, 10: 12, 11: 13}

_MAX_LOCALS = 0xFFFFFFFF
# Locals one function may declare here (wasmtime's and V8's limit is 50000; the spec's is 2^32-1).
MAX_EXPANDED_LOCALS = 50000


# --- section cursor -------------------------------------------------------------------------------
class _Reader:
    """Cursor over one section's bytes; `base` is the section's file offset, for errors."""

    __slots__ = ("b", "pos", "base", "section", "features")

    def __init__(self, b: bytes, base: int, section: str) -> None:
        self.features = WASM3
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

    def valtype(self) -> ValueType:
        t, self.pos = read_valtype(self.b, self.pos, self.base)
        return t

    def reftype(self) -> ValueType:
        code = self.b[self.pos]
        short = REFTYPES.get(code)
        if short is not None:
            self.pos += 1
            return short
        if code == REF_NULL or code == REF:
            t, self.pos = read_ref_suffix(self.b, self.pos + 1, code == REF_NULL, self.base)
            return t
        if is_later_type(code):
            raise later_type(code, self.base + self.pos)
        raise self.error("malformed reference type")

    def limits(self) -> Limits:
        has_max = self.uleb(1)
        lo = self.u32()
        return Limits(lo, self.u32() if has_max else None)


# --- module ---------------------------------------------------------------------------------------
def decode(data: bytes, features: Features = WASM3) -> Module:
    """Decode a binary module under `features` (features.py: 3.0 unless told). Raises
    DecodeError (malformed), UnsupportedError (threads, proposals after 3.0), or
    ValidationError (only for a block type naming an unknown type; see the module
    docstring)."""
    data = bytes(data)
    if len(data) < 4:
        raise DecodeError("unexpected end", offset=len(data))
    if data[:4] != MAGIC:
        raise DecodeError("magic header not detected", offset=0)
    if len(data) < 8:
        raise DecodeError("unexpected end", offset=len(data))
    if data[4:8] != VERSION:
        raise DecodeError("unknown binary version", offset=4)
    m = Module(features=features)
    ctx = ExprContext()
    ctx.multi_memory = features.multi_memory
    ctx.offset_bits = 64 if features.memory64 else 32
    func_types: list[int] | None = None
    code_seen = False
    data_seen = False
    last = 0
    pos = 8
    n = len(data)
    while pos < n:
        sec_start = pos
        sid = data[pos]
        if sid > 13:
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
        r.features = features
        pos += size
        try:
            if sid == 0:
                _custom(r, m)
            elif sid == 1:
                m.types, m.rec_groups = _types(r)
                ctx.types = m.types
            elif sid == 2:
                m.imports = [_import(r) for _ in range(r.length())]
            elif sid == 3:
                func_types = [r.u32() for _ in range(r.length())]
            elif sid == 4:
                m.tables = [_table(r, ctx) for _ in range(r.length())]
            elif sid == 5:
                m.memories = [_memtype(r, features) for _ in range(r.length())]
            elif sid == 13:
                m.tags = [_tag(r) for _ in range(r.length())]
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
    m.exception_ops = ctx.exception_ops
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


def _types(r: _Reader) -> tuple[list[FuncType], list[tuple[int, int]]]:
    """The type section: function types, each alone or in a recursion group (`rec`, 0x4E,
    Wasm 3.0): per type, (first index of its group, group size). Two types are the same
    only with the same group structure and position (Module.type_key), which import
    matching of tags needs; sub types and struct/array types (GC) are not supported."""
    types: list[FuncType] = []
    groups: list[tuple[int, int]] = []
    for _ in range(r.length()):
        if r.b[r.pos] == 0x4E:
            r.pos += 1
            n = r.length()
            first = len(types)
            for _ in range(n):
                types.append(_functype(r))
                groups.append((first, n))
        else:
            groups.append((len(types), 1))
            types.append(_functype(r))
    return types, groups


def _functype(r: _Reader) -> FuncType:
    form = r.byte()
    if form in (0x50, 0x4F, 0x5F, 0x5E):
        raise UnsupportedError(
            f"garbage collection (a proposal after Wasm 2.0) is not supported: type form "
            f"0x{form:02x}",
            offset=r.base + r.pos - 1,
        )
    if form != 0x60:
        # The form is a one-byte LEB128 (s7) in the spec's grammar, hence its wording.
        msg = "integer representation too long" if form & 0x80 else "malformed function type"
        raise r.error(msg, r.pos - 1)
    params = tuple(r.valtype() for _ in range(r.length()))
    results = tuple(r.valtype() for _ in range(r.length()))
    return FuncType(params, results)


def _tag(r: _Reader) -> int:
    """A tag type: attribute 0 (exception), then the index of its function type."""
    if r.byte() != 0:
        raise r.error("malformed tag attribute", r.pos - 1)
    return r.u32()


def _tabletype(r: _Reader) -> TableType:
    t = r.reftype()
    lim, is64 = _limits(r, r.features, table=True)
    return TableType(t, lim, is64)


def _memtype(r: _Reader, features: Features) -> MemoryType:
    lim, is64 = _limits(r, features, table=False)
    return MemoryType(lim, is64)


def _limits(r: _Reader, features: Features, table: bool) -> tuple[Limits, bool]:
    """Limits with their flags byte: bit 0 a maximum follows, bit 1 shared (threads, not
    supported), bit 2 64-bit addresses (memory64/table64, 3.0; the bounds are then u64)."""
    at = r.pos
    if not features.memory64:  # 2.0: the flag is a 1-bit LEB128
        has_max = r.uleb(1)
        lo = r.u32()
        return Limits(lo, r.u32() if has_max else None), False
    flags = r.byte()
    if flags & 2 and not table and flags < 8:
        raise UnsupportedError(
            "shared memory (the threads proposal, after WebAssembly 3.0) is not supported",
            section=r.section,
            offset=r.base + at,
        )
    if flags > (5 if table else 7) or (table and flags & 2):
        raise r.error("malformed limits flags", at)
    is64 = bool(flags & 4)
    bits = 64 if is64 else 32
    lo = r.uleb(bits)
    return Limits(lo, r.uleb(bits) if flags & 1 else None), is64


def _table(r: _Reader, ctx: ExprContext) -> TableType:
    """A defined table: `tabletype`, or 0x40 0x00 `tabletype expr` (a typed table with its
    elements' initial value, 3.0)."""
    if r.b[r.pos] != 0x40:
        return _tabletype(r)
    r.pos += 1
    if r.byte() != 0x00:
        raise r.error("malformed table type", r.pos - 1)
    tt = _tabletype(r)
    return TableType(tt.elem, tt.limits, tt.is64, tuple(_const_expr(r, ctx)))


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
    desc: int | TableType | MemoryType | GlobalType | TagType
    if kind == 0:
        desc = r.u32()
    elif kind == 1:
        desc = _tabletype(r)
    elif kind == 2:
        desc = _memtype(r, r.features)
    elif kind == 3:
        desc = _globaltype(r)
    elif kind == 4:
        desc = TagType(_tag(r))
    else:
        raise r.error("malformed import kind", r.pos - 1)
    return Import(module, name, ExternKind(kind), desc)


def _export(r: _Reader) -> Export:
    name = r.name()
    kind = r.byte()
    if kind > 4:
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
    etype: ValueType = ValType.FUNCREF
    if flags & 3:  # forms 1,2,3,5,6,7 carry an element kind or reference type
        if flags & 4:
            etype = r.reftype()
        elif r.byte() != 0x00:
            raise r.error("malformed element kind", r.pos - 1)
    if flags & 4:
        init = [_const_expr(r, ctx) for _ in range(r.length())]
    else:  # function indices: the segment's type is (ref func) in 3.0 (never null)
        etype = RefType(False, HeapType.FUNC)
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
    groups: list[tuple[int, ValueType]] = []
    total = 0
    for _ in range(n):
        cnt, pos = read_uleb(body, pos, 32)
        t, pos = read_valtype(body, pos, base)
        total += cnt
        groups.append((cnt, t))
    if total > _MAX_LOCALS:
        raise DecodeError("too many locals", offset=base)
    if total > MAX_EXPANDED_LOCALS:
        # Valid, but Func.locals is expanded and billions of locals would exhaust memory.
        raise UnsupportedError(
            f"too many locals ({total}, at most {MAX_EXPANDED_LOCALS})", offset=base
        )
    locals_: list[ValueType] = []
    for cnt, t in groups:
        locals_.extend([t] * cnt)
    instrs, offsets, pos = decode_expr(body, pos, base, ctx)
    if pos != len(body):
        raise DecodeError("section size mismatch", offset=base + pos)
    return Func(type_idx, locals_, instrs, offsets, base)
