"""`wasmkiln wast`: run WebAssembly spec scripts in-process, like `wasmtime wast`.

A script is `wast2json` output: NAME.json (the commands) next to the NAME.N.wasm modules
it names, or a .wast file, which pyhook/spec/wast_text.py writes in that form first. Each module
is compiled by bridge (`unknown_imports="embed"`: the runner supplies every import), linked
into a shared object with the system C compiler, loaded and instantiated through the host
runtime (pyhook/spec/hostrt.py, the only cffi user), then every command runs against it.
docs/spec-runner.md describes the whole runner.

Values cross as 8-byte slots of raw bits: i32/f32 in the low 4 bytes, i64/f64 whole, a v128
in two slots (one 128-bit int here), references as pointers (0 is null). The spec's host
references `ref.extern N` are the opaque values N + 1, so that `ref.extern 0` is not null.
"""

from __future__ import annotations

import hashlib
import json
import os
import struct
import subprocess
import sys
import tempfile
from collections import Counter
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from wasmkiln.bridge.abi import TRAP_MESSAGES, Trap
from wasmkiln.bridge.decode import decode
from wasmkiln.bridge.errors import UnsupportedError, WasmError
from wasmkiln.bridge.features import WASM2, WASM3
from wasmkiln.bridge.module import (
    ExternKind,
    FuncType,
    GlobalType,
    Limits,
    MemoryType,
    Module,
    TableType,
    TagType,
    ValType,
)
from wasmkiln.bridge.reftypes import TypeSpace, cross_matches, is_ref, shorthand
from wasmkiln.bridge.validate import validate

from ..image.image import c_compiler
from . import hostrt

if TYPE_CHECKING:
    from .hostrt_remote import RemoteRuntime

U32 = 0xFFFFFFFF
U64 = 0xFFFFFFFFFFFFFFFF
# -z text: a text relocation (a non-PIC object) is a link error, not a silent fixup.
LINK_FLAGS = ["-shared", "-fPIC", "-O1", "-Wl,-Bsymbolic", "-Wl,-z,text", "-lm"]
SPECTEST_FUNCS = (
    "print",
    "print_i32",
    "print_i64",
    "print_f32",
    "print_f64",
    "print_i32_f32",
    "print_f64_f64",
)
SPECTEST_FUNC_TYPES = {
    "print": FuncType((), ()),
    "print_i32": FuncType((ValType.I32,), ()),
    "print_i64": FuncType((ValType.I64,), ()),
    "print_f32": FuncType((ValType.F32,), ()),
    "print_f64": FuncType((ValType.F64,), ()),
    "print_i32_f32": FuncType((ValType.I32, ValType.F32), ()),
    "print_f64_f64": FuncType((ValType.F64, ValType.F64), ()),
}
_VALTYPES = {
    "i32": ValType.I32,
    "i64": ValType.I64,
    "f32": ValType.F32,
    "f64": ValType.F64,
    "externref": ValType.EXTERNREF,
    "funcref": ValType.FUNCREF,
    "exnref": ValType.EXNREF,
    "v128": ValType.V128,
}
_REF_TYPES = (ValType.EXTERNREF, ValType.FUNCREF, ValType.EXNREF)


# ---- results ------------------------------------------------------------------------
@dataclass
class Failure:
    line: int
    command: str
    message: str


@dataclass
class FileResult:
    name: str
    path: Path
    passed: int = 0
    failed: int = 0
    skipped: Counter[str] = field(default_factory=Counter)
    failures: list[Failure] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def skipped_total(self) -> int:
        return sum(self.skipped.values())


class CommandFailed(Exception):
    """One command did not do what the script expects; the message says what happened."""


class CompileFailed(Exception):
    """A module the script needs could not be compiled or linked: category + detail."""

    def __init__(self, category: str, detail: str) -> None:
        super().__init__(f"{category}: {detail}")
        self.category = category


# ---- compiling modules into shared objects --------------------------------------------
@dataclass
class Compiled:
    module: Module
    so_path: Path


class ModuleBuilder:
    """Wasm bytes -> shared object, cached by content; links run on a thread pool.

    The translation itself runs in the caller's thread (it holds the GIL anyway); the C
    compiler runs in the pool, so linking one module overlaps translating the next.
    """

    def __init__(
        self,
        workdir: Path,
        backend: str,
        include_dir: Path,
        jobs: int | None = None,
        arch: str = "x86_64",
        cc: str | None = None,
    ) -> None:
        self.workdir = workdir
        self.backend = backend
        self.include_dir = include_dir
        self.arch = arch  # the code's; cc: the C compiler that links it (cross for aarch64)
        self.cc = cc or c_compiler()  # ImageError (one line from the CLI) when there is none
        self._pool = ThreadPoolExecutor(jobs or max(1, len(os.sched_getaffinity(0))))
        self._done: dict[str, Future[Compiled]] = {}
        # The rules of the script being run (bridge/features.py): a 2.0 script (wast2json)
        # asserts rejections that 3.0 lifted (multiple memories, memory64, ...).
        self.features = WASM3

    def submit(self, wasm: bytes) -> Future[Compiled]:
        tag = f"{self.backend}\0{self.arch}\0{self.features}\0"
        key = hashlib.sha256(tag.encode() + wasm).hexdigest()[:32]
        fut = self._done.get(key)
        if fut is not None:
            return fut
        try:
            fut = self._pool.submit(self._link, key, *self._translate(key, wasm))
        except CompileFailed as e:
            fut = Future()
            fut.set_exception(e)
        self._done[key] = fut
        return fut

    def _translate(self, key: str, wasm: bytes) -> tuple[Module, list[Path]]:
        from wasmkiln.bridge.compile import compile_wasm  # loads the backend: only here

        folder = self.workdir / key
        folder.mkdir(parents=True, exist_ok=True)
        blob = folder / "data.bin"
        try:
            c = compile_wasm(
                wasm,
                blob_path=str(blob),
                backend=self.backend,
                unknown_imports="embed",
                name=key[:12],
                pic=True,
                arch=self.arch,
                features=self.features,
            )
        except UnsupportedError as e:
            raise CompileFailed("unsupported", str(e)) from None
        except WasmError as e:
            raise CompileFailed("rejected a valid module", str(e)) from None
        except (KeyboardInterrupt, SystemExit):
            raise
        except BaseException as e:  # noqa: BLE001 - PanicException is a BaseException
            raise CompileFailed("compiler bug", f"{type(e).__name__}: {e}") from None
        blob.write_bytes(c.data_blob)
        (folder / "meta.c").write_text(c.metadata_c)
        objects = []
        for i, code in enumerate([c.code, *c.extra_objects]):
            objects.append(folder / f"code{i}.o")
            objects[-1].write_bytes(code)
        return c.module, objects

    def _link(self, key: str, module: Module, objects: list[Path]) -> Compiled:
        folder = self.workdir / key
        out = folder / "module.so"
        cmd = [
            self.cc,
            f"-I{self.include_dir}",
            str(folder / "meta.c"),
            *map(str, objects),
            *LINK_FLAGS,
            "-o",
            str(out),
        ]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            raise CompileFailed("link", proc.stderr.strip()[-2000:])
        return Compiled(module, out)

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)


# ---- values ----------------------------------------------------------------------------
def _f32_bits(x: float) -> int:
    return int.from_bytes(struct.pack("<f", x), "little")


def _f64_bits(x: float) -> int:
    return int.from_bytes(struct.pack("<d", x), "little")


_LANE_BITS = {"i8": 8, "i16": 16, "i32": 32, "i64": 64, "f32": 32, "f64": 64}
U128 = (1 << 128) - 1


def _v128_bits(lane_type: str, lanes: list[str]) -> int:
    """A v128 given as lane values (strings of unsigned or signed ints) as one 128-bit int."""
    width = _LANE_BITS[lane_type]
    bits = 0
    for i, lane in enumerate(lanes):
        bits |= (int(lane) & ((1 << width) - 1)) << (i * width)
    return bits


def encode_value(v: dict[str, Any]) -> int:
    """A script's argument as its raw bits (a v128 as one 128-bit int)."""
    ty, value = v["type"], v.get("value")
    if ty == "v128":
        return _v128_bits(v["lane_type"], value)  # type: ignore[arg-type]
    if ty in ("i32", "f32"):
        return int(value) & U32  # type: ignore[arg-type]
    if ty in ("i64", "f64"):
        return int(value) & U64  # type: ignore[arg-type]
    if ty in ("externref", "funcref", "exnref"):
        if value == "null":
            return 0
        if ty == "externref":
            return int(value) + 1  # type: ignore[arg-type]
        raise CommandFailed(f"cannot pass a non-null funcref {value!r} from the host")
    raise CommandFailed(f"{ty} values are not supported")


def _slot_value(ty: ValType, raw: int) -> int:
    if ty == ValType.V128:
        return raw & U128
    return raw & U32 if ty in (ValType.I32, ValType.F32) else raw & U64


def show_value(ty: ValType, raw: int) -> str:
    raw = _slot_value(ty, raw)
    if ty == ValType.I32:
        return f"i32:{raw}"
    if ty == ValType.I64:
        return f"i64:{raw}"
    if ty == ValType.F32:
        return f"f32:0x{raw:08x} ({struct.unpack('<f', raw.to_bytes(4, 'little'))[0]!r})"
    if ty == ValType.F64:
        return f"f64:0x{raw:016x} ({struct.unpack('<d', raw.to_bytes(8, 'little'))[0]!r})"
    if ty == ValType.V128:
        return "v128:i32x4[" + " ".join(f"0x{raw >> (32 * i) & U32:08x}" for i in range(4)) + "]"
    if raw == 0:
        return f"{ty}:null"
    return f"{ty}:{raw - 1}" if ty == ValType.EXTERNREF else f"{ty}:0x{raw:x}"


def value_matches(expected: dict[str, Any], ty: ValType, raw: int) -> bool:
    """Does a result (slot bits of type ty) satisfy the script's expectation? `either`
    (relaxed SIMD) lists several acceptable ones."""
    if expected["type"] == "either":
        return any(value_matches(e, ty, raw) for e in expected["values"])
    want = _VALTYPES.get(expected["type"])
    if want != ty:
        return False
    raw = _slot_value(ty, raw)
    value = expected.get("value")
    if ty in _REF_TYPES:
        if value is None:  # (ref.func) / (ref.extern): any non-null reference
            return raw != 0
        if value == "null":
            return raw == 0
        return ty == ValType.EXTERNREF and raw == int(value) + 1
    if ty == ValType.V128:
        lane_type = expected["lane_type"]
        width = _LANE_BITS[lane_type]
        lane_vt = _VALTYPES.get(lane_type, ValType.I64 if width == 64 else ValType.I32)
        return all(
            _scalar_matches(lane, lane_vt, raw >> (i * width) & ((1 << width) - 1), width)
            for i, lane in enumerate(value or ())
        )
    return _scalar_matches(value, ty, raw, 32 if ty in (ValType.I32, ValType.F32) else 64)


def _scalar_matches(value: Any, ty: ValType, raw: int, width: int) -> bool:
    """One number (a value, or a lane of `width` bits) against a value or NaN pattern."""
    if value == "nan:canonical":
        if ty == ValType.F32:
            return raw & 0x7FFFFFFF == 0x7FC00000
        return raw & 0x7FFFFFFFFFFFFFFF == 0x7FF8000000000000
    if value == "nan:arithmetic":
        if ty == ValType.F32:
            return raw & 0x7FC00000 == 0x7FC00000
        return raw & 0x7FF8000000000000 == 0x7FF8000000000000
    if value is None:
        return False
    return raw == int(value) & ((1 << width) - 1)


def trap_message(code: int) -> str:
    try:
        return TRAP_MESSAGES[Trap(code)]
    except ValueError:
        return {hostrt.EXITED: "the guest exited"}.get(code, f"unknown trap code {code}")


def trap_matches(expected: str, code: int) -> bool:
    """The spec's text must be (contained in) our message; a trailing index is dropped
    ("uninitialized element 2": the reference interpreter names the element)."""
    ours = trap_message(code)
    if expected in ours:
        return True
    head, _, tail = expected.rpartition(" ")
    return tail.isdigit() and head in ours


# ---- externs and instances ---------------------------------------------------------------
ExternType = FuncType | TableType | MemoryType | GlobalType


@dataclass
class Extern:
    kind: ExternKind
    handle: hostrt.Func | hostrt.Table | hostrt.Memory | hostrt.Global | hostrt.Tag
    type: ExternType
    index: int = 0  # functions: index in the owning instance (to invoke it)
    owner: RunInstance | None = None  # the exporting instance (its types, its functions)
    type_key: Any = None  # tags: Module.type_key of its type (recursion groups count)


@dataclass
class RunInstance:
    module: Module
    instance: hostrt.Instance
    line: int
    _exports: dict[str, Extern] | None = None

    @property
    def exports(self) -> dict[str, Extern]:
        if self._exports is None:
            self._exports = {e.name: self._extern(e.kind, e.index) for e in self.module.exports}
        return self._exports

    def _extern(self, kind: ExternKind, index: int) -> Extern:
        m, inst = self.module, self.instance
        if kind == ExternKind.FUNC:
            return Extern(kind, inst.func(index), m.func_type(index), index, self)
        if kind == ExternKind.TABLE:
            tables = [i.desc for i in m.imported(ExternKind.TABLE)] + list(m.tables)
            return Extern(kind, inst.table(index), tables[index], 0, self)  # type: ignore[arg-type]
        if kind == ExternKind.MEMORY:
            return Extern(kind, inst.memory(index), m.all_memories()[index], 0, self)
        if kind == ExternKind.TAG:  # its type: the tag's function type
            t = m.all_tags()[index]
            return Extern(kind, inst.tag(index), m.types[t], 0, self, type_key=m.type_key(t))
        return Extern(kind, inst.global_(index), m.all_globals()[index], 0, self)


def _limits_match(actual: Limits, wanted: Limits) -> bool:
    if actual.min < wanted.min:
        return False
    if wanted.max is None:
        return True
    return actual.max is not None and actual.max <= wanted.max


def _import_matches(ext: Extern, kind: ExternKind, desc: Any, module: Module) -> bool:
    """Import subtyping; typed references compare across the two modules by structure."""
    if ext.kind != kind:
        return False
    theirs = TypeSpace(ext.owner.module.types if ext.owner else [])
    ours = TypeSpace(module.types)

    def same(a: Any, b: Any) -> bool:
        return theirs.value_key(a) == ours.value_key(b)

    if kind == ExternKind.FUNC:
        assert isinstance(ext.type, FuncType)
        return theirs.signature(ext.type) == ours.signature(module.types[desc])
    if kind == ExternKind.GLOBAL:
        assert isinstance(ext.type, GlobalType)
        if ext.type.mutable != desc.mutable:
            return False
        if desc.mutable or not is_ref(desc.type):
            return same(ext.type.type, desc.type)
        return cross_matches(theirs, ext.type.type, ours, desc.type)
    if kind == ExternKind.TAG:
        assert isinstance(desc, TagType)
        return ext.type_key == module.type_key(desc.type_idx)
    if kind == ExternKind.TABLE:
        assert isinstance(ext.type, TableType) and isinstance(ext.handle, hostrt.Table)
        actual = Limits(ext.handle.size, ext.type.limits.max)
        same_type = same(ext.type.elem, desc.elem) and ext.type.is64 == desc.is64
        return same_type and _limits_match(actual, desc.limits)
    assert isinstance(ext.type, MemoryType) and isinstance(ext.handle, hostrt.Memory)
    actual = Limits(ext.handle.pages, ext.type.limits.max)
    return ext.type.is64 == desc.is64 and _limits_match(actual, desc.limits)


class LinkFailed(Exception):
    pass


# ---- one script ------------------------------------------------------------------------
class Script:
    """Runs the commands of one wast2json script against one store."""

    def __init__(
        self, path: Path, builder: ModuleBuilder, store: hostrt.Store, result: FileResult
    ) -> None:
        self.path = path
        self.dir = path.parent
        self.builder = builder
        self.store = store
        self.result = result
        self.current: RunInstance | None = None
        self.current_error: str | None = None
        self.named: dict[str, RunInstance] = {}
        self.definitions: dict[str | None, str] = {}  # module name (None: latest) -> its file
        self.registry: dict[str, dict[str, Extern]] = {"spectest": self._spectest()}

    def _spectest(self) -> dict[str, Extern]:
        s = self.store
        ex: dict[str, Extern] = {
            name: Extern(ExternKind.FUNC, s.spectest_func(name), SPECTEST_FUNC_TYPES[name])
            for name in SPECTEST_FUNCS
        }
        for name, ty, bits in (
            ("global_i32", ValType.I32, 666),
            ("global_i64", ValType.I64, 666),
            ("global_f32", ValType.F32, _f32_bits(666.6)),
            ("global_f64", ValType.F64, _f64_bits(666.6)),
        ):
            ex[name] = Extern(ExternKind.GLOBAL, s.global_(bits), GlobalType(ty, False))
        ex["table"] = Extern(
            ExternKind.TABLE,
            s.table(10, 20, int(ValType.FUNCREF)),
            TableType(ValType.FUNCREF, Limits(10, 20)),
        )
        ex["table64"] = Extern(  # the 3.0 interpreter's spectest has a table64 too
            ExternKind.TABLE,
            s.table(10, 20, int(ValType.FUNCREF)),
            TableType(ValType.FUNCREF, Limits(10, 20), is64=True),
        )
        ex["memory"] = Extern(ExternKind.MEMORY, s.memory(1, 2), MemoryType(Limits(1, 2)))
        return ex

    def run(self, commands: list[dict[str, Any]]) -> None:
        futures = {
            c["filename"]: self._prefetch(c["filename"])
            for c in commands
            if c["type"] in ("module", "assert_uninstantiable", "assert_unlinkable")
            and c.get("module_type", "binary") == "binary"
            and "filename" in c
        }
        self.futures = futures
        handlers: dict[str, Callable[[dict[str, Any]], str | None]] = {
            "module": self._module,
            "register": self._register,
            "action": self._action_cmd,
            "assert_return": self._assert_return,
            "assert_trap": self._assert_trap,
            "assert_exhaustion": self._assert_trap,
            "assert_exception": self._assert_exception,
            "assert_invalid": self._assert_rejected,
            "assert_malformed": self._assert_rejected,
            "assert_unlinkable": self._assert_unlinkable,
            "assert_uninstantiable": self._assert_uninstantiable,
        }
        r = self.result
        for cmd in commands:
            kind = cmd["type"]
            handler = handlers.get(kind)
            try:
                if handler is None:
                    raise CommandFailed(f"unknown command {kind!r}")
                if "error" in cmd:  # a .wast module that could not be converted (wast_text)
                    if kind == "module":
                        self.current = None
                        self.current_error = f"the module at line {cmd['line']} failed"
                    raise CommandFailed(cmd["error"])
                skip = handler(cmd)
            except CommandFailed as e:
                r.failed += 1
                r.failures.append(Failure(cmd.get("line", 0), kind, str(e)))
                continue
            except hostrt.HostError as e:
                r.failed += 1
                r.failures.append(Failure(cmd.get("line", 0), kind, f"host: {e}"))
                continue
            if skip:
                r.skipped[skip] += 1
            else:
                r.passed += 1

    def _prefetch(self, filename: str) -> Future[Compiled]:
        try:
            wasm = (self.dir / filename).read_bytes()
        except OSError as e:
            fut: Future[Compiled] = Future()
            fut.set_exception(CompileFailed("missing file", str(e)))
            return fut
        return self.builder.submit(wasm)

    def _compiled(self, filename: str) -> Compiled:
        fut = self.futures.get(filename) or self._prefetch(filename)
        try:
            return fut.result()
        except CompileFailed as e:
            raise CommandFailed(str(e)) from None

    # ---- instantiation ----
    def _imports(self, module: Module) -> list[Extern]:
        out = []
        for imp in module.imports:
            provider = self.registry.get(imp.module)
            ext = provider.get(imp.name) if provider is not None else None
            if ext is None:
                raise LinkFailed(f"unknown import {imp.module}.{imp.name}")
            if not _import_matches(ext, imp.kind, imp.desc, module):
                raise LinkFailed(f"incompatible import type for {imp.module}.{imp.name}")
            out.append(ext)
        return out

    def _instantiate(self, filename: str, line: int) -> tuple[RunInstance, int]:
        """Compile, link and create; returns the instance and initialize()'s trap code."""
        compiled = self._compiled(filename)
        imports = self._imports(compiled.module)  # LinkFailed propagates
        loaded = self.store.load(compiled.so_path)
        inst = self.store.instantiate(loaded, [e.handle for e in imports])
        return RunInstance(compiled.module, inst, line), inst.initialize()

    def _module(self, cmd: dict[str, Any]) -> None:
        """`(module ...)` defines and instantiates; 3.0's `(module definition $M? ...)` only
        defines (it must compile) and `(module instance $I? $M?)` instantiates a definition
        (the latest when $M is left out), once per command: instances are generative."""
        if cmd.get("instance"):
            filename = self._definition(cmd.get("definition_name"))
        else:
            filename = self.definitions[None] = cmd["filename"]
            if cmd.get("name"):
                self.definitions[cmd["name"]] = filename
            if cmd.get("definition"):
                self._compiled(filename)
                return
        self.current, self.current_error = None, f"the module at line {cmd['line']} failed"
        try:
            inst, trap = self._instantiate(filename, cmd["line"])
        except LinkFailed as e:
            raise CommandFailed(f"link: {e}") from None
        if trap:
            raise CommandFailed(f"instantiation trapped: {trap_message(trap)}")
        self.current, self.current_error = inst, None
        if cmd.get("name"):
            self.named[cmd["name"]] = inst

    def _definition(self, name: str | None) -> str:
        filename = self.definitions.get(name)
        if filename is None:
            raise CommandFailed(f"no module definition {name}" if name else "no module yet")
        return filename

    def _register(self, cmd: dict[str, Any]) -> None:
        inst = self._instance(cmd.get("name"))
        self.registry[cmd["as"]] = inst.exports

    def _instance(self, name: str | None) -> RunInstance:
        if name is not None:
            if name not in self.named:
                raise CommandFailed(f"no module named {name}")
            return self.named[name]
        if self.current is None:
            raise CommandFailed(self.current_error or "no module yet")
        return self.current

    # ---- actions ----
    def _action(self, act: dict[str, Any]) -> tuple[int, list[int], tuple[ValType, ...]]:
        inst = self._instance(act.get("module"))
        ext = inst.exports.get(act["field"])
        if act["type"] == "get":
            if ext is None or ext.kind != ExternKind.GLOBAL:
                raise CommandFailed(f"no global export {act['field']!r}")
            assert isinstance(ext.handle, hostrt.Global) and isinstance(ext.type, GlobalType)
            bits = ext.handle.bits128 if ext.type.type == ValType.V128 else ext.handle.bits
            return 0, [bits], (shorthand(ext.type.type),)
        if ext is None or ext.kind != ExternKind.FUNC:
            raise CommandFailed(f"no function export {act['field']!r}")
        assert isinstance(ext.type, FuncType) and ext.owner is not None
        args = [encode_value(a) for a in act.get("args", [])]
        if len(args) != len(ext.type.params):
            raise CommandFailed(f"{len(args)} arguments for {ext.type}")
        trap, results = ext.owner.instance.invoke(
            ext.index,
            args,
            len(ext.type.results),
            [shorthand(t) for t in ext.type.params],
            [shorthand(t) for t in ext.type.results],
        )
        return trap, results, tuple(shorthand(t) for t in ext.type.results)

    def _action_cmd(self, cmd: dict[str, Any]) -> None:
        trap, _, _ = self._action(cmd["action"])
        if trap:
            raise CommandFailed(f"trapped: {trap_message(trap)}")

    def _assert_return(self, cmd: dict[str, Any]) -> None:
        trap, results, types = self._action(cmd["action"])
        if trap:
            raise CommandFailed(f"trapped: {trap_message(trap)}")
        expected = cmd.get("expected", [])
        ok = len(expected) == len(results) and all(
            value_matches(e, t, r) for e, t, r in zip(expected, types, results, strict=False)
        )
        if not ok:
            got = ", ".join(show_value(t, r) for t, r in zip(types, results, strict=False))
            want = ", ".join(f"{e['type']}:{e.get('value', '*')}" for e in expected)
            raise CommandFailed(f"{_describe(cmd['action'])}: got [{got}], expected [{want}]")

    def _assert_trap(self, cmd: dict[str, Any]) -> None:
        trap, results, types = self._action(cmd["action"])
        if not trap:
            got = ", ".join(show_value(t, r) for t, r in zip(types, results, strict=False))
            raise CommandFailed(
                f"{_describe(cmd['action'])}: returned [{got}], expected trap {cmd['text']!r}"
            )
        if not trap_matches(cmd["text"], trap):
            raise CommandFailed(
                f"{_describe(cmd['action'])}: trapped "
                f"{trap_message(trap)!r}, expected {cmd['text']!r}"
            )

    def _assert_exception(self, cmd: dict[str, Any]) -> None:
        """The call must end in a Wasm exception that no handler caught."""
        trap, results, types = self._action(cmd["action"])
        if trap == Trap.UNCAUGHT_EXCEPTION:
            return
        if trap:
            raise CommandFailed(f"{_describe(cmd['action'])}: trapped {trap_message(trap)!r}")
        got = ", ".join(show_value(t, r) for t, r in zip(types, results, strict=False))
        raise CommandFailed(f"{_describe(cmd['action'])}: returned [{got}], expected an exception")

    # ---- modules that must fail ----
    def _assert_rejected(self, cmd: dict[str, Any]) -> str | None:
        if cmd.get("module_type") == "text":
            return "text format"
        try:
            data = (self.dir / cmd["filename"]).read_bytes()
        except OSError as e:
            raise CommandFailed(f"cannot read {cmd['filename']}: {e.strerror}") from None
        try:
            validate(decode(data, self.builder.features))
        except UnsupportedError as e:
            raise CommandFailed(f"reported unsupported instead of {cmd['text']!r}: {e}") from None
        except WasmError:
            return None
        except (KeyboardInterrupt, SystemExit):
            raise
        except BaseException as e:  # noqa: BLE001 - a decoder crash is a bug, not a rejection
            raise CommandFailed(f"decoder crashed: {type(e).__name__}: {e}") from None
        raise CommandFailed(f"accepted a module that is {cmd['type'][7:]} ({cmd['text']!r})")

    def _assert_unlinkable(self, cmd: dict[str, Any]) -> None:
        try:
            inst, trap = self._instantiate(cmd["filename"], cmd["line"])
        except LinkFailed as e:
            if cmd["text"] not in str(e):
                raise CommandFailed(f"link failed with {e}, expected {cmd['text']!r}") from None
            return
        raise CommandFailed(f"linked, expected {cmd['text']!r}")

    def _assert_uninstantiable(self, cmd: dict[str, Any]) -> None:
        try:
            inst, trap = self._instantiate(cmd["filename"], cmd["line"])
        except LinkFailed as e:
            raise CommandFailed(f"link: {e}") from None
        if not trap:
            raise CommandFailed(f"instantiated, expected trap {cmd['text']!r}")
        if not trap_matches(cmd["text"], trap):
            raise CommandFailed(f"trapped {trap_message(trap)!r}, expected {cmd['text']!r}")


def _describe(action: dict[str, Any]) -> str:
    args = ", ".join(f"{a['type']}:{a.get('value')}" for a in action.get("args", []))
    where = f"{action['module']}." if action.get("module") else ""
    return f"{action['type']} {where}{action['field']}({args})"


# ---- files and the command ---------------------------------------------------------------
def find_scripts(paths: Iterable[Path], tmp: Path) -> list[Path]:
    """The .json scripts named by PATHs: files, folders of them, or .wast (via wast_text)."""
    out: list[Path] = []
    for p in paths:
        if p.is_dir():  # its wast2json scripts, and the .wast files that have none
            found = sorted(q for q in p.rglob("*.json") if _is_script(q))
            converted = {q.with_suffix("") for q in found}
            out += found
            out += [
                _convert_wast(q, tmp)
                for q in sorted(p.rglob("*.wast"))
                if q.with_suffix("") not in converted
            ]
        elif p.suffix == ".wast":
            out.append(_convert_wast(p, tmp))
        elif p.is_file():
            out.append(p)
        else:
            raise FileNotFoundError(f"{p}: no such file or folder")
    return out


def _is_script(path: Path) -> bool:
    try:
        with path.open("rb") as f:
            return b'"commands"' in f.read(4096)
    except OSError:
        return False


def _convert_wast(path: Path, tmp: Path) -> Path:
    """A .wast script as JSON + modules (pyhook/spec/wast_text.py: wasmtime's wat2wasm, no WABT)."""
    from .wast_text import WastError, convert

    out = tmp / "wast" / path.stem
    n = 1
    while out.exists():  # two scripts of one name (spec3/throw.wast, spec3/legacy/throw.wast)
        out, n = tmp / "wast" / f"{path.stem}-{n}", n + 1
    try:
        return convert(path, out)
    except ImportError:
        raise FileNotFoundError(
            f"{path}: reading .wast needs the wasmtime package (pip install "
            "wasmtime, or wasmkiln's test extra)"
        ) from None
    except (WastError, UnicodeDecodeError) as e:
        raise ValueError(f"{path}: {e}") from None


def run_script(
    path: Path, builder: ModuleBuilder, rt: hostrt.HostRuntime | RemoteRuntime
) -> FileResult:
    import time

    t0 = time.perf_counter()
    result = FileResult(path.stem, path)
    try:
        script = json.loads(path.read_text())
        commands = script["commands"]
        # pyhook/wast_text.py marks the 3.0 scripts it converts; wast2json's are 2.0.
        builder.features = WASM3 if script.get("wasm_version") == 3 else WASM2
    except (OSError, ValueError, KeyError) as e:
        result.failed += 1
        result.failures.append(Failure(0, "script", f"cannot read the script: {e}"))
        return result
    with rt.store() as store:
        Script(path, builder, store, result).run(commands)
    result.seconds = time.perf_counter() - t0
    return result


def run_scripts(
    paths: Iterable[Path],
    backend: str = "cranelift",
    on_result: Callable[[FileResult], None] | None = None,
    workdir: Path | None = None,
    arch: str = "x86_64",
) -> list[FileResult]:
    """Run every script; `on_result` sees each file's result as soon as it is done.
    arch: the code's architecture; other than x86_64, modules run in a host agent of that
    architecture under QEMU user mode (hostrt_remote.py)."""
    rt: hostrt.HostRuntime | RemoteRuntime
    cc = None
    if arch == "x86_64":
        rt = hostrt.host_runtime()
    else:
        from .hostrt_remote import remote_runtime

        rt = remote_runtime(arch)
        cc = rt.cc
    with tempfile.TemporaryDirectory(prefix="wasmkiln-wast-") as tmp:
        work = workdir or Path(tmp)
        scripts = find_scripts(paths, work)
        builder = ModuleBuilder(work / "modules", backend, rt.include_dir, arch=arch, cc=cc)
        results = []
        try:
            for script in scripts:
                res = run_script(script, builder, rt)
                results.append(res)
                if on_result:
                    on_result(res)
        finally:
            builder.close()
    return results


def total_line(results: list[FileResult]) -> str:
    p = sum(r.passed for r in results)
    f = sum(r.failed for r in results)
    s = sum(r.skipped_total for r in results)
    return f"{p} passed, {f} failed, {s} skipped"


def print_result(r: FileResult, verbose: bool, out: Any = sys.stdout, limit: int = 5) -> None:
    reasons = ", ".join(f"{why}: {n}" for why, n in sorted(r.skipped.items()))
    print(
        f"{r.name:<28} {r.passed:>7} {r.failed:>7} {r.skipped_total:>7}  {reasons}",
        file=out,
        flush=True,
    )
    shown = r.failures if verbose else r.failures[:limit]
    for f in shown:
        print(f"    {r.path.name}:{f.line}: {f.command}: {f.message}", file=out)
    if len(shown) < len(r.failures):
        print(f"    ... {len(r.failures) - len(shown)} more (-v shows all)", file=out)


def main(
    paths: list[Path], backend: str = "cranelift", verbose: bool = False, arch: str = "x86_64"
) -> int:
    """`wasmkiln wast`: the per-file table, then `N passed, N failed, N skipped`."""
    header = [f"{'file':<28} {'passed':>7} {'failed':>7} {'skipped':>7}"]

    def show(r: FileResult) -> None:
        if header:  # once the scripts were found: a bad PATH prints only the error
            print(header.pop(), flush=True)
        print_result(r, verbose)

    results = run_scripts(paths, backend, show, arch=arch)
    print(total_line(results))
    return 1 if any(r.failed for r in results) else 0
