"""Pure numeric Wasm operators for the Cranelift backend (llvm_numeric.py is LLVM's).

One table maps each operator name to a small lowering, built once per name on first use (a
module has ~150 distinct numeric operators and hundreds of thousands of uses). Where Wasm
defines what the hardware or Cranelift leaves to chance, it is spelled out here:

* division checks zero and INT_MIN / -1 (x86's `idiv` faults on both); `x rem -1` divides by
  1 instead (same result, no fault);
* trapping float -> int truncations test NaN and the range first (TRUNC_BOUNDS, shared with
  the LLVM backend), saturating ones use Cranelift's saturating conversions;
* ceil/floor/trunc/nearest lower inline (`round_float`), not to Cranelift's libm calls.

Like cranelift_simd.py this module does not import `cranelift` itself: types, condition codes
and flags come from cranelift_backend (the one module that does), which imports this one on
the first numeric operator it lowers.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from .abi import Trap
from .backend import TRUNC_BOUNDS
from .cranelift_backend import (
    F32,
    F64,
    I8,
    I16,
    I32,
    I64,
    Builder,
    ClType,
    FloatCC,
    IntCC,
    Value,
    bitcast_flags,
)

if TYPE_CHECKING:
    from .cranelift_backend import CraneliftFunction

Lowering = Callable[["CraneliftFunction", Sequence[Value]], Value]

# Comparisons by operator name (the SIMD lowering shares them: cranelift_simd.py).
ICMP = {
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
FCMP = {
    "eq": FloatCC.Equal,
    "ne": FloatCC.NotEqual,
    "lt": FloatCC.LessThan,
    "gt": FloatCC.GreaterThan,
    "le": FloatCC.LessThanOrEqual,
    "ge": FloatCC.GreaterThanOrEqual,
}
# FunctionBuilder methods of one instruction; FLOAT_* are lane-wise for vectors too.
_INT_BINARY = {
    "add": "ins_iadd",
    "sub": "ins_isub",
    "mul": "ins_imul",
    "and": "ins_band",
    "or": "ins_bor",
    "xor": "ins_bxor",
    "shl": "ins_ishl",
    "shr_s": "ins_sshr",
    "shr_u": "ins_ushr",
    "rotl": "ins_rotl",
    "rotr": "ins_rotr",
}
_INT_UNARY = {"clz": "ins_clz", "ctz": "ins_ctz", "popcnt": "ins_popcnt"}
FLOAT_BINARY = {
    "add": "ins_fadd",
    "sub": "ins_fsub",
    "mul": "ins_fmul",
    "div": "ins_fdiv",
    "min": "ins_fmin",
    "max": "ins_fmax",
}
FLOAT_UNARY = {"abs": "ins_fabs", "neg": "ins_fneg", "sqrt": "ins_sqrt"}
_FLOAT_BINARY = {**FLOAT_BINARY, "copysign": "ins_fcopysign"}
_ROUNDING = ("ceil", "floor", "trunc", "nearest")  # inline, see round_float
_DIVISIONS = ("div_s", "div_u", "rem_s", "rem_u")
_TYPES = {"i32": I32, "i64": I64, "f32": F32, "f64": F64}
_NARROW = {"extend8_s": I8, "extend16_s": I16, "extend32_s": I32}

NUMERIC: dict[str, Lowering] = {}  # filled on first use of each operator


def numeric_lowering(op: str) -> Lowering:
    """How one pure numeric operator lowers; decided once per operator name."""
    lower = NUMERIC.get(op)
    if lower is None:
        lower = NUMERIC[op] = _lowering(op)
    return lower


def _lowering(op: str) -> Lowering:
    ty, name = op[:3], op[4:]
    integer = ty[0] == "i"
    # The builder's method itself, looked up once (not getattr on every use).
    binary = (_INT_BINARY if integer else _FLOAT_BINARY).get(name)
    if binary is not None:
        method2 = getattr(Builder, binary)
        return lambda f, a: method2(f.fb, a[0], a[1])
    unary = (_INT_UNARY if integer else FLOAT_UNARY).get(name)
    if unary is not None:
        method1 = getattr(Builder, unary)
        return lambda f, a: method1(f.fb, a[0])
    if integer and name in ICMP:
        cc = ICMP[name]
        return lambda f, a: f.fb.ins_uextend(I32, f.fb.ins_icmp(cc, *a))
    if not integer and name in FCMP:
        fcc = FCMP[name]
        return lambda f, a: f.fb.ins_uextend(I32, f.fb.ins_fcmp(fcc, *a))
    if integer and name == "eqz":
        return lambda f, a: f.fb.ins_uextend(I32, f.fb.ins_icmp_imm(IntCC.Equal, a[0], 0))
    if integer and name in _DIVISIONS:
        return lambda f, a: _divide(f, _TYPES[ty], name, a[0], a[1])
    if not integer and name in _ROUNDING:
        return lambda f, a: round_float(f, ty, name, a[0])
    return lambda f, a: _convert(f, op, ty, name, a[0])


def _divide(f: CraneliftFunction, ty: ClType, name: str, a: Value, b: Value) -> Value:
    fb = f.fb
    f.trap_if(fb.ins_icmp_imm(IntCC.Equal, b, 0), Trap.INT_DIV_ZERO)
    if name == "div_u":
        return fb.ins_udiv(a, b)
    if name == "rem_u":
        return fb.ins_urem(a, b)
    minus_one = fb.ins_icmp_imm(IntCC.Equal, b, -1)
    if name == "rem_s":  # x rem -1 is 0; avoid the hardware's overflow fault
        return fb.ins_srem(a, fb.ins_select(minus_one, fb.ins_iconst(ty, 1), b))
    int_min = -(1 << 31) if ty is I32 else -(1 << 63)
    overflow = fb.ins_band(minus_one, fb.ins_icmp_imm(IntCC.Equal, a, int_min))
    f.trap_if(overflow, Trap.INT_OVERFLOW)
    return fb.ins_sdiv(a, b)


def _convert(f: CraneliftFunction, op: str, ty: str, name: str, x: Value) -> Value:
    fb = f.fb
    out = _TYPES[ty]
    if name == "wrap_i64":
        return fb.ins_ireduce(I32, x)
    if name == "extend_i32_s":
        return fb.ins_sextend(I64, x)
    if name == "extend_i32_u":
        return fb.ins_uextend(I64, x)
    if name in _NARROW:
        return fb.ins_sextend(out, fb.ins_ireduce(_NARROW[name], x))
    if name.startswith("trunc_sat_"):
        sign = name[-1]
        return (fb.ins_fcvt_to_sint_sat if sign == "s" else fb.ins_fcvt_to_uint_sat)(out, x)
    if name.startswith("trunc_f"):
        src, sign = name[6:9], name[-1]
        _check_trunc(f, ty, src, sign, x)
        return (fb.ins_fcvt_to_sint if sign == "s" else fb.ins_fcvt_to_uint)(out, x)
    if name.startswith("convert_i"):
        method = fb.ins_fcvt_from_sint if name[-1] == "s" else fb.ins_fcvt_from_uint
        return method(out, x)
    if name == "demote_f64":
        return fb.ins_fdemote(F32, x)
    if name == "promote_f32":
        return fb.ins_fpromote(F64, x)
    if name.startswith("reinterpret_"):
        return fb.ins_bitcast(out, bitcast_flags(), x)
    raise NotImplementedError(op)  # the walker only sends numeric operators


def round_float(f: CraneliftFunction, ty: str, name: str, x: Value) -> Value:
    """ceil/floor/trunc/nearest with SSE2 arithmetic only, inline.

    cranelift-py sets only Cranelift's shared flags, so the x86-64 ISA keeps its
    baseline (SSE2, no SSE4.1 `roundss`) and Cranelift's own ceil/floor/trunc/nearest
    become calls to libm, which the unikernel does not have. "native" would enable
    the build host's features (AVX-512 here, which QEMU's TCG cannot run), making
    images depend on the machine that built them. So: for |x| < 2^52 (f64) or 2^23
    (f32), (|x| + 2^52) - 2^52 is |x| rounded to nearest-even in the default rounding
    mode (the runtime never changes MXCSR); floor/ceil/trunc step it by one where it
    went the wrong way, and copysign restores the sign of zero results (ceil(-0.5) is
    -0). Larger values, infinities and NaN are already integral: x + 0 returns them,
    with a signalling NaN quieted as Wasm requires.
    """
    fb = f.fb
    big = float_const(f, ty, 2.0**52 if ty == "f64" else 2.0**23)
    one = float_const(f, ty, 1.0)
    a = fb.ins_fabs(x)
    r = fb.ins_fsub(fb.ins_fadd(a, big), big)
    if name == "trunc":
        r = fb.ins_select(fb.ins_fcmp(FloatCC.GreaterThan, r, a), fb.ins_fsub(r, one), r)
    elif name == "floor":
        r = fb.ins_fcopysign(r, x)
        r = fb.ins_select(fb.ins_fcmp(FloatCC.GreaterThan, r, x), fb.ins_fsub(r, one), r)
    elif name == "ceil":
        r = fb.ins_fcopysign(r, x)
        r = fb.ins_select(fb.ins_fcmp(FloatCC.LessThan, r, x), fb.ins_fadd(r, one), r)
    r = fb.ins_fcopysign(r, x)
    small = fb.ins_fcmp(FloatCC.LessThan, a, big)
    return fb.ins_select(small, r, fb.ins_fadd(x, float_const(f, ty, 0.0)))


def float_const(f: CraneliftFunction, src: str, value: float) -> Value:
    """An f32 or f64 constant (`src`), through its bits (cranelift-py has no constant pool)."""
    fb = f.fb
    if src == "f32":
        bits = struct.unpack("<i", struct.pack("<f", value))[0]
        return fb.ins_bitcast(F32, bitcast_flags(), fb.ins_iconst(I32, bits))
    bits = struct.unpack("<q", struct.pack("<d", value))[0]
    return fb.ins_bitcast(F64, bitcast_flags(), fb.ins_iconst(I64, bits))


def _check_trunc(f: CraneliftFunction, ty: str, src: str, sign: str, x: Value) -> None:
    fb = f.fb
    f.trap_if(fb.ins_fcmp(FloatCC.Unordered, x, x), Trap.BAD_CONVERSION)
    lo, inclusive, hi = TRUNC_BOUNDS[(ty, src, sign)]
    lo_cc = FloatCC.GreaterThanOrEqual if inclusive else FloatCC.GreaterThan
    above = fb.ins_fcmp(lo_cc, x, float_const(f, src, lo))
    below = fb.ins_fcmp(FloatCC.LessThan, x, float_const(f, src, hi))
    f.trap_if(fb.ins_icmp_imm(IntCC.Equal, fb.ins_band(above, below), 0), Trap.INT_OVERFLOW)
