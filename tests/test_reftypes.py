"""bridge/reftypes.py: subtyping and canonical spelling of typed function references."""

from __future__ import annotations

from wasmkiln.bridge.module import FuncType, HeapType, RefType, ValType
from wasmkiln.bridge.reftypes import TypeSpace, cross_matches, normalize, type_code

I32, FUNCREF, EXTERNREF = ValType.I32, ValType.FUNCREF, ValType.EXTERNREF
FUNC, EXTERN = HeapType.FUNC, HeapType.EXTERN


def test_shorthands_are_one_value() -> None:
    """(ref null func) is funcref: 2.0 modules keep comparing types with ==."""
    assert normalize(RefType(True, FUNC)) is FUNCREF
    assert normalize(RefType(True, EXTERN)) is EXTERNREF
    assert normalize(RefType(False, FUNC)) == RefType(False, FUNC)


def test_subtyping() -> None:
    # type 0 and type 2 are the same function type; type 1 differs
    space = TypeSpace([FuncType((I32,), ()), FuncType((), ()), FuncType((I32,), ())])
    ref0, ref2 = RefType(False, 0), RefType(False, 2)
    assert space.matches(ref0, FUNCREF)  # (ref $t) <: funcref
    assert space.matches(ref0, RefType(True, 2))  # equivalent types, non-null <: nullable
    assert space.matches(ref2, ref0)
    assert not space.matches(RefType(True, 0), ref0)  # nullable is not <: non-null
    assert not space.matches(ref0, RefType(False, 1))
    assert not space.matches(FUNCREF, RefType(True, 0))  # funcref is not <: (ref null $t)
    assert not space.matches(ref0, EXTERNREF)
    assert not space.matches(EXTERNREF, FUNCREF)
    assert not space.matches(I32, FUNCREF)
    assert space.matches(None, ref0) and space.matches(ref0, None)  # bottom


def test_recursive_type_spelling_is_finite_and_structural() -> None:
    """A type may name itself (its own rec group): spelled by depth, not by index."""
    selfref_a = [FuncType((RefType(True, 0),), ())]
    selfref_b = [FuncType((), ()), FuncType((RefType(True, 1),), ())]
    a, b = TypeSpace(selfref_a), TypeSpace(selfref_b)
    assert a.key(0) == b.key(1) == "n(^1):"
    assert a.signature(selfref_a[0]) == b.signature(selfref_b[1])
    # 2.0 signatures keep the runtime's spelling
    assert TypeSpace([]).signature(FuncType((I32, ValType.I64), (FUNCREF,))) == "iI:r"


def test_imports_across_modules() -> None:
    ours = TypeSpace([FuncType((), ())])
    theirs = TypeSpace([FuncType((I32,), ()), FuncType((), ())])
    assert cross_matches(theirs, RefType(False, 1), ours, RefType(True, 0))
    assert not cross_matches(theirs, RefType(False, 0), ours, RefType(True, 0))
    assert cross_matches(theirs, RefType(False, 0), ours, FUNCREF)
    assert not cross_matches(theirs, FUNCREF, ours, RefType(False, FUNC))


def test_runtime_type_codes() -> None:
    assert type_code(FUNCREF) == 0x70 and type_code(EXTERNREF) == 0x6F
    assert type_code(RefType(False, 3)) == 0x70 and type_code(RefType(False, EXTERN)) == 0x6F


def test_exn_is_an_abstract_heap_type() -> None:
    """Exceptions' exnref is (ref null exn): the same value either way, its own spelling."""
    exn = HeapType.EXN
    assert normalize(RefType(True, exn)) is ValType.EXNREF
    space = TypeSpace([])
    assert space.matches(RefType(False, exn), ValType.EXNREF)
    assert not space.matches(RefType(False, exn), EXTERNREF)
    assert space.signature(FuncType((RefType(False, exn), ValType.EXNREF), ())) == "Nxx:"
    assert space.value_key(RefType(False, EXTERN)) == "Ne"
    assert type_code(RefType(False, exn)) == type_code(ValType.EXNREF) == 0x69
