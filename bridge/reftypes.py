"""Reference types of WebAssembly 3.0 without GC: decoding, subtyping, canonical spelling.

The 2.0 reference types stay `ValType.FUNCREF` and `ValType.EXTERNREF` (they are
`(ref null func)` and `(ref null extern)`), exceptions' `exnref` is `ValType.EXNREF`
(`(ref null exn)`); every other reference type is a `RefType`
(module.py). `normalize` is the one place that maps between the two spellings, so
`(ref null func)` written either way is the same Python value and plain equality keeps
working for 2.0 modules.

Adding an abstract heap type (exceptions' `exn`) means one `HeapType` member (module.py),
removing its byte from `_LATER_HEAPS`, and, for its shorthand value type (`exnref`, a
`ValType` member and its `opcodes.VALTYPES` entry), one line in `_SHORTHAND`, one in
`_SIG_CHARS`, its letter in `_HEAP_LETTERS` and its case in `shorthand`; subtyping,
decoding, the backends (a reference is a pointer) and the runtime's type code (`type_code`)
follow.
"""

from __future__ import annotations

from collections.abc import Sequence

from .errors import DecodeError, UnsupportedError
from .module import FuncType, HeapType, RefType, ValType, ValueType

# Shorthand value types and the reference type each one abbreviates.
_SHORTHAND: dict[ValType, RefType] = {
    ValType.FUNCREF: RefType(True, HeapType.FUNC),
    ValType.EXTERNREF: RefType(True, HeapType.EXTERN),
    ValType.EXNREF: RefType(True, HeapType.EXN),
}
_BY_REF = {r: v for v, r in _SHORTHAND.items()}

# Heap type bytes of the GC proposal: named as unsupported, never "malformed".
_GC_HEAPS = {
    0x6E: "any",
    0x6D: "eq",
    0x6C: "i31",
    0x6B: "struct",
    0x6A: "array",
    0x71: "none",
    0x72: "noextern",
    0x73: "nofunc",
    0x74: "noexn",
}
REF_NULL, REF = 0x63, 0x64  # value type prefixes: (ref null ht), (ref ht)
# One-byte shorthand value types of later proposals: (ref null <heap>) of the byte's heap type.
_LATER_HEAPS = {
    **{k: f"{v} (garbage collection)" for k, v in _GC_HEAPS.items()},
}


def normalize(t: RefType) -> ValueType:
    """`(ref null func)` -> FUNCREF etc.; every other reference type unchanged."""
    return _BY_REF.get(t, t)


def as_ref(t: ValueType) -> RefType | None:
    """The reference type `t` denotes, or None for a number or vector type."""
    if isinstance(t, RefType):
        return t
    return _SHORTHAND.get(t)


def shorthand(t: ValueType) -> ValType:
    """The 2.0 value type an embedder sees for `t`: a function reference of any type is a
    funcref, an extern reference an externref (the runtime represents them alike)."""
    if not isinstance(t, RefType):
        return t
    if t.heap == HeapType.EXTERN:
        return ValType.EXTERNREF
    return ValType.EXNREF if t.heap == HeapType.EXN else ValType.FUNCREF


def is_ref(t: ValueType | None) -> bool:
    return t is not None and (isinstance(t, RefType) or t in _SHORTHAND)


def defaultable(t: ValueType) -> bool:
    """Whether a local or table of type `t` has a default value (non-null refs have none)."""
    r = as_ref(t)
    return r is None or r.nullable


def non_null(t: ValueType) -> ValueType:
    r = as_ref(t)
    return t if r is None else RefType(False, r.heap)


def read_heap_type(b: bytes, pos: int, base: int = 0) -> tuple[HeapType | int, int]:
    """A heap type (s33): an abstract one (negative, one byte) or a type index."""
    from .decode_expr import read_sleb  # decode_expr imports this module

    code = b[pos]
    if code in HeapType._value2member_map_:
        return HeapType(code), pos + 1
    if code in _LATER_HEAPS:
        raise later_type(code, base + pos)
    idx, end = read_sleb(b, pos, 33)
    if idx < 0:
        raise DecodeError("malformed heap type", offset=base + pos)
    return idx, end


def later_type(code: int, offset: int) -> UnsupportedError:
    """A valid reference type of a proposal wasmkiln does not compile yet (never "malformed")."""
    return UnsupportedError(
        f"reference type of heap {_LATER_HEAPS[code]} is not supported", offset=offset
    )


def is_later_type(code: int) -> bool:
    return code in _LATER_HEAPS


def read_ref_suffix(b: bytes, pos: int, nullable: bool, base: int = 0) -> tuple[ValueType, int]:
    """After a 0x63/0x64 prefix: the heap type, as a normalized reference type."""
    heap, pos = read_heap_type(b, pos, base)
    return normalize(RefType(nullable, heap)), pos


def type_code(t: ValueType) -> int:
    """The one-byte code the runtime stores for a value type (wk_import.type,
    wk_table.elem_type): a reference type is stored as its abstract heap type's byte."""
    if not isinstance(t, RefType):
        return int(t)
    return int(t.heap) if isinstance(t.heap, HeapType) else int(HeapType.FUNC)


def type_indices(t: ValueType) -> int | None:
    """The type index a reference type names, if any (validation checks it exists)."""
    r = as_ref(t)
    if r is not None and not isinstance(r.heap, HeapType):
        return r.heap
    return None


class TypeSpace:
    """A module's types, for subtyping: type indices compare by structure (the spec's type
    equivalence; without GC every type is final, so equivalence is equality)."""

    def __init__(self, types: Sequence[FuncType]) -> None:
        self.types = types
        self._keys: dict[int, str] = {}

    def key(self, idx: int) -> str:
        """Canonical spelling of type `idx` (recursive references spelled by depth)."""
        k = self._keys.get(idx)
        if k is None:
            k = self._keys[idx] = self._spell(idx, [])
        return k

    def _spell(self, idx: int, seen: list[int]) -> str:
        if idx in seen:
            return f"^{len(seen) - seen.index(idx)}"
        if idx >= len(self.types):
            return f"?{idx}"
        ft = self.types[idx]
        inner = [*seen, idx]
        p = "".join(self.value_key(t, inner) for t in ft.params)
        r = "".join(self.value_key(t, inner) for t in ft.results)
        return f"{p}:{r}"

    def value_key(self, t: ValueType, seen: list[int] | None = None) -> str:
        """One value type in the runtime's signature alphabet (metadata.type_signature)."""
        if not isinstance(t, RefType):
            return _SIG_CHARS[t]
        n = "n" if t.nullable else "N"
        if isinstance(t.heap, HeapType):
            return f"{n}{_HEAP_LETTERS.get(t.heap, f'<{t.heap}>')}"
        return f"{n}({self._spell(t.heap, seen or [])})"

    def signature(self, ft: FuncType) -> str:
        p = "".join(self.value_key(t) for t in ft.params)
        r = "".join(self.value_key(t) for t in ft.results)
        return f"{p}:{r}"

    def heap_matches(self, a: HeapType | int, b: HeapType | int) -> bool:
        if a == b:
            return True
        if isinstance(b, HeapType):
            return b == HeapType.FUNC and not isinstance(a, HeapType)
        if isinstance(a, HeapType):
            return False
        return self.key(a) == self.key(b)

    def matches(self, actual: ValueType | None, expected: ValueType | None) -> bool:
        """actual <: expected; None is the bottom type of unreachable code."""
        if actual is None or expected is None or actual == expected:
            return True
        ra, re = as_ref(actual), as_ref(expected)
        if ra is None or re is None:
            return False
        if ra.nullable and not re.nullable:
            return False
        return self.heap_matches(ra.heap, re.heap)

    def all_match(self, actual: Sequence[ValueType], expected: Sequence[ValueType]) -> bool:
        return len(actual) == len(expected) and all(
            self.matches(a, e) for a, e in zip(actual, expected, strict=True)
        )


_HEAP_LETTERS = {HeapType.FUNC: "f", HeapType.EXTERN: "e", HeapType.EXN: "x"}  # others: <name>
_SIG_CHARS: dict[ValueType, str] = {
    ValType.I32: "i",
    ValType.I64: "I",
    ValType.F32: "f",
    ValType.F64: "F",
    ValType.FUNCREF: "r",
    ValType.EXTERNREF: "e",
    ValType.V128: "V",
    ValType.EXNREF: "x",
}


def cross_matches(sa: TypeSpace, a: ValueType, sb: TypeSpace, b: ValueType) -> bool:
    """a (a type of module A) <: b (of module B): imports of typed references."""
    ra, rb = as_ref(a), as_ref(b)
    if ra is None or rb is None:
        return a == b
    if ra.nullable and not rb.nullable:
        return False
    if isinstance(rb.heap, HeapType):
        return ra.heap == rb.heap or (
            rb.heap == HeapType.FUNC and not isinstance(ra.heap, HeapType)
        )
    if isinstance(ra.heap, HeapType):
        return False
    return sa.key(ra.heap) == sb.key(rb.heap)
