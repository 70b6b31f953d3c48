"""The object ABI between compiled modules and the C runtime (version 1).

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
from dataclasses import dataclass

ABI_VERSION = 1

PAGE_SIZE = 65536


class VmctxField(enum.IntEnum):
    """Byte offsets of the fields of `struct wk_vmctx` that generated code reads."""

    MEM_BASE = 0  # uint8_t *: linear memory 0 base
    MEM_SIZE = 8  # uint64_t: accessible bytes of memory 0
    FUNCS = 16  # void *const *: every function, imports first
    GLOBALS = 24  # uint64_t *: one 8-byte slot per global
    TABLES = 32  # wk_table *: the tables, in index order
    STACK_LIMIT = 40  # uintptr_t: lowest stack pointer a function may start with
    BUILTINS = 48  # const wk_builtins *: runtime helpers, see Builtin
    INSTANCE = 56  # struct wk_instance *: opaque to generated code


VMCTX_SIZE = 64


class Builtin(enum.IntEnum):
    """Slots (index, 8 bytes each) of `wk_builtins`; all take the vmctx first."""

    TRAP = 0  # void trap(vmctx, u32 code), never returns
    MEMORY_GROW = 1  # u32 memory_grow(vmctx, u32 delta_pages) -> old pages or -1
    MEMORY_FILL = 2  # void memory_fill(vmctx, u32 dst, u32 byte, u32 n)
    MEMORY_COPY = 3  # void memory_copy(vmctx, u32 dst, u32 src, u32 n)
    MEMORY_INIT = 4  # void memory_init(vmctx, u32 seg, u32 dst, u32 src, u32 n)
    DATA_DROP = 5  # void data_drop(vmctx, u32 seg)


FUNCREF_SIZE = 16  # wk_funcref: void *func @0, u32 type_id @8, u32 pad @12
FUNCREF_FUNC = 0
FUNCREF_TYPE_ID = 8
TABLE_SIZE = 16  # wk_table: wk_funcref *elems @0, u32 size @8, u32 max @12
TABLE_ELEMS = 0
TABLE_LEN = 8
NULL_TYPE_ID = 0xFFFFFFFF  # type_id of a null funcref entry


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
}


def render_layout_header() -> str:
    """C header with the constants above; abi.h asserts the struct layout against it."""
    out = [
        "/* Generated from bridge/abi.py by `python -m wasmkiln.bridge.abi`. DO NOT EDIT. */",
        "#ifndef WK_ABI_LAYOUT_H",
        "#define WK_ABI_LAYOUT_H",
        f"#define WK_ABI_VERSION {ABI_VERSION}",
        f"#define WK_PAGE_SIZE {PAGE_SIZE}",
    ]
    out += [f"#define WK_VMCTX_{f.name} {f.value}" for f in VmctxField]
    out.append(f"#define WK_VMCTX_SIZE {VMCTX_SIZE}")
    out += [f"#define WK_BUILTIN_{b.name} {b.value}" for b in Builtin]
    out.append(f"#define WK_BUILTIN_COUNT {len(Builtin)}")
    out += [
        f"#define WK_FUNCREF_SIZE {FUNCREF_SIZE}",
        f"#define WK_FUNCREF_FUNC {FUNCREF_FUNC}",
        f"#define WK_FUNCREF_TYPE_ID {FUNCREF_TYPE_ID}",
        f"#define WK_TABLE_SIZE {TABLE_SIZE}",
        f"#define WK_TABLE_ELEMS {TABLE_ELEMS}",
        f"#define WK_TABLE_LEN {TABLE_LEN}",
        f"#define WK_NULL_TYPE_ID 0x{NULL_TYPE_ID:X}u",
    ]
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
