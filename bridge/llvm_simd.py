"""SIMD (v128) operators as LLVM IR text, for the LLVM backend.

A v128 value is always a `<2 x i64>` in the walker's hands (operand spelling `%vN`, see
llvm_function.type_of); each operator bitcasts it to its shape (`<16 x i8>` ... `<2 x double>`),
works in vector IR and bitcasts back. Bitcasts cost nothing after instruction selection.

What Wasm defines and LLVM would leave open is spelled out, as for the scalars
(llvm_numeric.py): shift counts are masked to the lane width; saturating arithmetic, narrowing
and `trunc_sat` use LLVM's saturating intrinsics or explicit clamps; float add/sub/mul/div and
promote/demote are constrained intrinsics (no fold may pass a signalling NaN through); min/max
are `minimum`/`maximum` with the canonical NaN where either lane is NaN; pmin/pmax are the
spec's compare-and-select; nearest is `roundeven`; swizzle gives 0 for indices >= 16 (on x86 a
`pshufb` whose index has bit 7 set, elsewhere a per-lane select). Memory accesses go through the
function's `_address`, so they share the scalar bounds-check and guard-region model.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from .errors import UnsupportedError
from .llvm_numeric import (
    CANONICAL_NAN,
    FCMP,
    FLOAT_ARITH,
    FLOAT_UNARY,
    ICMP,
    MAYTRAP,
    ROUNDING,
    SHIFTS,
)

Imm = tuple[Any, ...]  # an operator's immediates (opcodes_simd.py)

if TYPE_CHECKING:
    from .llvm_function import LLVMFunction

V = "<2 x i64>"
# shape -> (vector type, element type, lanes, intrinsic suffix)
SHAPES: dict[str, tuple[str, str, int, str]] = {
    "i8x16": ("<16 x i8>", "i8", 16, "v16i8"),
    "i16x8": ("<8 x i16>", "i16", 8, "v8i16"),
    "i32x4": ("<4 x i32>", "i32", 4, "v4i32"),
    "i64x2": ("<2 x i64>", "i64", 2, "v2i64"),
    "f32x4": ("<4 x float>", "float", 4, "v4f32"),
    "f64x2": ("<2 x double>", "double", 2, "v2f64"),
}
_SCALAR_PREFIX = {"i32": "%i", "i64": "%l", "float": "%f", "double": "%d"}
_HALF = {"i16x8": "i8x16", "i32x4": "i16x8", "i64x2": "i32x4"}  # wide shape -> narrow source
_INT_BIN = {"add": "add", "sub": "sub", "mul": "mul"}
_INT_INTRINSIC = {
    "add_sat_s": "sadd.sat",
    "add_sat_u": "uadd.sat",
    "sub_sat_s": "ssub.sat",
    "sub_sat_u": "usub.sat",
    "min_s": "smin",
    "min_u": "umin",
    "max_s": "smax",
    "max_u": "umax",
}


def _splat_const(elem: str, lanes: int, value: int | str) -> str:
    return "<" + ", ".join(f"{elem} {value}" for _ in range(lanes)) + ">"


def _mask(indices: Sequence[int]) -> str:
    """A shufflevector mask operand, type included."""
    return f"<{len(indices)} x i32> <" + ", ".join(f"i32 {i}" for i in indices) + ">"


class _Emit:
    """The lines of one operator, appended to the function's current block."""

    def __init__(self, f: LLVMFunction) -> None:
        self.f = f

    def line(self, prefix: str, text: str) -> str:
        r: str = self.f.val(prefix)
        self.f.lines.append(f"{r} = {text}")
        return r

    def t(self, text: str) -> str:
        return self.line("%t", text)

    def i32(self, x: str, ty: str = "i1") -> str:
        """A narrower integer result (a test's i1, a bitmask) as the walker's i32."""
        return self.line("%i", f"zext {ty} {x} to i32")

    def cast(self, v: str, shape: str) -> str:
        """The v128 operand `v` viewed as `shape`."""
        ty = SHAPES[shape][0]
        return v if ty == V else self.t(f"bitcast {V} {v} to {ty}")

    def back(self, x: str, ty: str) -> str:
        """A vector of type `ty` as a walker v128 value (a fresh `%v` name)."""
        return self.line("%v", f"bitcast {ty} {x} to {V}")

    def splat(self, ty: str, elem: str, lanes: int, scalar: str) -> str:
        one = self.t(f"insertelement {ty} poison, {elem} {scalar}, i32 0")
        return self.t(f"shufflevector {ty} {one}, {ty} poison, <{lanes} x i32> zeroinitializer")

    def half(self, ty: str, x: str, lanes: int, high: bool) -> str:
        """The low or high half of vector `x` (`lanes` lanes of type `ty`)."""
        n = lanes // 2
        idx = range(n, lanes) if high else range(n)
        return self.t(f"shufflevector {ty} {x}, {ty} poison, {_mask(idx)}")


def _wide(shape: str) -> tuple[str, str]:
    """(vector type, element type) with the lanes of `shape` at twice the width."""
    _, elem, lanes, _ = SHAPES[shape]
    welem = f"i{2 * int(elem[1:])}"
    return f"<{lanes} x {welem}>", welem


def lower_simd(f: LLVMFunction, op: str, a: Sequence[str], imm: Imm) -> str | None:
    """Emit `op` (a SIMD operator) on operands `a` with immediates `imm`; its result or None."""
    shape, name = op.split(".", 1)
    e = _Emit(f)
    if shape == "v128":
        return _v128(f, e, name, a, imm)
    ty, elem, lanes, _ = SHAPES[shape]
    if name == "splat":
        x = a[0]
        if elem in ("i8", "i16"):
            x = e.t(f"trunc i32 {x} to {elem}")
        return e.back(e.splat(ty, elem, lanes, x), ty)
    if name.startswith("extract_lane"):
        x = e.t(f"extractelement {ty} {e.cast(a[0], shape)}, i32 {imm[0]}")
        if elem in ("i8", "i16"):
            ext = "sext" if name.endswith("_s") else "zext"
            return e.line("%i", f"{ext} {elem} {x} to i32")
        return e.line(_SCALAR_PREFIX[elem], f"bitcast {elem} {x} to {elem}")
    if name == "replace_lane":
        x = a[1]
        if elem in ("i8", "i16"):
            x = e.t(f"trunc i32 {x} to {elem}")
        r = e.t(f"insertelement {ty} {e.cast(a[0], shape)}, {elem} {x}, i32 {imm[0]}")
        return e.back(r, ty)
    if shape == "i8x16" and name in ("shuffle", "swizzle"):
        return _shuffle(f, e, name, a, imm)
    if shape[0] == "f":
        return _float(e, shape, name, a)
    return _integer(e, shape, name, a)


def _v128(f: LLVMFunction, e: _Emit, name: str, a: Sequence[str], imm: Imm) -> str | None:
    if name == "const":
        bits = imm[0]
        lo, hi = bits & (2**64 - 1), bits >> 64
        words = ", ".join(f"i64 {w - 2**64 if w >> 63 else w}" for w in (lo, hi))
        return e.line("%v", f"bitcast {V} <{words}> to {V}")
    ones = "<i64 -1, i64 -1>"
    if name == "not":
        return e.line("%v", f"xor {V} {a[0]}, {ones}")
    if name in ("and", "or", "xor"):
        return e.line("%v", f"{name} {V} {a[0]}, {a[1]}")
    if name == "andnot":
        n = e.t(f"xor {V} {a[1]}, {ones}")
        return e.line("%v", f"and {V} {a[0]}, {n}")
    if name == "bitselect":
        keep = e.t(f"and {V} {a[0]}, {a[2]}")
        inv = e.t(f"xor {V} {a[2]}, {ones}")
        other = e.t(f"and {V} {a[1]}, {inv}")
        return e.line("%v", f"or {V} {keep}, {other}")
    if name == "any_true":
        wide = e.t(f"bitcast {V} {a[0]} to i128")
        return e.i32(e.t(f"icmp ne i128 {wide}, 0"))
    return _memory(f, e, name, a, imm)


# name -> (vector type loaded, extension to, lanes) for the extending loads
_EXTEND_LOADS = {
    "load8x8_s": ("<8 x i8>", "sext", "<8 x i16>"),
    "load8x8_u": ("<8 x i8>", "zext", "<8 x i16>"),
    "load16x4_s": ("<4 x i16>", "sext", "<4 x i32>"),
    "load16x4_u": ("<4 x i16>", "zext", "<4 x i32>"),
    "load32x2_s": ("<2 x i32>", "sext", "<2 x i64>"),
    "load32x2_u": ("<2 x i32>", "zext", "<2 x i64>"),
}
_LANE_SHAPE = {8: "i8x16", 16: "i16x8", 32: "i32x4", 64: "i64x2"}


def _memory(f: LLVMFunction, e: _Emit, name: str, a: Sequence[str], imm: Imm) -> str | None:
    from .opcodes_simd import SIMD_MEMOPS

    op = "v128." + name
    if op not in SIMD_MEMOPS:
        raise UnsupportedError(f"operator {op} is not supported by the LLVM backend")
    size = SIMD_MEMOPS[op][1]
    ptr = f._address(a[0], imm[1], size, imm[-1])  # imm[-1]: the memory index
    checked = f.env.needs_bounds_check(imm[1], imm[-1])
    # Without a bounds check (guard region) the load itself must fault, all of it: LLVM would
    # narrow a load whose result is partly used (extract_lane of a v128.load) to the bytes
    # used, or delete an unused one, and miss the fault of an access straddling the end of
    # memory. A volatile load is neither narrowed nor deleted.
    load = "load" if checked else "load volatile"
    r: str
    if name == "store":
        f.lines.append(f"store {V} {a[1]}, ptr {ptr}, align 1")
        return None
    if name == "load":
        r = e.line("%v", f"{load} {V}, ptr {ptr}, align 1")
    elif name in _EXTEND_LOADS:
        src, ext, dst = _EXTEND_LOADS[name]
        raw = e.t(f"{load} {src}, ptr {ptr}, align 1")
        r = e.back(e.t(f"{ext} {src} {raw} to {dst}"), dst)
    elif name.endswith("_splat"):
        ty, elem, lanes, _ = SHAPES[_LANE_SHAPE[8 * size]]
        x = e.t(f"{load} {elem}, ptr {ptr}, align 1")
        r = e.back(e.splat(ty, elem, lanes, x), ty)
    elif name.endswith("_zero"):
        ty, elem, _, _ = SHAPES[_LANE_SHAPE[8 * size]]
        x = e.t(f"{load} {elem}, ptr {ptr}, align 1")
        r = e.back(e.t(f"insertelement {ty} zeroinitializer, {elem} {x}, i32 0"), ty)
    else:  # load/store of one lane: load8_lane ... store64_lane
        shape = _LANE_SHAPE[8 * size]
        ty, elem, _, _ = SHAPES[shape]
        vec = e.cast(a[1], shape)
        if name.startswith("store"):
            x = e.t(f"extractelement {ty} {vec}, i32 {imm[2]}")
            f.lines.append(f"store {elem} {x}, ptr {ptr}, align 1")
            return None
        x = e.t(f"{load} {elem}, ptr {ptr}, align 1")
        r = e.back(e.t(f"insertelement {ty} {vec}, {elem} {x}, i32 {imm[2]}"), ty)
    return r


def _shuffle(f: LLVMFunction, e: _Emit, name: str, a: Sequence[str], imm: Imm) -> str:
    ty = "<16 x i8>"
    x, y = e.cast(a[0], "i8x16"), e.cast(a[1], "i8x16")
    if name == "shuffle":
        return e.back(e.t(f"shufflevector {ty} {x}, {ty} {y}, {_mask(imm[0])}"), ty)
    # swizzle: lane i = x[y[i]] if y[i] < 16 else 0
    big = e.t(f"icmp ugt {ty} {y}, {_splat_const('i8', 16, 15)}")
    if f.parent.triple.startswith("x86_64"):
        # pshufb zeroes a lane whose index has bit 7 set and otherwise uses its low 4 bits
        hi = e.t(f"sext <16 x i1> {big} to {ty}")
        idx = e.t(f"or {ty} {y}, {hi}")
        return e.back(e.t(f"call {ty} @llvm.x86.ssse3.pshuf.b.128({ty} {x}, {ty} {idx})"), ty)
    low = e.t(f"and {ty} {y}, {_splat_const('i8', 16, 15)}")
    r = "zeroinitializer"
    for i in range(16):
        j = e.t(f"extractelement {ty} {low}, i32 {i}")
        v = e.t(f"extractelement {ty} {x}, i8 {j}")
        r = e.t(f"insertelement {ty} {r}, i8 {v}, i32 {i}")
    return e.back(e.t(f"select <16 x i1> {big}, {ty} zeroinitializer, {ty} {r}"), ty)


def _integer(e: _Emit, shape: str, name: str, a: Sequence[str]) -> str:
    ty, elem, lanes, sfx = SHAPES[shape]
    bits = int(elem[1:])
    x = e.cast(a[0], shape)
    if name.startswith("trunc_sat_"):
        return _trunc_sat(e, name, a)
    if name in _INT_BIN:
        return e.back(e.t(f"{_INT_BIN[name]} {ty} {x}, {e.cast(a[1], shape)}"), ty)
    if name in ICMP:
        c = e.t(f"icmp {ICMP[name]} {ty} {x}, {e.cast(a[1], shape)}")
        return e.back(e.t(f"sext <{lanes} x i1> {c} to {ty}"), ty)
    if name in _INT_INTRINSIC:
        y = e.cast(a[1], shape)
        return e.back(e.t(f"call {ty} @llvm.{_INT_INTRINSIC[name]}.{sfx}({ty} {x}, {ty} {y})"), ty)
    if name in SHIFTS:
        count = e.t(f"and i32 {a[1]}, {bits - 1}")
        if bits < 32:
            count = e.t(f"trunc i32 {count} to {elem}")
        elif bits == 64:
            count = e.t(f"zext i32 {count} to i64")
        n = e.splat(ty, elem, lanes, count)
        return e.back(e.t(f"{SHIFTS[name]} {ty} {x}, {n}"), ty)
    if name == "neg":
        return e.back(e.t(f"sub {ty} zeroinitializer, {x}"), ty)
    if name == "abs":
        return e.back(e.t(f"call {ty} @llvm.abs.{sfx}({ty} {x}, i1 false)"), ty)
    if name == "popcnt":
        return e.back(e.t(f"call {ty} @llvm.ctpop.{sfx}({ty} {x})"), ty)
    if name == "all_true":
        c = e.t(f"icmp ne {ty} {x}, zeroinitializer")
        return e.i32(e.t(f"call i1 @llvm.vector.reduce.and.v{lanes}i1(<{lanes} x i1> {c})"))
    if name == "bitmask":
        c = e.t(f"icmp slt {ty} {x}, zeroinitializer")
        return e.i32(e.t(f"bitcast <{lanes} x i1> {c} to i{lanes}"), f"i{lanes}")
    if name == "avgr_u":
        wty, _ = _wide(shape)
        xw = e.t(f"zext {ty} {x} to {wty}")
        yw = e.t(f"zext {ty} {e.cast(a[1], shape)} to {wty}")
        s = e.t(f"add {wty} {xw}, {yw}")
        wel = f"i{2 * bits}"
        s = e.t(f"add {wty} {s}, {_splat_const(wel, lanes, 1)}")
        s = e.t(f"lshr {wty} {s}, {_splat_const(wel, lanes, 1)}")
        return e.back(e.t(f"trunc {wty} {s} to {ty}"), ty)
    if name == "q15mulr_sat_s":
        wty = "<8 x i32>"
        xw = e.t(f"sext {ty} {x} to {wty}")
        yw = e.t(f"sext {ty} {e.cast(a[1], shape)} to {wty}")
        p = e.t(f"mul {wty} {xw}, {yw}")
        p = e.t(f"add {wty} {p}, {_splat_const('i32', 8, 0x4000)}")
        p = e.t(f"ashr {wty} {p}, {_splat_const('i32', 8, 15)}")
        p = e.t(f"call {wty} @llvm.smin.v8i32({wty} {p}, {wty} {_splat_const('i32', 8, 32767)})")
        return e.back(e.t(f"trunc {wty} {p} to {ty}"), ty)
    if name.startswith("narrow_"):  # i8x16.narrow_i16x8_s: two wide inputs, clamp, truncate
        src = name[7:12]
        sty, selem, slanes, _ = SHAPES[src]
        cat_ty, cat_sfx = f"<{2 * slanes} x {selem}>", f"v{2 * slanes}{selem}"
        xs, ys = e.cast(a[0], src), e.cast(a[1], src)
        cat = e.t(f"shufflevector {sty} {xs}, {sty} {ys}, {_mask(range(2 * slanes))}")
        if name.endswith("_s"):
            lo, hi = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
        else:
            lo, hi = 0, (1 << bits) - 1
        c = e.t(
            f"call {cat_ty} @llvm.smax.{cat_sfx}({cat_ty} {cat}, "
            f"{cat_ty} {_splat_const(selem, 2 * slanes, lo)})"
        )
        c = e.t(
            f"call {cat_ty} @llvm.smin.{cat_sfx}({cat_ty} {c}, "
            f"{cat_ty} {_splat_const(selem, 2 * slanes, hi)})"
        )
        return e.back(e.t(f"trunc {cat_ty} {c} to {ty}"), ty)
    half = _HALF.get(shape)
    if half is not None:
        src = half
        sty, selem, slanes, _ = SHAPES[src]
        ext = "sext" if name.endswith("_s") else "zext"
        if name.startswith("extend_"):  # i16x8.extend_low_i8x16_s
            h = e.half(sty, e.cast(a[0], src), slanes, "high" in name)
            return e.back(e.t(f"{ext} <{lanes} x {selem}> {h} to {ty}"), ty)
        if name.startswith("extmul_"):
            hs = [e.half(sty, e.cast(v, src), slanes, "high" in name) for v in a[:2]]
            ws = [e.t(f"{ext} <{lanes} x {selem}> {h} to {ty}") for h in hs]
            return e.back(e.t(f"mul {ty} {ws[0]}, {ws[1]}"), ty)
        if name.startswith("extadd_pairwise_") or name == "dot_i16x8_s":
            wty = f"<{slanes} x {elem}>"
            xw = e.t(
                f"{ext if name != 'dot_i16x8_s' else 'sext'} {sty} {e.cast(a[0], src)} to {wty}"
            )
            if name == "dot_i16x8_s":
                yw = e.t(f"sext {sty} {e.cast(a[1], src)} to {wty}")
                xw = e.t(f"mul {wty} {xw}, {yw}")
            even = e.t(f"shufflevector {wty} {xw}, {wty} poison, {_mask(range(0, slanes, 2))}")
            odd = e.t(f"shufflevector {wty} {xw}, {wty} poison, {_mask(range(1, slanes, 2))}")
            return e.back(e.t(f"add {ty} {even}, {odd}"), ty)
    raise UnsupportedError(f"operator {shape}.{name} is not supported by the LLVM backend")


def _float(e: _Emit, shape: str, name: str, a: Sequence[str]) -> str:
    ty, elem, lanes, sfx = SHAPES[shape]
    x = e.cast(a[0], shape)
    if name in FLOAT_ARITH:
        y = e.cast(a[1], shape)
        r = e.t(
            f"call {ty} @llvm.experimental.constrained.{FLOAT_ARITH[name]}.{sfx}({ty} {x}, "
            f"{ty} {y}, {ROUNDING}{MAYTRAP}"
        )
        return e.back(r, ty)
    if name in FLOAT_UNARY:
        return e.back(e.t(f"call {ty} @llvm.{FLOAT_UNARY[name]}.{sfx}({ty} {x})"), ty)
    if name == "neg":
        return e.back(e.t(f"fneg {ty} {x}"), ty)
    if name in FCMP:
        c = e.t(f"fcmp {FCMP[name]} {ty} {x}, {e.cast(a[1], shape)}")
        ity = f"<{lanes} x i{128 // lanes}>"
        return e.back(e.t(f"sext <{lanes} x i1> {c} to {ity}"), ity)
    if name in ("min", "max"):
        y = e.cast(a[1], shape)
        m = e.t(f"call {ty} @llvm.{name}imum.{sfx}({ty} {x}, {ty} {y})")
        nan = e.t(f"fcmp uno {ty} {x}, {y}")
        canon = _splat_const(elem, lanes, CANONICAL_NAN)
        return e.back(e.t(f"select <{lanes} x i1> {nan}, {ty} {canon}, {ty} {m}"), ty)
    if name in ("pmin", "pmax"):  # pmin: b < a ? b : a; pmax: a < b ? b : a
        y = e.cast(a[1], shape)
        c = e.t(f"fcmp olt {ty} {y}, {x}" if name == "pmin" else f"fcmp olt {ty} {x}, {y}")
        return e.back(e.t(f"select <{lanes} x i1> {c}, {ty} {y}, {ty} {x}"), ty)
    if name in ("convert_i32x4_s", "convert_i32x4_u"):  # f32x4
        cv = "sitofp" if name[-1] == "s" else "uitofp"
        return e.back(e.t(f"{cv} <4 x i32> {e.cast(a[0], 'i32x4')} to {ty}"), ty)
    if name in ("convert_low_i32x4_s", "convert_low_i32x4_u"):  # f64x2
        low = e.half("<4 x i32>", e.cast(a[0], "i32x4"), 4, False)
        cv = "sitofp" if name[-1] == "s" else "uitofp"
        return e.back(e.t(f"{cv} <2 x i32> {low} to {ty}"), ty)
    if name == "demote_f64x2_zero":
        d = e.t(
            f"call <2 x float> @llvm.experimental.constrained.fptrunc.v2f32.v2f64("
            f"<2 x double> {e.cast(a[0], 'f64x2')}, {ROUNDING}{MAYTRAP}"
        )
        return e.back(
            e.t(f"shufflevector <2 x float> {d}, <2 x float> zeroinitializer, {_mask(range(4))}"),
            ty,
        )
    if name == "promote_low_f32x4":
        low = e.half("<4 x float>", e.cast(a[0], "f32x4"), 4, False)
        p = e.t(
            f"call <2 x double> @llvm.experimental.constrained.fpext.v2f64.v2f32("
            f"<2 x float> {low}, {MAYTRAP}"
        )
        return e.back(p, ty)
    raise UnsupportedError(f"operator {shape}.{name} is not supported by the LLVM backend")


def _trunc_sat(e: _Emit, name: str, a: Sequence[str]) -> str:
    """i32x4.trunc_sat_f32x4_s/u and i32x4.trunc_sat_f64x2_s/u_zero."""
    sign = name.split("_")[3]
    if "f32x4" in name:
        r = e.t(
            f"call <4 x i32> @llvm.fpto{sign}i.sat.v4i32.v4f32(<4 x float> {e.cast(a[0], 'f32x4')})"
        )
        return e.back(r, "<4 x i32>")
    r = e.t(
        f"call <2 x i32> @llvm.fpto{sign}i.sat.v2i32.v2f64(<2 x double> {e.cast(a[0], 'f64x2')})"
    )
    w = e.t(f"shufflevector <2 x i32> {r}, <2 x i32> zeroinitializer, {_mask(range(4))}")
    return e.back(w, "<4 x i32>")
