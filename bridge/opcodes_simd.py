"""The 0xFD (SIMD) operators of WebAssembly 2.0: one table for decoder, validator and walker.

Each entry gives the sub-opcode, the name, the immediates that follow it and its stack
signature. The list follows the spec's opcode table (spec section 5.4.8) in sub-opcode order,
so a reader can check it in one pass; `tests/test_simd_decode.py` also checks every encoding
against the `wasmtime` package's `wat2wasm`.

Instruction tuples (module.py documents the scalar ones):

    v128.load*, v128.store           ("v128.load", align_log2, offset, memidx)
    v128.load8_lane ... store64_lane ("v128.load8_lane", align_log2, offset, lane, memidx)
    v128.const                       ("v128.const", bits)          128-bit unsigned int
    i8x16.shuffle                    ("i8x16.shuffle", (16 lane indices))
    extract_lane/replace_lane        ("i32x4.extract_lane", lane)
    everything else                  ("i8x16.add",)
"""

from __future__ import annotations

import enum

from .module import ValType

I32, I64, F32, F64, V128 = ValType.I32, ValType.I64, ValType.F32, ValType.F64, ValType.V128

Sig = tuple[tuple[ValType, ...], tuple[ValType, ...]]


class SimdImm(enum.IntEnum):
    """What follows a SIMD sub-opcode."""

    NONE = 0
    MEMARG = 1  # u32 align, u32 offset
    MEMARG_LANE = 2  # memarg, then one lane byte
    V128 = 3  # 16 raw bytes
    SHUFFLE = 4  # 16 lane bytes, each < 32
    LANE = 5  # one lane byte


# sub-opcode -> (name, immediates, signature)
SIMD_OPS: dict[int, tuple[str, SimdImm, Sig]] = {}
# memory operators: name -> (natural alignment log2, access size in bytes)
SIMD_MEMOPS: dict[str, tuple[int, int]] = {}
# lane operators: name -> number of lanes (the lane immediate must be below it)
SIMD_LANES: dict[str, int] = {}
# name -> signature, for the validator's table lookup and the walker's arity
SIMD_SIGS: dict[str, Sig] = {}

_SHAPE_LANES = {"i8x16": 16, "i16x8": 8, "i32x4": 4, "i64x2": 2, "f32x4": 4, "f64x2": 2}
_SHAPE_SCALAR = {"i8x16": I32, "i16x8": I32, "i32x4": I32, "i64x2": I64, "f32x4": F32, "f64x2": F64}

_UN: Sig = ((V128,), (V128,))
_BIN: Sig = ((V128, V128), (V128,))
_TEST: Sig = ((V128,), (I32,))
_SHIFT: Sig = ((V128, I32), (V128,))


def _add(sub: int, name: str, imm: SimdImm, sig: Sig) -> None:
    SIMD_OPS[sub] = (name, imm, sig)
    SIMD_SIGS[name] = sig


def _ops(first: int, names: str, sig: Sig, prefix: str = "") -> None:
    """Consecutive sub-opcodes `first, first+1, ...`; `-` marks an unused one."""
    for i, n in enumerate(names.split()):
        if n != "-":
            _add(first + i, prefix + n, SimdImm.NONE, sig)


# memory: (sub, name, natural alignment, access size, signature)
_MEM = [
    (0x00, "v128.load", 4, 16),
    (0x01, "v128.load8x8_s", 3, 8),
    (0x02, "v128.load8x8_u", 3, 8),
    (0x03, "v128.load16x4_s", 3, 8),
    (0x04, "v128.load16x4_u", 3, 8),
    (0x05, "v128.load32x2_s", 3, 8),
    (0x06, "v128.load32x2_u", 3, 8),
    (0x07, "v128.load8_splat", 0, 1),
    (0x08, "v128.load16_splat", 1, 2),
    (0x09, "v128.load32_splat", 2, 4),
    (0x0A, "v128.load64_splat", 3, 8),
    (0x0B, "v128.store", 4, 16),
    (0x5C, "v128.load32_zero", 2, 4),
    (0x5D, "v128.load64_zero", 3, 8),
]
for _sub, _name, _align, _size in _MEM:
    _add(
        _sub,
        _name,
        SimdImm.MEMARG,
        ((I32, V128), ()) if _name == "v128.store" else ((I32,), (V128,)),
    )
    SIMD_MEMOPS[_name] = (_align, _size)
for _i, _bits in enumerate((8, 16, 32, 64)):
    _load, _store = f"v128.load{_bits}_lane", f"v128.store{_bits}_lane"
    _add(0x54 + _i, _load, SimdImm.MEMARG_LANE, ((I32, V128), (V128,)))
    _add(0x58 + _i, _store, SimdImm.MEMARG_LANE, ((I32, V128), ()))
    for _n in (_load, _store):
        SIMD_MEMOPS[_n] = (_i, _bits // 8)
        SIMD_LANES[_n] = 128 // _bits

_add(0x0C, "v128.const", SimdImm.V128, ((), (V128,)))
_add(0x0D, "i8x16.shuffle", SimdImm.SHUFFLE, _BIN)
_add(0x0E, "i8x16.swizzle", SimdImm.NONE, _BIN)
for _i, _shape in enumerate(_SHAPE_LANES):
    _add(0x0F + _i, f"{_shape}.splat", SimdImm.NONE, ((_SHAPE_SCALAR[_shape],), (V128,)))

# extract/replace lane, 0x15..0x22
_sub = 0x15
for _shape, _lanes in _SHAPE_LANES.items():
    _t = _SHAPE_SCALAR[_shape]
    _extracts = ("extract_lane_s", "extract_lane_u") if _lanes > 4 else ("extract_lane",)
    for _n in (*_extracts, "replace_lane"):
        _name = f"{_shape}.{_n}"
        sig: Sig = ((V128, _t), (V128,)) if _n == "replace_lane" else ((V128,), (_t,))
        _add(_sub, _name, SimdImm.LANE, sig)
        SIMD_LANES[_name] = _lanes
        _sub += 1

_REL: Sig = _BIN
_INT_CMP = "eq ne lt_s lt_u gt_s gt_u le_s le_u ge_s ge_u"
_ops(0x23, _INT_CMP, _REL, "i8x16.")
_ops(0x2D, _INT_CMP, _REL, "i16x8.")
_ops(0x37, _INT_CMP, _REL, "i32x4.")
_ops(0x41, "eq ne lt gt le ge", _REL, "f32x4.")
_ops(0x47, "eq ne lt gt le ge", _REL, "f64x2.")
_ops(0x4D, "not", _UN, "v128.")
_ops(0x4E, "and andnot or xor", _BIN, "v128.")
_add(0x52, "v128.bitselect", SimdImm.NONE, ((V128, V128, V128), (V128,)))
_add(0x53, "v128.any_true", SimdImm.NONE, _TEST)
_ops(0x5E, "f32x4.demote_f64x2_zero f64x2.promote_low_f32x4", _UN)

# 0x60..0xFF: the arithmetic block, one row per 16 sub-opcodes as in the spec's table.
_ARITH: list[tuple[int, str]] = [
    (
        0x60,
        "i8x16.abs i8x16.neg i8x16.popcnt i8x16.all_true i8x16.bitmask "
        "i8x16.narrow_i16x8_s i8x16.narrow_i16x8_u f32x4.ceil f32x4.floor f32x4.trunc "
        "f32x4.nearest i8x16.shl i8x16.shr_s i8x16.shr_u i8x16.add i8x16.add_sat_s",
    ),
    (
        0x70,
        "i8x16.add_sat_u i8x16.sub i8x16.sub_sat_s i8x16.sub_sat_u f64x2.ceil f64x2.floor "
        "i8x16.min_s i8x16.min_u i8x16.max_s i8x16.max_u f64x2.trunc i8x16.avgr_u "
        "i16x8.extadd_pairwise_i8x16_s i16x8.extadd_pairwise_i8x16_u "
        "i32x4.extadd_pairwise_i16x8_s i32x4.extadd_pairwise_i16x8_u",
    ),
    (
        0x80,
        "i16x8.abs i16x8.neg i16x8.q15mulr_sat_s i16x8.all_true i16x8.bitmask "
        "i16x8.narrow_i32x4_s i16x8.narrow_i32x4_u i16x8.extend_low_i8x16_s "
        "i16x8.extend_high_i8x16_s i16x8.extend_low_i8x16_u i16x8.extend_high_i8x16_u "
        "i16x8.shl i16x8.shr_s i16x8.shr_u i16x8.add i16x8.add_sat_s",
    ),
    (
        0x90,
        "i16x8.add_sat_u i16x8.sub i16x8.sub_sat_s i16x8.sub_sat_u f64x2.nearest i16x8.mul "
        "i16x8.min_s i16x8.min_u i16x8.max_s i16x8.max_u - i16x8.avgr_u "
        "i16x8.extmul_low_i8x16_s i16x8.extmul_high_i8x16_s i16x8.extmul_low_i8x16_u "
        "i16x8.extmul_high_i8x16_u",
    ),
    (
        0xA0,
        "i32x4.abs i32x4.neg - i32x4.all_true i32x4.bitmask - - i32x4.extend_low_i16x8_s "
        "i32x4.extend_high_i16x8_s i32x4.extend_low_i16x8_u i32x4.extend_high_i16x8_u "
        "i32x4.shl i32x4.shr_s i32x4.shr_u i32x4.add -",
    ),
    (
        0xB0,
        "- i32x4.sub - - - i32x4.mul i32x4.min_s i32x4.min_u i32x4.max_s i32x4.max_u "
        "i32x4.dot_i16x8_s - i32x4.extmul_low_i16x8_s i32x4.extmul_high_i16x8_s "
        "i32x4.extmul_low_i16x8_u i32x4.extmul_high_i16x8_u",
    ),
    (
        0xC0,
        "i64x2.abs i64x2.neg - i64x2.all_true i64x2.bitmask - - i64x2.extend_low_i32x4_s "
        "i64x2.extend_high_i32x4_s i64x2.extend_low_i32x4_u i64x2.extend_high_i32x4_u "
        "i64x2.shl i64x2.shr_s i64x2.shr_u i64x2.add -",
    ),
    (
        0xD0,
        "- i64x2.sub - - - i64x2.mul i64x2.eq i64x2.ne i64x2.lt_s i64x2.gt_s i64x2.le_s "
        "i64x2.ge_s i64x2.extmul_low_i32x4_s i64x2.extmul_high_i32x4_s "
        "i64x2.extmul_low_i32x4_u i64x2.extmul_high_i32x4_u",
    ),
    (
        0xE0,
        "f32x4.abs f32x4.neg - f32x4.sqrt f32x4.add f32x4.sub f32x4.mul f32x4.div "
        "f32x4.min f32x4.max f32x4.pmin f32x4.pmax f64x2.abs f64x2.neg - f64x2.sqrt",
    ),
    (
        0xF0,
        "f64x2.add f64x2.sub f64x2.mul f64x2.div f64x2.min f64x2.max f64x2.pmin f64x2.pmax "
        "i32x4.trunc_sat_f32x4_s i32x4.trunc_sat_f32x4_u f32x4.convert_i32x4_s "
        "f32x4.convert_i32x4_u i32x4.trunc_sat_f64x2_s_zero i32x4.trunc_sat_f64x2_u_zero "
        "f64x2.convert_low_i32x4_s f64x2.convert_low_i32x4_u",
    ),
]
_UNARY_WORDS = (
    "abs",
    "neg",
    "popcnt",
    "sqrt",
    "ceil",
    "floor",
    "trunc",
    "nearest",
    "extend",
    "extadd",
    "convert",
    "promote",
    "demote",
    "trunc_sat",
)
for _first, _names in _ARITH:
    for _i, _n in enumerate(_names.split()):
        if _n == "-":
            continue
        _op = _n.split(".", 1)[1]
        if _op in ("all_true", "bitmask"):
            _s = _TEST
        elif _op in ("shl", "shr_s", "shr_u"):
            _s = _SHIFT
        elif _op.split("_")[0] in _UNARY_WORDS or _op.startswith("trunc_sat"):
            _s = _UN
        else:
            _s = _BIN
        _add(_first + _i, _n, SimdImm.NONE, _s)

SIMD_NAMES: frozenset[str] = frozenset(SIMD_SIGS)

# ---- relaxed SIMD (WebAssembly 3.0), 0x100..0x113 ------------------------------------------------
# Each has several allowed results; wasmkiln picks one per operator (relaxed_simd.py says which).
_TERN: Sig = ((V128, V128, V128), (V128,))
_RELAXED: list[tuple[int, str, Sig]] = [
    (0x100, "i8x16.relaxed_swizzle", _BIN),
    (0x101, "i32x4.relaxed_trunc_f32x4_s", _UN),
    (0x102, "i32x4.relaxed_trunc_f32x4_u", _UN),
    (0x103, "i32x4.relaxed_trunc_f64x2_s_zero", _UN),
    (0x104, "i32x4.relaxed_trunc_f64x2_u_zero", _UN),
    (0x105, "f32x4.relaxed_madd", _TERN),
    (0x106, "f32x4.relaxed_nmadd", _TERN),
    (0x107, "f64x2.relaxed_madd", _TERN),
    (0x108, "f64x2.relaxed_nmadd", _TERN),
    (0x109, "i8x16.relaxed_laneselect", _TERN),
    (0x10A, "i16x8.relaxed_laneselect", _TERN),
    (0x10B, "i32x4.relaxed_laneselect", _TERN),
    (0x10C, "i64x2.relaxed_laneselect", _TERN),
    (0x10D, "f32x4.relaxed_min", _BIN),
    (0x10E, "f32x4.relaxed_max", _BIN),
    (0x10F, "f64x2.relaxed_min", _BIN),
    (0x110, "f64x2.relaxed_max", _BIN),
    (0x111, "i16x8.relaxed_q15mulr_s", _BIN),
    (0x112, "i16x8.relaxed_dot_i8x16_i7x16_s", _BIN),
    (0x113, "i32x4.relaxed_dot_i8x16_i7x16_add_s", _TERN),
]
RELAXED_NAMES: frozenset[str] = frozenset(n for _, n, _ in _RELAXED)
for _sub, _name, _s in _RELAXED:
    _add(_sub, _name, SimdImm.NONE, _s)
SIMD_NAMES = frozenset(SIMD_SIGS)
