"""The operators that are calls to the runtime's builtins, lowered once for every backend.

memory.grow/fill/copy/init, data.drop, table.grow/fill/copy/init and elem.drop each become
one call of a builtin slot (abi.Builtin, signatures in environ.BUILTIN_TYPES). The ABI's
facts about those calls live here and nowhere else: which slot each operator calls, the
order of its index immediates (table.init's immediates are (segment, table), the builtin
takes (table, segment)), i32 addresses, sizes and counts widened to the builtins' u64, and a
32-bit memory's or table's grow result narrowed back to i32. A backend only emits "call
builtin slot N with these arguments" (FunctionBackend.call_builtin) and the constant and
conversion operators it has anyway.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from .abi import Builtin
from .backend import FunctionBackend, Value

Lowering = Callable[[FunctionBackend, Sequence[Value], tuple[int, ...]], Value | None]


def _index(be: FunctionBackend, value: int) -> Value:
    """An index immediate (memory, table, segment) as the builtin's u32 argument."""
    return be.const("i32.const", value)


def _u64(be: FunctionBackend, value: Value, is64: bool) -> Value:
    """An address, size or count as the builtins take it: u64 (an i32 is zero-extended)."""
    return value if is64 else be.numeric("i64.extend_i32_u", [value])


def _grow_result(be: FunctionBackend, old: Value, is64: bool) -> Value:
    """A grow builtin's u64 result as a 32-bit memory's or table's i32 (-1 stays -1)."""
    return old if is64 else be.numeric("i32.wrap_i64", [old])


def _memory_grow(be: FunctionBackend, args: Sequence[Value], imm: tuple[int, ...]) -> Value:
    w = be.env.mem_is64(imm[0])
    (old,) = be.call_builtin(Builtin.MEMORY_GROW, [_index(be, imm[0]), _u64(be, args[0], w)])
    return _grow_result(be, old, w)


def _table_grow(be: FunctionBackend, args: Sequence[Value], imm: tuple[int, ...]) -> Value:
    """(init, delta) on the stack."""
    w = be.env.table_is64(imm[0])
    call = [_index(be, imm[0]), args[0], _u64(be, args[1], w)]
    return _grow_result(be, be.call_builtin(Builtin.TABLE_GROW, call)[0], w)


def _fill(builtin: Builtin, is64: Callable[[FunctionBackend, int], bool]) -> Lowering:
    """memory.fill / table.fill: imm (x,); stack (dst, value, n)."""

    def lower(be: FunctionBackend, args: Sequence[Value], imm: tuple[int, ...]) -> None:
        w = is64(be, imm[0])
        be.call_builtin(
            builtin, [_index(be, imm[0]), _u64(be, args[0], w), args[1], _u64(be, args[2], w)]
        )

    return lower


def _copy(builtin: Builtin, is64: Callable[[FunctionBackend, int], bool]) -> Lowering:
    """memory.copy / table.copy: imm (dst x, src x); stack (dst, src, n). A copy between a
    32- and a 64-bit one counts in i32 (the spec's minimum)."""

    def lower(be: FunctionBackend, args: Sequence[Value], imm: tuple[int, ...]) -> None:
        d, s = is64(be, imm[0]), is64(be, imm[1])
        call = [_index(be, imm[0]), _index(be, imm[1]), _u64(be, args[0], d), _u64(be, args[1], s)]
        be.call_builtin(builtin, [*call, _u64(be, args[2], d and s)])

    return lower


def _init(builtin: Builtin, is64: Callable[[FunctionBackend, int], bool]) -> Lowering:
    """memory.init / table.init: imm (segment, x); stack (dst, src, n). The builtin takes
    (x, segment); the segment's src and n stay i32."""

    def lower(be: FunctionBackend, args: Sequence[Value], imm: tuple[int, ...]) -> None:
        ids = [_index(be, imm[1]), _index(be, imm[0])]
        be.call_builtin(builtin, [*ids, _u64(be, args[0], is64(be, imm[1])), args[1], args[2]])

    return lower


def _drop(builtin: Builtin) -> Lowering:
    """data.drop / elem.drop: imm (segment,)."""

    def lower(be: FunctionBackend, args: Sequence[Value], imm: tuple[int, ...]) -> None:
        be.call_builtin(builtin, [_index(be, imm[0])])

    return lower


def _mem64(be: FunctionBackend, mem: int) -> bool:
    return be.env.mem_is64(mem)


def _table64(be: FunctionBackend, table: int) -> bool:
    return be.env.table_is64(table)


# Operator -> its lowering; the walker (translate.py) sends these here, not to the backend.
LOWERINGS: dict[str, Lowering] = {
    "memory.grow": _memory_grow,
    "memory.fill": _fill(Builtin.MEMORY_FILL, _mem64),
    "memory.copy": _copy(Builtin.MEMORY_COPY, _mem64),
    "memory.init": _init(Builtin.MEMORY_INIT, _mem64),
    "data.drop": _drop(Builtin.DATA_DROP),
    "table.grow": _table_grow,
    "table.fill": _fill(Builtin.TABLE_FILL, _table64),
    "table.copy": _copy(Builtin.TABLE_COPY, _table64),
    "table.init": _init(Builtin.TABLE_INIT, _table64),
    "elem.drop": _drop(Builtin.ELEM_DROP),
}
