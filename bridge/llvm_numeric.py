"""Pure numeric Wasm operators as LLVM IR text, for the LLVM backend.

One table maps each operator name to a small lowering, built once per name on
first use (a module has ~150 distinct numeric operators and hundreds of
thousands of uses). Every behaviour Wasm defines and LLVM leaves undefined is
spelled out here, because LLVM is free to exploit the undefined version:

* shift counts are masked (LLVM: a count >= width is poison);
* division checks zero and INT_MIN / -1 (LLVM: immediate UB), `x rem -1`
  divides by 1 instead (same result, no hardware fault);
* trapping float -> int truncations test NaN and the range first (LLVM: an
  out-of-range `fptosi` is poison), saturating ones use `fptosi.sat`;
* fmin/fmax are `llvm.minimum`/`maximum` (-0 < +0) with an explicit NaN path
  giving the canonical NaN: LLVM lets `minimum` return a signalling NaN operand
  unchanged (x86 does), Wasm wants every NaN result quiet;
* nearest is `roundeven`, clz/ctz define the zero input (is_zero_poison = false).

NaN results of arithmetic must be quiet in Wasm, and the hardware quiets them, but
LLVM's default floating-point semantics allow "unchanged NaN propagation", so -O2
folds x-0, x+-0, x*1, x/1, x*-1, -0-x (to fneg) and demote(promote x) to x or to a
sign flip, which passes a signalling NaN through. add/sub/mul/div, promote and
demote are therefore the constrained intrinsics with `fpexcept.maytrap`: a
signalling operand may raise invalid, so InstSimplify may not drop the operation
(`canIgnoreSNaN` is false), yet an unused one is still dead (unlike `strict`). The
rounding mode is always round.tonearest; Wasm has no floating-point environment to
observe, so mixing these with plain FP instructions (fcmp, sqrt, ceil...) cannot
change a result: no other operation has an identity fold that skips the quieting.
LLVM treats them as touching inaccessible memory, so it neither hoists them out
of loops nor vectorises them; measured, that costs nothing on our kernels and
PolyBench (docs/performance.md, "the cost of quiet NaNs").

Values are operand strings whose spelling carries their type (see
llvm_backend.type_of), so a lowering never needs a side table of types. This
module does not import llvmlite; it only produces text.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from .abi import Trap
from .backend import TRUNC_BOUNDS
from .errors import UnsupportedError

if TYPE_CHECKING:
    from .llvm_function import LLVMFunction

Lowering = Callable[["LLVMFunction", Sequence[str]], str]

# Wasm type prefix -> (LLVM type, SSA name prefix that marks the type, bit width)
LL = {"i32": "i32", "i64": "i64", "f32": "float", "f64": "double"}
PREFIX = {"i32": "%i", "i64": "%l", "f32": "%f", "f64": "%d"}
WIDTH = {"i32": 32, "i64": 64, "f32": 32, "f64": 64}

_INT_BINARY = {"add": "add", "sub": "sub", "mul": "mul", "and": "and", "or": "or", "xor": "xor"}
# The tables the SIMD lowering shares (llvm_simd.py): shifts, comparisons, float arithmetic.
SHIFTS = {"shl": "shl", "shr_s": "ashr", "shr_u": "lshr"}
ICMP = {
    "eq": "eq",
    "ne": "ne",
    "lt_s": "slt",
    "lt_u": "ult",
    "gt_s": "sgt",
    "gt_u": "ugt",
    "le_s": "sle",
    "le_u": "ule",
    "ge_s": "sge",
    "ge_u": "uge",
}
# `ne` is the only unordered comparison: NaN != x is true in Wasm.
FCMP = {"eq": "oeq", "ne": "une", "lt": "olt", "gt": "ogt", "le": "ole", "ge": "oge"}
FLOAT_ARITH = {"add": "fadd", "sub": "fsub", "mul": "fmul", "div": "fdiv"}
_MIN_MAX = {"min": "minimum", "max": "maximum"}
# Constrained intrinsics' trailing operands (see the module docstring); #2 is `strictfp`.
ROUNDING = 'metadata !"round.tonearest", '
MAYTRAP = 'metadata !"fpexcept.maytrap") #2'
CANONICAL_NAN = "0x7FF8000000000000"  # +qNaN, payload 0; LLVM's hex spelling for both widths
# The intrinsic of each one-operand float operator.
FLOAT_UNARY = {
    "abs": "fabs",
    "sqrt": "sqrt",
    "ceil": "ceil",
    "floor": "floor",
    "trunc": "trunc",
    "nearest": "roundeven",
}
_MASK64 = (1 << 64) - 1


def float_literal(value: float) -> str:
    """LLVM's hexadecimal double spelling, valid for float too when exact."""
    return f"0x{struct.unpack('<Q', struct.pack('<d', value))[0]:016X}"


def int_constant(text: str) -> int | None:
    """The value of an integer constant operand, or None for an SSA value."""
    if text[0] == "%":
        return None
    if text[0] == "u":  # i64: u0x<hex>, unsigned bits
        v = int(text[3:], 16)
        return v - (1 << 64) if v >> 63 else v
    if text[:2] == "0x":
        return None
    return int(text)


def i64_literal(value: int) -> str:
    """i64 constants are spelled `u0x...` so their type is visible in the text."""
    return f"u0x{value & _MASK64:X}"


def _template(prefix: str, text: str) -> Lowering:
    """One instruction with a fresh `prefix` result: `text` with the operands in place of
    {0}, {1} (str.format), e.g. "add i32 {0}, {1}"."""

    def lower(f: LLVMFunction, a: Sequence[str]) -> str:
        r = f.val(prefix)
        f.lines.append(f"{r} = {text.format(*a)}")
        return r

    return lower


def _shift(opcode: str, ty: str) -> Lowering:
    prefix, t, mask = PREFIX[ty], LL[ty], WIDTH[ty] - 1
    head = f" = {opcode} {t} "

    def lower(f: LLVMFunction, a: Sequence[str]) -> str:
        count = int_constant(a[1])
        if count is None:
            m = f.val(prefix)
            f.lines.append(f"{m} = and {t} {a[1]}, {mask}")
        else:
            m = str(count & mask)
        r = f.val(prefix)
        f.lines.append(f"{r}{head}{a[0]}, {m}")
        return r

    return lower


def _call(intrinsic: str, ty: str, result: str, nargs: int, extra: str = "") -> Lowering:
    """`call <result> @intrinsic(<ty> args..., extra)`."""
    args = ", ".join(f"{LL[ty]} {{{i}}}" for i in range(nargs))
    return _template(PREFIX[result], f"call {LL[result]} @{intrinsic}({args}{extra})")


def _rotate(name: str, ty: str) -> Lowering:
    """fshl(a, a, n) is rotl(a, n) with the count taken modulo the width."""
    t = LL[ty]
    return _template(PREFIX[ty], f"call {t} @llvm.{name}.{ty}({t} {{0}}, {t} {{0}}, {t} {{1}})")


def _compare(instr: str, ty: str) -> Lowering:
    head = f" = {instr} {LL[ty]} "

    def lower(f: LLVMFunction, a: Sequence[str]) -> str:
        c = f.val("%c")
        r = f.val("%i")
        rhs = a[1] if len(a) > 1 else "0"
        f.lines.append(f"{c}{head}{a[0]}, {rhs}")
        f.lines.append(f"{r} = zext i1 {c} to i32")
        return r

    return lower


def _cast(instr: str, src: str, dst: str) -> Lowering:
    return _template(PREFIX[dst], f"{instr} {LL[src]} {{0}} to {LL[dst]}")


def _sign_extend(ty: str, bits: int) -> Lowering:
    prefix, t = PREFIX[ty], LL[ty]

    def lower(f: LLVMFunction, a: Sequence[str]) -> str:
        n = f.val("%t")
        r = f.val(prefix)
        f.lines.append(f"{n} = trunc {t} {a[0]} to i{bits}")
        f.lines.append(f"{r} = sext i{bits} {n} to {t}")
        return r

    return lower


def _divide(name: str, ty: str) -> Lowering:
    prefix, t = PREFIX[ty], LL[ty]
    int_min = -(1 << (WIDTH[ty] - 1))
    int_min_text = str(int_min) if ty == "i32" else i64_literal(int_min)
    opcode = {"div_s": "sdiv", "div_u": "udiv", "rem_s": "srem", "rem_u": "urem"}[name]

    def lower(f: LLVMFunction, a: Sequence[str]) -> str:
        lhs, rhs = a
        known = int_constant(rhs)
        lines = f.lines
        if known is None or known == 0:
            c = f.val("%c")
            lines.append(f"{c} = icmp eq {t} {rhs}, 0")
            f.trap_if(c, Trap.INT_DIV_ZERO)
            lines = f.lines
        if name == "div_s" and (known is None or known == -1):
            m1, mn, both = f.val("%c"), f.val("%c"), f.val("%c")
            lines.append(f"{m1} = icmp eq {t} {rhs}, -1")
            lines.append(f"{mn} = icmp eq {t} {lhs}, {int_min_text}")
            lines.append(f"{both} = and i1 {m1}, {mn}")
            f.trap_if(both, Trap.INT_OVERFLOW)
            lines = f.lines
        elif name == "rem_s" and (known is None or known == -1):
            m1, safe = f.val("%c"), f.val(prefix)
            lines.append(f"{m1} = icmp eq {t} {rhs}, -1")
            lines.append(f"{safe} = select i1 {m1}, {t} 1, {t} {rhs}")
            rhs = safe
        r = f.val(prefix)
        lines.append(f"{r} = {opcode} {t} {lhs}, {rhs}")
        return r

    return lower


def _trunc(ty: str, src: str, sign: str) -> Lowering:
    """Trapping truncation: NaN -> BAD_CONVERSION, out of range -> INT_OVERFLOW."""
    prefix, t, s = PREFIX[ty], LL[ty], LL[src]
    lo, inclusive, hi = TRUNC_BOUNDS[(ty, src, sign)]
    lo_cmp = "oge" if inclusive else "ogt"
    lo_text, hi_text = float_literal(lo), float_literal(hi)
    opcode = "fptosi" if sign == "s" else "fptoui"

    def lower(f: LLVMFunction, a: Sequence[str]) -> str:
        x = a[0]
        nan = f.val("%c")
        f.lines.append(f"{nan} = fcmp uno {s} {x}, {x}")
        f.trap_if(nan, Trap.BAD_CONVERSION)
        above, below, ok, bad = f.val("%c"), f.val("%c"), f.val("%c"), f.val("%c")
        f.lines.append(f"{above} = fcmp {lo_cmp} {s} {x}, {lo_text}")
        f.lines.append(f"{below} = fcmp olt {s} {x}, {hi_text}")
        f.lines.append(f"{ok} = and i1 {above}, {below}")
        f.lines.append(f"{bad} = xor i1 {ok}, true")
        f.trap_if(bad, Trap.INT_OVERFLOW)
        r = f.val(prefix)
        f.lines.append(f"{r} = {opcode} {s} {x} to {t}")
        return r

    return lower


def _arith(opcode: str, ty: str) -> Lowering:
    """add/sub/mul/div as a constrained intrinsic, so no identity fold skips the quieting."""
    t = LL[ty]
    intrinsic = f"llvm.experimental.constrained.{opcode}.{ty}"
    return _template(PREFIX[ty], f"call {t} @{intrinsic}({t} {{0}}, {t} {{1}}, {ROUNDING}{MAYTRAP}")


def _resize(dst: str) -> Lowering:
    """promote/demote, constrained: demote(promote x) must not fold to a signalling x."""
    constrained = "call {} @llvm.experimental.constrained.{}({} {{0}}, {}"
    if dst == "f64":
        return _template("%d", constrained.format("double", "fpext.f64.f32", "float", MAYTRAP))
    fptrunc = constrained.format("float", "fptrunc.f32.f64", "double", ROUNDING + MAYTRAP)
    return _template("%f", fptrunc)


def _min_max(intrinsic: str, ty: str) -> Lowering:
    """`minimum`/`maximum` for the ordered case; the canonical NaN when either is NaN."""
    prefix, t, nan = PREFIX[ty], LL[ty], CANONICAL_NAN

    def lower(f: LLVMFunction, a: Sequence[str]) -> str:
        m, c, r = f.val(prefix), f.val("%c"), f.val(prefix)
        f.lines.append(f"{m} = call {t} @llvm.{intrinsic}.{ty}({t} {a[0]}, {t} {a[1]})")
        f.lines.append(f"{c} = fcmp uno {t} {a[0]}, {a[1]}")
        f.lines.append(f"{r} = select i1 {c}, {t} {nan}, {t} {m}")
        return r

    return lower


def _conversion(op: str, ty: str, name: str) -> Lowering | None:
    if name == "wrap_i64":
        return _cast("trunc", "i64", "i32")
    if name in ("extend_i32_s", "extend_i32_u"):
        return _cast("sext" if name[-1] == "s" else "zext", "i32", "i64")
    if name in ("extend8_s", "extend16_s", "extend32_s"):
        return _sign_extend(ty, int(name[6:-2]))
    if name.startswith("trunc_sat_f"):  # trunc_sat_f32_s
        src, sign = name[10:13], name[-1]
        intrinsic = f"llvm.fpto{sign}i.sat.{ty}.{src}"
        return _call(intrinsic, src, ty, 1)
    if name.startswith("trunc_f"):  # trunc_f64_u
        return _trunc(ty, name[6:9], name[-1])
    if name.startswith("convert_i"):  # convert_i64_u
        return _cast("sitofp" if name[-1] == "s" else "uitofp", name[8:11], ty)
    if name in ("demote_f64", "promote_f32"):
        return _resize(ty)
    if name.startswith("reinterpret_"):
        return _cast("bitcast", name[12:15], ty)
    return None


def _lowering(op: str) -> Lowering | None:
    ty, name = op[:3], op[4:]
    if ty not in LL:
        return None
    if ty[0] == "i":
        if name in _INT_BINARY:
            return _template(PREFIX[ty], f"{_INT_BINARY[name]} {LL[ty]} {{0}}, {{1}}")
        if name in SHIFTS:
            return _shift(SHIFTS[name], ty)
        if name in ("rotl", "rotr"):
            return _rotate("fshl" if name == "rotl" else "fshr", ty)
        if name in ICMP:
            return _compare(f"icmp {ICMP[name]}", ty)
        if name == "eqz":
            return _compare("icmp eq", ty)
        if name in ("clz", "ctz"):
            intrinsic = "ctlz" if name == "clz" else "cttz"
            return _call(f"llvm.{intrinsic}.{ty}", ty, ty, 1, ", i1 false")
        if name == "popcnt":
            return _call(f"llvm.ctpop.{ty}", ty, ty, 1)
        if name in ("div_s", "div_u", "rem_s", "rem_u"):
            return _divide(name, ty)
        return _conversion(op, ty, name)
    if name in FLOAT_ARITH:
        return _arith(FLOAT_ARITH[name], ty)
    if name in _MIN_MAX:
        return _min_max(_MIN_MAX[name], ty)
    if name == "copysign":
        return _call(f"llvm.copysign.{ty}", ty, ty, 2)
    if name in FLOAT_UNARY:
        return _call(f"llvm.{FLOAT_UNARY[name]}.{ty}", ty, ty, 1)
    if name == "neg":
        return _template(PREFIX[ty], f"fneg {LL[ty]} {{0}}")
    if name in FCMP:
        return _compare(f"fcmp {FCMP[name]}", ty)
    return _conversion(op, ty, name)


NUMERIC: dict[str, Lowering] = {}


def numeric_lowering(op: str) -> Lowering:
    """The lowering of `op`, built on first use; unknown operators are reported by name."""
    lower = NUMERIC.get(op)
    if lower is None:
        found = _lowering(op)
        if found is None:
            raise UnsupportedError(f"operator {op} is not supported by the LLVM backend")
        lower = NUMERIC[op] = found
    return lower
