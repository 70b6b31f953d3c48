"""Relaxed SIMD (WebAssembly 3.0): one deterministic choice per operator, made here, once.

The spec lets each relaxed operator return any of a few results (the ones different hardware
gives). wasmkiln picks, for every operator, the result of a WebAssembly 2.0 sequence, and the
walker (translate.py) emits that sequence through the backend's ordinary SIMD lowerings. So the
choice is the same on both backends and every target by construction, and needs no lowering of
its own:

| operator | wasmkiln computes |
|---|---|
| `i8x16.relaxed_swizzle` | `i8x16.swizzle` (an index >= 16 gives 0) |
| `i32x4.relaxed_trunc_*` | the `trunc_sat` operator (NaN -> 0, saturating) |
| `f32x4/f64x2.relaxed_madd` | `add(mul(a, b), c)`, two roundings (not fused) |
| `f32x4/f64x2.relaxed_nmadd` | `add(neg(mul(a, b)), c)`, two roundings |
| `*.relaxed_laneselect` | `v128.bitselect` (bitwise, whatever the mask lanes hold) |
| `f32x4/f64x2.relaxed_min/max` | `min`/`max` (NaN -> canonical NaN, -0 < +0) |
| `i16x8.relaxed_q15mulr_s` | `i16x8.q15mulr_sat_s` |
| `i16x8.relaxed_dot_i8x16_i7x16_s` | signed; lane i: products 2i and 2i+1 summed mod 2^16 |
| `i32x4.relaxed_dot_i8x16_i7x16_add_s` | that dot, adjacent lanes added in 32 bits, plus c |

Unfused madd because Cranelift at its SSE2 baseline has no FMA instruction (it would call libm's
`fmaf`), and the same answer is wanted from both backends.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

Value = Any
Emit = Callable[[str, Sequence[Value], tuple[Any, ...]], Value]

# operators that are one 2.0 operator with the same operands
_SAME_AS = {
    "i8x16.relaxed_swizzle": "i8x16.swizzle",
    "i32x4.relaxed_trunc_f32x4_s": "i32x4.trunc_sat_f32x4_s",
    "i32x4.relaxed_trunc_f32x4_u": "i32x4.trunc_sat_f32x4_u",
    "i32x4.relaxed_trunc_f64x2_s_zero": "i32x4.trunc_sat_f64x2_s_zero",
    "i32x4.relaxed_trunc_f64x2_u_zero": "i32x4.trunc_sat_f64x2_u_zero",
    "f32x4.relaxed_min": "f32x4.min", "f32x4.relaxed_max": "f32x4.max",
    "f64x2.relaxed_min": "f64x2.min", "f64x2.relaxed_max": "f64x2.max",
    "i16x8.relaxed_q15mulr_s": "i16x8.q15mulr_sat_s",
    **{f"{s}.relaxed_laneselect": "v128.bitselect" for s in ("i8x16", "i16x8", "i32x4", "i64x2")},
}  # fmt: skip
_LOW16 = sum(0xFFFF << (32 * i) for i in range(4))  # i32x4 splat 0xffff


def expand(op: str, a: Sequence[Value], emit: Emit) -> Value:
    """Emit relaxed operator `op` as 2.0 SIMD operators through `emit(op, args, imm)`."""
    same = _SAME_AS.get(op)
    if same is not None:
        return emit(same, a, ())
    shape = op.split(".", 1)[0]
    if op.endswith("relaxed_madd") or op.endswith("relaxed_nmadd"):
        product = emit(f"{shape}.mul", a[:2], ())
        if op.endswith("nmadd"):
            product = emit(f"{shape}.neg", [product], ())
        return emit(f"{shape}.add", [product, a[2]], ())
    if op == "i16x8.relaxed_dot_i8x16_i7x16_s":
        return _dot16(a[0], a[1], emit)
    if op == "i32x4.relaxed_dot_i8x16_i7x16_add_s":
        pairs = emit("i32x4.extadd_pairwise_i16x8_s", [_dot16(a[0], a[1], emit)], ())
        return emit("i32x4.add", [pairs, a[2]], ())
    raise KeyError(op)


def _dot16(x: Value, y: Value, emit: Emit) -> Value:
    """Lane i = x[2i]*y[2i] + x[2i+1]*y[2i+1] (signed), modulo 2^16: the exact pair sums in
    32 bits, their low halves (0..65535) packed by the unsigned narrowing, which keeps them."""
    mask = emit("v128.const", [], (_LOW16,))
    halves = []
    for part in ("low", "high"):
        products = emit(f"i16x8.extmul_{part}_i8x16_s", [x, y], ())
        sums = emit("i32x4.extadd_pairwise_i16x8_s", [products], ())
        halves.append(emit("v128.and", [sums, mask], ()))
    return emit("i16x8.narrow_i32x4_u", halves, ())
