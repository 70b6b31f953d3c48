"""Exception handling in the operator walker: try_table, throw, throw_ref, and the legacy
try/catch/catch_all/delegate/rethrow, lowered to explicit checks (docs/abi.md "Exceptions").

Why explicit checks: cranelift-py has no `try_call` and no unwind tables, and the runtime
has no unwinder; a design both backends and every target share is plain control flow.

* An exception is a `wk_exn` the runtime allocates (Builtin.EXN_NEW); an exnref points at it.
* Raising it inside a try_table/try of the same function is a jump to that block's
  *dispatch* label (one exnref parameter). Outside any handler the function stores it in the
  process-wide pending cell (`*vmctx->exn`) and returns zeros.
* After every call (only in a module that can see exceptions: environ.uses_exceptions) the
  caller tests the pending cell; when set, it clears it and jumps to the innermost dispatch,
  or returns at once, leaving it set, when no handler is in scope.
* A dispatch block tests the clauses in order (tag identity is the wk_tag's address) and
  branches to the clause's label with the payload, the exnref, both or nothing; no match
  raises again, one level out. The runtime's entry points turn a pending exception at the top
  into the UNCAUGHT_EXCEPTION trap.

Freeing without a collector (Builtin.EXN_REF, abi.ExnRef): an exception that was never a
Wasm value is reachable only from the pending cell, a dispatch parameter and the legacy catch
arms of its `rethrow`s. A try_table `catch`/`catch_all` that has taken the payload DROPs it
(freed unless an arm holds it); `catch_ref`/`catch_all_ref` make it a value: ESCAPE, never
freed. A legacy arm HOLDs its exception while it runs; ending normally (falling off the arm,
any branch or `return` out of it, a tail call from it, a raise of another exception out of
it) is DROP_HOLD, and a `rethrow` out of it is UNHOLD (the exception is still in flight, so
that never frees).

The walker (translate.py) owns the frames; this module adds the exception frames' state
(`TryState` in Frame.eh) and the operators, and asks the backend only for small primitives
(exn_new, exn_tag_is, exn_payload, exn_propagate, exn_check; backend.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from .abi import ExnRef, Trap
from .backend import Label, Value
from .module import FuncType, Instr, ValType

if TYPE_CHECKING:
    from .translate import Frame, FunctionTranslator

EXN = (ValType.EXNREF,)


@dataclass
class TryState:
    """What a try_table or legacy try frame carries besides the block's own state."""

    dispatch: Label  # where a raise inside the body goes; one exnref parameter
    clauses: tuple[tuple[str, int | None, int], ...] = ()  # try_table: (kind, tag, depth)
    used: bool = False  # something raised into dispatch (else no dispatch code at all)
    exn: Value | None = None  # legacy catch arms: the caught exception (for rethrow)
    next_test: Label | None = None  # legacy: where the next catch clause's test goes
    delegate: int | None = None  # legacy `delegate l`: the label whose handler gets it
    leave: Label | None = None  # legacy arms: a raise out of them (UNHOLD, then raise on)


class Exceptions:
    """The exception operators of one function translation."""

    def __init__(self, tr: FunctionTranslator) -> None:
        self.tr = tr
        self.be = tr.be
        self.tags = tr.module.all_tags()  # tag index -> type index

    # ---- where an exception goes -----------------------------------------------------
    def handler(self, depth: int = 0) -> Label | None:
        """The dispatch label in effect inside the frame at `depth` (None: the caller's);
        inside a legacy catch arm, the arm's `leave` block, which lets go of its exception
        first (the outermost arm's leads on to the next handler out)."""
        if not self.tr.has_try:  # no handler or catch arm can be in effect (translate.py)
            return None
        frames = self.tr.frames
        for f in reversed(frames[: len(frames) - depth]):
            st = f.eh
            if st is not None and f.kind in ("try_table", "try"):
                st.used = True
                return st.dispatch
            if self._holds(f):
                if st.leave is None:
                    st.leave = self.be.new_label(EXN)
                return st.leave
        return None

    @staticmethod
    def _holds(frame: Frame) -> bool:
        """A legacy catch arm that took its exception (HOLD) at its start."""
        return frame.kind in ("catch", "catch_all") and frame.eh.exn is not None

    def leave(self, frame: Frame) -> None:
        """Control leaves the legacy arm `frame` normally (its end, or a branch out): its
        exception is free to go unless something else holds it."""
        if self._holds(frame):
            self.be.exn_ref(frame.eh.exn, ExnRef.DROP_HOLD)

    def _left(self, depth: int) -> list[Frame]:
        """The frames a branch to label `depth` leaves (all of them for depth = len)."""
        frames = self.tr.frames
        return frames[max(0, len(frames) - 1 - depth) :][::-1]

    def leave_frames(self, depth: int) -> None:
        """A `br depth` or `return` (depth = all frames) leaves the innermost frames."""
        if not self.tr.has_try:
            return
        for f in self._left(depth):
            self.leave(f)

    def leaves_arm(self, depth: int) -> bool:
        return self.tr.has_try and any(self._holds(f) for f in self._left(depth))

    def branch_out_if(
        self, cond: Value, depth: int, label: Label, args: list[Value], cont: Label
    ) -> None:
        """`br_if depth` out of legacy arms: when taken, a block lets go of their exceptions
        and then jumps to `label` with `args`; else on to `cont` (the caller switches)."""
        be = self.be
        exit_ = be.new_label(())
        be.branch_if(cond, exit_, [], cont)
        be.switch_to(exit_)
        self.leave_frames(depth)
        be.jump(label, args)

    def branch_table_out(
        self, index: Value, depths: tuple[int, ...], default: int, args: list[Value]
    ) -> None:
        """`br_table` out of legacy arms: each target that leaves one goes through a block
        that lets go of their exceptions and then jumps on with the values; the others
        are branched to directly (one such block per depth, however often it is listed)."""
        tr, be = self.tr, self.be
        exits: dict[int, Label] = {}

        def via(depth: int) -> Label:
            label, _ = tr._target(depth)
            if not self.leaves_arm(depth):
                return label
            if depth not in exits:
                frame = tr.frames[-1 - depth]
                exits[depth] = be.new_label(
                    frame.type.params if frame.kind == "loop" else frame.type.results
                )
            return exits[depth]

        be.branch_table(index, [via(d) for d in depths], via(default), args)
        for depth, exit_ in exits.items():
            be.switch_to(exit_)
            self.leave_frames(depth)
            be.jump(tr._target(depth)[0], be.label_params(exit_))

    def raise_to(self, exn: Value, handler: Label | None) -> None:
        if handler is not None:
            self.be.jump(handler, [exn])
        else:
            self.be.exn_propagate(exn)
        self.tr.reachable = False

    def after_call(self) -> None:
        """A call returned: a pending exception goes to the innermost handler, or out."""
        self.be.exn_check(self.handler())

    # ---- operators ----------------------------------------------------------------------
    def throw(self, instr: Instr) -> None:
        tag = instr[1]
        params = self.tr.module.types[self.tags[tag]].params
        args = self.tr._pop(len(params))
        exn = self.be.exn_new(tag, args, params)
        self.raise_to(exn, self.handler())

    def throw_ref(self, instr: Instr) -> None:
        be = self.be
        exn = self.tr.stack.pop()
        null, ok = be.new_label(()), be.new_label(())
        be.branch_if(be.ref_is_null(exn), null, [], ok)
        be.switch_to(null)
        be.trap(Trap.NULL_EXNREF)
        be.switch_to(ok)
        self.raise_to(exn, self.handler())

    def try_table(self, instr: Instr) -> None:
        self._open("try_table", instr[1], instr[2])

    def try_(self, instr: Instr) -> None:
        self._open("try", instr[1], ())

    def _open(
        self, kind: str, bt: FuncType, clauses: tuple[tuple[str, int | None, int], ...]
    ) -> None:
        from .translate import Frame

        tr, be = self.tr, self.be
        dest = be.new_label(bt.results)
        frame = Frame(kind, bt, dest, len(tr.stack) - len(bt.params))
        frame.eh = TryState(be.new_label(EXN), clauses)
        tr.frames.append(frame)

    def catch(self, instr: Instr) -> None:
        """Legacy `catch x` / `catch_all`: ends the body (or the previous arm) like `else`."""
        tr, be = self.tr, self.be
        frame = tr.frames[-1]
        st: TryState = frame.eh
        if tr.reachable:
            self.leave(frame)
            be.jump(frame.dest, tr._top(len(frame.type.results)))
            frame.dest_used = True
        del tr.stack[frame.height :]
        first = frame.kind == "try"
        frame.kind = "catch" if instr[0] == "catch" else "catch_all"
        if first and st.used:
            st.exn = self._enter(st)
        elif first or st.next_test is None:  # nothing raised into the body: dead arms
            tr.reachable = False
            return
        else:
            be.switch_to(st.next_test)
        st.next_test = None
        if instr[0] == "catch":
            match, st.next_test = be.new_label(()), be.new_label(())
            be.branch_if(be.exn_tag_is(st.exn, instr[1]), match, [], st.next_test)
            be.switch_to(match)
            tr.stack.extend(be.exn_payload(st.exn, instr[1]))
        be.exn_ref(st.exn, ExnRef.HOLD)
        tr.reachable = True

    def delegate(self, instr: Instr) -> None:
        self.tr.frames[-1].eh.delegate = instr[1]
        self.tr._end(instr)

    def rethrow(self, instr: Instr) -> None:
        st: TryState = self.tr.frames[-1 - instr[1]].eh
        self.raise_to(st.exn, self.handler())

    # ---- the end of an exception frame (translate._end, after the frame is popped) ----------
    def end(self, frame: Frame) -> None:
        be = self.be
        st: TryState = frame.eh
        if frame.kind == "try_table" and st.used:
            self._dispatch(self._enter(st), st.clauses)
        elif frame.kind == "try" and st.used:  # no catch arm, or `delegate l`
            self.raise_to(self._enter(st), self.handler(st.delegate or 0))
        elif frame.kind == "catch" and st.next_test is not None:  # no arm matched
            be.switch_to(st.next_test)
            self.raise_to(st.exn, self.handler())
        if st.leave is not None:
            self._leave_by_raise(st)

    def _leave_by_raise(self, st: TryState) -> None:
        """A raise out of a legacy arm: a `rethrow` of the arm's own exception keeps it in
        flight (UNHOLD never frees), another exception replaces it (DROP_HOLD: C++'s
        `catch (...) { throw x; }`, wasm longjmp passing a setjmp frame by)."""
        be = self.be
        be.switch_to(st.leave)
        (raised,) = be.label_params(st.leave)
        same, other = be.new_label(()), be.new_label(())
        be.branch_if(be.numeric("i64.eq", [raised, st.exn]), same, [], other)
        handler = self.handler()
        for label, op in ((same, ExnRef.UNHOLD), (other, ExnRef.DROP_HOLD)):
            be.switch_to(label)
            be.exn_ref(st.exn, op)
            self.raise_to(raised, handler)

    def _enter(self, st: TryState) -> Value:
        """Start the dispatch block: the exception is caught here, so the pending cell (set
        when it came from a callee) is cleared; a raise from here on sets it again."""
        self.be.switch_to(st.dispatch)
        self.be.exn_clear()
        return self.be.label_params(st.dispatch)[0]

    def _dispatch(self, exn: Value, clauses: tuple[tuple[str, int | None, int], ...]) -> None:
        """try_table's clauses in order; labels are outside the (already popped) frame."""
        tr, be = self.tr, self.be
        for kind, tag, depth in clauses:
            label, _ = tr._target(depth)
            ref = [exn] if kind.endswith("_ref") else []
            if tag is None:  # catch_all, catch_all_ref: the rest is never reached
                be.exn_ref(exn, ExnRef.ESCAPE if ref else ExnRef.DROP)
                be.jump(label, ref)
                tr.reachable = False
                return
            match, other = be.new_label(()), be.new_label(())
            be.branch_if(be.exn_tag_is(exn, tag), match, [], other)
            be.switch_to(match)
            payload = be.exn_payload(exn, tag)  # loaded before a DROP may free it
            be.exn_ref(exn, ExnRef.ESCAPE if ref else ExnRef.DROP)
            be.jump(label, [*payload, *ref])
            be.switch_to(other)
        self.raise_to(exn, self.handler())
