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
from typing import TypeAlias, TypeVar

from .errors import DecodeError, UnsupportedError, ValidationError
from .module import FuncType, Instr, ValueType
from .opcodes import (
    FC_OPS,
    KINDS,
    NAMES,
    NULLARY,
    PROPOSAL_OPS,
    VALTYPES,
    Imm,
)
from .opcodes_simd import SIMD_OPS, SimdImm
from .reftypes import REF, REF_NULL, is_later_type, later_type, read_ref_suffix

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
def _leb(b: bytes, pos: int, bits: int) -> tuple[int, int, int, int]:
    """The LEB128 groups at `pos`, of at most ceil(bits/7) bytes: (their value, bits read, the
    last byte, new pos). The callers check the last byte's spare bits, signed or unsigned."""
    result = 0
    shift = 0
    start = pos
    end = pos + (bits + 6) // 7
    while True:
        byte = b[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return result, shift, byte, pos
        if pos == end:
            raise LebError("integer representation too long", start)


def read_uleb(b: bytes, pos: int, bits: int) -> tuple[int, int]:
    """Unsigned LEB128 of at most ceil(bits/7) bytes; the spare bits of the last byte must be 0.
    For bits >= 14, values below 2^14 (one or two bytes, not the longest form) are read here."""
    if bits >= 14:
        low = b[pos]
        if low < 0x80:
            return low, pos + 1
        high = b[pos + 1]
        if high < 0x80:
            return low & 0x7F | high << 7, pos + 2
    result, shift, last, end = _leb(b, pos, bits)
    if shift > bits and last >> (bits - shift + 7):  # the longest form: bits above `bits`
        raise LebError("integer too large", pos)
    return result, end


def read_sleb(b: bytes, pos: int, bits: int) -> tuple[int, int]:
    """Signed LEB128; in the last allowed byte, the spare bits must all equal the sign bit.
    For bits >= 14, values in [-2^13, 2^13) (one or two bytes) are read here."""
    if bits >= 14:
        low = b[pos]
        if low < 0x80:
            return low - (low & 0x40) * 2, pos + 1
        high = b[pos + 1]
        if high < 0x80:
            return (low & 0x7F | high << 7) - (high & 0x40) * 256, pos + 2
    result, shift, last, end = _leb(b, pos, bits)
    if shift > bits:  # the longest form: its spare bits must repeat the sign
        used = bits - shift + 7
        spare = (0x7F >> (used - 1)) << (used - 1) & 0x7F  # sign bit and above
        if last & spare not in (0, spare):
            raise LebError("integer too large", pos)
    if result >> (shift - 1) & 1:
        result -= 1 << shift
    return result, end


def _memarg_flags(b: bytes, pos: int, ctx: ExprContext) -> tuple[int, int, int]:
    """A memarg's alignment field that is not one small byte: (align, memidx, new pos).
    With multiple memories (3.0) bit 6 says a memory index follows; else (2.0) the value is
    the alignment, which validation then rejects as larger than natural."""
    a, pos = read_uleb(b, pos, 32)
    if ctx.multi_memory and a & 0x40:
        mem, pos = read_uleb(b, pos, 32)
        return a & ~0x40, mem, pos
    return a, 0, pos


def _memidx(b: bytes, pos: int, base: int, ctx: ExprContext) -> tuple[int, int]:
    """A memory index immediate: u32 (3.0), or the reserved 0x00 byte of 2.0."""
    if ctx.multi_memory:
        return read_uleb(b, pos, 32)
    if b[pos] != 0:
        raise DecodeError("zero byte expected", offset=base + pos)
    return 0, pos + 1


def read_valtype(b: bytes, pos: int, base: int = 0) -> tuple[ValueType, int]:
    """A value type: one byte, or 0x63/0x64 and a heap type (typed references)."""
    code = b[pos]
    vt = VALTYPES.get(code)
    if vt is not None:
        return vt, pos + 1
    if code == REF_NULL or code == REF:
        return read_ref_suffix(b, pos + 1, code == REF_NULL, base)
    if is_later_type(code):  # anyref, exnref, ...: a later proposal's shorthand
        raise later_type(code, base + pos)
    raise DecodeError("malformed value type", offset=base + pos)


# --- instruction sequences (hot path) -------------------------------------------------------------
class ExprContext:
    """What the expression decoder needs from the rest of the module."""

    __slots__ = (
        "types",
        "has_datacount",
        "bad_blocktypes",
        "section",
        "func",
        "multi_memory",
        "offset_bits",
        "exception_ops",
    )

    def __init__(self) -> None:
        # WebAssembly 3.0 memarg/memory-index encodings (features.Features.multi_memory), and
        # memarg offsets as u64 (memory64) or u32 (2.0)
        self.multi_memory = True
        self.offset_bits = 64
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
            if a < 0x40:
                pos += 1
                mem = 0
            else:  # a memory index follows (bit 6), or a long alignment field
                a, mem, pos = _memarg_flags(b, pos, ctx)
            o = b[pos]
            if o < 0x80:
                pos += 1
            else:  # u64 in 3.0: a memory64 offset (validation bounds a memory32 one)
                o, pos = read_uleb(b, pos, ctx.offset_bits)
            append((names[op], a, o, mem) if mem else (names[op], a, o))
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
            else:  # a reference type or a type index
                bt, pos = _block_type(b, pos, base, ctx)
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


def _vec_len(b: bytes, pos: int, base: int) -> tuple[int, int]:
    """A vector's length: each element takes a byte at least, so it cannot exceed the bytes
    left (which keeps a hostile length from allocating before the bytes run out)."""
    n, pos = read_uleb(b, pos, 32)
    if n > len(b) - pos:
        raise DecodeError("length out of bounds", offset=base + pos)
    return n, pos


def _block_type(b: bytes, pos: int, base: int, ctx: ExprContext) -> tuple[FuncType, int]:
    """A block type: try_table's, and the rarer forms of the others (the hot loop decodes the
    empty and single value type ones itself). An unknown type index is a validation error,
    kept for the validator (ctx.bad_blocktypes), which reports errors in code order."""
    c = b[pos]
    if c == 0x40:
        return EMPTY_BLOCKTYPE, pos + 1
    if c in _SINGLE_BT:
        return _SINGLE_BT[c], pos + 1
    if c == REF_NULL or c == REF:
        rt, pos = read_ref_suffix(b, pos + 1, c == REF_NULL, base)
        return FuncType((), (rt,)), pos
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
    n, pos = _vec_len(b, pos, base)
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
    elif k is Imm.F32 or k is Imm.F64:  # the raw bits, 4 or 8 bytes
        n = 4 if k is Imm.F32 else 8
        raw = b[pos : pos + n]
        if len(raw) != n:
            raise IndexError  # the bytes ran out, as b[pos] would say
        add((NAMES[op], int.from_bytes(raw, "little")))
        pos += n
    elif k is Imm.BR_TABLE:
        n, pos = _vec_len(b, pos, base)
        targets = []
        for _ in range(n):
            t, pos = read_uleb(b, pos, 32)
            targets.append(t)
        d, pos = read_uleb(b, pos, 32)
        add(("br_table", tuple(targets), d))
    elif k is Imm.CALL_INDIRECT:  # call_indirect, return_call_indirect
        t, pos = read_uleb(b, pos, 32)
        tab, pos = read_uleb(b, pos, 32)
        add((NAMES[op], t, tab))
    elif k is Imm.ZERO:  # memory.size, memory.grow: a memory index
        mem, pos = _memidx(b, pos, base, ctx)
        add((NAMES[op], mem))
    elif k is Imm.SELECT_T:
        n, pos = _vec_len(b, pos, base)
        ts = []
        for _ in range(n):
            vt, pos = read_valtype(b, pos, base)
            ts.append(vt)
        add(("select", tuple(ts)))
    elif k is Imm.REFTYPE:  # ref.null: a heap type
        rt, pos = read_ref_suffix(b, pos, True, base)
        add(("ref.null", rt))
    elif k is Imm.PREFIX_FC:
        pos = _decode_fc(b, pos, base, ctx, add)
    elif k is Imm.SIMD:
        pos = _decode_fd(b, pos, base, ctx, add)
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


E = TypeVar("E")


def _sub_opcode(b: bytes, pos: int, base: int, table: dict[int, E]) -> tuple[E, int]:
    """The entry of a prefixed operator (0xFC, 0xFD; the prefix is at pos - 1) in its
    family's table, by its u32 sub-opcode."""
    sub, after = read_uleb(b, pos, 32)
    entry = table.get(sub)
    if entry is None:
        raise DecodeError(f"illegal opcode 0x{b[pos - 1]:x} {sub}", offset=base + pos - 1)
    return entry, after


def _decode_fc(b: bytes, pos: int, base: int, ctx: ExprContext, add: Append) -> int:
    """The 0xFC family: saturating truncation, bulk memory and table operators."""
    at = pos - 1
    (name, k), pos = _sub_opcode(b, pos, base, FC_OPS)
    if k is Imm.NONE:
        add((name,))
    elif k is Imm.INDEX:
        v, pos = read_uleb(b, pos, 32)
        if name == "data.drop" and not ctx.has_datacount:
            raise DecodeError("data count section required", offset=base + at)
        add((name, v))
    elif k is Imm.INDEX_ZERO:  # memory.init
        v, pos = read_uleb(b, pos, 32)
        mem, pos = _memidx(b, pos, base, ctx)
        if not ctx.has_datacount:
            raise DecodeError("data count section required", offset=base + at)
        add((name, v, mem))
    elif k is Imm.ZERO_ZERO:  # memory.copy: destination memory, source memory
        dst, pos = _memidx(b, pos, base, ctx)
        src, pos = _memidx(b, pos, base, ctx)
        add((name, dst, src))
    elif k is Imm.ZERO:  # memory.fill
        mem, pos = _memidx(b, pos, base, ctx)
        add((name, mem))
    else:  # INDEX_INDEX: table.init (elem, table), table.copy (dst, src)
        x, pos = read_uleb(b, pos, 32)
        y, pos = read_uleb(b, pos, 32)
        add((name, x, y))
    return pos


def _decode_fd(b: bytes, pos: int, base: int, ctx: ExprContext, add: Append) -> int:
    """The 0xFD family: SIMD (opcodes_simd.py documents the tuples)."""
    entry, pos = _sub_opcode(b, pos, base, SIMD_OPS)
    name, k = entry[0], entry[1]
    if k is SimdImm.NONE:
        add((name,))
    elif k is SimdImm.MEMARG or k is SimdImm.MEMARG_LANE:
        align, mem, pos = _memarg_flags(b, pos, ctx)
        offset, pos = read_uleb(b, pos, ctx.offset_bits)
        if k is SimdImm.MEMARG:
            add((name, align, offset, mem))
        else:
            add((name, align, offset, b[pos], mem))
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
