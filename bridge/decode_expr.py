"""Instruction decoding (the hot path) and LEB128, shared by function bodies and constant
expressions.

`decode_expr` is one tight loop with its tables cached in locals, because a large module has
millions of instructions: operators without immediates append a shared tuple from
opcodes.NULLARY, the common index/const/memarg/block cases are inline, and everything rare goes
through `_decode_rare`. It raises IndexError when the bytes run out; the caller (decode.py) turns
that into a DecodeError for its region, so the loop pays nothing for bounds checks.
"""

from __future__ import annotations

from array import array
from collections.abc import Callable
from typing import TypeAlias

from .errors import DecodeError, UnsupportedError, ValidationError
from .module import FuncType, Instr, ValType
from .opcodes import (
    FC_OPS,
    KINDS,
    NAMES,
    NON_NULL_REF,
    NULLABLE_REF,
    NULLARY,
    PROPOSAL_OPS,
    REFTYPES,
    VALTYPES,
    Imm,
)
from .opcodes_simd import SIMD_OPS, SimdImm

Append: TypeAlias = Callable[[Instr], None]  # list.append of the instruction list

EMPTY_BLOCKTYPE = FuncType((), ())
_SINGLE_BT = {code: FuncType((), (t,)) for code, t in VALTYPES.items()}


class LebError(DecodeError):
    """A LEB128 error. The readers only know the position in the buffer they were given (a
    section or a function body); the region's decoder adds the region's file offset."""

    def __init__(self, message: str, at: int) -> None:
        super().__init__(message)
        self.at = at


# --- LEB128 ---------------------------------------------------------------------------------------
def read_uleb(b: bytes, pos: int, bits: int) -> tuple[int, int]:
    """Unsigned LEB128 of at most ceil(bits/7) bytes; the spare bits of the last byte must be 0."""
    result = 0
    shift = 0
    start = pos
    maxbytes = (bits + 6) // 7
    while True:
        byte = b[pos]
        pos += 1
        if pos - start == maxbytes:
            if byte & 0x80:
                raise LebError("integer representation too long", start)
            used = bits - 7 * (maxbytes - 1)
            if byte >> used:
                raise LebError("integer too large", start)
            return result | (byte << shift), pos
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7


def read_sleb(b: bytes, pos: int, bits: int) -> tuple[int, int]:
    """Signed LEB128; in the last allowed byte, the spare bits must all equal the sign bit."""
    result = 0
    shift = 0
    start = pos
    maxbytes = (bits + 6) // 7
    while True:
        byte = b[pos]
        pos += 1
        if pos - start == maxbytes:
            if byte & 0x80:
                raise LebError("integer representation too long", start)
            used = bits - 7 * (maxbytes - 1)
            spare = (0x7F >> (used - 1)) << (used - 1) & 0x7F  # sign bit and above
            if byte & spare not in (0, spare):
                raise LebError("integer too large", start)
            result |= (byte & 0x7F) << shift
            shift += 7
            break
        result |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            break
    if result >> (shift - 1) & 1:
        result -= 1 << shift
    return result, pos


# --- reference types written as (ref null? ht) ---------------------------------------------
# Abstract heap types of garbage collection (any eq i31 struct array none noextern nofunc
# noexn): valid Wasm 3.0, as reference types or in (ref null? ht), that is not supported yet.
_GC_HEAP_TYPES = frozenset((0x6E, 0x6D, 0x6C, 0x6B, 0x6A, 0x71, 0x72, 0x73, 0x74))


def _gc_unsupported(code: int) -> UnsupportedError:
    return UnsupportedError(
        f"garbage collection (a proposal after Wasm 2.0) is not supported: heap type 0x{code:02x}"
    )


def read_valtype(b: bytes, pos: int) -> tuple[ValType | None, int]:
    """A value type at b[pos]: (the type or None when the byte is none, the position after).

    Besides the one-byte forms, `(ref null ht)` (0x63 ht) and `(ref ht)` (0x64 ht) with an
    abstract heap type (func, extern, exn): the nullable one is exactly the short form; the
    non-null one is kept as that same type (non-nullability is not tracked here: typed
    function references own the general form). A heap type that is a type index is valid
    Wasm 3.0 of another proposal: reported as not supported, never as malformed.
    """
    code = b[pos]
    t = VALTYPES.get(code)
    if t is not None or code not in (NULLABLE_REF, NON_NULL_REF):
        if t is None and code in _GC_HEAP_TYPES:
            raise _gc_unsupported(code)
        return t, pos + 1
    ht = b[pos + 1]
    t = REFTYPES.get(ht)
    if t is None:
        if ht in _GC_HEAP_TYPES:
            raise _gc_unsupported(ht)
        if ht < 0x40 or ht & 0x80:  # a non-negative s33: a type index
            raise UnsupportedError(
                "typed function references (a proposal after Wasm 2.0) are not supported: "
                f"reference type 0x{code:02x} with a type index"
            )
        raise DecodeError("malformed heap type")
    return t, pos + 2


# --- instruction sequences (hot path) -------------------------------------------------------------
class ExprContext:
    """What the expression decoder needs from the rest of the module."""

    __slots__ = ("types", "has_datacount", "bad_blocktypes", "section", "func", "exception_ops")

    def __init__(self) -> None:
        self.types: list[FuncType] = []
        self.has_datacount = False
        self.exception_ops = False  # a try_table or legacy try was decoded
        self.bad_blocktypes: list[ValidationError] = []
        self.section = "code"
        self.func: int | None = None


def decode_expr(
    b: bytes, pos: int, base: int, ctx: ExprContext
) -> tuple[list[Instr], array[int], int]:
    """Decode instructions from b[pos:] up to and including the `end` closing depth 0.

    Returns (instrs, file offsets, position after the end). Raises IndexError when the bytes run
    out; the caller turns that into a DecodeError for its region.
    """
    instrs: list[Instr] = []
    append = instrs.append
    offsets = array("I")
    oappend = offsets.append
    kinds = KINDS
    names = NAMES
    nullary = NULLARY
    depth = 0
    K_NONE, K_INDEX, K_I32, K_MEMARG, K_BLOCK = Imm.NONE, Imm.INDEX, Imm.I32, Imm.MEMARG, Imm.BLOCK
    K_DELEGATE, K_TRY_TABLE = Imm.DELEGATE, Imm.TRY_TABLE
    while True:
        op = b[pos]
        oappend(base + pos)
        pos += 1
        k = kinds[op]
        if k is K_NONE:
            append(nullary[op])  # type: ignore[arg-type]  # never None for a K_NONE op
            if op == 0x0B:
                if depth == 0:
                    return instrs, offsets, pos
                depth -= 1
        elif k is K_INDEX:
            v = b[pos]
            if v < 0x80:
                pos += 1
            else:
                v, pos = read_uleb(b, pos, 32)
            append((names[op], v))
        elif k is K_I32:
            v = b[pos]
            if v < 0x80:
                pos += 1
                if v & 0x40:
                    v -= 0x80
            else:
                v, pos = read_sleb(b, pos, 32)
            append(("i32.const", v))
        elif k is K_MEMARG:
            a = b[pos]
            if a < 0x80:
                pos += 1
            else:
                a, pos = read_uleb(b, pos, 32)
            o = b[pos]
            if o < 0x80:
                pos += 1
            else:
                o, pos = read_uleb(b, pos, 32)
            append((names[op], a, o))
        elif k is K_BLOCK:  # block, loop, if, try (legacy)
            depth += 1
            if op == 0x06:
                ctx.exception_ops = True
            c = b[pos]
            if c == 0x40:
                bt = EMPTY_BLOCKTYPE
                pos += 1
            elif c in _SINGLE_BT:
                bt = _SINGLE_BT[c]
                pos += 1
            elif c == 0x63 or c == 0x64:  # (ref null? ht): read_valtype
                bt, pos = _ref_block_type(b, pos)
            else:
                at = pos
                idx, pos = read_sleb(b, pos, 33)
                if idx < 0:
                    raise DecodeError("malformed block type", offset=base + at)
                if idx < len(ctx.types):
                    bt = ctx.types[idx]
                else:
                    ctx.bad_blocktypes.append(
                        ValidationError(
                            f"unknown type {idx}",
                            section=ctx.section,
                            func=ctx.func,
                            offset=base + at - 1,
                        )
                    )
                    bt = EMPTY_BLOCKTYPE
            append((names[op], bt))
        elif k is K_DELEGATE:  # legacy `delegate l` closes its `try` as `end` would
            v, pos = read_uleb(b, pos, 32)
            append(("delegate", v))
            depth -= 1
        elif k is K_TRY_TABLE:
            depth += 1
            ctx.exception_ops = True
            pos = _decode_try_table(b, pos, base, ctx, append)
        else:
            pos = _decode_rare(b, pos, op, k, base, ctx, append)


_CATCH_KINDS = ("catch", "catch_ref", "catch_all", "catch_all_ref")


def _ref_block_type(b: bytes, pos: int) -> tuple[FuncType, int]:
    """A block type `(result (ref null? ht))`: one result of that reference type."""
    rt, pos = read_valtype(b, pos)
    if rt is None:  # not reached: the caller saw 0x63/0x64
        raise DecodeError("malformed block type")
    return FuncType((), (rt,)), pos


def _block_type(b: bytes, pos: int, base: int, ctx: ExprContext) -> tuple[FuncType, int]:
    """A block type outside the hot loop (try_table's)."""
    c = b[pos]
    if c == 0x40:
        return EMPTY_BLOCKTYPE, pos + 1
    if c in _SINGLE_BT:
        return _SINGLE_BT[c], pos + 1
    if c == 0x63 or c == 0x64:
        return _ref_block_type(b, pos)
    at = pos
    idx, pos = read_sleb(b, pos, 33)
    if idx < 0:
        raise DecodeError("malformed block type", offset=base + at)
    if idx < len(ctx.types):
        return ctx.types[idx], pos
    ctx.bad_blocktypes.append(
        ValidationError(
            f"unknown type {idx}", section=ctx.section, func=ctx.func, offset=base + at - 1
        )
    )
    return EMPTY_BLOCKTYPE, pos


def _decode_try_table(b: bytes, pos: int, base: int, ctx: ExprContext, add: Append) -> int:
    """try_table: block type, then vec(catch clause); a clause is 0x00 tag label (catch),
    0x01 tag label (catch_ref), 0x02 label (catch_all), 0x03 label (catch_all_ref)."""
    bt, pos = _block_type(b, pos, base, ctx)
    n, pos = read_uleb(b, pos, 32)
    if n > len(b) - pos:
        raise DecodeError("length out of bounds", offset=base + pos)
    clauses = []
    for _ in range(n):
        kind = b[pos]
        if kind > 3:
            raise DecodeError("malformed catch clause", offset=base + pos)
        pos += 1
        tag = None
        if kind < 2:
            tag, pos = read_uleb(b, pos, 32)
        label, pos = read_uleb(b, pos, 32)
        clauses.append((_CATCH_KINDS[kind], tag, label))
    add(("try_table", bt, tuple(clauses)))
    return pos


def _decode_rare(
    b: bytes,
    pos: int,
    op: int,
    k: Imm,
    base: int,
    ctx: ExprContext,
    append: Append,
) -> int:
    """Operators that are rare enough to live outside the hot loop. Returns the new position."""
    add = append  # list.append of the instruction list
    if k is Imm.I64:
        v, pos = read_sleb(b, pos, 64)
        add(("i64.const", v))
    elif k is Imm.F32:
        raw = b[pos : pos + 4]
        if len(raw) != 4:
            raise IndexError
        add(("f32.const", int.from_bytes(raw, "little")))
        pos += 4
    elif k is Imm.F64:
        raw = b[pos : pos + 8]
        if len(raw) != 8:
            raise IndexError
        add(("f64.const", int.from_bytes(raw, "little")))
        pos += 8
    elif k is Imm.BR_TABLE:
        n, pos = read_uleb(b, pos, 32)
        if n > len(b) - pos:
            raise DecodeError("length out of bounds", offset=base + pos)
        targets = []
        for _ in range(n):
            t, pos = read_uleb(b, pos, 32)
            targets.append(t)
        d, pos = read_uleb(b, pos, 32)
        add(("br_table", tuple(targets), d))
    elif k is Imm.CALL_INDIRECT:
        t, pos = read_uleb(b, pos, 32)
        tab, pos = read_uleb(b, pos, 32)
        add(("call_indirect", t, tab))
    elif k is Imm.ZERO:
        if b[pos] != 0:
            raise DecodeError("zero byte expected", offset=base + pos)
        add((NAMES[op], 0))
        pos += 1
    elif k is Imm.SELECT_T:
        n, pos = read_uleb(b, pos, 32)
        if n > len(b) - pos:
            raise DecodeError("length out of bounds", offset=base + pos)
        ts = []
        for _ in range(n):
            vt, npos = read_valtype(b, pos)
            if vt is None:
                raise DecodeError("malformed value type", offset=base + pos)
            ts.append(vt)
            pos = npos
        add(("select", tuple(ts)))
    elif k is Imm.REFTYPE:
        rt = REFTYPES.get(b[pos])
        if rt is None:
            if b[pos] in _GC_HEAP_TYPES:
                raise _gc_unsupported(b[pos])
            raise DecodeError("malformed reference type", offset=base + pos)
        pos += 1
        add(("ref.null", rt))
    elif k is Imm.PREFIX_FC:
        pos = _decode_fc(b, pos, base, ctx, add)
    elif k is Imm.SIMD:
        pos = _decode_fd(b, pos, base, add)
    elif k is Imm.ATOMIC:
        sub, _ = read_uleb(b, pos, 32)
        raise UnsupportedError(
            f"threads/atomics are not supported yet: 0xfe 0x{sub:x}", offset=base + pos - 1
        )
    elif op in PROPOSAL_OPS:
        raise UnsupportedError(
            f"{PROPOSAL_OPS[op]} (a proposal after Wasm 2.0) is not supported: opcode 0x{op:02x}",
            offset=base + pos - 1,
        )
    else:
        raise DecodeError(f"illegal opcode 0x{op:02x}", offset=base + pos - 1)
    return pos


def _decode_fc(b: bytes, pos: int, base: int, ctx: ExprContext, add: Append) -> int:
    """The 0xFC family: saturating truncation, bulk memory and table operators."""
    at = pos - 1
    sub, pos = read_uleb(b, pos, 32)
    entry = FC_OPS.get(sub)
    if entry is None:
        raise DecodeError(f"illegal opcode 0xfc {sub}", offset=base + at)
    name, k = entry
    if k is Imm.NONE:
        add((name,))
    elif k is Imm.INDEX:
        v, pos = read_uleb(b, pos, 32)
        if name == "data.drop" and not ctx.has_datacount:
            raise DecodeError("data count section required", offset=base + at)
        add((name, v))
    elif k is Imm.INDEX_ZERO:  # memory.init
        v, pos = read_uleb(b, pos, 32)
        if b[pos] != 0:
            raise DecodeError("zero byte expected", offset=base + pos)
        pos += 1
        if not ctx.has_datacount:
            raise DecodeError("data count section required", offset=base + at)
        add((name, v, 0))
    elif k is Imm.ZERO_ZERO:  # memory.copy
        if b[pos] != 0 or b[pos + 1] != 0:
            raise DecodeError("zero byte expected", offset=base + pos)
        pos += 2
        add((name, 0, 0))
    elif k is Imm.ZERO:  # memory.fill
        if b[pos] != 0:
            raise DecodeError("zero byte expected", offset=base + pos)
        pos += 1
        add((name, 0))
    else:  # INDEX_INDEX: table.init (elem, table), table.copy (dst, src)
        x, pos = read_uleb(b, pos, 32)
        y, pos = read_uleb(b, pos, 32)
        add((name, x, y))
    return pos


def _decode_fd(b: bytes, pos: int, base: int, add: Append) -> int:
    """The 0xFD family: SIMD (opcodes_simd.py documents the tuples)."""
    at = pos - 1
    sub, pos = read_uleb(b, pos, 32)
    entry = SIMD_OPS.get(sub)
    if entry is None:
        raise DecodeError(f"illegal opcode 0xfd {sub}", offset=base + at)
    name, k = entry[0], entry[1]
    if k is SimdImm.NONE:
        add((name,))
    elif k is SimdImm.MEMARG or k is SimdImm.MEMARG_LANE:
        align, pos = read_uleb(b, pos, 32)
        offset, pos = read_uleb(b, pos, 32)
        if k is SimdImm.MEMARG:
            add((name, align, offset))
        else:
            add((name, align, offset, b[pos]))
            pos += 1
    elif k is SimdImm.LANE:
        add((name, b[pos]))
        pos += 1
    else:  # V128 (v128.const) or SHUFFLE: 16 bytes
        raw = b[pos : pos + 16]
        if len(raw) != 16:
            raise IndexError
        pos += 16
        add((name, int.from_bytes(raw, "little") if k is SimdImm.V128 else tuple(raw)))
    return pos
