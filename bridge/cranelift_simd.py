"""SIMD (v128) operators for the Cranelift backend.

Does not import `cranelift` itself: the types, condition codes and flags come from
cranelift_backend (the one module that does). A v128 value is always an `I8X16` in the
walker's hands, as in wasmtime; each operator bitcasts to its shape (little-endian lane order,
which Cranelift wants spelled out for bitcasts between lane counts) and back.

cranelift-py's x86-64 ISA is fixed at its SSE2 baseline (no ISA flags can be set). Where
Cranelift has no SSE2 lowering of an instruction, the operator is lowered another way here, and
each such place says so; the spec suite and the differential tests against wasmtime check them
bit for bit. cranelift-py also offers no way to fill the function's constant pool, so
`vconst` and `shuffle` (whose operands live there) cannot be used: constants are built from
scalar `iconst`s. The SSE2 gaps, each lowered here instead:

* `swizzle` (and Cranelift's shuffle) need SSSE3 `pshufb`; at SSE2 Cranelift calls a runtime
  function `__cranelift_x86_pshufb` that no wasmkiln runtime has. Both go through a 48-byte
  stack slot: the operands are stored, each result byte is picked with scalar byte loads
  (a swizzle index >= 16 gives 0), and the result is loaded back (`_bytes_through_stack`).
* `ceil`/`floor`/`trunc`/`nearest` on vectors need SSE4.1 `roundps`; at SSE2 Cranelift calls
  libm per lane. They lower inline with the scalar backend's arithmetic (`_round`), lane-wise.
* `i32x4.trunc_sat_f64x2_*_zero`: Cranelift has no SSE2 lowering of the f64x2 -> i64x2
  conversion nor of the i64x2 -> i32x4 narrowing, so each lane goes through the scalar
  saturating conversion into a zeroed i32x4.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from .cranelift_backend import F32, F64, I8, I32, I64, FloatCC, IntCC, T, little_endian
from .errors import UnsupportedError
from .opcodes_simd import SIMD_MEMOPS

Imm = tuple[Any, ...]  # an operator's immediates (opcodes_simd.py)

if TYPE_CHECKING:
    from .cranelift_backend import CraneliftFunction

Value = Any
I16 = T.I16
I8X16, I16X8, I32X4, I64X2, F32X4, F64X2 = T.I8X16, T.I16X8, T.I32X4, T.I64X2, T.F32X4, T.F64X2
V128 = I8X16
SHAPES: dict[str, tuple[Any, Any, int]] = {
    "i8x16": (I8X16, I8, 16),
    "i16x8": (I16X8, I16, 8),
    "i32x4": (I32X4, I32, 4),
    "i64x2": (I64X2, I64, 2),
    "f32x4": (F32X4, F32, 4),
    "f64x2": (F64X2, F64, 2),
}
_HALF = {"i16x8": "i8x16", "i32x4": "i16x8", "i64x2": "i32x4"}
_ICMP = {
    "eq": IntCC.Equal,
    "ne": IntCC.NotEqual,
    "lt_s": IntCC.SignedLessThan,
    "lt_u": IntCC.UnsignedLessThan,
    "gt_s": IntCC.SignedGreaterThan,
    "gt_u": IntCC.UnsignedGreaterThan,
    "le_s": IntCC.SignedLessThanOrEqual,
    "le_u": IntCC.UnsignedLessThanOrEqual,
    "ge_s": IntCC.SignedGreaterThanOrEqual,
    "ge_u": IntCC.UnsignedGreaterThanOrEqual,
}
_FCMP = {
    "eq": FloatCC.Equal,
    "ne": FloatCC.NotEqual,
    "lt": FloatCC.LessThan,
    "gt": FloatCC.GreaterThan,
    "le": FloatCC.LessThanOrEqual,
    "ge": FloatCC.GreaterThanOrEqual,
}
_INT_BINARY = {
    "add": "ins_iadd",
    "sub": "ins_isub",
    "mul": "ins_imul",
    "add_sat_s": "ins_sadd_sat",
    "add_sat_u": "ins_uadd_sat",
    "sub_sat_s": "ins_ssub_sat",
    "sub_sat_u": "ins_usub_sat",
    "min_s": "ins_smin",
    "min_u": "ins_umin",
    "max_s": "ins_smax",
    "max_u": "ins_umax",
    "avgr_u": "ins_avg_round",
    "q15mulr_sat_s": "ins_sqmul_round_sat",
}
_SHIFTS = {"shl": "ins_ishl", "shr_s": "ins_sshr", "shr_u": "ins_ushr"}
_FLOAT_BINARY = {
    "add": "ins_fadd",
    "sub": "ins_fsub",
    "mul": "ins_fmul",
    "div": "ins_fdiv",
    "min": "ins_fmin",
    "max": "ins_fmax",
}
_FLOAT_UNARY = {"abs": "ins_fabs", "neg": "ins_fneg", "sqrt": "ins_sqrt"}


class _Simd:
    """The lowering of SIMD operators into one function's builder."""

    def __init__(self, f: CraneliftFunction) -> None:
        self.f = f
        self.fb = f.fb
        self.le = little_endian()

    # ---- helpers ----------------------------------------------------------------------
    def cast(self, v: Value, ty: Any) -> Value:
        """Reinterpret `v` (any 128-bit vector) as `ty`."""
        return self.fb.ins_bitcast(ty, self.le, v)

    def out(self, v: Value) -> Value:
        """A result as the walker's v128 (I8X16)."""
        return self.fb.ins_bitcast(V128, self.le, v)

    def const(self, bits: int) -> Value:
        """A v128 constant from two 64-bit immediates (no constant pool in cranelift-py)."""
        fb = self.fb
        lo, hi = bits & (2**64 - 1), bits >> 64
        v = fb.ins_scalar_to_vector(I64X2, fb.ins_iconst(I64, _signed(lo, 64)))
        return fb.ins_insertlane(v, fb.ins_iconst(I64, _signed(hi, 64)), 1)

    def splat_const(self, shape: str, value: int | float) -> Value:
        ty, lane, lanes = SHAPES[shape]
        width = 128 // lanes
        if isinstance(value, float):
            fmt = "<f" if width == 32 else "<d"
            value = int.from_bytes(struct.pack(fmt, value), "little")
        one = value & ((1 << width) - 1)
        return self.cast(self.const(sum(one << (i * width) for i in range(lanes))), ty)

    # ---- dispatch ---------------------------------------------------------------------
    def lower(self, op: str, a: Sequence[Value], imm: Imm) -> Value | None:
        shape, name = op.split(".", 1)
        fb = self.fb
        if shape == "v128":
            return self.v128(name, a, imm)
        ty, lane, lanes = SHAPES[shape]
        if name == "splat":
            x = a[0]
            if lane in (I8, I16):
                x = fb.ins_ireduce(lane, x)
            return self.out(fb.ins_splat(ty, x))
        if name.startswith("extract_lane"):
            x = fb.ins_extractlane(self.cast(a[0], ty), imm[0])
            if lane in (I8, I16):
                return (fb.ins_sextend if name.endswith("_s") else fb.ins_uextend)(I32, x)
            return x
        if name == "replace_lane":
            x = a[1]
            if lane in (I8, I16):
                x = fb.ins_ireduce(lane, x)
            return self.out(fb.ins_insertlane(self.cast(a[0], ty), x, imm[0]))
        if name == "shuffle":
            return self.shuffle(a, imm[0])
        if name == "swizzle":
            return self.swizzle(a[0], a[1])
        if shape[0] == "f":
            return self.float_op(shape, name, a)
        return self.int_op(shape, name, a)

    def v128(self, name: str, a: Sequence[Value], imm: Imm) -> Value | None:
        fb = self.fb
        if name == "const":
            return self.out(self.const(imm[0]))
        if name == "not":
            return fb.ins_bnot(a[0])
        if name == "and":
            return fb.ins_band(a[0], a[1])
        if name == "or":
            return fb.ins_bor(a[0], a[1])
        if name == "xor":
            return fb.ins_bxor(a[0], a[1])
        if name == "andnot":
            return fb.ins_band_not(a[0], a[1])
        if name == "bitselect":
            return fb.ins_bitselect(a[2], a[0], a[1])
        if name == "any_true":
            return fb.ins_uextend(I32, fb.ins_vany_true(a[0]))
        return self.memory(name, a, imm)

    def shuffle(self, a: Sequence[Value], lanes: Sequence[int]) -> Value:
        """i8x16.shuffle: bytes [0, 16) of the slot hold a, [16, 32) b; result byte k is the
        byte at lanes[k]. Where the lanes move whole 32-bit words, words are copied."""
        fb = self.fb
        base = self.f.simd_slot()
        flags = self.f.stack_flags()
        fb.ins_store(flags, a[0], base, 0)
        fb.ins_store(flags, a[1], base, 16)
        words = [lanes[4 * w : 4 * w + 4] for w in range(4)]
        if all(ws[0] % 4 == 0 and list(ws) == list(range(ws[0], ws[0] + 4)) for ws in words):
            for w, ws in enumerate(words):
                fb.ins_store(flags, fb.ins_load(I32, flags, base, ws[0]), base, 32 + 4 * w)
        else:
            for k, i in enumerate(lanes):
                fb.ins_istore8(flags, fb.ins_uload8(I32, flags, base, i), base, 32 + k)
        return fb.ins_load(V128, flags, base, 32)

    def swizzle(self, x: Value, y: Value) -> Value:
        """i8x16.swizzle through the slot: result byte k = x[y[k]] if y[k] < 16, else 0."""
        fb = self.fb
        base = self.f.simd_slot()
        flags = self.f.stack_flags()
        fb.ins_store(flags, x, base, 0)
        fb.ins_store(flags, y, base, 16)
        zero = fb.ins_iconst(I32, 0)
        for k in range(16):
            idx = fb.ins_uload8(I32, flags, base, 16 + k)
            inside = fb.ins_icmp_imm(IntCC.UnsignedLessThan, idx, 16)
            at = fb.ins_iadd(base, fb.ins_uextend(I64, fb.ins_band_imm(idx, 15)))
            byte = fb.ins_select(inside, fb.ins_uload8(I32, flags, at, 0), zero)
            fb.ins_istore8(flags, byte, base, 32 + k)
        return fb.ins_load(V128, flags, base, 32)

    # ---- memory -----------------------------------------------------------------------
    def memory(self, name: str, a: Sequence[Value], imm: Imm) -> Value | None:
        op = "v128." + name
        if op not in SIMD_MEMOPS:
            raise UnsupportedError(f"operator {op} is not supported by the Cranelift backend")
        fb = self.fb
        size = SIMD_MEMOPS[op][1]
        flags = self.f.heap_flags()
        ptr, off = self.f._address(a[0], imm[1], size, imm[-1])  # imm[-1]: memory index
        shape = {1: "i8x16", 2: "i16x8", 4: "i32x4", 8: "i64x2", 16: "i8x16"}[size]
        ty, lane, _ = SHAPES[shape]
        if name == "load":
            return fb.ins_load(V128, flags, ptr, off)
        if name == "store":
            fb.ins_store(flags, a[1], ptr, off)
            return None
        if name[4:8] in ("8x8_", "16x4", "32x2"):  # load8x8_s ...
            method = f"ins_{'s' if name.endswith('_s') else 'u'}{name[:-2]}"
            return self.out(getattr(fb, method)(flags, ptr, off))
        if name.endswith("_splat"):
            return self.out(fb.ins_splat(ty, fb.ins_load(lane, flags, ptr, off)))
        if name.endswith("_zero"):
            return self.out(fb.ins_scalar_to_vector(ty, fb.ins_load(lane, flags, ptr, off)))
        vec = self.cast(a[1], ty)  # one lane: load8_lane ... store64_lane
        if name.startswith("store"):
            fb.ins_store(flags, fb.ins_extractlane(vec, imm[2]), ptr, off)
            return None
        return self.out(fb.ins_insertlane(vec, fb.ins_load(lane, flags, ptr, off), imm[2]))

    # ---- integers ---------------------------------------------------------------------
    def int_op(self, shape: str, name: str, a: Sequence[Value]) -> Value:
        fb = self.fb
        ty, lane, lanes = SHAPES[shape]
        x = self.cast(a[0], ty)
        if name in _INT_BINARY:
            return self.out(getattr(fb, _INT_BINARY[name])(x, self.cast(a[1], ty)))
        if name in _ICMP:
            return self.out(fb.ins_icmp(_ICMP[name], x, self.cast(a[1], ty)))
        if name in _SHIFTS:
            count = fb.ins_band_imm(a[1], 128 // lanes - 1)
            return self.out(getattr(fb, _SHIFTS[name])(x, count))
        if name == "neg":
            return self.out(fb.ins_ineg(x))
        if name == "abs":
            return self.out(fb.ins_iabs(x))
        if name == "popcnt":
            return self.out(fb.ins_popcnt(x))
        if name == "all_true":
            return fb.ins_uextend(I32, fb.ins_vall_true(x))
        if name == "bitmask":
            return fb.ins_vhigh_bits(I32, x)
        if name.startswith("narrow_"):
            src = SHAPES[name[7:12]][0]
            narrow = fb.ins_snarrow if name.endswith("_s") else fb.ins_unarrow
            return self.out(narrow(self.cast(a[0], src), self.cast(a[1], src)))
        if name.startswith("trunc_sat_"):
            return self.trunc_sat(name, a[0])
        half = _HALF.get(shape)
        if half is None:
            raise UnsupportedError(
                f"operator {shape}.{name} is not supported by the Cranelift backend"
            )
        src = SHAPES[half][0]
        signed = name.endswith("_s")
        low = fb.ins_swiden_low if signed else fb.ins_uwiden_low
        high = fb.ins_swiden_high if signed else fb.ins_uwiden_high
        if name.startswith("extend_"):
            return self.out((high if "high" in name else low)(self.cast(a[0], src)))
        if name.startswith("extmul_"):
            widen = high if "high" in name else low
            return self.out(fb.ins_imul(widen(self.cast(a[0], src)), widen(self.cast(a[1], src))))
        if name.startswith("extadd_pairwise_"):
            v = self.cast(a[0], src)
            return self.out(fb.ins_iadd_pairwise(low(v), high(v)))
        if name == "dot_i16x8_s":
            v, w = self.cast(a[0], src), self.cast(a[1], src)
            lo = fb.ins_imul(fb.ins_swiden_low(v), fb.ins_swiden_low(w))
            hi = fb.ins_imul(fb.ins_swiden_high(v), fb.ins_swiden_high(w))
            return self.out(fb.ins_iadd_pairwise(lo, hi))
        raise UnsupportedError(f"operator {shape}.{name} is not supported by the Cranelift backend")

    def trunc_sat(self, name: str, x: Value) -> Value:
        fb = self.fb
        signed = name.split("_")[3] == "s"
        cvt = fb.ins_fcvt_to_sint_sat if signed else fb.ins_fcvt_to_uint_sat
        if "f32x4" in name:
            return self.out(cvt(I32X4, self.cast(x, F32X4)))
        # f64x2 -> i32x4 with two zero lanes (see the module docstring): each lane through the
        # scalar saturating conversion, which has Wasm's semantics.
        v = self.cast(x, F64X2)
        out = fb.ins_scalar_to_vector(I32X4, cvt(I32, fb.ins_extractlane(v, 0)))
        return self.out(fb.ins_insertlane(out, cvt(I32, fb.ins_extractlane(v, 1)), 1))

    def round(self, shape: str, name: str, x: Value) -> Value:
        """ceil/floor/trunc/nearest lane-wise with SSE2 arithmetic: the scalar backend's method
        (CraneliftFunction._round explains it), with compare masks and bitselect for select."""
        fb = self.fb
        ty, _, lanes = SHAPES[shape]
        big = self.splat_const(shape, 2.0**52 if lanes == 2 else 2.0**23)
        one = self.splat_const(shape, 1.0)
        sign = self.cast(
            self.splat_const("i32x4" if lanes == 4 else "i64x2", 1 << (128 // lanes - 1)), ty
        )

        def pick(mask: Value, yes: Value, no: Value) -> Value:
            return fb.ins_bitselect(self.cast(mask, ty), yes, no)

        def copysign(mag: Value, s: Value) -> Value:
            return fb.ins_bor(fb.ins_band_not(mag, sign), fb.ins_band(s, sign))

        a = fb.ins_fabs(x)
        r = fb.ins_fsub(fb.ins_fadd(a, big), big)
        if name == "trunc":
            r = pick(fb.ins_fcmp(FloatCC.GreaterThan, r, a), fb.ins_fsub(r, one), r)
        elif name == "floor":
            r = copysign(r, x)
            r = pick(fb.ins_fcmp(FloatCC.GreaterThan, r, x), fb.ins_fsub(r, one), r)
        elif name == "ceil":
            r = copysign(r, x)
            r = pick(fb.ins_fcmp(FloatCC.LessThan, r, x), fb.ins_fadd(r, one), r)
        r = copysign(r, x)
        small = fb.ins_fcmp(FloatCC.LessThan, a, big)
        return pick(small, r, fb.ins_fadd(x, self.splat_const(shape, 0.0)))

    # ---- floats -----------------------------------------------------------------------
    def float_op(self, shape: str, name: str, a: Sequence[Value]) -> Value:
        fb = self.fb
        ty, lane, lanes = SHAPES[shape]
        x = self.cast(a[0], ty)
        if name in _FLOAT_BINARY:
            return self.out(getattr(fb, _FLOAT_BINARY[name])(x, self.cast(a[1], ty)))
        if name in _FLOAT_UNARY:
            return self.out(getattr(fb, _FLOAT_UNARY[name])(x))
        if name in _FCMP:
            return self.out(fb.ins_fcmp(_FCMP[name], x, self.cast(a[1], ty)))
        if name in ("pmin", "pmax"):  # pmin: b < a ? b : a; pmax: a < b ? b : a
            y = self.cast(a[1], ty)
            c = (
                fb.ins_fcmp(FloatCC.LessThan, y, x)
                if name == "pmin"
                else fb.ins_fcmp(FloatCC.LessThan, x, y)
            )
            return self.out(fb.ins_bitselect(self.cast(c, ty), y, x))
        if name in ("ceil", "floor", "trunc", "nearest"):
            return self.out(self.round(shape, name, x))
        if name in ("convert_i32x4_s", "convert_i32x4_u"):
            cvt = fb.ins_fcvt_from_sint if name[-1] == "s" else fb.ins_fcvt_from_uint
            return self.out(cvt(F32X4, self.cast(a[0], I32X4)))
        if name in ("convert_low_i32x4_s", "convert_low_i32x4_u"):
            v = self.cast(a[0], I32X4)
            if name[-1] == "s":
                return self.out(fb.ins_fcvt_from_sint(F64X2, fb.ins_swiden_low(v)))
            return self.out(fb.ins_fcvt_from_uint(F64X2, fb.ins_uwiden_low(v)))
        if name == "demote_f64x2_zero":
            return self.out(fb.ins_fvdemote(self.cast(a[0], F64X2)))
        if name == "promote_low_f32x4":
            return self.out(fb.ins_fvpromote_low(self.cast(a[0], F32X4)))
        raise UnsupportedError(f"operator {shape}.{name} is not supported by the Cranelift backend")


def _signed(v: int, bits: int) -> int:
    return v - (1 << bits) if v >> (bits - 1) else v


def lower_simd(f: CraneliftFunction, op: str, a: Sequence[Value], imm: Imm) -> Value | None:
    """Emit SIMD operator `op`; its result, or None for the stores."""
    return _Simd(f).lower(op, a, imm)
