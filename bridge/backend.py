"""The interface between the operator walker and a code generator.

The walker (translate.py) owns Wasm's structure: the value stack, the control
stack, unreachable code, and where a branch goes. A backend owns the IR: it
turns one operator family at a time into instructions and decides how traps,
bounds checks and the vmctx are lowered. Values and labels are opaque to the
walker. Two implement it: Cranelift (cranelift_backend.py) and LLVM
(llvm_backend.py); codegen.py drives either over a whole module.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Protocol

from .abi import Builtin
from .module import FuncType, ValueType

if TYPE_CHECKING:
    from .abi import ExnRef
    from .environ import ModuleEnv

Value = Any  # a backend's SSA value
Label = Any  # a backend's basic block, with parameters
Values = Sequence[Value]  # operands of a call

# Where float -> int truncation traps, shared by both backends so they cannot disagree:
# (result, source, signedness) -> (lower bound, whether it is inclusive, exclusive upper bound).
# An inclusive bound is -2^(N-1) itself; an exclusive one is the next value below that is
# exact in the source type (-2^31-1 is exact in f64 only).
TRUNC_BOUNDS: dict[tuple[str, str, str], tuple[float, bool, float]] = {
    ("i32", "f32", "s"): (-(2.0**31), True, 2.0**31),
    ("i32", "f64", "s"): (-(2.0**31) - 1, False, 2.0**31),
    ("i64", "f32", "s"): (-(2.0**63), True, 2.0**63),
    ("i64", "f64", "s"): (-(2.0**63), True, 2.0**63),
    ("i32", "f32", "u"): (-1.0, False, 2.0**32),
    ("i32", "f64", "u"): (-1.0, False, 2.0**32),
    ("i64", "f32", "u"): (-1.0, False, 2.0**64),
    ("i64", "f64", "u"): (-1.0, False, 2.0**64),
}


class FunctionBackend(Protocol):
    """Builds one function. Methods are grouped as the walker uses them."""

    env: ModuleEnv  # the module's places; the walker reads `env.exceptions`

    # ---- function frame -------------------------------------------------
    def begin(self, func_index: int, ftype: FuncType, locals_: Sequence[ValueType]) -> None:
        """Start the function: entry block, stack check, params and zeroed locals."""

    def finish(self) -> None:
        """Close the function and hand it to the module being built."""

    # ---- control flow -----------------------------------------------------
    def new_label(self, types: Sequence[ValueType]) -> Label: ...

    def label_params(self, label: Label) -> list[Value]: ...

    def switch_to(self, label: Label, seal: bool = True) -> None:
        """Continue emitting in `label`.

        With seal (the usual case) every branch to `label` has been emitted; a
        loop header is the exception and is sealed later with seal().
        """

    def seal(self, label: Label) -> None:
        """No more branches will target `label` (a loop header at its end)."""

    def jump(self, label: Label, args: Sequence[Value]) -> None: ...

    def branch_if(self, cond: Value, label: Label, args: Sequence[Value], other: Label) -> None:
        """Go to `label` with args when cond != 0, else to `other` (no params)."""

    def branch_table(
        self, index: Value, targets: Sequence[Label], default: Label, args: Sequence[Value]
    ) -> None: ...

    def ret(self, values: Sequence[Value]) -> None: ...

    def trap(self, code: int) -> None:
        """Unconditional trap with a bridge.abi.Trap code; ends the block."""

    # ---- variables ----------------------------------------------------------
    def local_get(self, index: int) -> Value: ...

    def local_set(self, index: int, value: Value) -> None: ...

    def global_get(self, index: int) -> Value: ...

    def global_set(self, index: int, value: Value) -> None: ...

    # ---- operators ----------------------------------------------------------
    def const(self, op: str, value: int) -> Value:
        """i32/i64 constants (signed ints) and f32/f64 constants (raw bits)."""

    def numeric(self, op: str, args: Sequence[Value]) -> Value:
        """Every pure numeric operator, trapping ones included (div, trunc)."""

    def simd(self, op: str, args: Sequence[Value], imm: tuple[Any, ...]) -> Value | None:
        """Every SIMD (v128) operator, memory ones included (args start with the address);
        `imm` holds its immediates (opcodes_simd.py). None for the stores."""

    def select(self, cond: Value, a: Value, b: Value) -> Value: ...

    def drop(self, value: Value) -> None:
        """`drop` of a value: nothing to emit, except that a load whose bounds check a guard
        region replaces must stay (it may trap) even though its result is unused."""

    def load(self, op: str, addr: Value, offset: int, mem: int = 0) -> Value:
        """A load from memory `mem`; `addr` is an i64 for a memory64 (ModuleEnv.mem_is64)."""

    def store(self, op: str, addr: Value, value: Value, offset: int, mem: int = 0) -> None: ...

    def memory_size(self, mem: int) -> Value:
        """memory.size of memory `mem`: an i64 for a memory64, else an i32."""

    def table_op(self, op: str, args: Sequence[Value], imm: tuple[int, ...]) -> Value | None:
        """table.get/set/size (i64 indices on a table64); `imm` as decoded (module.py)."""

    def call_builtin(self, builtin: Builtin, args: Sequence[Value]) -> list[Value]:
        """Call runtime builtin `builtin` (abi.Builtin; signature environ.BUILTIN_TYPES) with
        the vmctx and `args`: every other memory and table operator (builtins.py). After
        MEMORY_GROW the backend refreshes what it keeps of the memory's size."""

    def ref_null(self) -> Value:
        """A null reference (funcref and externref are both pointer-sized)."""

    def ref_is_null(self, ref: Value) -> Value: ...

    def ref_func(self, func_index: int) -> Value: ...

    def call(self, func_index: int, args: Sequence[Value], tail: bool = False) -> list[Value]:
        """With `tail` (return_call): a tail call that ends the block; returns []."""

    def call_indirect(
        self, type_index: int, table: int, callee: Value, args: Values, tail: bool = False
    ) -> list[Value]: ...

    def call_ref(
        self, type_index: int, ref: Value, args: Sequence[Value], tail: bool = False
    ) -> list[Value]:
        """call_ref / return_call_ref (`tail`): traps NULL_FUNC_REF on null."""

    def ref_as_non_null(self, ref: Value) -> Value:
        """`ref` itself, after trapping NULL_REFERENCE when it is null."""

    # ---- exceptions (exceptions.py; docs/abi.md "Exceptions") -------------------------------
    def exn_new(self, tag: int, args: Sequence[Value], types: Sequence[ValueType]) -> Value:
        """A new exception of `tag` with payload `args` (Builtin.EXN_NEW): its exnref."""

    def exn_tag_is(self, exn: Value, tag: int) -> Value:
        """i32 1 when the (non-null) exception's tag is tag `tag` of this instance, else 0."""

    def exn_payload(self, exn: Value, tag: int) -> list[Value]:
        """The payload values of an exception known to be of `tag`."""

    def exn_clear(self) -> None:
        """Clear the pending-exception cell (a handler caught it)."""

    def exn_ref(self, exn: Value, op: ExnRef) -> None:
        """Tell the runtime who still reaches `exn` (Builtin.EXN_REF); it may free it."""

    def exn_propagate(self, exn: Value) -> None:
        """Store `exn` in the pending cell and return zeros to the caller; ends the block."""

    def exn_check(self, handler: Label | None) -> None:
        """After a call: when an exception is pending, go to `handler` (one exnref param)
        with it, or return to the caller leaving it pending; continue in a new block."""


class ModuleBackend(Protocol):
    """Builds the code object of one module."""

    def function(self) -> FunctionBackend: ...

    def trampoline(self, type_index: int) -> None:
        """Emit `wk_tramp_<type_index>`, the array-call entry for that type (abi.h)."""

    def hostcall(self, func_index: int) -> None:
        """Emit `wk_hostcall_<func_index>` (abi.hostcall_name) for an imported function: Wasm
        calling convention in, `vm->funcs[i].host(vm, args...)` in C's out (abi.h)."""

    def finish(self) -> bytes:
        """The relocatable object with every function and trampoline."""
