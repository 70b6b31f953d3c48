"""Cranelift backend (PyPI cranelift-py): fast compiles for the host ISA.

This is the only module that imports `cranelift`. Its measured limits shape
the lowering (see ../shared/DESIGN.md):

* no direct calls to our own functions: every call loads the callee from
  vmctx->funcs and uses call_indirect;
* trap codes are not kept in the object, so no Cranelift trap instruction is
  ever meant to execute: each check branches to a cold block that calls the
  runtime's trap builtin with the Wasm trap code;
* IntCC/FloatCC are not exported; `_condition_codes()` finds them;
* only Cranelift's shared flags can be set, so the x86-64 ISA stays at its
  SSE2 baseline: ceil/floor/trunc/nearest lower inline instead of Cranelift's
  libm calls, which the unikernel cannot resolve (cranelift_numeric.round_float).

The numeric operators lower in cranelift_numeric.py and the SIMD ones in
cranelift_simd.py; this module keeps the function frame, control flow, memory,
tables and calls.

Every Wasm function uses Cranelift's `tail` calling convention, which
return_call needs on both sides (docs/abi.md "Calling convention"); builtins
and host code are called with SystemV, through `wk_hostcall_<i>` adapters for
imports.

Memory accesses are bounds-checked explicitly against the memory's size (the
runtime never moves linear memory, so the base is loaded once per function;
the size is reloaded after every call, which may grow memory).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, cast

import cranelift as cl

from . import abi
from .abi import Builtin, ExnRef, Trap, VmctxField
from .environ import BUILTIN_TYPES, ModuleEnv
from .errors import UnsupportedError
from .module import FuncType, Module, RefType, ValType, ValueType

T = cl.Type
I8, I16, I32, I64, F32, F64 = T.I8, T.I16, T.I32, T.I64, T.F32, T.F64
PTR = I64
ClType = cl.Type  # a Cranelift value type, for the annotations of the other Cranelift modules
Builder = cl.FunctionBuilder  # for the other Cranelift modules' method lookups
Value = cl.Value  # what the walker holds as backend.Value
Label = cl.Block  # what the walker holds as backend.Label: a block with parameters
Values = Sequence[Value]


# cranelift-py 0.1.0's stub declares `def __init__(self): ...` (no `-> None`) for these two,
# which mypy takes as untyped calls: the only two constructors that need it, wrapped once.
def function_builder() -> cl.FunctionBuilder:
    return cl.FunctionBuilder()  # type: ignore[no-untyped-call]


def mem_flags() -> cl.MemFlags:
    """Default flags: an access that may trap (a linear-memory one, the guard region)."""
    return cl.MemFlags()  # type: ignore[no-untyped-call]


_CL_TYPES: dict[ValueType, cl.Type] = {
    ValType.I32: I32,
    ValType.I64: I64,
    ValType.F32: F32,
    ValType.F64: F64,
    ValType.FUNCREF: PTR,
    ValType.EXTERNREF: PTR,
    ValType.V128: T.I8X16,  # the walker's v128; cranelift_simd.py bitcasts per operator
    ValType.EXNREF: PTR,  # a wk_exn * (bridge/exceptions.py)
}
V128 = T.I8X16


def _condition_codes() -> tuple[type[cl.IntCC], type[cl.FloatCC]]:
    """IntCC and FloatCC are registered by PyO3 only once a method names them.

    Call ins_icmp/ins_fcmp with a wrong first argument (it fails before doing
    anything), then find the classes among object's subclasses.
    """
    fb = function_builder()
    for method in (fb.ins_icmp, fb.ins_fcmp):
        try:
            method(None, None, None)  # type: ignore[arg-type]
        except TypeError:
            pass
    found = {c.__name__: c for c in object.__subclasses__() if c.__name__ in ("IntCC", "FloatCC")}
    # The stub's cl.IntCC and cl.FloatCC describe these classes; only their import fails.
    return cast("type[cl.IntCC]", found["IntCC"]), cast("type[cl.FloatCC]", found["FloatCC"])


IntCC, FloatCC = _condition_codes()

# (loaded type, method, access size); method None means a full-width load
_LOADS = {
    "i32.load": (I32, None, 4),
    "i64.load": (I64, None, 8),
    "f32.load": (F32, None, 4),
    "f64.load": (F64, None, 8),
    "i32.load8_s": (I32, "ins_sload8", 1),
    "i32.load8_u": (I32, "ins_uload8", 1),
    "i32.load16_s": (I32, "ins_sload16", 2),
    "i32.load16_u": (I32, "ins_uload16", 2),
    "i64.load8_s": (I64, "ins_sload8", 1),
    "i64.load8_u": (I64, "ins_uload8", 1),
    "i64.load16_s": (I64, "ins_sload16", 2),
    "i64.load16_u": (I64, "ins_uload16", 2),
    "i64.load32_s": (I64, "ins_sload32", 4),
    "i64.load32_u": (I64, "ins_uload32", 4),
}
_STORES = {
    "i32.store": ("ins_store", 4),
    "i64.store": ("ins_store", 8),
    "f32.store": ("ins_store", 4),
    "f64.store": ("ins_store", 8),
    "i32.store8": ("ins_istore8", 1),
    "i32.store16": ("ins_istore16", 2),
    "i64.store8": ("ins_istore8", 1),
    "i64.store16": ("ins_istore16", 2),
    "i64.store32": ("ins_istore32", 4),
}


def cl_type(t: ValueType) -> cl.Type:
    ty = _CL_TYPES.get(t)
    if ty is None and isinstance(t, RefType):
        return PTR  # typed references are pointers like funcref
    if ty is None:
        raise UnsupportedError(f"value type {t} is not supported by the Cranelift backend")
    return ty


def _signature(ftype: FuncType, conv: cl.CallConv | None = None) -> cl.Signature:
    """A Wasm function's signature: Cranelift's `tail` convention (docs/abi.md "Calling
    convention"), which return_call needs on both sides; `conv` for C code (SystemV)."""
    sig = cl.Signature(cl.CallConv.Tail if conv is None else conv)
    sig.add_param(PTR)  # vmctx
    for p in ftype.params:
        sig.add_param(cl_type(p))
    for r in ftype.results:
        sig.add_return(cl_type(r))
    return sig


_Lowering = Callable[["CraneliftFunction", Sequence[Value]], Value]
_NUMERIC: dict[str, _Lowering] = {}  # cranelift_numeric's lowerings, as they are first used


def bitcast_flags() -> cl.MemFlags:
    """Flags of a bitcast between a float and an integer of the same width."""
    return mem_flags()


def little_endian() -> cl.MemFlags:
    """Flags for a bitcast between vector types of different lane counts (Cranelift wants
    the lane order spelled out)."""
    flags = mem_flags()
    flags.set_by_name("little")
    return flags


def _signed64(value: int) -> int:
    """A u64 immediate as the signed i64 Cranelift's iconst/iadd_imm take."""
    value &= (1 << 64) - 1
    return value - (1 << 64) if value >= 1 << 63 else value


def _unaligned() -> cl.MemFlags:
    """A vmctx-reached access of a v128: cells and slots are only 8-byte aligned, and the
    `aligned` of _trusted() would let Cranelift use an aligned 16-byte move."""
    flags = mem_flags()
    flags.set_notrap()
    return flags


def _trusted(readonly: bool = False) -> cl.MemFlags:
    flags = cl.MemFlags.trusted()
    if readonly:
        flags.set_readonly()
        flags.set_can_move()
    return flags


# The flags of the common accesses, made once: cranelift-py copies a MemFlags into the
# instruction, so one object serves every access (a new one per access was ~5% of the
# Python side of a compile). Never mutated; the functions above make fresh ones to mutate.
TRUSTED = _trusted()  # vmctx-reached data that may change (sizes, table slots)
TRUSTED_RO = _trusted(True)  # vmctx-reached pointers fixed for the instance's life
HEAP = mem_flags()  # a linear-memory access


class CraneliftModule:
    """Collects the functions of one Wasm module into one object file."""

    def __init__(
        self, module: Module, triple: str = "x86_64-unknown-linux-gnu", pic: bool = False
    ) -> None:
        self.module = module
        self.env = ModuleEnv(module)
        self.isa = cl.TargetIsa(
            triple,
            opt_level="speed",
            # Cranelift's IR verifier is on by default: a debugging check that costs ~20% of
            # compile time (sqlite3: 105k -> 132k operators/s). wasmtime leaves it off too;
            # the spec suites and fuzzers are what check the IR we emit.
            enable_verifier="false",
            enable_multi_ret_implicit_sret="true",
            is_pic="true" if pic else "false",  # pic: libcalls through the GOT (shared objects)
            # Cranelift 0.120's x86-64 return_call sequence relies on frame pointers (it
            # panics without them); wasmtime keeps them too.
            preserve_frame_pointers="true",
        )
        self.obj = cl.ObjectModule(self.isa, "wasm")
        self._signatures: dict[FuncType, cl.Signature] = {}

    def signature(self, ftype: FuncType) -> cl.Signature:
        """A Wasm function type's signature, made once per module (cranelift-py copies it
        wherever it is used)."""
        sig = self._signatures.get(ftype)
        if sig is None:
            sig = self._signatures[ftype] = _signature(ftype)
        return sig

    def function(self) -> CraneliftFunction:
        return CraneliftFunction(self)

    def define(self, name: str, sig: cl.Signature, fb: cl.FunctionBuilder) -> None:
        ref = self.obj.declare_function(name, cl.Linkage.Export, sig)
        self.obj.define_function(ref, fb)

    def trampoline(self, type_index: int) -> None:
        """wk_tramp_<t>(vmctx, code, slots): the array-call entry the runtime uses."""
        ftype = self.module.types[type_index]
        fb = function_builder()
        sig = cl.Signature(cl.CallConv.SystemV)
        for _ in range(3):
            sig.add_param(PTR)
        fb.func_signature = sig
        entry = fb.create_block()
        fb.append_block_params_for_function_params(entry)
        fb.switch_to_block(entry)
        fb.seal_block(entry)
        vm, code, slots = fb.block_params(entry)
        args = [
            fb.ins_load(cl_type(t), _unaligned() if t == ValType.V128 else TRUSTED, slots, at)
            for t, at in zip(ftype.params, abi.slot_offsets(ftype.params), strict=True)
        ]
        inst = fb.ins_call_indirect(fb.import_signature(_signature(ftype)), code, [vm, *args])
        for r, t, at in zip(
            fb.inst_results(inst), ftype.results, abi.slot_offsets(ftype.results), strict=True
        ):
            fb.ins_store(_unaligned() if t == ValType.V128 else TRUSTED, r, slots, at)
        fb.ins_return([])
        fb.finalize()
        self.define(abi.trampoline_name(type_index), sig, fb)

    def hostcall(self, func_index: int) -> None:
        """wk_hostcall_<i>: the Wasm-convention entry of host code bound to import i."""
        ftype = self.env.func_type(func_index)
        sig = _signature(ftype)
        fb = function_builder()
        fb.func_signature = sig
        entry = fb.create_block()
        fb.append_block_params_for_function_params(entry)
        fb.switch_to_block(entry)
        fb.seal_block(entry)
        vm, *args = fb.block_params(entry)
        funcs = fb.ins_load(PTR, TRUSTED_RO, vm, VmctxField.FUNCS)
        rec = self.env.func_record(func_index)
        host = fb.ins_load(PTR, TRUSTED_RO, funcs, rec + abi.FUNCREF_HOST)
        c_sig = fb.import_signature(_signature(ftype, cl.CallConv.SystemV))
        inst = fb.ins_call_indirect(c_sig, host, [vm, *args])
        fb.ins_return(list(fb.inst_results(inst)))
        fb.finalize()
        self.define(abi.hostcall_name(func_index), sig, fb)

    def finish(self) -> bytes:
        return bytes(self.obj.finish().emit())


class CraneliftFunction:
    """FunctionBackend over a Cranelift FunctionBuilder."""

    def __init__(self, parent: CraneliftModule) -> None:
        self.parent = parent
        self.module = parent.module
        self.env = parent.env
        self.fb = function_builder()
        self.sigrefs: dict[FuncType, cl.SigRef] = {}
        self.c_sigrefs: dict[Builtin, cl.SigRef] = {}
        self.trap_blocks: dict[int, cl.Block] = {}
        self.local_types: list[cl.Type] = []
        self.func_index = -1
        self.ftype: FuncType | None = None
        self._simd_slot: cl.StackSlot | None = None
        self._exn_return: cl.Block | None = None  # cold block: return zeros, an exception pending
        # Bounds checks already made on the way here (see _address): (address, memory size)
        # -> the end checked, valid in the current block; and for each label branched to
        # from exactly one place, the checks made there (None: several places branch to it).
        self._checked: dict[tuple[Value, Value], int] = {}
        self._entry_checks: dict[Label, dict[tuple[Value, Value], int] | None] = {}

    # ---- function frame -------------------------------------------------
    def begin(self, func_index: int, ftype: FuncType, locals_: Sequence[ValueType]) -> None:
        fb = self.fb
        self.func_index = func_index
        self.ftype = ftype
        fb.func_signature = self.parent.signature(ftype)
        entry = fb.create_block()
        fb.append_block_params_for_function_params(entry)
        fb.switch_to_block(entry)
        fb.seal_block(entry)
        params = fb.block_params(entry)
        self.vm = params[0]
        self.local_types = [cl_type(t) for t in (*ftype.params, *locals_)]
        # One Variable object per local, made once: local.get and local.set are a quarter
        # of all operators.
        self.vars = [cl.Variable(i) for i in range(len(self.local_types) + 1)]
        for var, ty in zip(self.vars, self.local_types, strict=False):
            fb.declare_var(var, ty)
        for var, v in zip(self.vars, params[1:], strict=False):
            fb.def_var(var, v)
        for i in range(len(ftype.params), len(self.local_types)):
            fb.def_var(self.vars[i], self._zero(self.local_types[i]))
        self.mem_size_var = self.vars[-1]
        fb.declare_var(self.mem_size_var, I64)
        # Stack check before anything else: entering below the limit traps.
        sp = fb.ins_get_stack_pointer(PTR)
        limit = fb.ins_load(PTR, TRUSTED_RO, self.vm, VmctxField.STACK_LIMIT)
        self.trap_if(fb.ins_icmp(IntCC.UnsignedLessThan, sp, limit), Trap.STACK_EXHAUSTED)
        self.memory: Value | None = None
        # Memory 0's accesses with a static offset below this need no check (the guard
        # region's: ModuleEnv.needs_bounds_check; 0 without one or for a memory64).
        self._unchecked_below = 0
        if self.env.has_memory and not self.env.mem_is64(0):
            self._unchecked_below = self.env.memory_guard
        if self.env.has_memory:
            self.memory = fb.ins_load(PTR, TRUSTED_RO, self.vm, VmctxField.MEMORY)
            self.mem_base = fb.ins_load(PTR, TRUSTED_RO, self.memory, abi.MEMORY_BASE)
            self._reload_mem_size()

    def finish(self) -> None:
        fb = self.fb
        for code, block in self.trap_blocks.items():
            fb.switch_to_block(block)
            self.call_builtin(Builtin.TRAP, [fb.ins_iconst(I32, int(code))])
            fb.ins_trap(cl.TrapCode.STACK_OVERFLOW)  # not reached: trap never returns
        if self._exn_return is not None:
            fb.switch_to_block(self._exn_return)
            self._return_zeros()
        fb.seal_all_blocks()
        fb.finalize()
        assert self.ftype is not None
        self.parent.define(abi.func_name(self.func_index), self.parent.signature(self.ftype), fb)

    def _zero(self, ty: cl.Type) -> Value:
        fb = self.fb
        if ty is F32:
            return fb.ins_f32const(0.0)
        if ty is F64:
            return fb.ins_f64const(0.0)
        if ty is V128:
            return fb.ins_splat(V128, fb.ins_iconst(I8, 0))
        return fb.ins_iconst(ty, 0)

    def _reload_mem_size(self) -> None:
        """Memory 0's size into its variable: at entry and after every call (the callee may
        grow memory). Not with a guard region: there only memory.size and an access of a
        2 GiB static offset need the size, so _memory loads it at the use instead (a load
        after every call, mostly dead, cost ~5% of Cranelift's time on python.wasm)."""
        if self.memory is not None and not self._unchecked_below:
            size = self.fb.ins_load(I64, TRUSTED, self.memory, abi.MEMORY_SIZE)
            self.fb.def_var(self.mem_size_var, size)

    # ---- traps ----------------------------------------------------------
    def _trap_block(self, code: int) -> cl.Block:
        block = self.trap_blocks.get(code)
        if block is None:
            block = self.fb.create_block()
            self.fb.set_cold_block(block)
            self.trap_blocks[code] = block
        return block

    def trap_if(self, cond: Value, code: int) -> None:
        fb = self.fb
        cont = fb.create_block()
        fb.ins_brif(cond, self._trap_block(code), [], cont, [])
        fb.switch_to_block(cont)
        fb.seal_block(cont)

    def trap(self, code: int) -> None:
        self.fb.ins_jump(self._trap_block(code), [])

    # ---- control flow -----------------------------------------------------
    def new_label(self, types: Sequence[ValueType]) -> Label:
        fb = self.fb
        block = fb.create_block()
        for t in types:
            fb.append_block_param(block, cl_type(t))
        return block

    def label_params(self, label: Label) -> list[Value]:
        return list(self.fb.block_params(label))

    def switch_to(self, label: Label, seal: bool = True) -> None:
        self.fb.switch_to_block(label)
        if seal:
            self.fb.seal_block(label)
        # Sealed, the label has all its predecessors: with one, that block dominates it and
        # its checks hold here; with several (or a loop header, unsealed), none carry over.
        checks = self._entry_checks.pop(label, None) if seal else None
        self._checked = checks if checks is not None else {}

    def _edge(self, label: Label) -> None:
        """A branch to `label` from here (switch_to uses what _edge saw)."""
        if label in self._entry_checks:
            self._entry_checks[label] = None
        else:
            self._entry_checks[label] = dict(self._checked)

    def seal(self, label: Label) -> None:
        self.fb.seal_block(label)

    def jump(self, label: Label, args: Sequence[Value]) -> None:
        self._edge(label)
        self.fb.ins_jump(label, list(args))

    def branch_if(self, cond: Value, label: Label, args: Sequence[Value], other: Label) -> None:
        self._edge(label)
        self._edge(other)
        self.fb.ins_brif(cond, label, list(args), other, [])

    def branch_table(
        self, index: Value, targets: Sequence[Label], default: Label, args: Sequence[Value]
    ) -> None:
        a = list(args)
        for target in (default, *targets):
            self._edge(target)
        fb: Any = self.fb  # cranelift-py 0.1.0's stub says create_jump_table returns None
        jt = fb.create_jump_table((default, a), [(t, a) for t in targets])
        self.fb.ins_br_table(index, jt)

    def ret(self, values: Sequence[Value]) -> None:
        self.fb.ins_return(list(values))

    # ---- variables ----------------------------------------------------------
    def local_get(self, index: int) -> Value:
        return self.fb.use_var(self.vars[index])

    def local_set(self, index: int, value: Value) -> None:
        self.fb.def_var(self.vars[index], value)

    def _global_cell(self, index: int) -> tuple[Value, int, cl.Type]:
        """(base, offset, type) of a global's value; imported cells point elsewhere."""
        fb = self.fb
        slot = self.env.global_slot(index)
        cells = fb.ins_load(PTR, TRUSTED_RO, self.vm, VmctxField.GLOBALS)
        if slot.imported:
            return fb.ins_load(PTR, TRUSTED_RO, cells, slot.offset), 0, cl_type(slot.type)
        return cells, slot.offset, cl_type(slot.type)

    def global_get(self, index: int) -> Value:
        base, offset, ty = self._global_cell(index)
        return self.fb.ins_load(ty, _unaligned() if ty is V128 else TRUSTED, base, offset)

    def global_set(self, index: int, value: Value) -> None:
        base, offset, ty = self._global_cell(index)
        self.fb.ins_store(_unaligned() if ty is V128 else TRUSTED, value, base, offset)

    # ---- constants and numeric operators (cranelift_numeric.py) ------------------------
    def const(self, op: str, value: int) -> Value:
        fb = self.fb
        if op == "i32.const":
            return fb.ins_iconst(I32, value)
        if op == "i64.const":
            return fb.ins_iconst(I64, value)
        if op == "f32.const":
            signed = value - (1 << 32) if value >= 1 << 31 else value
            return fb.ins_bitcast(F32, bitcast_flags(), fb.ins_iconst(I32, signed))
        signed = value - (1 << 64) if value >= 1 << 63 else value
        return fb.ins_bitcast(F64, bitcast_flags(), fb.ins_iconst(I64, signed))

    def numeric(self, op: str, args: Sequence[Value]) -> Value:
        lower = _NUMERIC.get(op)
        if lower is None:  # first use of the operator (cranelift_numeric imports this module)
            from .cranelift_numeric import numeric_lowering

            lower = _NUMERIC[op] = numeric_lowering(op)
        return lower(self, args)

    def simd(self, op: str, args: Sequence[Value], imm: tuple[Any, ...]) -> Value | None:
        from .cranelift_simd import lower_simd  # it imports this module's names

        return lower_simd(self, op, args, imm)

    def simd_slot(self) -> Value:
        """The address of a 48-byte, 16-aligned stack slot for SIMD lowerings that go through
        memory (cranelift_simd.py); one slot per function, its address taken at each use (the
        first use need not dominate the others)."""
        if self._simd_slot is None:
            self._simd_slot = self.fb.create_sized_stack_slot(48, 4)
        return self.fb.ins_stack_addr(PTR, self._simd_slot, 0)

    def stack_flags(self) -> cl.MemFlags:
        return TRUSTED

    def heap_flags(self) -> cl.MemFlags:
        """Flags of a linear-memory access (may trap: the guard region)."""
        return mem_flags()

    def select(self, cond: Value, a: Value, b: Value) -> Value:
        return self.fb.ins_select(cond, a, b)

    def drop(self, value: Value) -> None:
        pass  # Cranelift never removes a load that may trap (its MemFlags lack `notrap`)

    # ---- memory -------------------------------------------------------------
    def _memory(self, mem: int, with_size: bool) -> tuple[Value, Value]:
        """(base, size in bytes; without with_size the base again) of memory `mem`. Memory
        0's are kept in the function (base loaded once, size reloaded after calls); any
        other memory's are loaded from vmctx->memories at the access (multiple memories are
        rare; read-only loads of the never-moving base are left to Cranelift to share)."""
        fb = self.fb
        if mem == 0:
            if not with_size:
                return self.mem_base, self.mem_base
            if self._unchecked_below:  # a guard region: the size at the use (_reload_mem_size)
                assert self.memory is not None  # a guard is only set with a memory
                return self.mem_base, fb.ins_load(I64, TRUSTED, self.memory, abi.MEMORY_SIZE)
            return self.mem_base, fb.use_var(self.mem_size_var)
        memories = fb.ins_load(PTR, TRUSTED_RO, self.vm, VmctxField.MEMORIES)
        mp = fb.ins_load(PTR, TRUSTED_RO, memories, self.env.memory_slot(mem))
        base = fb.ins_load(PTR, TRUSTED_RO, mp, abi.MEMORY_BASE)
        size = fb.ins_load(I64, TRUSTED, mp, abi.MEMORY_SIZE) if with_size else base
        return base, size

    def _address(self, addr: Value, offset: int, size: int, mem: int = 0) -> tuple[Value, int]:
        """Bounds-check [addr+offset, +size) and return (host pointer, offset); no check
        where a guard region catches it (ModuleEnv.needs_bounds_check). A memory64 address
        is already i64 and addr + offset + size may wrap: that traps too.

        No check either where a dominating one covers it: the same address value checked up
        to at least this end against the same memory-size value (a call or memory.grow
        reloads the size, a new value), on every path here (_checked: this block and the
        single-predecessor chain into it). sqlite3: 15% of its checks, which are a third
        of its compile time (each splits a block)."""
        fb = self.fb
        if mem == 0 and offset < self._unchecked_below:  # the common case, in short
            return fb.ins_iadd(self.mem_base, fb.ins_uextend(I64, addr)), offset
        is64 = self.env.mem_is64(mem)
        addr64 = addr if is64 else fb.ins_uextend(I64, addr)
        checked = self.env.needs_bounds_check(offset, mem)
        base, mem_size = self._memory(mem, checked)
        if checked:
            k = offset + size
            key = (addr, mem_size)
            done = self._checked.get(key)
            if done is not None and done >= k:
                pass
            elif k >= 1 << 64:  # no address can be in bounds
                self.trap_if(fb.ins_iconst(I8, 1), Trap.MEM_OOB)
            elif is64:
                end = fb.ins_iadd(addr64, fb.ins_iconst(I64, _signed64(k)))
                wrapped = fb.ins_icmp(IntCC.UnsignedLessThan, end, addr64)
                beyond = fb.ins_icmp(IntCC.UnsignedGreaterThan, end, mem_size)
                self.trap_if(fb.ins_bor(wrapped, beyond), Trap.MEM_OOB)
            else:
                end = fb.ins_iadd_imm(addr64, k)
                self.trap_if(fb.ins_icmp(IntCC.UnsignedGreaterThan, end, mem_size), Trap.MEM_OOB)
            if k < 1 << 64 and (done is None or done < k):
                self._checked[key] = k
        ptr = fb.ins_iadd(base, addr64)
        if offset >= 1 << 31:
            return fb.ins_iadd_imm(ptr, _signed64(offset)), 0
        return ptr, offset

    def load(self, op: str, addr: Value, offset: int, mem: int = 0) -> Value:
        ty, method, size = _LOADS[op]
        ptr, off = self._address(addr, offset, size, mem)
        if method is None:
            return self.fb.ins_load(ty, HEAP, ptr, off)
        narrow: Callable[..., Value] = getattr(self.fb, method)  # ins_uload8 ... ins_sload32
        if method.endswith("32"):  # no result type: it is always i64
            return narrow(HEAP, ptr, off)
        return narrow(ty, HEAP, ptr, off)

    def store(self, op: str, addr: Value, value: Value, offset: int, mem: int = 0) -> None:
        method, size = _STORES[op]
        ptr, off = self._address(addr, offset, size, mem)
        getattr(self.fb, method)(HEAP, value, ptr, off)

    def memory_size(self, mem: int) -> Value:
        _, size = self._memory(mem, True)
        pages = self.fb.ins_ushr_imm(size, 16)
        return pages if self.env.mem_is64(mem) else self.fb.ins_ireduce(I32, pages)

    # ---- calls --------------------------------------------------------------
    def _sigref(self, ftype: FuncType) -> cl.SigRef:
        ref = self.sigrefs.get(ftype)
        if ref is None:
            ref = self.sigrefs[ftype] = self.fb.import_signature(self.parent.signature(ftype))
        return ref

    def call_builtin(self, builtin: Builtin, args: Sequence[Value]) -> list[Value]:
        fb = self.fb
        table = fb.ins_load(PTR, TRUSTED_RO, self.vm, VmctxField.BUILTINS)
        fn = fb.ins_load(PTR, TRUSTED_RO, table, abi.builtin_offset(builtin))
        ref = self.c_sigrefs.get(builtin)
        if ref is None:  # builtins are C: SystemV, not the Wasm convention
            sig = _signature(BUILTIN_TYPES[builtin], cl.CallConv.SystemV)
            ref = self.c_sigrefs[builtin] = fb.import_signature(sig)
        inst = fb.ins_call_indirect(ref, fn, [self.vm, *args])
        if builtin == Builtin.MEMORY_GROW:
            self._reload_mem_size()
        return list(fb.inst_results(inst))

    def _call_pointer(
        self,
        ftype: FuncType,
        fn: Value,
        callee_vm: Value,
        args: Sequence[Value],
        tail: bool = False,
    ) -> list[Value]:
        fb = self.fb
        if tail:  # return_call*: the callee replaces this frame (both use the tail convention)
            fb.ins_return_call_indirect(self._sigref(ftype), fn, [callee_vm, *args])
            return []
        inst = fb.ins_call_indirect(self._sigref(ftype), fn, [callee_vm, *args])
        self._reload_mem_size()
        return list(fb.inst_results(inst))

    def _record(self, func_index: int) -> tuple[Value, int]:
        funcs = self.fb.ins_load(PTR, TRUSTED_RO, self.vm, VmctxField.FUNCS)
        return funcs, self.env.func_record(func_index)

    def call(self, func_index: int, args: Sequence[Value], tail: bool = False) -> list[Value]:
        fb = self.fb
        funcs, rec = self._record(func_index)
        code = fb.ins_load(PTR, TRUSTED_RO, funcs, rec + abi.FUNCREF_CODE)
        callee_vm = self.vm
        if self.env.func_is_imported(func_index):
            callee_vm = fb.ins_load(PTR, TRUSTED_RO, funcs, rec + abi.FUNCREF_VMCTX)
        return self._call_pointer(self.env.func_type(func_index), code, callee_vm, args, tail)

    def _table(self, table: int) -> Value:
        tables = self.fb.ins_load(PTR, TRUSTED_RO, self.vm, VmctxField.TABLES)
        return self.fb.ins_load(PTR, TRUSTED_RO, tables, self.env.table_slot(table))

    def _table_slot(self, table: int, index: Value) -> Value:
        """Address of element `index` of `table`, after the bounds check."""
        fb = self.fb
        t = self._table(table)
        size = fb.ins_load(I32, TRUSTED, t, abi.TABLE_LEN)
        if self.env.table_is64(table):  # an i64 index (table64) against the u32 size
            size = fb.ins_uextend(I64, size)
        self.trap_if(fb.ins_icmp(IntCC.UnsignedGreaterThanOrEqual, index, size), Trap.TABLE_OOB)
        elems = fb.ins_load(PTR, TRUSTED, t, abi.TABLE_ELEMS)
        index64 = index if self.env.table_is64(table) else fb.ins_uextend(I64, index)
        return fb.ins_iadd(elems, fb.ins_ishl_imm(index64, 3))

    def call_indirect(
        self, type_index: int, table: int, callee: Value, args: Values, tail: bool = False
    ) -> list[Value]:
        fb = self.fb
        rec = fb.ins_load(PTR, TRUSTED, self._table_slot(table, callee), 0)
        self.trap_if(fb.ins_icmp_imm(IntCC.Equal, rec, 0), Trap.UNINIT_ELEM)
        type_id = fb.ins_load(I32, TRUSTED, rec, abi.FUNCREF_TYPE_ID)
        type_ids = fb.ins_load(PTR, TRUSTED_RO, self.vm, VmctxField.TYPE_IDS)
        expected = fb.ins_load(I32, TRUSTED_RO, type_ids, self.env.type_id_slot(type_index))
        self.trap_if(fb.ins_icmp(IntCC.NotEqual, type_id, expected), Trap.INDIRECT_SIG)
        code = fb.ins_load(PTR, TRUSTED, rec, abi.FUNCREF_CODE)
        callee_vm = fb.ins_load(PTR, TRUSTED, rec, abi.FUNCREF_VMCTX)
        return self._call_pointer(self.module.types[type_index], code, callee_vm, args, tail)

    def call_ref(
        self, type_index: int, ref: Value, args: Sequence[Value], tail: bool = False
    ) -> list[Value]:
        """call_ref / return_call_ref: validation proved the type, so only null traps."""
        fb = self.fb
        self.trap_if(fb.ins_icmp_imm(IntCC.Equal, ref, 0), Trap.NULL_FUNC_REF)
        code = fb.ins_load(PTR, TRUSTED, ref, abi.FUNCREF_CODE)
        callee_vm = fb.ins_load(PTR, TRUSTED, ref, abi.FUNCREF_VMCTX)
        return self._call_pointer(self.module.types[type_index], code, callee_vm, args, tail)

    def ref_as_non_null(self, ref: Value) -> Value:
        self.trap_if(self.fb.ins_icmp_imm(IntCC.Equal, ref, 0), Trap.NULL_REFERENCE)
        return ref

    # ---- exceptions (bridge/exceptions.py, docs/abi.md "Exceptions") ----------------------
    def _exn_cell(self) -> Value:
        return self.fb.ins_load(PTR, TRUSTED_RO, self.vm, VmctxField.EXN)

    def _return_zeros(self) -> None:
        assert self.ftype is not None
        self.fb.ins_return([self._zero(cl_type(t)) for t in self.ftype.results])

    def exn_new(self, tag: int, args: Sequence[Value], types: Sequence[ValueType]) -> Value:
        fb = self.fb
        size = abi.slot_count(types) * abi.SLOT_SIZE
        base = fb.ins_iconst(PTR, 0)
        if size:
            base = fb.ins_stack_addr(PTR, fb.create_sized_stack_slot(size, 4), 0)
            for v, t, at in zip(args, types, abi.slot_offsets(types), strict=True):
                fb.ins_store(_unaligned() if t == ValType.V128 else TRUSTED, v, base, at)
        ids = [fb.ins_iconst(I32, tag), fb.ins_iconst(I32, size)]
        return self.call_builtin(Builtin.EXN_NEW, [*ids, base])[0]

    def exn_tag_is(self, exn: Value, tag: int) -> Value:
        fb = self.fb
        have = fb.ins_load(PTR, TRUSTED, exn, abi.EXN_TAG)
        tags = fb.ins_load(PTR, TRUSTED_RO, self.vm, VmctxField.TAGS)
        want = fb.ins_load(PTR, TRUSTED_RO, tags, self.env.tag_slot(tag))
        return fb.ins_uextend(I32, fb.ins_icmp(IntCC.Equal, have, want))

    def exn_payload(self, exn: Value, tag: int) -> list[Value]:
        types = self.env.tag_params(tag)
        return [
            self.fb.ins_load(
                cl_type(t),
                _unaligned() if t == ValType.V128 else TRUSTED,
                exn,
                abi.EXN_PAYLOAD + at,
            )
            for t, at in zip(types, abi.slot_offsets(types), strict=True)
        ]

    def exn_clear(self) -> None:
        self.fb.ins_store(TRUSTED, self.fb.ins_iconst(PTR, 0), self._exn_cell(), 0)

    def exn_ref(self, exn: Value, op: ExnRef) -> None:
        self.call_builtin(Builtin.EXN_REF, [exn, self.fb.ins_iconst(I32, int(op))])

    def exn_propagate(self, exn: Value) -> None:
        self.fb.ins_store(TRUSTED, exn, self._exn_cell(), 0)
        self._return_zeros()

    def exn_check(self, handler: Label | None) -> None:
        fb = self.fb
        pending = fb.ins_load(PTR, TRUSTED, self._exn_cell(), 0)
        cont = fb.create_block()
        if handler is not None:
            self._edge(handler)
            fb.ins_brif(pending, handler, [pending], cont, [])
        else:
            if self._exn_return is None:
                self._exn_return = fb.create_block()
                fb.set_cold_block(self._exn_return)
            fb.ins_brif(pending, self._exn_return, [], cont, [])
        fb.switch_to_block(cont)
        fb.seal_block(cont)

    # ---- tables and references ---------------------------------------------
    def table_op(self, op: str, args: Sequence[Value], imm: tuple[int, ...]) -> Value | None:
        fb = self.fb
        if op == "table.get":
            return fb.ins_load(I64, TRUSTED, self._table_slot(imm[0], args[0]), 0)
        if op == "table.set":
            fb.ins_store(TRUSTED, args[1], self._table_slot(imm[0], args[0]), 0)
            return None
        size = fb.ins_load(I32, TRUSTED, self._table(imm[0]), abi.TABLE_LEN)  # table.size
        return fb.ins_uextend(I64, size) if self.env.table_is64(imm[0]) else size

    def ref_null(self) -> Value:
        return self.fb.ins_iconst(I64, 0)

    def ref_is_null(self, ref: Value) -> Value:
        return self.fb.ins_uextend(I32, self.fb.ins_icmp_imm(IntCC.Equal, ref, 0))

    def ref_func(self, func_index: int) -> Value:
        funcs, rec = self._record(func_index)
        return self.fb.ins_iadd_imm(funcs, rec)
