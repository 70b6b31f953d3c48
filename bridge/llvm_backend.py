"""LLVM backend (llvmlite): the optimising tier and the cross-compilation path.

This is the only module that imports `llvmlite`. Functions are written as LLVM
IR *text* (the `llvmlite.ir` builder is ~10x slower), one list of lines per
basic block (llvm_function.py; numeric operators in llvm_numeric.py), and the
whole module is parsed, verified, optimised (new pass manager, -O0..-O3) and
emitted as an ELF object by a TargetMachine.

The object obeys the same ABI as Cranelift's (wk/abi.h, version 2), with
these choices:

* calls to functions defined in the module are direct (`call @wk_func_N`):
  LLVM can then inline them, which Cranelift-py cannot do; imported functions
  are called through their record in vmctx->funcs with the record's vmctx;
* every trap is a branch to a per-function cold block that calls
  `builtins->trap(vm, code)` (noreturn) and ends in `unreachable`; no LLVM
  trap intrinsic is ever emitted;
* linear memory is bounds-checked explicitly; memory->size lives in an
  alloca (mem2reg makes it an SSA value at -O2) reloaded after every call, so
  stores to linear memory never force a reload;
* loads of vmctx fields that never change for an instance (memory base,
  funcs, globals, tables, type ids, builtins) are emitted once, lazily, at the
  end of the entry block, which dominates every use;
* references are i64 everywhere (as in Cranelift), null is 0;
* every Wasm function is `tailcc` (docs/abi.md "Calling convention"); C code
  (the runtime, host functions) is reached through trampolines, builtins and the
  `wk_hostcall_<i>` adapters (hostcall below), which are C-convention on the C side;
* functions carry "disable-tail-calls": tail-recursion elimination would turn
  unbounded recursion into an endless loop that the entry stack check can no
  longer catch; a function with return_call* does not (attribute group #3), as
  LLVM honours `tail call tailcc` only without it (`musttail` is not used: LLVM 22
  miscompiled it on x86-64 when the callee needs more stack arguments, measured);
* several results come back as an LLVM struct. Beyond two results per class
  LLVM and Cranelift's implicit sret disagree on the registers and the memory
  layout (docs/abi.md, "Several results", checked by a test), so such functions
  are called only by code of the same backend and by its trampolines: a module
  is always compiled by one backend;
* add/sub/mul/div, promote and demote are constrained intrinsics and fmin/fmax
  have an explicit NaN path, so -O2 cannot fold away the quieting of a
  signalling NaN (llvm_numeric.py).

Driving it (chunks, workers, the pic flag) is codegen.generate's job; this
module only turns a chunk of functions into an object.

Values handed to the walker are operand strings whose spelling carries their
type (type_of): `%iN` i32, `%lN` i64, `%fN` float, `%dN` double, decimal i32
constants, `u0x..` i64 constants, `0x..` double constants, `%vN` v128 (always `<2 x i64>`;
llvm_simd.py); f32 and v128 constants are materialised by a bitcast so that `0x..` stays
unambiguous.
"""

from __future__ import annotations

import llvmlite.binding as llvm

from .abi import FUNCREF_HOST, VmctxField, func_name, hostcall_name, slot_offsets, trampoline_name
from .cpu import BASELINE, cpu_level
from .environ import ModuleEnv
from .llvm_function import LLVMFunction, llvm_type, result_type
from .module import Module

__all__ = [
    "LLVMFunction",
    "LLVMModule",
    "emit_object",
    "target_machine",
]

DEFAULT_TRIPLE = "x86_64-unknown-linux-gnu"

# Per architecture: baseline CPU, features and ABI. x86-64's CPU is the level of cpu.py
# (x86-64-v2 at the baseline: SSE4.1, without which ceil/floor/trunc/nearest become calls to
# libm, which the unikernel lacks).
_ARCH = {
    "x86_64": (BASELINE, "-fast-shld-rotate", ""),
    "aarch64": ("generic", "+neon", ""),
    "riscv64": ("generic-rv64", "+m,+a,+f,+d,+c", "lp64d"),
}


TIERED_PASSES: tuple[str, ...] = ("sroa", "instruction_combine", "simplify_cfg")
"""The light pipeline of a tiered module's bulk (docs/performance.md "Release builds of very
large modules"): locals to SSA values, peephole folding and CFG clean-up, none of the -O2
pipeline's loop, GVN or inlining passes (on python.wasm's IR -O2's passes cost ~9x these).
Its functions are then marked `optnone`, so code generation treats them as at -O0 (fast
instruction selection, no machine-level loop, CSE or scheduling passes), keeping the greedy
register allocator: -O2's code generation is the larger half of its cost."""


# ---- target machines and object emission ------------------------------------------
_MACHINES: dict[tuple[str, int, bool, str], llvm.TargetMachine] = {}


def target_machine(
    triple: str, opt_level: int, pic: bool, cpu: str = "baseline"
) -> llvm.TargetMachine:
    """One TargetMachine per (triple, level, pic, cpu), small code model."""
    key = (triple, opt_level, pic, cpu)
    tm = _MACHINES.get(key)
    if tm is None:
        if not _MACHINES:
            llvm.initialize_all_targets()
            llvm.initialize_all_asmprinters()
        arch = triple.split("-", 1)[0]
        if arch not in _ARCH:
            raise ValueError(f"the LLVM backend does not know architecture {arch!r}")
        name, features, abiname = _ARCH[arch]
        if cpu != "baseline":
            if arch != "x86_64":
                raise ValueError(
                    f"target-cpu {cpu!r} is an x86-64 level; {arch} builds take the baseline only"
                )
            name = cpu_level(cpu)
        target = llvm.Target.from_triple(triple)
        # AArch64 selects instructions with GlobalISel at codegen level 0, which miscompiles
        # calls between tailcc functions (every Wasm function's convention, docs/abi.md "Tail
        # calls"): a -O0 build crashed where -O2 ran. Level 1 selects with SelectionDAG; the
        # IR is still left unoptimised at -O0 (the pass pipeline is opt_level's).
        codegen_level = max(opt_level, 1) if arch == "aarch64" else opt_level
        tm = target.create_target_machine(
            cpu=name,
            features=features,
            opt=codegen_level,
            reloc="pic" if pic else "static",
            codemodel="small",
            abiname=abiname,
        )
        _MACHINES[key] = tm
    return tm


def emit_object(
    text: str,
    triple: str,
    opt_level: int,
    pic: bool,
    cpu: str = "baseline",
    bulk: str | None = None,
) -> bytes:
    """Parse, verify, optimise and compile one module of IR text.

    bulk: more IR text for the same object, optimised by the light pipeline (TIERED_PASSES)
    instead of opt_level's, then linked into the first module for one code generation."""
    tm = target_machine(triple, opt_level, pic, cpu)
    context = llvm.create_context()
    mod = llvm.parse_assembly(text, context=context)
    mod.verify()
    if opt_level > 0:
        pto = llvm.create_pipeline_tuning_options(speed_level=opt_level)
        pb = llvm.create_pass_builder(tm, pto)
        pb.getModulePassManager().run(mod, pb)
    if bulk is not None:
        other = llvm.parse_assembly(bulk, context=context)
        other.verify()
        pb = llvm.create_pass_builder(tm, llvm.create_pipeline_tuning_options(speed_level=2))
        mpm = llvm.create_new_module_pass_manager()
        for name in TIERED_PASSES:
            getattr(mpm, f"add_{name}_pass")()
        mpm.run(other, pb)
        for fn in other.functions:
            if not fn.is_declaration:  # code generation as at -O0 (optnone needs noinline)
                fn.add_function_attribute("noinline")
                fn.add_function_attribute("optnone")
        mod.link_in(other)
    return bytes(tm.emit_object(mod))


# ---- the module --------------------------------------------------------------------
class LLVMModule:
    """ModuleBackend: collects function texts, emits one object at finish."""

    def __init__(
        self,
        module: Module,
        triple: str = DEFAULT_TRIPLE,
        opt_level: int = 2,
        pic: bool = False,
        cpu: str = "baseline",
        hot_lines: int | None = None,
    ) -> None:
        """hot_lines: tier this module's functions: those of at most this many lines of IR
        keep opt_level's pipeline, the others get TIERED_PASSES (None: every function gets
        opt_level's)."""
        self.module = module
        self.env = ModuleEnv(module)
        self.triple = triple
        self.opt_level = opt_level
        self.pic = pic
        self.cpu = cpu
        # Protected symbols are dso_local in a shared object, so direct calls
        # never go through the PLT and no other object can interpose them.
        self.linkage = "protected" if pic else "dso_local"
        self.hot_lines = hot_lines
        self.parts: list[str] = []
        self.defined: set[str] = set()
        self.bulk: dict[str, str] = {}  # name -> text of the functions of the light tier
        self.declared: dict[str, str] = {}  # callee symbol -> declare line

    def function(self) -> LLVMFunction:
        return LLVMFunction(self)

    def reference(self, func_index: int) -> str:
        """`@wk_func_N`, declared when another chunk of the module defines it."""
        name = func_name(func_index)
        if name not in self.declared:
            ftype = self.env.func_type(func_index)
            params = "".join(", " + llvm_type(p) for p in ftype.params)
            link = "" if self.pic else "dso_local "
            self.declared[name] = (
                f"declare {link}tailcc {result_type(ftype)} @{name}(ptr{params}) #0"
            )
        return "@" + name

    def add(self, name: str, text: str, tail_calls: bool = False) -> None:
        self.defined.add(name)
        # A function with return_call* (`tail_calls`) stays in the -O2 tier: code generation
        # as at -O0 (`optnone`) does not honour `tail call tailcc`, so its tail calls would
        # grow the stack (the spec's return_call scripts then exhaust it).
        if self.hot_lines is not None and text.count("\n") > self.hot_lines and not tail_calls:
            self.bulk[name] = text
        else:
            self.parts.append(text)

    def trampoline(self, type_index: int) -> None:
        """wk_tramp_<t>(vmctx, code, slots): arguments from 8-byte slots, results over them."""
        ftype = self.module.types[type_index]
        name = trampoline_name(type_index)
        lines = [
            f"define {self.linkage} void @{name}(ptr %vm, ptr %code, ptr %slots) #0 {{",
            "entry:",
        ]
        args = ["ptr %vm"]
        for i, (p, at) in enumerate(zip(ftype.params, slot_offsets(ftype.params), strict=True)):
            t = llvm_type(p)
            lines.append(f"  %p{i} = getelementptr inbounds i8, ptr %slots, i64 {at}")
            lines.append(f"  %a{i} = load {t}, ptr %p{i}, align 8")
            args.append(f"{t} %a{i}")
        rt = result_type(ftype)
        call = f"call tailcc {rt} %code({', '.join(args)})"
        results = [llvm_type(r) for r in ftype.results]
        if len(results) == 1:
            lines.append(f"  %r0 = {call}")
        elif results:
            lines.append(f"  %s = {call}")
            for i in range(len(results)):
                lines.append(f"  %r{i} = extractvalue {rt} %s, {i}")
        else:
            lines.append(f"  {call}")
        for i, (t, at) in enumerate(zip(results, slot_offsets(ftype.results), strict=True)):
            lines.append(f"  %q{i} = getelementptr inbounds i8, ptr %slots, i64 {at}")
            lines.append(f"  store {t} %r{i}, ptr %q{i}, align 8")
        lines += ["  ret void", "}"]
        self.add(name, "\n".join(lines))

    def hostcall(self, func_index: int) -> None:
        """wk_hostcall_<i>: the Wasm-convention (tailcc) entry of host code bound to import i."""
        ftype = self.env.func_type(func_index)
        name = hostcall_name(func_index)
        rt = result_type(ftype)
        params = "".join(f", {llvm_type(p)} %a{i}" for i, p in enumerate(ftype.params))
        rec = self.env.func_record(func_index) + FUNCREF_HOST
        call = f"call {rt} %host(ptr %vm{params})"
        lines = [
            f"define {self.linkage} tailcc {rt} @{name}(ptr %vm{params}) #0 {{",
            "entry:",
            f"  %funcs.p = getelementptr inbounds i8, ptr %vm, i64 {int(VmctxField.FUNCS)}",
            "  %funcs = load ptr, ptr %funcs.p",
            f"  %host.p = getelementptr inbounds i8, ptr %funcs, i64 {rec}",
            "  %host = load ptr, ptr %host.p",
        ]
        if ftype.results:
            lines += [f"  %r = {call}", f"  ret {rt} %r", "}"]
        else:
            lines += [f"  {call}", "  ret void", "}"]
        self.add(name, "\n".join(lines))

    def ir(self) -> str:
        """The whole module as LLVM IR text."""
        return self._text([*self.parts, *self.bulk.values()], self.defined)

    def _text(self, parts: list[str], defined: set[str]) -> str:
        """A module of `parts` (defining `defined`) declaring everything else it may call."""
        tm = target_machine(self.triple, self.opt_level, self.pic, self.cpu)
        head = [
            f'target datalayout = "{tm.target_data}"',
            f'target triple = "{self.triple}"',
            'attributes #0 = { nounwind "disable-tail-calls"="true" }',
            "attributes #1 = { cold noreturn nounwind }",
            "attributes #2 = { strictfp }",  # constrained FP calls (llvm_numeric)
            # A function with return_call*: `tail call tailcc` is only honoured without
            # "disable-tail-calls" (docs/abi.md "Tail calls").
            "attributes #3 = { nounwind }",
        ]
        decls = [d for n, d in self.declared.items() if n not in defined]
        return "\n".join(head + parts + decls) + "\n"

    def finish(self) -> bytes:
        if not self.bulk:
            return emit_object(self.ir(), self.triple, self.opt_level, self.pic, self.cpu)
        hot = self.defined - self.bulk.keys()
        return emit_object(
            self._text(self.parts, hot),
            self.triple,
            self.opt_level,
            self.pic,
            self.cpu,
            bulk=self._text(list(self.bulk.values()), set(self.bulk)),
        )
