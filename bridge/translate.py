"""The operator walker: one pass over a validated function body.

It keeps Wasm's value stack and control stack and calls a FunctionBackend for
every operator. Structure (blocks, branches, unreachable code) is decided here
once, so each backend only lowers operators. The input has been validated, so
the walker trusts arities and indices; an operator no backend handles is
reported by name (UnsupportedError), never skipped.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

from .abi import Trap
from .backend import FunctionBackend, Label, Value
from .builtins import LOWERINGS as BUILTIN_LOWERINGS
from .errors import UnsupportedError
from .exceptions import Exceptions
from .module import FuncType, Instr, Module
from .opcodes import MEMOPS, SIGS
from .opcodes_simd import RELAXED_NAMES, SIMD_SIGS
from .relaxed_simd import expand as expand_relaxed

_TRY_OPS = frozenset(("try_table", "try"))  # the operators that open a handler (exceptions.py)
# Operand count of every pure numeric operator, from the signature table (opcodes.py).
_NUMERIC_ARITY = {op: len(pops) for op, (pops, _) in SIGS.items()}


@dataclass
class Frame:
    """One entry of the control stack."""

    kind: str  # "func" | "block" | "loop" | "if" | "else"; exceptions.py: "try_table" | "try"
    # | "catch" | "catch_all"
    type: FuncType
    dest: Label  # where control goes after `end`; params = the results
    height: int  # value-stack height below the block's params
    header: Label | None = None  # loop: the branch target, params = the params
    else_label: Label | None = None  # if: entered when the condition is 0
    else_args: list[Value] = field(default_factory=list)  # if: params for the else arm
    dest_used: bool = False  # something branches or falls through to dest
    eh: Any = None  # try_table / legacy try: exceptions.TryState


class FunctionTranslator:
    """Translates one function body through a backend."""

    def __init__(self, module: Module, backend: FunctionBackend) -> None:
        self.module = module
        self.be = backend
        self.stack: list[Value] = []
        self.frames: list[Frame] = []
        self.reachable = True
        self.dead_depth = 0  # blocks opened inside unreachable code
        # Exception handling, only in a module that can see exceptions (environ.uses_exceptions)
        self.exc: Exceptions | None = Exceptions(self) if backend.env.exceptions else None
        # Whether the body holds a try_table or try: without one no handler or legacy catch
        # arm is ever in effect, and Exceptions skips its walks over the control stack at
        # every call and branch (python.wasm: ~10% of the Python side of its compile).
        self.has_try = False

    # ---- driver -------------------------------------------------------------
    def translate(self, func_index: int) -> None:
        m = self.module
        func = m.funcs[func_index - m.num_imported_funcs]
        ftype = m.types[func.type_idx]
        be = self.be
        be.begin(func_index, ftype, func.locals)
        self.frames.append(Frame("func", ftype, be.new_label(ftype.results), 0))
        self.has_try = any(instr[0] in _TRY_OPS for instr in func.body)
        if self.exc is None and self.has_try:
            # A streamed module's stub has no bodies, so a module whose only exception
            # feature is a try_table/try in a body looks exception-free (no tag, exnref or
            # foreign import): nothing can throw into it, but its try blocks still translate.
            self.exc = Exceptions(self)
        handlers = _HANDLERS_EXC if self.exc is not None else _HANDLERS
        for pc, instr in enumerate(func.body):
            if not self.reachable:
                self._skip(instr)
                continue
            h = handlers.get(instr[0])
            if h is None:
                raise UnsupportedError(
                    f"operator {instr[0]} is not supported yet",
                    section="code",
                    func=func_index,
                    offset=func.offsets[pc] if pc < len(func.offsets) else None,
                )
            h(self, instr)
            if not self.frames:
                break
        be.finish()

    def _skip(self, instr: Instr) -> None:
        """Unreachable code: track nesting only, until the block's else/end."""
        op = instr[0]
        if op in ("block", "loop", "if", "try_table", "try"):
            self.dead_depth += 1
        elif op == "end" or op == "delegate":
            if self.dead_depth:
                self.dead_depth -= 1
            elif op == "end":
                self._end(instr)
            else:
                assert self.exc is not None
                self.exc.delegate(instr)
        elif op == "else" and not self.dead_depth:
            self._else(instr)
        elif (op == "catch" or op == "catch_all") and not self.dead_depth:
            assert self.exc is not None
            self.exc.catch(instr)

    # ---- helpers ------------------------------------------------------------
    def _pop(self, n: int) -> list[Value]:
        if n == 0:
            return []
        vals = self.stack[-n:]
        del self.stack[-n:]
        return vals

    def _top(self, n: int) -> list[Value]:
        return self.stack[-n:] if n else []

    def _target(self, depth: int) -> tuple[Label, int]:
        """Where a branch to `depth` goes, and how many values it carries."""
        frame = self.frames[-1 - depth]
        if frame.kind == "loop":
            return frame.header, len(frame.type.params)
        frame.dest_used = True
        return frame.dest, len(frame.type.results)

    # ---- control ------------------------------------------------------------
    def _block(self, instr: Instr) -> None:
        bt = instr[1]
        dest = self.be.new_label(bt.results)
        self.frames.append(Frame("block", bt, dest, len(self.stack) - len(bt.params)))

    def _loop(self, instr: Instr) -> None:
        bt = instr[1]
        be = self.be
        header = be.new_label(bt.params)
        n = len(bt.params)
        be.jump(header, self._pop(n))
        be.switch_to(header, seal=False)
        self.stack.extend(be.label_params(header))
        dest = be.new_label(bt.results)
        self.frames.append(Frame("loop", bt, dest, len(self.stack) - n, header=header))

    def _if(self, instr: Instr) -> None:
        bt = instr[1]
        be = self.be
        cond = self.stack.pop()
        then_l = be.new_label(())
        else_l = be.new_label(())
        dest = be.new_label(bt.results)
        be.branch_if(cond, then_l, [], else_l)
        be.switch_to(then_l)
        n = len(bt.params)
        frame = Frame("if", bt, dest, len(self.stack) - n, else_label=else_l)
        frame.else_args = self._top(n)
        self.frames.append(frame)

    def _else(self, instr: Instr) -> None:
        frame = self.frames[-1]
        be = self.be
        if self.reachable:
            be.jump(frame.dest, self._top(len(frame.type.results)))
            frame.dest_used = True
        del self.stack[frame.height :]
        self.stack.extend(frame.else_args)
        frame.kind = "else"
        be.switch_to(frame.else_label)
        self.reachable = True

    def _end(self, instr: Instr) -> None:
        frame = self.frames.pop()
        be = self.be
        results = len(frame.type.results)
        if self.reachable:
            if frame.eh is not None and self.exc is not None:  # a legacy catch arm ends
                self.exc.leave(frame)
            be.jump(frame.dest, self._top(results))
            frame.dest_used = True
        if frame.eh is not None:  # dispatch code of a try_table / try (exceptions.py)
            assert self.exc is not None
            self.exc.end(frame)
        if frame.kind == "if":  # no else arm: the params flow through
            be.switch_to(frame.else_label)
            be.jump(frame.dest, frame.else_args)
            frame.dest_used = True
        if frame.kind == "loop":
            be.seal(frame.header)
        del self.stack[frame.height :]
        if frame.dest_used:
            be.switch_to(frame.dest)
            self.stack.extend(be.label_params(frame.dest))
            self.reachable = True
            if frame.kind == "func":
                be.ret(self._pop(results))
                self.reachable = False
        else:
            self.reachable = False

    def _br(self, instr: Instr) -> None:
        label, n = self._target(instr[1])
        if self.exc is not None:  # out of legacy catch arms (exceptions.py)
            self.exc.leave_frames(instr[1])
        self.be.jump(label, self._top(n))
        self.reachable = False

    def _br_if(self, instr: Instr) -> None:
        cond = self.stack.pop()
        label, n = self._target(instr[1])
        be = self.be
        cont = be.new_label(())
        self._branch_if(cond, instr[1], label, self._top(n), cont)
        be.switch_to(cont)

    def _branch_if(
        self, cond: Value, depth: int, label: Label, args: list[Value], cont: Label
    ) -> None:
        """br_if, br_on_null, br_on_non_null: to `label` (the target of `depth`) with `args`
        when `cond`, else to `cont`; out of legacy catch arms through exceptions.py."""
        if self.exc is not None and self.exc.leaves_arm(depth):
            self.exc.branch_out_if(cond, depth, label, args, cont)
        else:
            self.be.branch_if(cond, label, args, cont)

    def _br_table(self, instr: Instr) -> None:
        index = self.stack.pop()
        labels = []
        n = 0
        for depth in instr[1]:
            label, n = self._target(depth)
            labels.append(label)
        default, n = self._target(instr[2])
        if self.exc is not None and any(map(self.exc.leaves_arm, (*instr[1], instr[2]))):
            self.exc.branch_table_out(index, instr[1], instr[2], self._top(n))  # exceptions.py
        else:
            self.be.branch_table(index, labels, default, self._top(n))
        self.reachable = False

    def _return(self, instr: Instr) -> None:
        if self.exc is not None:
            self.exc.leave_frames(len(self.frames))
        self.be.ret(self._top(len(self.frames[0].type.results)))
        self.reachable = False

    def _unreachable(self, instr: Instr) -> None:
        self.be.trap(Trap.UNREACHABLE)
        self.reachable = False

    # ---- parametric and variables ------------------------------------------
    def _drop(self, instr: Instr) -> None:
        self.be.drop(self.stack.pop())

    def _select(self, instr: Instr) -> None:
        cond = self.stack.pop()
        a, b = self._pop(2)
        self.stack.append(self.be.select(cond, a, b))

    def _local_get(self, instr: Instr) -> None:
        self.stack.append(self.be.local_get(instr[1]))

    def _local_set(self, instr: Instr) -> None:
        self.be.local_set(instr[1], self.stack.pop())

    def _local_tee(self, instr: Instr) -> None:
        self.be.local_set(instr[1], self.stack[-1])

    def _global_get(self, instr: Instr) -> None:
        self.stack.append(self.be.global_get(instr[1]))

    def _global_set(self, instr: Instr) -> None:
        self.be.global_set(instr[1], self.stack.pop())

    # ---- constants, memory, calls ----------------------------------------
    def _const(self, instr: Instr) -> None:
        self.stack.append(self.be.const(instr[0], instr[1]))

    def _numeric(self, instr: Instr) -> None:
        """A pure numeric operator (opcodes.SIGS): its operands per its signature."""
        op = instr[0]
        self.stack.append(self.be.numeric(op, self._pop(_NUMERIC_ARITY[op])))

    def _load(self, instr: Instr) -> None:
        addr = self.stack.pop()
        mem = instr[3] if len(instr) > 3 else 0
        self.stack.append(self.be.load(instr[0], addr, instr[2], mem))

    def _store(self, instr: Instr) -> None:
        value = self.stack.pop()
        addr = self.stack.pop()
        mem = instr[3] if len(instr) > 3 else 0
        self.be.store(instr[0], addr, value, instr[2], mem)

    # Operand counts of the memory and table operators (their signatures depend on the
    # memory's or table's index type, so they are not in opcodes.SIGS).
    _MEMORY_ARITY: ClassVar[dict[str, int]] = {
        "memory.size": 0,
        "memory.grow": 1,
        "memory.fill": 3,
        "memory.copy": 3,
        "memory.init": 3,
        "data.drop": 0,
    }
    _TABLE_ARITY: ClassVar[dict[str, int]] = {
        "table.get": 1,
        "table.set": 2,
        "table.size": 0,
        "table.grow": 2,
        "table.fill": 3,
        "table.copy": 3,
        "table.init": 3,
        "elem.drop": 0,
    }

    def _memory_size(self, instr: Instr) -> None:
        self.stack.append(self.be.memory_size(instr[1]))

    def _table_op(self, instr: Instr) -> None:
        """table.get/set/size: the backend's own loads and stores."""
        op = instr[0]
        result = self.be.table_op(op, self._pop(self._TABLE_ARITY[op]), instr[1:])
        if result is not None:
            self.stack.append(result)

    def _builtin(self, instr: Instr) -> None:
        """The memory and table operators that call a runtime builtin (builtins.py)."""
        op = instr[0]
        arity = self._MEMORY_ARITY.get(op)
        args = self._pop(self._TABLE_ARITY[op] if arity is None else arity)
        result = BUILTIN_LOWERINGS[op](self.be, args, instr[1:])
        if result is not None:
            self.stack.append(result)

    def _simd(self, instr: Instr) -> None:
        """Every SIMD operator: operands per its signature, immediates passed through."""
        op = instr[0]
        args = self._pop(len(SIMD_SIGS[op][0]))
        if op in RELAXED_NAMES:  # one choice per operator, as 2.0 operators (relaxed_simd.py)
            self.stack.append(expand_relaxed(op, args, self.be.simd))
            return
        result = self.be.simd(op, args, instr[1:])
        if result is not None:
            self.stack.append(result)

    def _ref_null(self, instr: Instr) -> None:
        self.stack.append(self.be.ref_null())

    def _ref_is_null(self, instr: Instr) -> None:
        self.stack.append(self.be.ref_is_null(self.stack.pop()))

    def _ref_func(self, instr: Instr) -> None:
        self.stack.append(self.be.ref_func(instr[1]))

    def _call(self, instr: Instr) -> None:
        ftype = self.be.env.func_type(instr[1])
        args = self._pop(len(ftype.params))
        self.stack.extend(self.be.call(instr[1], args))
        if self.exc is not None and self.be.env.call_may_throw(instr[1]):
            self.exc.after_call()

    def _call_indirect(self, instr: Instr) -> None:
        ftype = self.module.types[instr[1]]
        callee = self.stack.pop()
        args = self._pop(len(ftype.params))
        self.stack.extend(self.be.call_indirect(instr[1], instr[2], callee, args))
        if self.exc is not None and self.be.env.indirect_may_throw():
            self.exc.after_call()

    # ---- tail calls and typed function references (3.0) ----------------------
    def _return_call(self, instr: Instr) -> None:
        """return_call: the backend emits a tail call (docs/abi.md "Tail calls")."""
        ftype = self.be.env.func_type(instr[1])
        args = self._pop(len(ftype.params))
        self._leave_for_tail_call()
        self.be.call(instr[1], args, tail=True)
        self.reachable = False

    def _return_call_indirect(self, instr: Instr) -> None:
        ftype = self.module.types[instr[1]]
        callee = self.stack.pop()
        args = self._pop(len(ftype.params))
        self._leave_for_tail_call()
        self.be.call_indirect(instr[1], instr[2], callee, args, tail=True)
        self.reachable = False

    def _call_ref(self, instr: Instr) -> None:
        ftype = self.module.types[instr[1]]
        ref = self.stack.pop()
        args = self._pop(len(ftype.params))
        if instr[0] == "return_call_ref":
            self._leave_for_tail_call()
            self.be.call_ref(instr[1], ref, args, tail=True)
            self.reachable = False
        else:
            self.stack.extend(self.be.call_ref(instr[1], ref, args))
            if self.exc is not None and self.be.env.indirect_may_throw():
                self.exc.after_call()

    def _leave_for_tail_call(self) -> None:
        """A tail call leaves every frame, as `return` does: legacy catch arms let go of
        their exceptions first (exceptions.py)."""
        if self.exc is not None:
            self.exc.leave_frames(len(self.frames))

    def _ref_as_non_null(self, instr: Instr) -> None:
        self.stack.append(self.be.ref_as_non_null(self.stack.pop()))

    def _br_on_null(self, instr: Instr) -> None:
        """Branch (without the reference) when it is null, else keep it."""
        ref = self.stack.pop()
        label, n = self._target(instr[1])
        be = self.be
        cont = be.new_label(())
        self._branch_if(be.ref_is_null(ref), instr[1], label, self._top(n), cont)
        be.switch_to(cont)
        self.stack.append(ref)

    def _br_on_non_null(self, instr: Instr) -> None:
        """Branch with the reference when it is not null, else drop it."""
        ref = self.stack.pop()
        label, n = self._target(instr[1])
        be = self.be
        cont = be.new_label(())
        not_null = be.numeric("i32.eqz", [be.ref_is_null(ref)])
        self._branch_if(not_null, instr[1], label, [*self._top(n - 1), ref], cont)
        be.switch_to(cont)


# ---- the operator table: built once, shared by every function translated ----------------
Handler = Callable[[FunctionTranslator, Instr], None]


def _nop(tr: FunctionTranslator, instr: Instr) -> None:
    pass


def _on_exceptions(method: Callable[[Exceptions, Instr], None]) -> Handler:
    """An exception operator; only in the table of a module that can see exceptions."""

    def handle(tr: FunctionTranslator, instr: Instr) -> None:
        assert tr.exc is not None
        method(tr.exc, instr)

    return handle


def _handler_table() -> dict[str, Handler]:
    """Operator name -> handler; the operator families come from the signature tables
    (opcodes.SIGS, MEMOPS, opcodes_simd.SIMD_SIGS), never from the names' spelling."""
    T = FunctionTranslator
    h: dict[str, Handler] = {
        "block": T._block,
        "loop": T._loop,
        "if": T._if,
        "else": T._else,
        "end": T._end,
        "br": T._br,
        "br_if": T._br_if,
        "br_table": T._br_table,
        "return": T._return,
        "unreachable": T._unreachable,
        "nop": _nop,
        "drop": T._drop,
        "select": T._select,
        "local.get": T._local_get,
        "local.set": T._local_set,
        "local.tee": T._local_tee,
        "global.get": T._global_get,
        "global.set": T._global_set,
        "call": T._call,
        "call_indirect": T._call_indirect,
        "return_call": T._return_call,
        "return_call_indirect": T._return_call_indirect,
        "call_ref": T._call_ref,
        "return_call_ref": T._call_ref,
        "ref.as_non_null": T._ref_as_non_null,
        "br_on_null": T._br_on_null,
        "br_on_non_null": T._br_on_non_null,
        "ref.null": T._ref_null,
        "ref.is_null": T._ref_is_null,
        "ref.func": T._ref_func,
        "i32.const": T._const,
        "i64.const": T._const,
        "f32.const": T._const,
        "f64.const": T._const,
    }
    h.update(dict.fromkeys(SIGS, T._numeric))
    h.update({op: T._store if store else T._load for op, (_, _, store) in MEMOPS.items()})
    h["memory.size"] = T._memory_size
    h.update(dict.fromkeys(T._TABLE_ARITY, T._table_op))
    h.update(dict.fromkeys(BUILTIN_LOWERINGS, T._builtin))
    h.update(dict.fromkeys(SIMD_SIGS, T._simd))
    return h


_HANDLERS = _handler_table()
# A module that can see exceptions (ModuleEnv.exceptions) also has the exception operators.
_HANDLERS_EXC: dict[str, Handler] = {
    **_HANDLERS,
    "throw": _on_exceptions(Exceptions.throw),
    "throw_ref": _on_exceptions(Exceptions.throw_ref),
    "try_table": _on_exceptions(Exceptions.try_table),
    "try": _on_exceptions(Exceptions.try_),
    "catch": _on_exceptions(Exceptions.catch),
    "catch_all": _on_exceptions(Exceptions.catch),
    "delegate": _on_exceptions(Exceptions.delegate),
    "rethrow": _on_exceptions(Exceptions.rethrow),
}
