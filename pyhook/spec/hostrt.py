"""The host runtime, in-process: compiled modules as shared objects, run through cffi.

This is the only module that imports cffi. It loads `libwasmkiln-host.so` (the runtime
core built for a normal Linux process, `unikernel/platform/host`, API in
`unikernel/include/wk/host.h`) once per process with RTLD_GLOBAL, then each module's
shared object with RTLD_LOCAL (each defines its own `wk_module_main`). Everything the
C side creates is owned by a `Store` and freed by `Store.close()`, instances first.

    rt = host_runtime()
    with rt.store() as store:
        mod = store.load(Path("mod.so"))
        inst = store.instantiate(mod, [store.spectest_func("print_i32")])
        if inst.initialize() == 0:
            trap, results = inst.invoke(3, [7], 1)
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

import cffi

from wasmkiln.bridge import abi

from ..image.runtime import runtime_dir

__all__ = [
    "EXITED",
    "Func",
    "Global",
    "HostError",
    "HostRuntime",
    "Instance",
    "LoadedModule",
    "Memory",
    "Store",
    "Table",
    "host_runtime",
]

# The ABI structs the host runtime hands out, as cffi sees them (abi.h's, without its
# includes and asserts; tests/test_abi_copies.py checks every offset against bridge/abi.py).
# The library's functions are declared from its own header (host_declarations).
_CDEF = """
typedef struct wk_module wk_module;
typedef struct { void *code; void *vmctx; uint32_t type_id; uint32_t pad; } wk_funcref;
typedef struct { uint8_t *base; uint64_t size; uint64_t max_pages; } wk_memory;
typedef struct {
  void **elems; uint32_t size; uint32_t max; uint32_t elem_type; uint32_t pad;
} wk_table;
typedef union {
  uint64_t i64; uint32_t i32; void *ref; void *cell; uint64_t v128[2]; uint8_t bytes[16];
} wk_global;
extern const char wk_module_main[];
"""


def host_declarations(header: Path) -> str:
    """The typedefs and prototypes of wk/host.h (`wk_host_*`), comments and preprocessor
    lines left out: cffi declares the functions from the very header the library was built
    with, so the two cannot drift."""
    text = re.sub(r"/\*.*?\*/", " ", header.read_text(), flags=re.S)
    decls = re.findall(
        r"^typedef struct wk_host_\w+ wk_host_\w+;$"
        r"|^[\w ]+?\**\s*\bwk_host_\w+\([^;{]*\);",
        text,
        re.M,
    )
    return "\n".join(" ".join(d.split()) for d in decls)


EXITED = 0x100  # WK_HOST_EXITED: the guest called proc_exit
NO_TRAMPOLINE = 0x101  # WK_HOST_NO_TRAMPOLINE
BAD_INDEX = 0x102  # WK_HOST_BAD_INDEX
LIBRARY = "libwasmkiln-host.so"


def pack_slots(
    args: Sequence[int],
    nresults: int,
    param_types: Sequence[int] | None = None,
    result_types: Sequence[int] | None = None,
) -> tuple[list[int], list[int]]:
    """The 8-byte slots wk_host_invoke takes for `args` (room for the results too), and the
    result types. Without types every value is one slot; with the value type bytes, a v128
    takes two (abi.slot_offsets), low half first. Shared with the aarch64 agent
    (hostrt_remote.py), whose wire carries the same slots."""
    ptypes = list(param_types) if param_types is not None else [0] * len(args)
    rtypes = list(result_types) if result_types is not None else [0] * nresults
    slots = [0] * max(abi.slot_count(ptypes), abi.slot_count(rtypes), 1)
    for a, t, at in zip(args, ptypes, abi.slot_offsets(ptypes), strict=True):
        slots[at // 8] = a & 0xFFFFFFFFFFFFFFFF
        if t == abi.V128_TYPE:
            slots[at // 8 + 1] = (a >> 64) & 0xFFFFFFFFFFFFFFFF
    return slots, rtypes


def unpack_slots(slots: Sequence[int], result_types: Sequence[int]) -> list[int]:
    """The results in `slots` after a call (pack_slots' layout): a v128 as one integer."""
    results = []
    for t, at in zip(result_types, abi.slot_offsets(result_types), strict=True):
        value = int(slots[at // 8])
        if t == abi.V128_TYPE:
            value |= int(slots[at // 8 + 1]) << 64
        results.append(value)
    return results


class HostError(Exception):
    """The host runtime refused something (instantiation, a bad limit); says why."""


class _Handle:
    """A pointer the C side handed out, valid until its Store closes."""

    def __init__(self, rt: HostRuntime, ptr: Any) -> None:
        self._rt = rt
        self.ptr = ptr

    @property
    def address(self) -> int:
        return int(self._rt.ffi.cast("uintptr_t", self.ptr))


class Func(_Handle):
    """A function record (`wk_funcref *`); its address is the funcref value."""


class Memory(_Handle):
    @property
    def pages(self) -> int:
        return int(self.ptr.size) // 65536


class Table(_Handle):
    @property
    def size(self) -> int:
        return int(self.ptr.size)


class Global(_Handle):
    """A global's 16-byte cell; `bits` are its value, little-endian, low bytes first."""

    @property
    def bits(self) -> int:
        return int(self.ptr.i64)

    @bits.setter
    def bits(self, value: int) -> None:
        self.ptr.i64 = value & 0xFFFFFFFFFFFFFFFF

    @property
    def bits128(self) -> int:
        """All 16 bytes (a v128 global)."""
        return int(self.ptr.v128[0]) | int(self.ptr.v128[1]) << 64


class LoadedModule:
    """A module's shared object, loaded; `descriptor` is its `wk_module_main`."""

    def __init__(self, rt: HostRuntime, path: Path) -> None:
        ffi = rt.ffi
        try:
            self.lib = ffi.dlopen(str(path), ffi.RTLD_NOW | ffi.RTLD_LOCAL)
        except OSError as e:
            raise HostError(f"cannot load {path.name}: {e}") from None
        self.descriptor = ffi.cast("const wk_module *", self.lib.wk_module_main)
        self.path = path


class Instance:
    """An instance in its own mapping; the index arguments are the module's index spaces."""

    def __init__(self, rt: HostRuntime, ptr: Any, module: LoadedModule) -> None:
        self._rt = rt
        self.ptr = ptr
        self.module = module  # keeps the code loaded while the instance lives

    def initialize(self) -> int:
        """Active segments, then the start function: 0, or the trap code."""
        return int(self._rt.lib.wk_host_initialize(self.ptr))

    def invoke(
        self,
        func: int,
        args: Sequence[int],
        nresults: int,
        param_types: Sequence[int] | None = None,
        result_types: Sequence[int] | None = None,
    ) -> tuple[int, list[int]]:
        """Call function `func` with raw values: (trap code or 0, results).

        Without types every value is one 8-byte slot. With the value type bytes of the
        parameters and results, a v128 takes two slots (abi.slot_offsets) and comes back as
        one 128-bit integer.
        """
        slots, rtypes = pack_slots(args, nresults, param_types, result_types)
        cells = self._rt.ffi.new("uint64_t[]", slots)
        code = int(self._rt.lib.wk_host_invoke(self.ptr, func, cells))
        return code, unpack_slots(list(cells), rtypes)

    def func(self, index: int) -> Func:
        return Func(self._rt, self._check(self._rt.lib.wk_host_func(self.ptr, index), "func"))

    def memory(self) -> Memory:
        return Memory(self._rt, self._check(self._rt.lib.wk_host_memory(self.ptr), "memory"))

    def table(self, index: int) -> Table:
        return Table(self._rt, self._check(self._rt.lib.wk_host_table(self.ptr, index), "table"))

    def global_(self, index: int) -> Global:
        cell = self._check(self._rt.lib.wk_host_global(self.ptr, index), "global")
        return Global(self._rt, cell)

    def _check(self, ptr: Any, what: str) -> Any:
        if ptr == self._rt.ffi.NULL:
            raise HostError(f"the instance has no such {what}")
        return ptr


class Store:
    """Owns instances, loaded modules and host-made externs; close() frees them all."""

    def __init__(self, rt: HostRuntime) -> None:
        self._rt = rt
        self._instances: list[Any] = []
        self._frees: list[tuple[str, Any]] = []  # (C free function, pointer)
        self._modules: dict[Path, LoadedModule] = {}

    def __enter__(self) -> Store:
        return self

    def __exit__(
        self, t: type[BaseException] | None, v: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def load(self, path: Path) -> LoadedModule:
        mod = self._modules.get(path)
        if mod is None:
            mod = self._modules[path] = LoadedModule(self._rt, path)
        return mod

    def instantiate(self, module: LoadedModule, imports: Sequence[_Handle]) -> Instance:
        """Create (not yet initialize) an instance; imports in the module's import order."""
        ffi, lib = self._rt.ffi, self._rt.lib
        array = ffi.new("void *[]", [i.ptr for i in imports] or [ffi.NULL])
        ptr = lib.wk_host_instantiate(module.descriptor, array)
        if ptr == ffi.NULL:
            raise HostError(self._rt.last_error() or "instantiation failed")
        self._instances.append(ptr)
        return Instance(self._rt, ptr, module)

    def memory(self, min_pages: int, max_pages: int) -> Memory:
        return Memory(
            self._rt,
            self._own("wk_host_memory_free", self._rt.lib.wk_host_memory_new(min_pages, max_pages)),
        )

    def table(self, min_size: int, max_size: int, elem_type: int) -> Table:
        return Table(
            self._rt,
            self._own(
                "wk_host_table_free", self._rt.lib.wk_host_table_new(min_size, max_size, elem_type)
            ),
        )

    def global_(self, bits: int) -> Global:
        return Global(
            self._rt, self._own("wk_host_global_free", self._rt.lib.wk_host_global_new(bits))
        )

    def spectest_func(self, name: str) -> Func:
        ptr = self._rt.lib.wk_host_spectest_func(name.encode())
        if ptr == self._rt.ffi.NULL:
            raise HostError(f"spectest has no function {name!r}")
        return Func(self._rt, ptr)  # static records: nothing to free

    def _own(self, free: str, ptr: Any) -> Any:
        if ptr == self._rt.ffi.NULL:
            raise HostError(self._rt.last_error() or "out of memory")
        self._frees.append((free, ptr))
        return ptr

    def close(self) -> None:
        lib = self._rt.lib
        for ptr in reversed(self._instances):
            lib.wk_host_instance_free(ptr)
        for free, ptr in reversed(self._frees):
            getattr(lib, free)(ptr)
        for mod in self._modules.values():
            self._rt.ffi.dlclose(mod.lib)
        self._instances, self._frees, self._modules = [], [], {}


class HostRuntime:
    """The host library, loaded once per process (see host_runtime())."""

    def __init__(self, path: Path | None = None) -> None:
        path = path or runtime_dir() / "host" / LIBRARY
        if not path.is_file():
            raise HostError(
                f"{path} is missing: reinstall wasmkiln (`pip install -e .`), "
                "which builds the host runtime with CMake"
            )
        self.path = path
        self.include_dir = path.parent.parent / "include"
        self.ffi = cffi.FFI()
        self.ffi.cdef(_CDEF + host_declarations(self.include_dir / "wk" / "host.h"))
        self.lib = self.ffi.dlopen(str(path), self.ffi.RTLD_NOW | self.ffi.RTLD_GLOBAL)

    def last_error(self) -> str:
        return self.ffi.string(self.lib.wk_host_last_error()).decode(errors="replace")

    def type_id(self, signature: str) -> int:
        """The runtime-wide id of a function signature ("II:" is (i64, i64) -> ()), for
        records of host functions made in Python (the fuzzer's loggers)."""
        return int(self.lib.wk_host_type_id(signature.encode()))

    def set_stack_depth(self, nbytes: int) -> None:
        self.lib.wk_host_set_stack_depth(nbytes)

    def store(self) -> Store:
        return Store(self)


_RUNTIME: HostRuntime | None = None


def host_runtime() -> HostRuntime:
    """The process's host runtime (the library and its type registry are process-wide)."""
    global _RUNTIME
    if _RUNTIME is None:
        _RUNTIME = HostRuntime()
    return _RUNTIME
