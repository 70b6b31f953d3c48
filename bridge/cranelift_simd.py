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

* `swizzle` (and Cranelift's general shuffle) need SSSE3 `pshufb`; at SSE2 Cranelift calls a
  runtime function `__cranelift_x86_pshufb` that no wasmkiln runtime has. A swizzle goes
  through a 48-byte stack slot: the operands are stored, each result byte is picked with
  scalar byte loads (an index >= 16 gives 0), and the result is loaded back. A shuffle's mask
  is known, so `_Shuffle` builds the common shapes in registers from instructions with SSE2
  lowerings (lane moves, 64-bit shifts, unpacks, packs); only the other masks use the slot.
* `ceil`/`floor`/`trunc`/`nearest` on vectors need SSE4.1 `roundps`; at SSE2 Cranelift calls
  libm per lane. They lower inline, lane-wise, with the scalar arithmetic
  (cranelift_numeric.round_float).
* `i32x4.trunc_sat_f64x2_*_zero`: Cranelift has no SSE2 lowering of the f64x2 -> i64x2
  conversion nor of the i64x2 -> i32x4 narrowing, so each lane goes through the scalar
  saturating conversion into a zeroed i32x4.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from .cranelift_backend import F32, F64, I8, I32, I64, FloatCC, IntCC, T, little_endian
from .cranelift_numeric import FCMP, FLOAT_BINARY, FLOAT_UNARY, ICMP
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

    # ---- shuffle ----------------------------------------------------------------------
    def shuffle(self, a: Sequence[Value], lanes: Sequence[int]) -> Value:
        """i8x16.shuffle in registers where the mask has a shape SSE2 can do, else through the
        stack slot (`_shuffle_through_stack`). Cranelift's own `shuffle` cannot be used (its
        mask lives in the constant pool, which cranelift-py cannot fill), so the shapes are
        built from instructions whose SSE2 lowerings are permutations: lane moves of f32x4 /
        f64x2 (`pshufd`, `shufps`, `movss`, `movsd`, `movlhps`: no value leaves the vector
        registers, and moves never touch a float's bits), `pextrw`/`pinsrw` for 16-bit lanes,
        64-bit shifts, `iadd_pairwise` (`shufps` of two vectors, then an add of a zero half)
        and `unarrow` (`packuswb`). Each path is checked against wasmtime per mask class."""
        x, y = a[0], a[1]
        m = list(lanes)
        if x.index == y.index or all(i < 16 for i in m):
            y, m = x, [i & 15 for i in m]
        elif all(i >= 16 for i in m):
            x = y = a[1]
            m = [i - 16 for i in m]
        return _Shuffle(self, (x, y)).lower(m)

    def _shuffle_through_stack(self, a: Sequence[Value], lanes: Sequence[int]) -> Value:
        """The general case: bytes [0, 16) of the slot hold a, [16, 32) b; result byte k is
        the byte at lanes[k]; the result is read back whole."""
        fb = self.fb
        base = self.f.simd_slot()
        flags = self.f.stack_flags()
        fb.ins_store(flags, a[0], base, 0)
        fb.ins_store(flags, a[1], base, 16)
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
        if name in ICMP:
            return self.out(fb.ins_icmp(ICMP[name], x, self.cast(a[1], ty)))
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
        (cranelift_numeric.round_float explains it), with compare masks and bitselect for select."""
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
        if name in FLOAT_BINARY:
            return self.out(getattr(fb, FLOAT_BINARY[name])(x, self.cast(a[1], ty)))
        if name in FLOAT_UNARY:
            return self.out(getattr(fb, FLOAT_UNARY[name])(x))
        if name in FCMP:
            return self.out(fb.ins_fcmp(FCMP[name], x, self.cast(a[1], ty)))
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


# Above this many 16-bit result lanes that must be put together from two bytes (about seven
# instructions each), a shuffle goes through the stack slot instead.
_MAX_COMPOSED = 4


def _granules(lanes: Sequence[int], size: int) -> list[int] | None:
    """The mask as moves of whole `size`-byte lanes (lane indices over both operands), or
    None if some result lane is not one aligned source lane."""
    out = []
    for k in range(0, 16, size):
        first = lanes[k]
        if first % size or list(lanes[k : k + size]) != list(range(first, first + size)):
            return None
        out.append(first // size)
    return out


def _pack_half(half: Sequence[int]) -> tuple[int, int] | None:
    """(operand, 0 or 1) if these eight lanes are the even (or odd) bytes of one operand in
    order: one half of `packuswb` after a 16-bit shift."""
    for src in (0, 1):
        for odd in (0, 1):
            if list(half) == [16 * src + 2 * i + odd for i in range(8)]:
                return src, odd
    return None


class _Shuffle:
    """One `i8x16.shuffle` of the operand pair (x, y), in registers where its mask allows (see
    _Simd.shuffle). Lane indices run over both operands: [0, n) is x, [n, 2n) is y; for a
    shuffle of one operand x and y are the same value and every index is below n."""

    def __init__(self, s: _Simd, ops: tuple[Value, Value]) -> None:
        self.s = s
        self.fb = s.fb
        self.ops = ops
        self._cast: dict[tuple[int, Any], Value] = {}
        self._lane: dict[tuple[Any, int], Value] = {}
        self._word: dict[tuple[int, int], Value] = {}

    def src(self, which: int, ty: Any) -> Value:
        if (which, ty) not in self._cast:
            self._cast[which, ty] = self.s.cast(self.ops[which], ty)
        return self._cast[which, ty]

    def lane(self, ty: Any, n: int, index: int) -> Value:
        """Lane `index` of the pair (as a scalar of ty's lane type)."""
        if (ty, index) not in self._lane:
            self._lane[ty, index] = self.fb.ins_extractlane(self.src(index // n, ty), index % n)
        return self._lane[ty, index]

    def lower(self, lanes: list[int]) -> Value:
        one = self.ops[0].index == self.ops[1].index
        for k in range(1, 16):
            if k % 8 and lanes == [(k + i) % 16 if one else k + i for i in range(16)]:
                return self.s.out(self.byte_shift(k))
        for size, ty in ((4, I32X4), (2, I16X8), (1, I8X16)):
            mixed = self.interleave(size, ty, lanes)
            if mixed is not None:
                return self.s.out(mixed)
        for size, ty in ((8, F64X2), (4, F32X4), (2, I16X8)):
            moved = _granules(lanes, size)
            if moved is not None:
                return self.s.out(self.granules(ty, moved))
        return self.bytes(lanes)

    # ---- whole 64-, 32- or 16-bit lanes ------------------------------------------------
    def granules(self, ty: Any, w: list[int]) -> Value:
        n = len(w)
        if w == list(range(n)):
            return self.ops[0]
        if w == list(range(n, 2 * n)):
            return self.ops[1]
        if n == 4:
            special = self.words(w)
            if special is not None:
                return special
        return self.assemble(
            ty,
            w,
            lambda i: self.lane(ty, n, i),
            lambda src, k: w[k] == src * n + k,
        )

    def words(self, w: list[int]) -> Value | None:
        """32-bit lane shapes with a shorter sequence than lane-by-lane moves."""
        fb = self.fb
        src = w[0] // 4
        # A rotation of one operand's lanes (pshufd-like): 64-bit shifts of it and of its
        # halves swapped.
        for r in (1, 2, 3):
            if w == [4 * src + (r + k) % 4 for k in range(4)]:
                v = self.src(src, I64X2)
                swapped = self.swap_halves(src)
                if r == 2:
                    return swapped
                if r == 1:
                    return fb.ins_bor(fb.ins_ushr_imm(v, 32), fb.ins_ishl_imm(swapped, 32))
                return fb.ins_bor(fb.ins_ishl_imm(v, 32), fb.ins_ushr_imm(swapped, 32))
        # The even (odd) lanes of p then of q (shufps-like): zero the other lanes' halves
        # by a 64-bit shift; iadd_pairwise gathers and adds the zero.
        p, q = w[0] // 4, w[2] // 4
        for odd in (0, 1):
            if w == [4 * p + odd, 4 * p + odd + 2, 4 * q + odd, 4 * q + odd + 2]:
                shift = fb.ins_ushr_imm if odd else fb.ins_ishl_imm
                pv = self.s.cast(shift(self.src(p, I64X2), 32), I32X4)
                qv = pv if q == p else self.s.cast(shift(self.src(q, I64X2), 32), I32X4)
                return fb.ins_iadd_pairwise(pv, qv)
        return None

    def interleave(self, size: int, ty: Any, lanes: list[int]) -> Value | None:
        """The low (or high) `size`-byte lanes of p and q alternated (punpckl*-like): both
        widened to lanes twice as wide (`punpckl*` with zero), q's moved up by 8 * size bits."""
        fb = self.fb
        p, q = lanes[0] // 16, lanes[size] // 16
        for first in (0, 8):
            expect = [
                16 * (q if (k // size) % 2 else p) + first + (k // size) // 2 * size + k % size
                for k in range(16)
            ]
            if lanes == expect:
                widen = fb.ins_uwiden_low if first == 0 else fb.ins_uwiden_high
                low = widen(self.src(p, ty))
                return fb.ins_bor(low, fb.ins_ishl_imm(widen(self.src(q, ty)), 8 * size))
        return None

    def byte_shift(self, k: int) -> Value:
        """Bytes [k, k + 16) of x then y (palignr-like; psrldq when y is zero): each 64-bit
        lane is two neighbouring 64-bit lanes of the pair shifted and or-ed."""
        fb = self.fb
        q, r = divmod(k, 8)
        low = self.s.cast(self.granules(F64X2, [q, q + 1]), I64X2)
        high = self.s.cast(self.granules(F64X2, [q + 1, q + 2]), I64X2)
        return fb.ins_bor(fb.ins_ushr_imm(low, 8 * r), fb.ins_ishl_imm(high, 64 - 8 * r))

    def swap_halves(self, which: int) -> Value:
        """Operand `which` with its 64-bit halves exchanged, as I64X2."""
        fb = self.fb
        hi = fb.ins_scalar_to_vector(F64X2, self.lane(F64X2, 2, 2 * which + 1))
        swapped = fb.ins_insertlane(hi, self.lane(F64X2, 2, 2 * which), 1)
        return self.s.cast(swapped, I64X2)

    def assemble(
        self,
        ty: Any,
        keys: Sequence[Any],
        make: Callable[[Any], Value],
        in_place: Callable[[int, int], bool],
    ) -> Value:
        """Lane k = make(keys[k]): start from the operand with the most lanes already in
        place (or a splat of the commonest lane, if that saves two inserts), insert the rest."""
        fb = self.fb
        n = len(keys)
        placed = [[k for k in range(n) if in_place(src, k)] for src in (0, 1)]
        start = 0 if len(placed[0]) >= len(placed[1]) else 1
        common = max(sorted(set(keys)), key=list(keys).count)
        done = set(placed[start])
        if list(keys).count(common) > len(done) + 1:
            vec = fb.ins_splat(ty, make(common))
            done = {k for k in range(n) if keys[k] == common}
        else:
            vec = self.src(start, ty)
        for k in range(n):
            if k not in done:
                vec = fb.ins_insertlane(vec, make(keys[k]), k)
        return vec

    # ---- bytes ------------------------------------------------------------------------
    def bytes(self, lanes: list[int]) -> Value:
        fb = self.fb
        s = self.s
        if len(set(lanes)) == 1:
            return fb.ins_splat(I8X16, self.lane(I8X16, 16, lanes[0]))
        halves = [_pack_half(lanes[:8]), _pack_half(lanes[8:])]
        if halves[0] is not None and halves[1] is not None:
            return fb.ins_unarrow(self.evens(*halves[0]), self.evens(*halves[1]))
        for h, half in enumerate(halves):
            rest = lanes[8:] if h == 0 else lanes[:8]
            if half is not None and len(set(rest)) == 1:
                # The other half repeats one byte (blur's shuffle): a pack with that byte in
                # every 16-bit lane.
                byte = fb.ins_uextend(I16, self.lane(I8X16, 16, rest[0]))
                packs = [self.evens(*half), fb.ins_splat(I16X8, byte)]
                return fb.ins_unarrow(*(packs if h == 0 else packs[::-1]))
            if half is not None:
                # One half is a pack; the other, lowered on its own (its eight lanes twice),
                # is moved in as a 64-bit lane.
                evens = self.evens(*half)
                packed = s.cast(fb.ins_unarrow(evens, evens), F64X2)
                other = fb.ins_extractlane(s.cast(self.lower(rest * 2), F64X2), 1 - h)
                return s.out(fb.ins_insertlane(packed, other, 1 - h))
        keys = [(lanes[2 * k], lanes[2 * k + 1]) for k in range(8)]
        composed = {key for key in keys if key[0] % 2 or key[1] != key[0] + 1}
        if len(composed) > _MAX_COMPOSED:
            return s._shuffle_through_stack(self.ops, lanes)
        vec = self.assemble(
            I16X8,
            keys,
            self.word,
            lambda src, k: keys[k] == (16 * src + 2 * k, 16 * src + 2 * k + 1),
        )
        return s.out(vec)

    def evens(self, src: int, odd: int) -> Value:
        """Operand `src`'s even (odd) bytes in the low byte of each 16-bit lane, zero above."""
        fb = self.fb
        v = self.src(src, I16X8)
        return fb.ins_ushr_imm(v if odd else fb.ins_ishl_imm(v, 8), 8)

    def word(self, key: tuple[int, int]) -> Value:
        """A 16-bit lane holding bytes key[0] (low) and key[1] of the pair."""
        fb = self.fb
        lo, hi = key
        if lo % 2 == 0 and hi == lo + 1:
            return self.lane(I16X8, 8, lo // 2)
        if key not in self._word:
            low = fb.ins_uextend(I32, self.lane(I8X16, 16, lo))
            high = fb.ins_ishl_imm(fb.ins_uextend(I32, self.lane(I8X16, 16, hi)), 8)
            self._word[key] = fb.ins_ireduce(I16, fb.ins_bor(low, high))
        return self._word[key]


def _signed(v: int, bits: int) -> int:
    return v - (1 << bits) if v >> (bits - 1) else v


def lower_simd(f: CraneliftFunction, op: str, a: Sequence[Value], imm: Imm) -> Value | None:
    """Emit SIMD operator `op`; its result, or None for the stores."""
    return _Simd(f).lower(op, a, imm)
