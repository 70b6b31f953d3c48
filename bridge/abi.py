"""The object ABI between compiled modules and the C runtime (version: ABI_VERSION below).

This module is the single source of truth for the layout that generated code
relies on. `unikernel/include/wk/abi_layout.h` is generated from it
(`python -m wasmkiln.bridge.abi > unikernel/include/wk/abi_layout.h`) and the C
header checks every offset with `_Static_assert`, so the two sides cannot
drift. Bump ABI_VERSION whenever an offset, a builtin slot or a trap code
changes meaning. docs/abi.md explains the contract in prose.
"""

from __future__ import annotations

import enum
import sys
from collections.abc import Sequence
from dataclasses import dataclass

ABI_VERSION = 5

PAGE_SIZE = 65536

# Guard-region linear memory (docs/abi.md "Linear memory"). A module compiled with
# `memory_guard` emits no bounds check for a memory32 access whose static offset is below
# MEMORY_GUARD: the runtime reserves MEMORY_RESERVE bytes of address space from the memory's
# base, only [base, base + size) accessible, so any such access beyond the size faults inside
# the reservation and the platform turns the fault into the MEM_OOB trap. Such a module's
# metadata references GUARD_RUNTIME_SYMBOL, which only runtimes that provide the reservation
# define: linking it with any other runtime fails instead of running unchecked.
MEMORY_GUARD = 2 << 30
MEMORY_RESERVE = (4 << 30) + MEMORY_GUARD + PAGE_SIZE  # + a page: an access is <= 8 bytes
GUARD_RUNTIME_SYMBOL = "wk_runtime_memory_guard"


class VmctxField(enum.IntEnum):
    """Byte offsets of the fields of `struct wk_vmctx` that generated code reads."""

    MEMORY = 0  # wk_memory *: memory 0, defined or imported; NULL when none
    FUNCS = 8  # wk_funcref *: one record per function index, imports first
    GLOBALS = 16  # wk_global *: one 16-byte cell per global index
    TABLES = 24  # wk_table **: one pointer per table index
    TYPE_IDS = 32  # const uint32_t *: module type index -> runtime-wide signature id
    STACK_LIMIT = 40  # uintptr_t: lowest stack pointer a function may start with
    BUILTINS = 48  # const wk_builtins *: runtime helpers, see Builtin
    INSTANCE = 56  # struct wk_instance *: opaque to generated code
    MEMORIES = 64  # wk_memory **: one pointer per memory index (memories[0] == MEMORY)
    TAGS = 72  # wk_tag **: one pointer per tag index (imports first); a tag's identity
    EXN = 80  # wk_exn **: the process-wide pending-exception cell (docs/abi.md "Exceptions")


VMCTX_SIZE = 88


class Builtin(enum.IntEnum):
    """Slots (index, 8 bytes each) of `wk_builtins`; all take the vmctx first."""

    # Addresses, sizes and counts are u64 (memory64, table64); generated code zero-extends
    # the i32 ones and truncates a 32-bit memory's or table's grow result.
    TRAP = 0  # void trap(vmctx, u32 code), never returns
    MEMORY_GROW = 1  # u64 memory_grow(vmctx, u32 mem, u64 delta_pages) -> old pages or -1
    MEMORY_FILL = 2  # void memory_fill(vmctx, u32 mem, u64 dst, u32 byte, u64 n)
    MEMORY_COPY = 3  # void memory_copy(vmctx, u32 dst_mem, u32 src_mem, u64 dst, u64 src, u64 n)
    MEMORY_INIT = 4  # void memory_init(vmctx, u32 mem, u32 seg, u64 dst, u32 src, u32 n)
    DATA_DROP = 5  # void data_drop(vmctx, u32 seg)
    TABLE_GROW = 6  # u64 table_grow(vmctx, u32 table, ref init, u64 delta) -> old size or -1
    TABLE_FILL = 7  # void table_fill(vmctx, u32 table, u64 dst, ref value, u64 n)
    TABLE_COPY = 8  # void table_copy(vmctx, u32 dst_table, u32 src_table, u64 dst, u64 src, u64 n)
    TABLE_INIT = 9  # void table_init(vmctx, u32 table, u32 seg, u64 dst, u32 src, u32 n)
    ELEM_DROP = 10  # void elem_drop(vmctx, u32 seg)
    EXN_NEW = 11  # wk_exn *exn_new(vmctx, u32 tag, u32 size, const void *payload)
    EXN_REF = 12  # void exn_ref(vmctx, wk_exn *exn, u32 op): ExnRef bookkeeping, may free it


class ExnRef(enum.IntEnum):
    """What generated code tells the runtime about an exception (Builtin.EXN_REF), so that
    an exception no one can reach any more is freed without a collector (docs/abi.md
    "Exceptions": only a handler that keeps no exnref frees, and never one that escaped)."""

    ESCAPE = 0  # catch_ref / catch_all_ref made it a Wasm value: it is never freed
    HOLD = 1  # a legacy catch arm took it (its `rethrow` may raise it again)
    UNHOLD = 2  # an arm was left by a raise (the exception is still in flight): never frees
    DROP_HOLD = 3  # an arm ended normally: let go, free it when nothing else holds it
    DROP = 4  # try_table catch / catch_all took the payload: free it unless held or escaped


def builtin_offset(builtin: Builtin) -> int:
    """Offset of a builtin's function pointer in `wk_builtins` (one 8-byte pointer a slot)."""
    return int(builtin) * 8


# wk_memory: uint8_t *base @0, uint64_t size @8 (bytes), uint64_t max_pages @16
MEMORY_BASE = 0
MEMORY_SIZE = 8
MEMORY_STRUCT_SIZE = 24
# wk_funcref: void *code @0, wk_vmctx *vmctx @8, u32 type_id @16, u32 pad @20, void *host @24.
# A funcref value (ref.func, table elements) is a pointer to one of these, or 0. `code` always
# has the Wasm calling convention (docs/abi.md "Calling convention": the tail convention); for a
# host function, `code` is the importer's adapter (HOSTCALL_PREFIX) and `host` the C function.
FUNCREF_SIZE = 32
FUNCREF_CODE = 0
FUNCREF_VMCTX = 8
FUNCREF_TYPE_ID = 16
FUNCREF_HOST = 24
# The symbols a code object defines (every backend, docs/abi.md): `wk_func_N`, the Wasm-convention
# body of defined function N; `wk_tramp_T`, the array-call entry (trampoline) of type T; and
# `wk_hostcall_N`, the adapter for imported function N: Wasm calling convention in,
# `vm->funcs[N].host(vm, args...)` in the platform's C convention out.
FUNC_PREFIX = "wk_func_"
TRAMPOLINE_PREFIX = "wk_tramp_"
HOSTCALL_PREFIX = "wk_hostcall_"


def func_name(func_index: int) -> str:
    return f"{FUNC_PREFIX}{func_index}"


def trampoline_name(type_index: int) -> str:
    return f"{TRAMPOLINE_PREFIX}{type_index}"


def hostcall_name(func_index: int) -> str:
    return f"{HOSTCALL_PREFIX}{func_index}"


# wk_table: void **elems @0 (pointer-size references), u32 size @8, u32 max @12,
# u32 elem_type @16 (the ValType byte), u32 pad @20
TABLE_STRUCT_SIZE = 24
TABLE_ELEMS = 0
TABLE_LEN = 8
# wk_global: 16 bytes of value (little-endian, low bytes for narrower types);
# an imported global's cell holds a pointer to the defining instance's cell.
GLOBAL_SIZE = 16
# The deepest value stack an extended constant expression may need (wk_const WK_CONST_EXPR,
# evaluated by core on a fixed array); the compiler refuses a deeper one.
CONST_STACK = 16
# wk_exn (an exnref points at one; docs/abi.md "Exceptions"): const wk_tag *tag @0,
# u32 size @8 (payload bytes), u32 state @12 (the runtime's, see ExnRef), then the payload @16
# in trampoline slot layout.
EXN_TAG = 0
EXN_SIZE = 8
EXN_PAYLOAD = 16
# wk_tag: u32 type_id @0 (runtime-wide signature id of its type), u32 index @4; compared by
# address, so an imported tag is the exporter's object.
TAG_STRUCT_SIZE = 8
# Trampolines (wk_trampoline) take their arguments and return their results in an array of
# 8-byte slots, one per value in order; a v128 (value type byte 0x7B) takes two, low half first.
SLOT_SIZE = 8
V128_TYPE = 0x7B


def slot_offsets(types: Sequence[object]) -> list[int]:
    """Byte offset of each value of `types` (value type bytes) in a trampoline's slot array."""
    out, at = [], 0
    for t in types:
        out.append(at)
        at += 2 * SLOT_SIZE if t == V128_TYPE else SLOT_SIZE
    return out


def slot_count(types: Sequence[object]) -> int:
    """Slots the values of `types` take (a v128 takes two)."""
    return sum(2 if t == V128_TYPE else 1 for t in types)


@dataclass(frozen=True)
class TrapInfo:
    code: int
    name: str
    message: str


class Trap(enum.IntEnum):
    """Trap codes passed to the TRAP builtin; messages match wasmtime's wording."""

    UNREACHABLE = 1
    INT_DIV_ZERO = 2
    INT_OVERFLOW = 3
    BAD_CONVERSION = 4
    MEM_OOB = 5
    TABLE_OOB = 6
    INDIRECT_SIG = 7
    UNINIT_ELEM = 8
    STACK_EXHAUSTED = 9
    UNKNOWN_IMPORT = 10
    NULL_REFERENCE = 11  # ref.as_non_null of null
    NULL_FUNC_REF = 12  # call_ref / return_call_ref of null
    NULL_EXNREF = 13
    UNCAUGHT_EXCEPTION = 14
    EXN_OUT_OF_MEMORY = 15


TRAP_MESSAGES: dict[Trap, str] = {
    Trap.UNREACHABLE: "wasm `unreachable` instruction executed",
    Trap.INT_DIV_ZERO: "integer divide by zero",
    Trap.INT_OVERFLOW: "integer overflow",
    Trap.BAD_CONVERSION: "invalid conversion to integer",
    Trap.MEM_OOB: "out of bounds memory access",
    Trap.TABLE_OOB: "undefined element: out of bounds table access",
    Trap.INDIRECT_SIG: "indirect call type mismatch",
    Trap.UNINIT_ELEM: "uninitialized element",
    Trap.STACK_EXHAUSTED: "call stack exhausted",
    Trap.UNKNOWN_IMPORT: "called an import that was not provided",
    Trap.NULL_REFERENCE: "null reference",
    Trap.NULL_FUNC_REF: "null function reference",
    Trap.NULL_EXNREF: "null exception reference",
    Trap.UNCAUGHT_EXCEPTION: "uncaught wasm exception",
    Trap.EXN_OUT_OF_MEMORY: "out of memory allocating a wasm exception",
}


def render_layout_header() -> str:
    """C header with the constants above; abi.h asserts the struct layout against it."""
    out = [
        "/* Generated from bridge/abi.py by `python -m wasmkiln.bridge.abi`. DO NOT EDIT. */",
        "#ifndef WK_ABI_LAYOUT_H",
        "#define WK_ABI_LAYOUT_H",
        f"#define WK_ABI_VERSION {ABI_VERSION}",
        f"#define WK_PAGE_SIZE {PAGE_SIZE}",
        f"#define WK_MEMORY_GUARD {MEMORY_GUARD}ull",
        f"#define WK_MEMORY_RESERVE {MEMORY_RESERVE}ull",
    ]
    out += [f"#define WK_VMCTX_{f.name} {f.value}" for f in VmctxField]
    out.append(f"#define WK_VMCTX_SIZE {VMCTX_SIZE}")
    out += [f"#define WK_BUILTIN_{b.name} {b.value}" for b in Builtin]
    out.append(f"#define WK_BUILTIN_COUNT {len(Builtin)}")
    out += [
        f"#define WK_MEMORY_BASE {MEMORY_BASE}",
        f"#define WK_MEMORY_SIZE {MEMORY_SIZE}",
        f"#define WK_MEMORY_STRUCT_SIZE {MEMORY_STRUCT_SIZE}",
        f"#define WK_FUNCREF_SIZE {FUNCREF_SIZE}",
        f"#define WK_FUNCREF_CODE {FUNCREF_CODE}",
        f"#define WK_FUNCREF_VMCTX {FUNCREF_VMCTX}",
        f"#define WK_FUNCREF_TYPE_ID {FUNCREF_TYPE_ID}",
        f"#define WK_FUNCREF_HOST {FUNCREF_HOST}",
        f"#define WK_TABLE_STRUCT_SIZE {TABLE_STRUCT_SIZE}",
        f"#define WK_TABLE_ELEMS {TABLE_ELEMS}",
        f"#define WK_TABLE_LEN {TABLE_LEN}",
        f"#define WK_GLOBAL_SIZE {GLOBAL_SIZE}",
        f"#define WK_CONST_STACK {CONST_STACK}",
        f"#define WK_EXN_TAG {EXN_TAG}",
        f"#define WK_EXN_SIZE {EXN_SIZE}",
        f"#define WK_EXN_PAYLOAD {EXN_PAYLOAD}",
        f"#define WK_TAG_STRUCT_SIZE {TAG_STRUCT_SIZE}",
    ]
    out += [f"#define WK_EXN_REF_{r.name} {r.value}" for r in ExnRef]
    out += [f"#define WK_TRAP_{t.name} {t.value}" for t in Trap]
    out.append(f"#define WK_TRAP_COUNT {len(Trap) + 1}")
    out.append("#define WK_TRAP_MESSAGES { \\")
    out.append('    "no trap", \\')
    out += [f'    "{TRAP_MESSAGES[t]}", \\' for t in Trap]
    out.append("}")
    out.append("#endif")
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    sys.stdout.write(render_layout_header())
