"""The two engines of the differential fuzzer (pyhook/fuzz/differential.py) and what they report.

`run_wasmtime` runs a plan of calls in the `wasmtime` package, under fuel; `Ours` compiles a
module with one wasmkiln backend, links it like the spec runner (pyhook/spec/wast.py's
ModuleBuilder) and runs the plan in the in-process runtime (pyhook/spec/hostrt.py) inside a forked
child (`_in_child`), so a hang or a crash of generated code is reported instead of suffered.
Both give a `RunResult`: one `Outcome` per call, in values of (type name, raw bits).

Both sides provide binaryen's `fuzzing-support.log-*` imports and record what is logged. Ours
are cffi callbacks behind `wk_funcref` records (code, vmctx, signature id) whose signature ids
are those of the `spectest` functions with the same parameter (print_i32 for log-i32, ...).

The `wasmtime` package cannot pass v128 values (neither to a call nor to a host function), so
`log-v128` is a small Wasm module on both sides (LOG_V128_SHIM: it hands the two i64 halves
to a host function of ours, which logs one ("v128", bits) value), instantiated first and
handed over as the import, and exported functions
with a v128 parameter or result are not called from outside (binaryen's `*_invoker` exports
call them with constants, so their code still runs); nor are v128 globals compared.
"""

from __future__ import annotations

import faulthandler
import hashlib
import os
import pickle
import re
import select
import shutil
import signal
import struct
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HANG_EXPORT = "hangLimitInitializer"  # binaryen's: resets the loop/call budget
LOG_MODULE = "fuzzing-support"
LOG_FUNCS = {"log-i32": "i32", "log-i64": "i64", "log-f32": "f32", "log-f64": "f64"}
LOG_V128 = "log-v128"
# log-v128 for both engines: the two halves, low first, to a host function (signature "II:").
LOG_V128_SHIM = f"""(module
  (import "wasmkiln-fuzz" "log-v128-halves" (func $log (param i64 i64)))
  (func (export "{LOG_V128}") (param v128)
    (call $log (i64x2.extract_lane 0 (local.get 0)) (i64x2.extract_lane 1 (local.get 0)))))"""
# The rest of binaryen's `fuzzing-support` imports (binaryen 116 and later; its JS harness,
# scripts/fuzz_shell.js, provides them), for both engines as one more small Wasm module, so
# that both sides see the same behaviour. `throw` is binaryen's: a nonzero argument throws
# the imported `wasmtag` with it, zero throws a "JS exception", here `jstag` with a null
# externref (JS would give the error object); `sleep` returns its id, as without JSPI. The
# table and call imports are inert stubs (a null funcref, nothing called): the module's code
# around the calls still runs, and both engines give the same answers.
HARNESS_SHIM = """(module
  (tag $wasmtag (export "wasmtag") (param i32))
  (tag $jstag (export "jstag") (param externref))
  (func (export "throw") (param i32)
    (if (local.get 0) (then (throw $wasmtag (local.get 0))))
    (throw $jstag (ref.null extern)))
  (func (export "sleep") (param i32 i32) (result i32) (local.get 1))
  (func (export "table-get") (param i32) (result funcref) (ref.null func))
  (func (export "table-set") (param i32 funcref))
  (func (export "call-export") (param i32 i32))
  (func (export "call-export-catch") (param i32) (result i32) (i32.const 0))
  (func (export "call-ref") (param funcref i32))
  (func (export "call-ref-catch") (param funcref) (result i32) (i32.const 0)))"""
SHIM_NAMES = frozenset(re.findall(r'\(export "([\w-]+)"\)', HARNESS_SHIM))
LOG_LIMIT = 10_000  # logged values kept per call (the rest are counted)
FUEL = 20_000_000  # wasmtime fuel per call
CHILD_TIMEOUT = 60.0  # seconds for our side of one module (all its calls)
SHIMS = "shims"  # Ours' folder of the compiled harness modules

MASK = {"i32": 0xFFFFFFFF, "f32": 0xFFFFFFFF, "i64": (1 << 64) - 1, "f64": (1 << 64) - 1}

Value = tuple[str, int]  # (type name, raw bits)


class FuzzError(Exception):
    """The fuzzer cannot run (a tool is missing, a folder cannot be written); says why."""


# ---- what is run and what is reported ---------------------------------------------------------
@dataclass(frozen=True)
class Call:
    name: str
    args: tuple[Value, ...]


@dataclass
class Outcome:
    """What one call did, as seen from outside the module."""

    call: str
    trap: str | None = None  # a bridge.abi.Trap name, None when it returned
    results: tuple[Value, ...] = ()
    logs: tuple[Value, ...] = ()
    globals: tuple[tuple[str, Value], ...] = ()
    memory: str = ""  # sha256 of linear memory (exported memory only), "" when none
    memory_bytes: bytes | None = None  # the memory itself, in a run asked to keep it

    def describe(self) -> str:
        what = f"trap {self.trap}" if self.trap else f"-> [{', '.join(map(_show, self.results))}]"
        logs = ", ".join(map(_show, self.logs[:8])) + (" ..." if len(self.logs) > 8 else "")
        glob = ", ".join(f"{n}={_show(v)}" for n, v in self.globals)
        return f"{self.call}: {what}; logs [{logs}]; globals [{glob}]; memory {self.memory[:12]}"


@dataclass
class RunResult:
    """One engine's run of a plan: its outcomes, or why it stopped early."""

    outcomes: list[Outcome] = field(default_factory=list)
    init_trap: str | None = None  # instantiation (segments, start) trapped
    error: str | None = None  # compile failure, crash, hang: the module fails
    stopped: str | None = None  # wasmtime ran out of fuel/stack: compare up to here


# wasmtime's TrapCode names -> wasmkiln's bridge.abi.Trap names, the trap kinds compared.
WASMTIME_TRAPS = {
    "UNREACHABLE": "UNREACHABLE", "INTEGER_DIVISION_BY_ZERO": "INT_DIV_ZERO",
    "INTEGER_OVERFLOW": "INT_OVERFLOW", "BAD_CONVERSION_TO_INTEGER": "BAD_CONVERSION",
    "MEMORY_OUT_OF_BOUNDS": "MEM_OOB", "TABLE_OUT_OF_BOUNDS": "TABLE_OOB",
    "BAD_SIGNATURE": "INDIRECT_SIG", "INDIRECT_CALL_TO_NULL": "UNINIT_ELEM",
    "STACK_OVERFLOW": "STACK_EXHAUSTED",
}  # fmt: skip


# wasmtime has one trap code for every null reference (call_ref of null, ref.as_non_null,
# throw_ref of a null exnref: NullReference), wasmkiln three (its messages follow the spec
# scripts'); the fuzzer compares the kind, so ours are folded into wasmtime's.
SAME_TRAP = {"NULL_FUNC_REF": "NULL_REFERENCE", "NULL_EXNREF": "NULL_REFERENCE"}


def _show(v: Value) -> str:
    ty, bits = v
    if ty == "v128":
        return f"v128:0x{bits:032x}"
    if ty == "f32":
        return f"f32:{struct.unpack('<f', bits.to_bytes(4, 'little'))[0]!r}(0x{bits:08x})"
    if ty == "f64":
        return f"f64:{struct.unpack('<d', bits.to_bytes(8, 'little'))[0]!r}(0x{bits:016x})"
    return f"{ty}:{bits}"


# ---- the reference: wasmtime ----------------------------------------------------------------
def _to_py(v: Value) -> int | float | None:
    ty, bits = v
    if ty not in MASK:  # a reference parameter: the plan passes null (make_plan)
        return None
    if ty == "f32":
        return float(struct.unpack("<f", bits.to_bytes(4, "little"))[0])
    if ty == "f64":
        return float(struct.unpack("<d", bits.to_bytes(8, "little"))[0])
    width = 32 if ty == "i32" else 64
    return bits - (1 << width) if bits >> (width - 1) else bits


def _from_py(ty: str, x: Any) -> Value:
    if ty == "f32":
        return ty, int.from_bytes(struct.pack("<f", x), "little")
    if ty == "f64":
        return ty, int.from_bytes(struct.pack("<d", x), "little")
    if ty in MASK:
        return ty, int(x) & MASK[ty]
    import wasmtime

    if isinstance(x, wasmtime.Val):  # a global's reference comes wrapped; null's value is None
        x = x.value
    return ty, 0 if x is None else 1  # references: only null-ness is comparable


def _wt_type(t: Any) -> str:
    """wasmtime's ValType as wasmkiln names it: "i32", "f64", "funcref", ... (wasmtime
    prints externref as "anyref", its supertype with GC; no module here has GC)."""
    name = str(t)
    return "externref" if name == "anyref" else name


def exports_of(wasm: bytes) -> list[tuple[str, list[str]]]:
    """(name, param type names) of the exported functions, in export order (wasmtime's view)."""
    import wasmtime

    module = wasmtime.Module(wasmtime.Engine(), wasm)
    skip = _opaque_exports(wasm)
    return [
        (e.name, [_wt_type(p) for p in e.type.params])
        for e in module.exports
        if isinstance(e.type, wasmtime.FuncType) and e.name not in skip
    ]


def _opaque_exports(wasm: bytes) -> set[str]:
    """Exported functions with a parameter or result the wasmtime package cannot hold (v128,
    exnref, typed references), globals of such a type and tables of exnref: the package can
    neither call nor read them (even making such a value type aborts the process), so they
    are found with wasmkiln's decoder and left out on both sides."""
    from wasmkiln.bridge.decode import decode
    from wasmkiln.bridge.module import ExternKind

    def opaque(t: object) -> bool:
        return str(t) not in ("i32", "i64", "f32", "f64", "funcref", "externref")

    m = decode(wasm)
    out = set()
    for e in m.exports:
        if e.kind == ExternKind.FUNC:
            ft = m.func_type(e.index)
            if any(map(opaque, (*ft.params, *ft.results))):
                out.add(e.name)
        elif e.kind == ExternKind.GLOBAL and opaque(m.all_globals()[e.index].type):
            out.add(e.name)
        elif e.kind == ExternKind.TABLE and opaque(m.all_tables()[e.index].elem):
            out.add(e.name)
    return out


def run_wasmtime(
    wasm: bytes, plan: Sequence[Call], keep_memory: bool = False, canonical_nans: bool = False
) -> RunResult:
    """Run `plan` in the wasmtime package. With canonical_nans, wasmtime makes every NaN a
    float operation produces the canonical (positive) one: still a conforming choice, and the
    one wasmkiln's LLVM backend makes (differential.check_module)."""
    import wasmtime

    config = wasmtime.Config()
    config.consume_fuel = True
    config.cranelift_nan_canonicalization = canonical_nans
    store = wasmtime.Store(wasmtime.Engine(config))
    module = wasmtime.Module(store.engine, wasm)
    logs: list[Value] = []
    imports: list[Any] = []
    shim: Any = None
    harness: Any = None
    for imp in module.imports:
        if imp.module == LOG_MODULE and imp.name == LOG_V128:
            if shim is None:
                shim = _wasmtime_shim(store, logs)
            imports.append(shim)
            continue
        if imp.module == LOG_MODULE and imp.name in SHIM_NAMES:
            if harness is None:
                harness = wasmtime.Instance(
                    store, wasmtime.Module(store.engine, HARNESS_SHIM), []
                ).exports(store)
            imports.append(harness[imp.name])
            continue
        if isinstance(imp.type, wasmtime.GlobalType) and not imp.type.mutable:
            imports.append(wasmtime.Global(store, imp.type, None))  # binaryen's externrefs
            continue
        ty = LOG_FUNCS.get(imp.name or "") if imp.module == LOG_MODULE else None
        if ty is None or not isinstance(imp.type, wasmtime.FuncType):
            return RunResult(error=f"unknown import {imp.module}.{imp.name}")
        imports.append(wasmtime.Func(store, imp.type, _logger(logs, ty)))
    res = RunResult()
    store.set_fuel(FUEL)
    try:
        instance = wasmtime.Instance(store, module, imports)
    except wasmtime.Trap as e:
        res.init_trap = _wasmtime_trap(e)
        return res
    except wasmtime.WasmtimeError as e:  # a start function's uncaught exception comes so
        res.init_trap = _wasmtime_trap(e)
        return res
    exports = instance.exports(store)
    opaque = _opaque_exports(wasm)
    funcs: dict[str, Any] = {
        e.name: exports[e.name] for e in module.exports if e.name not in opaque
    }
    for call in plan:
        logs.clear()
        store.set_fuel(FUEL)
        out = Outcome(call.name)
        try:
            if HANG_EXPORT in funcs:
                funcs[HANG_EXPORT](store)
            func = funcs[call.name]
            got = func(store, *map(_to_py, call.args))
            types = [_wt_type(t) for t in func.type(store).results]
            # one result comes alone (a null reference as None), several as a list
            vals = [got] if len(types) == 1 else list(got) if types else []
            out.results = tuple(_from_py(t, x) for t, x in zip(types, vals, strict=True))
        except wasmtime.Trap as e:
            out.trap = _wasmtime_trap(e)
            if out.trap in ("OUT_OF_FUEL", "STACK_EXHAUSTED"):
                res.stopped = out.trap
                return res
        except wasmtime.WasmtimeError as e:  # not a trap: shows as a mismatch, with the reason
            out.trap = f"wasmtime error: {e}"
        out.logs = tuple(logs)
        out.globals = tuple(
            (e.name, _from_py(_wt_type(e.type.content), funcs[e.name].value(store)))
            for e in module.exports
            if isinstance(e.type, wasmtime.GlobalType) and e.name not in opaque
        )
        memories = [
            funcs[e.name] for e in module.exports if isinstance(e.type, wasmtime.MemoryType)
        ]
        if memories:  # every exported memory, in export order (one, unless multi-memory)
            data = b"".join(bytes(m.read(store, 0, m.data_len(store))) for m in memories)
            out.memory = hashlib.sha256(data).hexdigest()
            out.memory_bytes = data if keep_memory else None
        res.outcomes.append(out)
    return res


def _logger(logs: list[Value], ty: str) -> Callable[[Any], None]:
    def log(x: Any) -> None:
        if len(logs) < LOG_LIMIT:
            logs.append(_from_py(ty, x))

    return log


def _log_v128(logs: list[Value], lo: int, hi: int) -> None:
    if len(logs) < LOG_LIMIT:
        logs.append(("v128", (lo & MASK["i64"]) | (hi & MASK["i64"]) << 64))


def _wasmtime_shim(store: Any, logs: list[Value]) -> Any:
    """log-v128 for wasmtime: LOG_V128_SHIM instantiated over the halves' logger."""
    import wasmtime

    shim = wasmtime.Module(store.engine, LOG_V128_SHIM)
    ftype = shim.imports[0].type
    assert isinstance(ftype, wasmtime.FuncType)
    log = wasmtime.Func(store, ftype, lambda lo, hi: _log_v128(logs, lo, hi))
    return wasmtime.Instance(store, shim, [log]).exports(store)[LOG_V128]


def _wasmtime_trap(e: Any) -> str:
    """The trap kind of a wasmtime.Trap (or of the WasmtimeError an instantiation raises
    when its start function throws), in bridge.abi.Trap's names."""
    import wasmtime

    code = getattr(e, "trap_code", None)
    name = code.name if code is not None else "UNKNOWN"
    if name == "OUT_OF_FUEL":
        return name
    if code is None and "thrown Wasm exception" in str(e):
        return "UNCAUGHT_EXCEPTION"  # no trap code: an exception no handler caught
    if code is None and not isinstance(e, wasmtime.Trap):
        return f"wasmtime error: {str(e).strip().splitlines()[-1]}"  # shows as a mismatch
    return WASMTIME_TRAPS.get(name, name)


# ---- wasmkiln's side: compiled, linked, run in a forked child -----------------------------------
class Ours:
    """Compiles modules with one backend and runs plans in forked children."""

    def __init__(self, backend: str, workdir: Path) -> None:
        from ..spec import hostrt
        from ..spec.wast import ModuleBuilder

        try:
            self.rt = hostrt.host_runtime()
            self.builder = ModuleBuilder(workdir, backend, self.rt.include_dir, jobs=1)
            # the harness modules, compiled once per run (forget() keeps them)
            self.shims = ModuleBuilder(workdir / SHIMS, backend, self.rt.include_dir, jobs=1)
        except (hostrt.HostError, RuntimeError) as e:  # no host runtime, no C compiler
            raise FuzzError(str(e)) from None
        self.backend = backend
        self.workdir = workdir

    def close(self) -> None:
        self.builder.close()
        self.shims.close()

    def forget(self) -> None:
        """Drop the compiled modules (files and cache): a long run would fill the disk."""
        from ..spec.wast import ModuleBuilder

        self.builder.close()
        for child in self.workdir.iterdir() if self.workdir.is_dir() else ():
            if child.name != SHIMS:
                shutil.rmtree(child, ignore_errors=True)
        self.builder = ModuleBuilder(self.workdir, self.backend, self.rt.include_dir, jobs=1)

    def run(
        self,
        wasm: bytes,
        plan: Sequence[Call],
        keep_memory: bool = False,
        timeout: float = CHILD_TIMEOUT,
    ) -> RunResult:
        from ..spec.wast import CompileFailed

        try:
            compiled = self.builder.submit(wasm).result()
            names = {i.name for i in compiled.module.imports if i.module == LOG_MODULE}
            shim = self._shim(LOG_V128_SHIM).so_path if LOG_V128 in names else None
            harness = self._shim(HARNESS_SHIM) if names & SHIM_NAMES else None
        except CompileFailed as e:
            return RunResult(error=f"compile: {e}")
        opaque = _opaque_exports(wasm)
        return _in_child(
            lambda: self._execute(
                compiled.module, compiled.so_path, plan, keep_memory, shim, harness, opaque
            ),
            timeout,
        )

    def _shim(self, wat: str) -> Any:
        """A harness module (LOG_V128_SHIM, HARNESS_SHIM) compiled by the backend under test."""
        import wasmtime

        return self.shims.submit(bytes(wasmtime.wat2wasm(wat))).result()

    def _execute(
        self,
        module: Any,
        so_path: Path,
        plan: Sequence[Call],
        keep_memory: bool,
        shim_path: Path | None = None,
        harness: Any = None,
        opaque: frozenset[str] | set[str] = frozenset(),
    ) -> RunResult:
        """Runs in the child: instantiate with logging imports, make the calls."""
        from wasmkiln.bridge.abi import Trap
        from wasmkiln.bridge.module import ExternKind

        from ..spec import hostrt

        rt, ffi = self.rt, self.rt.ffi
        logs: list[Value] = []
        keep: list[Any] = []  # callbacks and records must outlive the instance
        imports: list[Any] = []  # hostrt handles, in the import order
        ctypes_ = {"i32": "uint32_t", "i64": "uint64_t", "f32": "float", "f64": "double"}
        sigs = {"i32": "print_i32", "i64": "print_i64", "f32": "print_f32", "f64": "print_f64"}
        with rt.store() as store:

            def logger(ty: str) -> hostrt.Func:
                def log(_vm: Any, x: Any) -> None:
                    if len(logs) < LOG_LIMIT:
                        logs.append(_from_py(ty, x))

                cb = ffi.callback(f"void(void *, {ctypes_[ty]})", log)
                rec = ffi.new("wk_funcref *")
                rec.host = cb  # host code: the importer calls it through its adapter
                rec.vmctx = rec  # never read by the callback; the ABI wants a pointer
                rec.type_id = store.spectest_func(sigs[ty]).ptr.type_id  # same signature
                keep.extend((cb, rec))
                return hostrt.Func(rt, rec)

            shim: hostrt.Func | None = None
            harness_inst: hostrt.Instance | None = None
            for imp in module.imports:
                if imp.module == LOG_MODULE and imp.name in SHIM_NAMES and harness is not None:
                    if harness_inst is None:
                        harness_inst = store.instantiate(store.load(harness.so_path), [])
                        harness_inst.initialize()
                    exp = next(e for e in harness.module.exports if e.name == imp.name)
                    get = harness_inst.tag if exp.kind == ExternKind.TAG else harness_inst.func
                    imports.append(get(exp.index))
                    continue
                if imp.kind == ExternKind.GLOBAL:  # binaryen's imported externrefs: null
                    imports.append(store.global_(0))
                    continue
                if imp.module == LOG_MODULE and imp.name == LOG_V128 and shim_path is not None:
                    if shim is None:  # log-v128: the shim module, over the halves' logger
                        cb = ffi.callback(
                            "void(void *, uint64_t, uint64_t)",
                            lambda _vm, lo, hi: _log_v128(logs, lo, hi),
                        )
                        rec = ffi.new("wk_funcref *")
                        rec.host, rec.vmctx, rec.type_id = cb, rec, rt.type_id("II:")
                        keep.extend((cb, rec))
                        shim_inst = store.instantiate(store.load(shim_path), [hostrt.Func(rt, rec)])
                        shim_inst.initialize()
                        shim = shim_inst.func(1)  # its import is function 0
                    imports.append(shim)
                    continue
                ty = LOG_FUNCS.get(imp.name) if imp.module == LOG_MODULE else None
                if ty is None:
                    return RunResult(error=f"unknown import {imp.module}.{imp.name}")
                imports.append(logger(ty))
            res = RunResult()
            inst = store.instantiate(store.load(so_path), imports)
            code = inst.initialize()
            if code:
                res.init_trap = _trap_name(Trap, code)
                return res
            names = {e.name: e for e in module.exports}
            mems = [e for e in module.exports if e.kind == ExternKind.MEMORY]
            for call in plan:
                logs.clear()
                out = Outcome(call.name)
                if HANG_EXPORT in names:
                    inst.invoke(names[HANG_EXPORT].index, [], 0)
                exp = names[call.name]
                ftype = module.func_type(exp.index)
                code, raw = inst.invoke(exp.index, [b for _, b in call.args], len(ftype.results))
                if code:
                    out.trap = _trap_name(Trap, code)
                else:
                    out.results = tuple(
                        _slot_value(str(t), r) for t, r in zip(ftype.results, raw, strict=True)
                    )
                out.logs = tuple(logs)
                out.globals = tuple(
                    self._global(module, inst, e)
                    for e in module.exports
                    if e.kind == ExternKind.GLOBAL and e.name not in opaque
                )
                if mems:
                    data = b"".join(
                        bytes(ffi.buffer(m.base, m.size))
                        for m in (inst.memory(e.index).ptr for e in mems)
                    )
                    out.memory = hashlib.sha256(data).hexdigest()
                    out.memory_bytes = data if keep_memory else None
                res.outcomes.append(out)
            return res

    @staticmethod
    def _global(module: Any, inst: Any, export: Any) -> tuple[str, Value]:
        ty = str(module.all_globals()[export.index].type)
        return export.name, _slot_value(ty, inst.global_(export.index).bits)


def _slot_value(ty: str, raw: int) -> Value:
    """A value from our runtime's 8-byte slot (references: only null-ness, as for wasmtime)."""
    return (ty, raw & MASK[ty]) if ty in MASK else (ty, int(raw != 0))


def _trap_name(trap_enum: Any, code: int) -> str:
    try:
        name = str(trap_enum(code).name)
        return SAME_TRAP.get(name, name)
    except ValueError:
        return f"code 0x{code:x}"


def _in_child(work: Callable[[], RunResult], timeout: float) -> RunResult:
    """Run `work` in a forked child; its RunResult comes back pickled through a pipe.

    A child that hangs is killed after `timeout` seconds; one that dies (a signal from generated
    code the runtime did not catch) is reported with the signal."""
    rfd, wfd = os.pipe()
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:  # the child: never returns
        os.close(rfd)
        faulthandler.disable()  # a crash is reported by the parent, without a dump on stderr
        try:
            data = pickle.dumps(work())
        except BaseException as e:  # noqa: BLE001 - anything becomes a reported error
            data = pickle.dumps(RunResult(error=f"runner error: {type(e).__name__}: {e}"))
        with os.fdopen(wfd, "wb") as f:
            f.write(data)
        os._exit(0)
    os.close(wfd)
    chunks: list[bytes] = []
    deadline = time.monotonic() + timeout
    timed_out = False
    with os.fdopen(rfd, "rb", buffering=0) as f:
        while True:
            left = deadline - time.monotonic()
            ready, _, _ = select.select([f], [], [], max(0.0, left))
            if not ready:
                timed_out = True
                os.kill(pid, signal.SIGKILL)
                break
            chunk = f.read(1 << 20)
            if not chunk:
                break
            chunks.append(chunk)
    _, status = os.waitpid(pid, 0)
    if timed_out:
        return RunResult(error=f"hang: no result after {timeout:.0f} s")
    if os.WIFSIGNALED(status):
        return RunResult(error=f"crash: killed by signal {os.WTERMSIG(status)}")
    try:
        result = pickle.loads(b"".join(chunks))
    except Exception:  # noqa: BLE001 - a truncated pickle means the child died mid-write
        return RunResult(error=f"crash: exit status {os.waitstatus_to_exitcode(status)}")
    assert isinstance(result, RunResult)
    return result


def wasmtime_validates(wasm: bytes) -> bool:
    import wasmtime

    try:  # default features: a proposal binaryen was not asked for shows up in our compile
        wasmtime.Module.validate(wasmtime.Engine(), wasm)
    except wasmtime.WasmtimeError:
        return False
    return True
