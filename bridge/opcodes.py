"""The operator table of WebAssembly 2.0, plus 3.0's tail calls and typed function references:
one place for both decoder and validator (the 0xFD SIMD operators are in opcodes_simd.py).

Three things per operator:
  * its encoding (a byte, or 0xFC plus a LEB128 sub-opcode),
  * the kind of immediates that follow it (an `Imm` value; the decoder switches on it),
  * for "simple" operators, the stack signature `(pops, pushes)`, so the validator handles the
    ~150 numeric operators with one table lookup instead of one branch each.

Memory accesses have their own small table (`MEMOPS`): natural alignment, value type, load/store.
Everything is built from compact lists below, so a reader can check them against the spec's
opcode table (spec section 5.4) in one screen.
"""

from __future__ import annotations

import enum

from .module import ValType

I32, I64, F32, F64 = ValType.I32, ValType.I64, ValType.F32, ValType.F64
FUNCREF, EXTERNREF = ValType.FUNCREF, ValType.EXTERNREF


class Imm(enum.IntEnum):
    """Immediate kinds: what the decoder reads after the opcode (module.py documents the tuples)."""

    NONE = 0  # nothing
    INDEX = 1  # one u32: local/global/function/table index, br/br_if depth, ref.func
    I32 = 2  # s32
    MEMARG = 3  # u32 align, u32 offset
    BLOCK = 4  # block type
    F32 = 5  # 4 raw bytes
    F64 = 6  # 8 raw bytes
    I64 = 7  # s64
    BR_TABLE = 8  # vec(u32) u32
    CALL_INDIRECT = 9  # u32 type, u32 table
    ZERO = 10  # memory.size/grow: one reserved 0x00 byte (memory index 0)
    SELECT_T = 11  # vec(valtype)
    REFTYPE = 12  # ref.null: a reference type byte
    PREFIX_FC = 13  # 0xFC: u32 sub-opcode, see FC_OPS
    SIMD = 14  # 0xFD: u32 sub-opcode, see opcodes_simd.SIMD_OPS
    ATOMIC = 15  # 0xFE: unsupported
    INDEX_ZERO = 16  # memory.init: u32 data index, 0x00
    ZERO_ZERO = 17  # memory.copy: 0x00 0x00
    INDEX_INDEX = 18  # table.init (elem, table), table.copy (dst, src)
    ILLEGAL = 19  # not an opcode
    TRY_TABLE = 20  # block type, vec(catch clause): see decode_expr._decode_try_table
    DELEGATE = 21  # legacy `delegate`: u32 depth; closes its `try` as `end` would


# --- single-byte opcodes with immediates or control meaning ------------------------------------
_SPECIAL: list[tuple[int, str, Imm]] = [
    (0x00, "unreachable", Imm.NONE),
    (0x01, "nop", Imm.NONE),
    (0x02, "block", Imm.BLOCK),
    (0x03, "loop", Imm.BLOCK),
    (0x04, "if", Imm.BLOCK),
    (0x05, "else", Imm.NONE),
    # exception handling (3.0): try_table, throw, throw_ref; and the legacy try/catch/catch_all/
    # delegate/rethrow that toolchains still emit (bridge/exceptions.py lowers both)
    (0x06, "try", Imm.BLOCK),
    (0x07, "catch", Imm.INDEX),
    (0x08, "throw", Imm.INDEX),
    (0x09, "rethrow", Imm.INDEX),
    (0x0A, "throw_ref", Imm.NONE),
    (0x0B, "end", Imm.NONE),
    (0x0C, "br", Imm.INDEX),
    (0x0D, "br_if", Imm.INDEX),
    (0x0E, "br_table", Imm.BR_TABLE),
    (0x0F, "return", Imm.NONE),
    (0x10, "call", Imm.INDEX),
    (0x11, "call_indirect", Imm.CALL_INDIRECT),
    (0x12, "return_call", Imm.INDEX),  # tail calls (3.0)
    (0x13, "return_call_indirect", Imm.CALL_INDIRECT),
    (0x14, "call_ref", Imm.INDEX),  # typed function references (3.0): type index
    (0x15, "return_call_ref", Imm.INDEX),
    (0x18, "delegate", Imm.DELEGATE),
    (0x19, "catch_all", Imm.NONE),
    (0x1A, "drop", Imm.NONE),
    (0x1B, "select", Imm.NONE),
    (0x1C, "select", Imm.SELECT_T),
    (0x1F, "try_table", Imm.TRY_TABLE),
    (0x20, "local.get", Imm.INDEX),
    (0x21, "local.set", Imm.INDEX),
    (0x22, "local.tee", Imm.INDEX),
    (0x23, "global.get", Imm.INDEX),
    (0x24, "global.set", Imm.INDEX),
    (0x25, "table.get", Imm.INDEX),
    (0x26, "table.set", Imm.INDEX),
    (0x3F, "memory.size", Imm.ZERO),
    (0x40, "memory.grow", Imm.ZERO),
    (0x41, "i32.const", Imm.I32),
    (0x42, "i64.const", Imm.I64),
    (0x43, "f32.const", Imm.F32),
    (0x44, "f64.const", Imm.F64),
    (0xD0, "ref.null", Imm.REFTYPE),
    (0xD1, "ref.is_null", Imm.NONE),
    (0xD2, "ref.func", Imm.INDEX),
    (0xD4, "ref.as_non_null", Imm.NONE),
    (0xD5, "br_on_null", Imm.INDEX),
    (0xD6, "br_on_non_null", Imm.INDEX),
    (0xFC, "<0xfc prefix>", Imm.PREFIX_FC),
    (0xFD, "<simd prefix>", Imm.SIMD),
    (0xFE, "<atomic prefix>", Imm.ATOMIC),
]

# --- opcodes that are illegal in 2.0 but mean something in a later proposal ---------------------
# A module using them is valid Wasm of a newer version, not garbage: the decoder says
# "not supported" and names the proposal, instead of "illegal opcode".
PROPOSAL_OPS: dict[int, str] = {
    0xD3: "garbage collection (ref.eq)",
    0xFB: "garbage collection",
}

# --- memory accesses: opcode, name, natural alignment (log2), value type, is_store -------------
MEMOPS: dict[str, tuple[int, ValType, bool]] = {}
_MEM_LIST = [
    (0x28, "i32.load", 2, I32, False),
    (0x29, "i64.load", 3, I64, False),
    (0x2A, "f32.load", 2, F32, False),
    (0x2B, "f64.load", 3, F64, False),
    (0x2C, "i32.load8_s", 0, I32, False),
    (0x2D, "i32.load8_u", 0, I32, False),
    (0x2E, "i32.load16_s", 1, I32, False),
    (0x2F, "i32.load16_u", 1, I32, False),
    (0x30, "i64.load8_s", 0, I64, False),
    (0x31, "i64.load8_u", 0, I64, False),
    (0x32, "i64.load16_s", 1, I64, False),
    (0x33, "i64.load16_u", 1, I64, False),
    (0x34, "i64.load32_s", 2, I64, False),
    (0x35, "i64.load32_u", 2, I64, False),
    (0x36, "i32.store", 2, I32, True),
    (0x37, "i64.store", 3, I64, True),
    (0x38, "f32.store", 2, F32, True),
    (0x39, "f64.store", 3, F64, True),
    (0x3A, "i32.store8", 0, I32, True),
    (0x3B, "i32.store16", 1, I32, True),
    (0x3C, "i64.store8", 0, I64, True),
    (0x3D, "i64.store16", 1, I64, True),
    (0x3E, "i64.store32", 2, I64, True),
]
for _op, _name, _align, _t, _st in _MEM_LIST:
    MEMOPS[_name] = (_align, _t, _st)

# --- simple operators: no immediates, fixed signature ------------------------------------------
# SIGS maps opname -> (pops, pushes); pops are listed bottom-to-top (the order they were pushed).
SIGS: dict[str, tuple[tuple[ValType, ...], tuple[ValType, ...]]] = {}
_SIMPLE_BYTES: list[tuple[int, str]] = []


def _family(
    first: int, prefix: str, names: str, sig: tuple[tuple[ValType, ...], tuple[ValType, ...]]
) -> None:
    """Register opcodes `first, first+1, ...` named `prefix + name`, all with signature `sig`."""
    for i, n in enumerate(names.split()):
        name = prefix + n
        _SIMPLE_BYTES.append((first + i, name))
        SIGS[name] = sig


def _un(t: ValType, r: ValType) -> tuple[tuple[ValType, ...], tuple[ValType, ...]]:
    return ((t,), (r,))


def _bin(t: ValType, r: ValType) -> tuple[tuple[ValType, ...], tuple[ValType, ...]]:
    return ((t, t), (r,))


_INT_CMP = "eq ne lt_s lt_u gt_s gt_u le_s le_u ge_s ge_u"
_FLT_CMP = "eq ne lt gt le ge"
_INT_UN = "clz ctz popcnt"
_INT_BIN = "add sub mul div_s div_u rem_s rem_u and or xor shl shr_s shr_u rotl rotr"
_FLT_UN = "abs neg ceil floor trunc nearest sqrt"
_FLT_BIN = "add sub mul div min max copysign"

_family(0x45, "i32.", "eqz", _un(I32, I32))
_family(0x46, "i32.", _INT_CMP, _bin(I32, I32))
_family(0x50, "i64.", "eqz", _un(I64, I32))
_family(0x51, "i64.", _INT_CMP, _bin(I64, I32))
_family(0x5B, "f32.", _FLT_CMP, _bin(F32, I32))
_family(0x61, "f64.", _FLT_CMP, _bin(F64, I32))
_family(0x67, "i32.", _INT_UN, _un(I32, I32))
_family(0x6A, "i32.", _INT_BIN, _bin(I32, I32))
_family(0x79, "i64.", _INT_UN, _un(I64, I64))
_family(0x7C, "i64.", _INT_BIN, _bin(I64, I64))
_family(0x8B, "f32.", _FLT_UN, _un(F32, F32))
_family(0x92, "f32.", _FLT_BIN, _bin(F32, F32))
_family(0x99, "f64.", _FLT_UN, _un(F64, F64))
_family(0xA0, "f64.", _FLT_BIN, _bin(F64, F64))

# conversions: (opcode, name, from, to)
_CONVERSIONS = [
    (0xA7, "i32.wrap_i64", I64, I32),
    (0xA8, "i32.trunc_f32_s", F32, I32),
    (0xA9, "i32.trunc_f32_u", F32, I32),
    (0xAA, "i32.trunc_f64_s", F64, I32),
    (0xAB, "i32.trunc_f64_u", F64, I32),
    (0xAC, "i64.extend_i32_s", I32, I64),
    (0xAD, "i64.extend_i32_u", I32, I64),
    (0xAE, "i64.trunc_f32_s", F32, I64),
    (0xAF, "i64.trunc_f32_u", F32, I64),
    (0xB0, "i64.trunc_f64_s", F64, I64),
    (0xB1, "i64.trunc_f64_u", F64, I64),
    (0xB2, "f32.convert_i32_s", I32, F32),
    (0xB3, "f32.convert_i32_u", I32, F32),
    (0xB4, "f32.convert_i64_s", I64, F32),
    (0xB5, "f32.convert_i64_u", I64, F32),
    (0xB6, "f32.demote_f64", F64, F32),
    (0xB7, "f64.convert_i32_s", I32, F64),
    (0xB8, "f64.convert_i32_u", I32, F64),
    (0xB9, "f64.convert_i64_s", I64, F64),
    (0xBA, "f64.convert_i64_u", I64, F64),
    (0xBB, "f64.promote_f32", F32, F64),
    (0xBC, "i32.reinterpret_f32", F32, I32),
    (0xBD, "i64.reinterpret_f64", F64, I64),
    (0xBE, "f32.reinterpret_i32", I32, F32),
    (0xBF, "f64.reinterpret_i64", I64, F64),
    # sign extension
    (0xC0, "i32.extend8_s", I32, I32),
    (0xC1, "i32.extend16_s", I32, I32),
    (0xC2, "i64.extend8_s", I64, I64),
    (0xC3, "i64.extend16_s", I64, I64),
    (0xC4, "i64.extend32_s", I64, I64),
]
for _op, _name, _from, _to in _CONVERSIONS:
    _SIMPLE_BYTES.append((_op, _name))
    SIGS[_name] = _un(_from, _to)

# --- 0xFC prefix: sub-opcode -> (name, immediates); trunc_sat ones also get a signature ---------
FC_OPS: dict[int, tuple[str, Imm]] = {}
_TRUNC_SAT = [
    ("i32.trunc_sat_f32_s", F32, I32),
    ("i32.trunc_sat_f32_u", F32, I32),
    ("i32.trunc_sat_f64_s", F64, I32),
    ("i32.trunc_sat_f64_u", F64, I32),
    ("i64.trunc_sat_f32_s", F32, I64),
    ("i64.trunc_sat_f32_u", F32, I64),
    ("i64.trunc_sat_f64_s", F64, I64),
    ("i64.trunc_sat_f64_u", F64, I64),
]
for _sub, (_name, _from, _to) in enumerate(_TRUNC_SAT):
    FC_OPS[_sub] = (_name, Imm.NONE)
    SIGS[_name] = _un(_from, _to)
FC_OPS.update(
    {
        8: ("memory.init", Imm.INDEX_ZERO),
        9: ("data.drop", Imm.INDEX),
        10: ("memory.copy", Imm.ZERO_ZERO),
        11: ("memory.fill", Imm.ZERO),
        12: ("table.init", Imm.INDEX_INDEX),
        13: ("elem.drop", Imm.INDEX),
        14: ("table.copy", Imm.INDEX_INDEX),
        15: ("table.grow", Imm.INDEX),
        16: ("table.size", Imm.INDEX),
        17: ("table.fill", Imm.INDEX),
    }
)

# --- the per-byte tables the decoder indexes -----------------------------------------------------
NAMES: list[str] = ["<illegal>"] * 256
KINDS: list[Imm] = [Imm.ILLEGAL] * 256
# For operators without immediates, the one shared tuple the decoder appends (saves allocations).
NULLARY: list[tuple[str] | None] = [None] * 256

for _op, _name, _kind in _SPECIAL:
    NAMES[_op] = _name
    KINDS[_op] = _kind
for _op, _name, _align, _t, _st in _MEM_LIST:
    NAMES[_op] = _name
    KINDS[_op] = Imm.MEMARG
for _op, _name in _SIMPLE_BYTES:
    NAMES[_op] = _name
    KINDS[_op] = Imm.NONE
for _op in range(256):
    if KINDS[_op] == Imm.NONE:
        NULLARY[_op] = (NAMES[_op],)

# Reference types and value types as encoded in the binary format.
REFTYPES: dict[int, ValType] = {0x70: FUNCREF, 0x6F: EXTERNREF, 0x69: ValType.EXNREF}
VALTYPES: dict[int, ValType] = {
    0x7F: I32,
    0x7E: I64,
    0x7D: F32,
    0x7C: F64,
    0x7B: ValType.V128,
    **REFTYPES,
}
