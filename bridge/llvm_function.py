"""One Wasm function as LLVM IR text: the FunctionBackend of the LLVM backend.

Split from llvm_backend.py (which owns llvmlite, the module and the object) so that each
file stays readable; nothing here imports llvmlite. See llvm_backend's docstring for the
lowering choices (direct calls, cold trap blocks, explicit bounds checks, entry-block loads of
the vmctx facts) and for how an operand string's spelling carries its type.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from . import abi
from .abi import Builtin, ExnRef, Trap, VmctxField
from .backend import Label, Value, Values
from .environ import BUILTIN_TYPES
from .errors import UnsupportedError
from .llvm_numeric import i64_literal, numeric_lowering
from .llvm_simd import V as V128
from .llvm_simd import lower_simd
from .module import FuncType, RefType, ValType, ValueType

if TYPE_CHECKING:
    from .llvm_backend import LLVMModule


class _TypeMap(dict[ValueType, str]):
    """LLVM type per value type; every reference type (typed ones too) is an i64."""

    def __missing__(self, key: ValueType) -> str:
        if isinstance(key, RefType):
            return "i64"
        raise KeyError(key)


_VT = _TypeMap(
    {
        ValType.I32: "i32",
        ValType.I64: "i64",
        ValType.F32: "float",
        ValType.F64: "double",
        ValType.FUNCREF: "i64",
        ValType.EXTERNREF: "i64",
        ValType.V128: V128,
        ValType.EXNREF: "i64",  # a wk_exn * (bridge/exceptions.py), as the other references
    }
)
_PREFIX_OF = {"i32": "%i", "i64": "%l", "float": "%f", "double": "%d", V128: "%v"}
_TYPE_OF_PREFIX = {"%i": "i32", "%l": "i64", "%f": "float", "%d": "double", "%v": V128}
_ZERO = {"i32": "0", "i64": "0", "float": "0.0", "double": "0.0", V128: "zeroinitializer"}
_TERMINATORS = ("br ", "ret", "switch ", "unreachable")

# op -> (result type, memory type, extension, access size)
_LOADS = {
    "i32.load": ("i32", "i32", None, 4),
    "i64.load": ("i64", "i64", None, 8),
    "f32.load": ("float", "float", None, 4),
    "f64.load": ("double", "double", None, 8),
    "i32.load8_s": ("i32", "i8", "sext", 1),
    "i32.load8_u": ("i32", "i8", "zext", 1),
    "i32.load16_s": ("i32", "i16", "sext", 2),
    "i32.load16_u": ("i32", "i16", "zext", 2),
    "i64.load8_s": ("i64", "i8", "sext", 1),
    "i64.load8_u": ("i64", "i8", "zext", 1),
    "i64.load16_s": ("i64", "i16", "sext", 2),
    "i64.load16_u": ("i64", "i16", "zext", 2),
    "i64.load32_s": ("i64", "i32", "sext", 4),
    "i64.load32_u": ("i64", "i32", "zext", 4),
}
# op -> (value type, memory type, access size)
_STORES = {
    "i32.store": ("i32", "i32", 4),
    "i64.store": ("i64", "i64", 8),
    "f32.store": ("float", "float", 4),
    "f64.store": ("double", "double", 8),
    "i32.store8": ("i32", "i8", 1),
    "i32.store16": ("i32", "i16", 2),
    "i64.store8": ("i64", "i8", 1),
    "i64.store16": ("i64", "i16", 2),
    "i64.store32": ("i64", "i32", 4),
}


def type_of(value: str) -> str:
    """The LLVM type of an operand string (see the module docstring)."""
    t = _TYPE_OF_PREFIX.get(value[:2])
    if t is not None:
        return t
    if value[0] == "u":
        return "i64"
    if value[:2] == "0x":
        return "double"
    return "i32"


def result_type(ftype: FuncType) -> str:
    """`void`, the scalar type, or a literal struct for several results."""
    rs = ftype.results
    if not rs:
        return "void"
    if len(rs) == 1:
        return _VT[rs[0]]
    return "{" + ", ".join(_VT[r] for r in rs) + "}"


def llvm_type(t: ValueType) -> str:
    ty = _VT.get(t) or ("i64" if isinstance(t, RefType) else None)
    if ty is None:
        raise UnsupportedError(f"value type {t} is not supported by the LLVM backend")
    return ty


class _Block:
    """A basic block: its lines and, for a label with parameters, its phis."""

    __slots__ = ("name", "types", "params", "incoming", "lines")

    def __init__(self, name: str, types: list[str], params: list[str]) -> None:
        self.name = name
        self.types = types
        self.params = params
        self.incoming: list[tuple[Sequence[str], str]] = []
        self.lines: list[str] = []


# ---- one function -----------------------------------------------------------------
class LLVMFunction:
    """FunctionBackend producing the text of one `define`."""

    def __init__(self, parent: LLVMModule) -> None:
        self.parent = parent
        self.env = parent.env
        self.module = parent.module
        self.n = 0
        self.blocks: list[_Block] = []
        self.entry: list[str] = []
        self.entry_term = ""
        self.cache: dict[str, str] = {}
        self.trap_blocks: dict[int, str] = {}
        self.lines: list[str] = self.entry
        self.cur: _Block | None = None
        self.local_types: list[str] = []
        self.has_memory = self.env.has_memory
        self.unchecked_loads: dict[str, str] = {}  # load result -> its type, for drop()
        self.tail_calls = False  # some return_call* was emitted (see finish)
        self.exn_return = False  # a call site branches to `exnret` (exceptions.py)

    def val(self, prefix: str) -> str:
        """A fresh SSA name; the prefix says its type (see type_of)."""
        self.n += 1
        return f"{prefix}{self.n}"

    def _block(self, types: Sequence[str] = ()) -> _Block:
        self.n += 1
        params = [f"{_PREFIX_OF[t]}{self.n}_{i}" for i, t in enumerate(types)]
        return _Block(f"b{self.n}", list(types), params)

    # ---- function frame -------------------------------------------------
    def begin(self, func_index: int, ftype: FuncType, locals_: Sequence[ValueType]) -> None:
        self.func_index = func_index
        self.ftype = ftype
        self.ret_type = result_type(ftype)
        self.local_types = [llvm_type(t) for t in (*ftype.params, *locals_)]
        e = self.entry
        nparams = len(ftype.params)
        for i, t in enumerate(self.local_types):
            e.append(f"%loc{i} = alloca {t}")
        for i, t in enumerate(self.local_types):
            e.append(f"store {t} {'%a' + str(i) if i < nparams else _ZERO[t]}, ptr %loc{i}")
        # Stack check first: entering below the limit traps.
        e.append("%sp = call ptr @llvm.stacksave.p0()")
        e.append("%sp.i = ptrtoint ptr %sp to i64")
        limit = self._vm_field(VmctxField.STACK_LIMIT, "i64")
        e.append(f"%sp.low = icmp ult i64 %sp.i, {limit}")
        start = self._block()
        self.entry_term = (
            f"br i1 %sp.low, label %{self._trap_block(Trap.STACK_EXHAUSTED)}, label %{start.name}"
        )
        if self.has_memory:
            mem = self._vm_field(VmctxField.MEMORY)
            e.append(f"%mem.base = load ptr, ptr {mem}")
            e.append(f"%mem.size.p = getelementptr inbounds i8, ptr {mem}, i64 {abi.MEMORY_SIZE}")
            e.append("%memsize = alloca i64")
            e.append("%mem.size0 = load i64, ptr %mem.size.p")
            e.append("store i64 %mem.size0, ptr %memsize")
        self.switch_to(start)

    def finish(self) -> None:
        name = abi.func_name(self.func_index)
        # The trap builtin's pointer is an entry load too: fetch it before copying the entry.
        trap_fn = self._builtin_fn(Builtin.TRAP) if self.trap_blocks else ""
        params = "".join(
            f", {t} %a{i}" for i, t in enumerate(self.local_types[: len(self.ftype.params)])
        )
        out = [
            f"define {self.parent.linkage} tailcc {self.ret_type} @{name}(ptr %vm{params}) "
            f"{'#3' if self.tail_calls else '#0'} {{",
            "entry:",
        ]
        out += self.entry
        out.append(self.entry_term)
        for b in self.blocks:
            out.append(b.name + ":")
            for i, (t, p) in enumerate(zip(b.types, b.params, strict=True)):
                if b.incoming:
                    edges = ", ".join(f"[{args[i]}, %{pred}]" for args, pred in b.incoming)
                    out.append(f"{p} = phi {t} {edges}")
                else:  # unreachable block: any value will do
                    out.append(f"{p} = freeze {t} poison")
            out += b.lines
            if not b.lines or not b.lines[-1].startswith(_TERMINATORS):
                out.append("unreachable")
        if self.exn_return:
            out.append("exnret:")
            out.append(self._zero_return())
        for code, label in self.trap_blocks.items():
            out.append(f"{label}:")
            out.append(f"call void {trap_fn}(ptr %vm, i32 {int(code)}) #1")
            out.append("unreachable")
        out.append("}")
        self.parent.add(name, "\n".join(out), self.tail_calls)

    # ---- vmctx facts loaded once per function, at the end of the entry block ----------
    def _vm_field(self, field: VmctxField, ty: str = "ptr") -> str:
        key = field.name
        name = self.cache.get(key)
        if name is None:
            name = self.cache[key] = f"%vm.{key.lower()}"
            if field == 0:
                self.entry.append(f"{name} = load {ty}, ptr %vm")
            else:
                self.entry.append(f"{name}.p = getelementptr inbounds i8, ptr %vm, i64 {field}")
                self.entry.append(f"{name} = load {ty}, ptr {name}.p")
        return name

    def _cached_load(self, key: str, base: str, offset: int, ty: str = "ptr") -> str:
        """`*(ty *)(base + offset)` for a value that never changes, loaded in the entry."""
        name = self.cache.get(key)
        if name is None:
            name = self.cache[key] = f"%{key}"
            self.entry.append(f"{name}.p = getelementptr inbounds i8, ptr {base}, i64 {offset}")
            self.entry.append(f"{name} = load {ty}, ptr {name}.p")
        return name

    def _cached_gep(self, key: str, base: str, offset: int) -> str:
        name = self.cache.get(key)
        if name is None:
            name = self.cache[key] = f"%{key}"
            self.entry.append(f"{name} = getelementptr inbounds i8, ptr {base}, i64 {offset}")
        return name

    def _builtin_fn(self, builtin: Builtin) -> str:
        table = self._vm_field(VmctxField.BUILTINS)
        return self._cached_load(f"bi.{builtin.name.lower()}", table, abi.builtin_offset(builtin))

    # ---- traps ----------------------------------------------------------
    def _trap_block(self, code: int) -> str:
        label = self.trap_blocks.get(code)
        if label is None:
            label = self.trap_blocks[code] = f"trap{int(code)}"
        return label

    def trap_if(self, cond: str, code: int) -> None:
        """Branch to the trap block when the i1 `cond` holds; continue in a new block."""
        cont = self._block()
        self.lines.append(f"br i1 {cond}, label %{self._trap_block(code)}, label %{cont.name}")
        self.switch_to(cont)

    def trap(self, code: int) -> None:
        self.lines.append(f"br label %{self._trap_block(code)}")

    # ---- control flow -----------------------------------------------------
    def new_label(self, types: Sequence[ValueType]) -> Label:
        return self._block([llvm_type(t) for t in types])

    def label_params(self, label: Label) -> list[Value]:
        return list(label.params)

    def switch_to(self, label: Label, seal: bool = True) -> None:
        self.cur = label
        self.lines = label.lines
        self.blocks.append(label)

    def seal(self, label: Label) -> None:
        """Phis are written at finish, so nothing needs sealing."""

    def jump(self, label: Label, args: Sequence[Value]) -> None:
        assert self.cur is not None
        if label.params:
            label.incoming.append((list(args), self.cur.name))
        self.lines.append(f"br label %{label.name}")

    def _truth(self, cond: str) -> str:
        c = self.val("%c")
        self.lines.append(f"{c} = icmp ne i32 {cond}, 0")
        return c

    def branch_if(self, cond: Value, label: Label, args: Sequence[Value], other: Label) -> None:
        assert self.cur is not None
        c = self._truth(cond)
        if label.params:
            label.incoming.append((list(args), self.cur.name))
        self.lines.append(f"br i1 {c}, label %{label.name}, label %{other.name}")

    def branch_table(
        self, index: Value, targets: Sequence[Label], default: Label, args: Sequence[Value]
    ) -> None:
        assert self.cur is not None
        a, pred = list(args), self.cur.name
        # A phi needs one entry per edge, duplicates included.
        for t in (*targets, default):
            if t.params:
                t.incoming.append((a, pred))
        cases = " ".join(f"i32 {i}, label %{t.name}" for i, t in enumerate(targets))
        self.lines.append(f"switch i32 {index}, label %{default.name} [{cases}]")

    def ret(self, values: Sequence[Value]) -> None:
        rt = self.ret_type
        if not values:
            self.lines.append("ret void")
        elif len(values) == 1:
            self.lines.append(f"ret {rt} {values[0]}")
        else:
            agg = "poison"
            for i, (v, t) in enumerate(zip(values, self.ftype.results, strict=True)):
                nxt = self.val("%s")
                self.lines.append(f"{nxt} = insertvalue {rt} {agg}, {_VT[t]} {v}, {i}")
                agg = nxt
            self.lines.append(f"ret {rt} {agg}")

    # ---- variables ----------------------------------------------------------
    def local_get(self, index: int) -> Value:
        t = self.local_types[index]
        r = self.val(_PREFIX_OF[t])
        self.lines.append(f"{r} = load {t}, ptr %loc{index}")
        return r

    def local_set(self, index: int, value: Value) -> None:
        self.lines.append(f"store {self.local_types[index]} {value}, ptr %loc{index}")

    def _global_cell(self, index: int) -> tuple[str, str]:
        """(pointer to the value, LLVM type); an imported cell holds the owner's cell."""
        slot = self.env.global_slot(index)
        cells = self._vm_field(VmctxField.GLOBALS)
        if slot.imported:
            return self._cached_load(f"g{index}", cells, slot.offset), llvm_type(slot.type)
        return self._cached_gep(f"g{index}", cells, slot.offset), llvm_type(slot.type)

    def global_get(self, index: int) -> Value:
        cell, t = self._global_cell(index)
        r = self.val(_PREFIX_OF[t])
        self.lines.append(f"{r} = load {t}, ptr {cell}, align 8")  # cells: 8-byte aligned
        return r

    def global_set(self, index: int, value: Value) -> None:
        cell, t = self._global_cell(index)
        self.lines.append(f"store {t} {value}, ptr {cell}, align 8")

    # ---- constants and numeric operators ----------------------------------
    def const(self, op: str, value: int) -> Value:
        if op == "i32.const":
            return str(value)
        if op == "i64.const":
            return i64_literal(value)
        if op == "f64.const":
            return f"0x{value:016X}"  # exact bits, NaN payloads included
        r = self.val("%f")  # f32: a bitcast keeps the exact bits and the spelling unique
        self.lines.append(f"{r} = bitcast i32 u0x{value:X} to float")
        return r

    def numeric(self, op: str, args: Sequence[Value]) -> Value:
        return numeric_lowering(op)(self, args)

    def simd(self, op: str, args: Sequence[Value], imm: tuple[Any, ...]) -> Value | None:
        return lower_simd(self, op, args, imm)

    def select(self, cond: Value, a: Value, b: Value) -> Value:
        t = type_of(a if a[0] == "%" else b)
        c = self._truth(cond)
        r = self.val(_PREFIX_OF[t])
        self.lines.append(f"{r} = select i1 {c}, {t} {a}, {t} {b}")
        return r

    def drop(self, value: Value) -> None:
        # A load without a bounds check (guard region) traps by faulting; LLVM deletes a load
        # whose result is unused, so a dropped one is kept by an empty asm that reads it.
        t = self.unchecked_loads.pop(value, None)
        if t is not None:
            self.lines.append(f'call void asm sideeffect "", "r"({t} {value})')

    # ---- memory -------------------------------------------------------------
    def _memory(self, mem: int, with_size: bool) -> tuple[str, str]:
        """(base, size in bytes, or "" without with_size) of memory `mem`. Memory 0's base is
        an entry load and its size lives in %memsize (reloaded after calls); another
        memory's base and wk_memory pointer are entry loads, its size is loaded here."""
        if mem == 0:
            base, ms = "%mem.base", ""
            if with_size:
                ms = self.val("%t")
                self.lines.append(f"{ms} = load i64, ptr %memsize")
            return base, ms
        memories = self._vm_field(VmctxField.MEMORIES)
        mp = self._cached_load(f"mem{mem}", memories, self.env.memory_slot(mem))
        base = self._cached_load(f"mem{mem}.base", mp, abi.MEMORY_BASE)
        ms = ""
        if with_size:
            p = self._cached_gep(f"mem{mem}.size.p", mp, abi.MEMORY_SIZE)
            ms = self.val("%t")
            self.lines.append(f"{ms} = load i64, ptr {p}")
        return base, ms

    def _address(self, addr: str, offset: int, size: int, mem: int = 0) -> str:
        """Bounds-check [addr+offset, +size) in 64 bits; the host pointer. No check where a
        guard region catches it (ModuleEnv.needs_bounds_check). A memory64 address is an
        i64 already, and addr + offset + size may wrap: that traps too."""
        lines = self.lines
        checked = self.env.needs_bounds_check(offset, mem)
        base, ms = self._memory(mem, checked)
        if self.env.mem_is64(mem):
            return self._address64(addr, offset, size, base, ms)
        if addr[0] != "%":  # constant address: the sums are known
            eff = str((int(addr) & 0xFFFFFFFF) + offset)
            end = str(int(eff) + size)
        else:
            a64 = self.val("%t")
            lines.append(f"{a64} = zext i32 {addr} to i64")
            eff = a64
            if offset:
                eff = self.val("%t")
                lines.append(f"{eff} = add nuw nsw i64 {a64}, {offset}")
            end = self.val("%t")
            lines.append(f"{end} = add nuw nsw i64 {eff}, {size}")
        if checked:
            oob = self.val("%c")
            lines.append(f"{oob} = icmp ugt i64 {end}, {ms}")
            self.trap_if(oob, Trap.MEM_OOB)
        ptr = self.val("%p")
        self.lines.append(f"{ptr} = getelementptr i8, ptr {base}, i64 {eff}")
        return ptr

    def _address64(self, addr: str, offset: int, size: int, base: str, ms: str) -> str:
        """A memory64 access (always checked: `ms` is the size)."""
        k = offset + size
        if k >= 1 << 64:  # no address is in bounds
            self.trap_if("true", Trap.MEM_OOB)
        else:
            end, wrapped, beyond, oob = (self.val(p) for p in ("%t", "%c", "%c", "%c"))
            lines = self.lines
            lines.append(f"{end} = add i64 {addr}, u0x{k:X}")
            lines.append(f"{wrapped} = icmp ult i64 {end}, {addr}")
            lines.append(f"{beyond} = icmp ugt i64 {end}, {ms}")
            lines.append(f"{oob} = or i1 {wrapped}, {beyond}")
            self.trap_if(oob, Trap.MEM_OOB)
        eff = addr
        if offset:
            eff = self.val("%t")
            self.lines.append(f"{eff} = add i64 {addr}, u0x{offset & ((1 << 64) - 1):X}")
        ptr = self.val("%p")
        self.lines.append(f"{ptr} = getelementptr i8, ptr {base}, i64 {eff}")
        return ptr

    def load(self, op: str, addr: Value, offset: int, mem: int = 0) -> Value:
        rt, mt, ext, size = _LOADS[op]
        ptr = self._address(addr, offset, size, mem)
        r = self.val(_PREFIX_OF[rt])
        unchecked = not self.env.needs_bounds_check(offset, mem)
        if unchecked:
            self.unchecked_loads[r] = rt  # see drop()
        # Unchecked, the load must fault as a whole. LLVM's code generator narrows an integer
        # load whose result is only partly used (a trunc, a mask, an extension, also after
        # arithmetic) to the bytes used, missing the fault of an access straddling the end of
        # memory; a freeze between the load and its uses hides the load from those combines
        # (volatile would too, but would also stop the loop vectorizer, LICM and GVN).
        freeze = unchecked and mt in ("i16", "i32", "i64")
        raw = r if ext is None and not freeze else self.val("%t")
        self.lines.append(f"{raw} = load {mt}, ptr {ptr}, align 1")
        if freeze:
            frozen = r if ext is None else self.val("%t")
            self.lines.append(f"{frozen} = freeze {mt} {raw}")
            raw = frozen
        if ext is not None:
            self.lines.append(f"{r} = {ext} {mt} {raw} to {rt}")
        return r

    def store(self, op: str, addr: Value, value: Value, offset: int, mem: int = 0) -> None:
        vt, mt, size = _STORES[op]
        ptr = self._address(addr, offset, size, mem)
        if vt != mt:
            narrow = self.val("%t")
            self.lines.append(f"{narrow} = trunc {vt} {value} to {mt}")
            value = narrow
        self.lines.append(f"store {mt} {value}, ptr {ptr}, align 1")

    def _reload_mem_size(self) -> None:
        if self.has_memory:
            size = self.val("%t")
            self.lines.append(f"{size} = load i64, ptr %mem.size.p")
            self.lines.append(f"store i64 {size}, ptr %memsize")

    def _u64(self, value: str, is64: bool) -> str:
        """An index as an i64: an i32 (`is64` false) zero-extended."""
        if is64:
            return value
        if value[0] != "%":  # an i32 constant
            return f"u0x{int(value) & 0xFFFFFFFF:X}"
        r = self.val("%l")
        self.lines.append(f"{r} = zext i32 {value} to i64")
        return r

    def memory_size(self, mem: int) -> Value:
        _, ms = self._memory(mem, True)
        pages = self.val("%l")
        self.lines.append(f"{pages} = lshr i64 {ms}, 16")
        if self.env.mem_is64(mem):
            return pages
        r = self.val("%i")
        self.lines.append(f"{r} = trunc i64 {pages} to i32")
        return r

    # ---- calls --------------------------------------------------------------
    def _emit_call(
        self,
        ftype: FuncType,
        callee: str,
        vm: str,
        args: Sequence[str],
        attrs: str = "",
        conv: str = "tailcc ",
        tail: bool = False,
    ) -> list[Value]:
        """A call in the Wasm convention (tailcc; `conv=""` for C code). With `tail`, a
        return_call*: `tail call` right before `ret`, which tailcc guarantees to be a jump."""
        rt = result_type(ftype)
        arglist = "".join(f", {_VT[t]} {a}" for t, a in zip(ftype.params, args, strict=True))
        call = f"call {conv}{rt} {callee}(ptr {vm}{arglist}){attrs}"
        if tail:
            self.tail_calls = True
            if rt == "void":
                self.lines += [f"tail {call}", "ret void"]
            else:
                r = self.val("%s")
                self.lines += [f"{r} = tail {call}", f"ret {rt} {r}"]
            return []
        results = ftype.results
        if not results:
            self.lines.append(call)
            return []
        if len(results) == 1:
            r = self.val(_PREFIX_OF[rt])
            self.lines.append(f"{r} = {call}")
            return [r]
        s = self.val("%s")
        self.lines.append(f"{s} = {call}")
        out = []
        for i, t in enumerate(results):
            r = self.val(_PREFIX_OF[_VT[t]])
            self.lines.append(f"{r} = extractvalue {rt} {s}, {i}")
            out.append(r)
        return out

    def call_builtin(self, builtin: Builtin, args: Sequence[Value]) -> list[Value]:
        fn = self._builtin_fn(builtin)
        results = self._emit_call(BUILTIN_TYPES[builtin], fn, "%vm", args, conv="")
        if builtin == Builtin.MEMORY_GROW:
            self._reload_mem_size()
        return results

    def call(self, func_index: int, args: Sequence[Value], tail: bool = False) -> list[Value]:
        ftype = self.env.func_type(func_index)
        if self.env.func_is_imported(func_index):
            funcs = self._vm_field(VmctxField.FUNCS)
            rec = self.env.func_record(func_index)
            code = self._cached_load(f"f{func_index}.code", funcs, rec + abi.FUNCREF_CODE)
            vm = self._cached_load(f"f{func_index}.vm", funcs, rec + abi.FUNCREF_VMCTX)
            results = self._emit_call(ftype, code, vm, args, tail=tail)
        else:
            callee = self.parent.reference(func_index)
            results = self._emit_call(ftype, callee, "%vm", args, tail=tail)
        if not tail:
            self._reload_mem_size()
        return results

    def _table(self, table: int) -> str:
        tables = self._vm_field(VmctxField.TABLES)
        return self._cached_load(f"tbl{table}", tables, self.env.table_slot(table))

    def _table_len(self, table: int) -> str:
        """The table's size: an i32, or an i64 for a table64 (zero-extended u32)."""
        t = self._table(table)
        p = self._cached_gep(f"tbl{table}.len.p", t, abi.TABLE_LEN)
        size = self.val("%i")
        self.lines.append(f"{size} = load i32, ptr {p}")
        return self._u64(size, False) if self.env.table_is64(table) else size

    def _table_slot(self, table: int, index: str) -> str:
        """Address of element `index` of `table`, after the bounds check."""
        size = self._table_len(table)
        ty = "i64" if self.env.table_is64(table) else "i32"
        oob = self.val("%c")
        self.lines.append(f"{oob} = icmp uge {ty} {index}, {size}")
        self.trap_if(oob, Trap.TABLE_OOB)
        elems, slot = self.val("%p"), self.val("%p")
        self.lines.append(f"{elems} = load ptr, ptr {self._table(table)}")
        i64 = self._u64(index, ty == "i64")
        self.lines.append(f"{slot} = getelementptr inbounds ptr, ptr {elems}, i64 {i64}")
        return slot

    def call_indirect(
        self, type_index: int, table: int, callee: Value, args: Values, tail: bool = False
    ) -> list[Value]:
        slot = self._table_slot(table, callee)
        rec, null = self.val("%p"), self.val("%c")
        self.lines.append(f"{rec} = load ptr, ptr {slot}")
        self.lines.append(f"{null} = icmp eq ptr {rec}, null")
        self.trap_if(null, Trap.UNINIT_ELEM)
        type_ids = self._vm_field(VmctxField.TYPE_IDS)
        expected = self._cached_load(
            f"type{type_index}", type_ids, self.env.type_id_slot(type_index), "i32"
        )
        tid_p, tid, bad = self.val("%p"), self.val("%t"), self.val("%c")
        lines = self.lines
        lines.append(f"{tid_p} = getelementptr inbounds i8, ptr {rec}, i64 {abi.FUNCREF_TYPE_ID}")
        lines.append(f"{tid} = load i32, ptr {tid_p}")
        lines.append(f"{bad} = icmp ne i32 {tid}, {expected}")
        self.trap_if(bad, Trap.INDIRECT_SIG)
        return self._call_record(type_index, rec, args, tail)

    def _call_record(self, type_index: int, rec: str, args: Values, tail: bool) -> list[Value]:
        """Call the function record at `rec` (a ptr): `code(rec->vmctx, args...)`."""
        code, vm_p, vm = self.val("%p"), self.val("%p"), self.val("%p")
        lines = self.lines
        lines.append(f"{code} = load ptr, ptr {rec}")
        lines.append(f"{vm_p} = getelementptr inbounds i8, ptr {rec}, i64 {abi.FUNCREF_VMCTX}")
        lines.append(f"{vm} = load ptr, ptr {vm_p}")
        results = self._emit_call(self.module.types[type_index], code, vm, args, tail=tail)
        if not tail:
            self._reload_mem_size()
        return results

    def call_ref(
        self, type_index: int, ref: Value, args: Sequence[Value], tail: bool = False
    ) -> list[Value]:
        """call_ref / return_call_ref: validation proved the type, so only null traps."""
        null, rec = self.val("%c"), self.val("%p")
        self.lines.append(f"{null} = icmp eq i64 {ref}, 0")
        self.trap_if(null, Trap.NULL_FUNC_REF)
        self.lines.append(f"{rec} = inttoptr i64 {ref} to ptr")
        return self._call_record(type_index, rec, args, tail)

    def ref_as_non_null(self, ref: Value) -> Value:
        null = self.val("%c")
        self.lines.append(f"{null} = icmp eq i64 {ref}, 0")
        self.trap_if(null, Trap.NULL_REFERENCE)
        return ref

    # ---- exceptions (bridge/exceptions.py, docs/abi.md "Exceptions") ----------------------
    def _zero_return(self) -> str:
        rt = self.ret_type
        if rt == "void":
            return "ret void"
        if len(self.ftype.results) == 1:
            return f"ret {rt} {_ZERO[rt]}"
        return f"ret {rt} zeroinitializer"

    def _exn_cell(self) -> str:
        return self._vm_field(VmctxField.EXN)

    def exn_new(self, tag: int, args: Sequence[Value], types: Sequence[ValueType]) -> Value:
        size = abi.slot_count(types) * abi.SLOT_SIZE
        buf = "null"
        if size:
            self.n += 1
            buf = f"%exnbuf{self.n}"
            self.entry.append(f"{buf} = alloca [{size // 8} x i64], align 16")
            for v, t, at in zip(args, types, abi.slot_offsets(types), strict=True):
                p = self.val("%p")
                self.lines.append(f"{p} = getelementptr inbounds i8, ptr {buf}, i64 {at}")
                self.lines.append(f"store {_VT[t]} {v}, ptr {p}, align 8")
        addr = self.val("%l")
        self.lines.append(f"{addr} = ptrtoint ptr {buf} to i64")
        return self.call_builtin(Builtin.EXN_NEW, [str(tag), str(size), addr])[0]

    def exn_tag_is(self, exn: Value, tag: int) -> Value:
        tags = self._vm_field(VmctxField.TAGS)
        want = self._cached_load(f"tag{tag}", tags, self.env.tag_slot(tag))
        p, have, c, r = self.val("%p"), self.val("%p"), self.val("%c"), self.val("%i")
        self.lines.append(f"{p} = inttoptr i64 {exn} to ptr")
        self.lines.append(f"{have} = load ptr, ptr {p}")
        self.lines.append(f"{c} = icmp eq ptr {have}, {want}")
        self.lines.append(f"{r} = zext i1 {c} to i32")
        return r

    def exn_payload(self, exn: Value, tag: int) -> list[Value]:
        types = self.env.tag_params(tag)
        base = self.val("%p")
        self.lines.append(f"{base} = inttoptr i64 {exn} to ptr")
        out = []
        for t, at in zip(types, abi.slot_offsets(types), strict=True):
            lt = _VT[t]
            p, r = self.val("%p"), self.val(_PREFIX_OF[lt])
            self.lines.append(
                f"{p} = getelementptr inbounds i8, ptr {base}, i64 {abi.EXN_PAYLOAD + at}"
            )
            self.lines.append(f"{r} = load {lt}, ptr {p}, align 8")
            out.append(r)
        return out

    def exn_clear(self) -> None:
        self.lines.append(f"store i64 0, ptr {self._exn_cell()}")

    def exn_ref(self, exn: Value, op: ExnRef) -> None:
        self.call_builtin(Builtin.EXN_REF, [exn, str(int(op))])

    def exn_propagate(self, exn: Value) -> None:
        self.lines.append(f"store i64 {exn}, ptr {self._exn_cell()}")
        self.lines.append(self._zero_return())

    def exn_check(self, handler: Label | None) -> None:
        assert self.cur is not None
        pending, c, cold = self.val("%l"), self.val("%c"), self.val("%c")
        self.lines.append(f"{pending} = load i64, ptr {self._exn_cell()}")
        self.lines.append(f"{c} = icmp ne i64 {pending}, 0")
        self.lines.append(f"{cold} = call i1 @llvm.expect.i1(i1 {c}, i1 false)")
        cont = self._block()
        if handler is not None:
            handler.incoming.append(([pending], self.cur.name))
            target = handler.name
        else:
            self.exn_return = True
            target = "exnret"
        self.lines.append(f"br i1 {cold}, label %{target}, label %{cont.name}")
        self.switch_to(cont)

    # ---- tables and references ---------------------------------------------
    def table_op(self, op: str, args: Sequence[Value], imm: tuple[int, ...]) -> Value | None:
        if op == "table.get":
            slot = self._table_slot(imm[0], args[0])
            r = self.val("%l")
            self.lines.append(f"{r} = load i64, ptr {slot}")
            return r
        if op == "table.set":
            slot = self._table_slot(imm[0], args[0])
            self.lines.append(f"store i64 {args[1]}, ptr {slot}")
            return None
        return self._table_len(imm[0])  # table.size

    def ref_null(self) -> Value:
        return "u0x0"

    def ref_is_null(self, ref: Value) -> Value:
        c, r = self.val("%c"), self.val("%i")
        self.lines.append(f"{c} = icmp eq i64 {ref}, 0")
        self.lines.append(f"{r} = zext i1 {c} to i32")
        return r

    def ref_func(self, func_index: int) -> Value:
        funcs = self._vm_field(VmctxField.FUNCS)
        rec = self._cached_gep(f"f{func_index}.rec", funcs, self.env.func_record(func_index))
        r = self.val("%l")
        self.lines.append(f"{r} = ptrtoint ptr {rec} to i64")
        return r
