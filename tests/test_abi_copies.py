"""Every copy of the runtime contract agrees with bridge/abi.py, its one source (issue 14).

abi_layout.h is generated from abi.py and abi.h asserts its structs against it (test_abi.py).
What is not generated is checked here: the cffi structs of pyhook/spec/hostrt.py (the spec runner's
view of the same structs; its functions it declares from wk/host.h itself), its status codes
against wk/host.h, the order of every builtin slot in abi.h's `wk_builtins` (abi.h asserts
only the last), the abi.h names the metadata writes instead of numbers, and the tables of
docs/abi.md.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import cffi
import pytest
import wasmtime

from wasmkiln.bridge import abi
from wasmkiln.bridge.compile import compile_wasm
from wasmkiln.bridge.module import ExternKind
from wasmkiln.pyhook.spec import hostrt

ROOT = Path(__file__).resolve().parent.parent
WK = ROOT / "unikernel" / "include" / "wk"
ABI_H = (WK / "abi.h").read_text()


def _c_enum(prefix: str) -> dict[str, int]:
    """`PREFIX_NAME = N` pairs of abi.h's anonymous enums."""
    return {m.group(1): int(m.group(2)) for m in re.finditer(rf"\b{prefix}_(\w+) = (\d+)", ABI_H)}


def test_hostrt_structs_match_abi_py() -> None:
    ffi = cffi.FFI()
    ffi.cdef(hostrt._CDEF)
    assert ffi.sizeof("wk_funcref") == abi.FUNCREF_SIZE
    assert ffi.offsetof("wk_funcref", "code") == abi.FUNCREF_CODE
    assert ffi.offsetof("wk_funcref", "vmctx") == abi.FUNCREF_VMCTX
    assert ffi.offsetof("wk_funcref", "type_id") == abi.FUNCREF_TYPE_ID
    assert ffi.sizeof("wk_memory") == abi.MEMORY_STRUCT_SIZE
    assert ffi.offsetof("wk_memory", "base") == abi.MEMORY_BASE
    assert ffi.offsetof("wk_memory", "size") == abi.MEMORY_SIZE
    assert ffi.sizeof("wk_table") == abi.TABLE_STRUCT_SIZE
    assert ffi.offsetof("wk_table", "elems") == abi.TABLE_ELEMS
    assert ffi.offsetof("wk_table", "size") == abi.TABLE_LEN
    assert ffi.sizeof("wk_global") == abi.GLOBAL_SIZE


def test_hostrt_status_codes_match_host_h() -> None:
    host_h = (WK / "host.h").read_text()
    codes = {
        m.group(1): int(m.group(2), 16)
        for m in re.finditer(r"#define WK_HOST_(\w+) 0x([0-9a-fA-F]+)u", host_h)
    }
    assert codes == {
        "EXITED": hostrt.EXITED,
        "NO_TRAMPOLINE": hostrt.NO_TRAMPOLINE,
        "BAD_INDEX": hostrt.BAD_INDEX,
    }


def test_hostrt_declares_what_it_calls_from_host_h() -> None:
    """hostrt's functions come from wk/host.h itself: each one it calls is there, and cffi
    accepts the declarations with its struct definitions."""
    decls = hostrt.host_declarations(WK / "host.h")
    declared = set(re.findall(r"\b(wk_host_\w+)\(", decls))
    source = (ROOT / "pyhook" / "spec" / "hostrt.py").read_text()
    called = set(re.findall(r"\blib\.(wk_host_\w+)", source))
    assert called and called <= declared, called - declared
    ffi = cffi.FFI()
    ffi.cdef(hostrt._CDEF + decls)
    assert ffi.typeof("uint32_t(*)(wk_host_instance *, uint32_t, uint64_t *)")  # declared type


def test_every_builtin_slot_in_order() -> None:
    body = re.search(r"typedef struct wk_builtins \{(.*?)\} wk_builtins;", ABI_H, re.S)
    assert body is not None, "no wk_builtins in abi.h"
    slots = re.findall(r"\(\*(\w+)\)", body.group(1))
    assert slots == [b.name.lower() for b in abi.Builtin]


def test_metadata_kinds_are_abi_h_names(tmp_path: Path) -> None:
    """The metadata writes import/export kinds, constant kinds and element modes by their
    abi.h names (WK_EXTERN_*, WK_CONST_*, WK_ELEM_*), so their numbers live in the header
    alone; a module using every one of them compiles against it."""
    assert set(_c_enum("WK_EXTERN")) == {k.name for k in ExternKind}
    wat = """(module
      (import "env" "f" (func $f)) (import "env" "g" (global $g i32))
      (import "env" "t" (table 1 funcref)) (import "env" "m" (memory 1))
      (global $h i32 (global.get $g)) (global $r funcref (ref.null func))
      (global $c i64 (i64.const -1))
      (elem (i32.const 0) $f) (elem func $f) (elem declare func $f)
      (func (export "run") (drop (ref.func $f)))
      (export "h" (global $h)))"""
    compiled = compile_wasm(
        bytes(wasmtime.wat2wasm(wat)), blob_path=str(tmp_path / "blob"), unknown_imports="embed"
    )
    (tmp_path / "blob").write_bytes(compiled.data_blob)
    meta = compiled.metadata_c
    names = (
        "WK_EXTERN_FUNC",
        "WK_EXTERN_GLOBAL",
        "WK_EXTERN_TABLE",
        "WK_EXTERN_MEMORY",
        "WK_CONST_VALUE",
        "WK_CONST_GLOBAL_GET",
        "WK_CONST_REF_FUNC",
        "WK_CONST_REF_NULL",
        "WK_ELEM_ACTIVE",
        "WK_ELEM_PASSIVE",
        "WK_ELEM_DECLARATIVE",
    )
    assert all(n in meta for n in names), [n for n in names if n not in meta]
    cc = shutil.which("gcc") or shutil.which("cc")
    if cc is None:
        pytest.skip("no C compiler on PATH to compile the metadata against abi.h")
    (tmp_path / "meta.c").write_text(meta)
    proc = subprocess.run(
        [
            cc,
            "-std=c11",
            "-Wall",
            "-Werror",
            f"-I{WK.parent}",
            "-c",
            str(tmp_path / "meta.c"),
            "-o",
            str(tmp_path / "meta.o"),
        ],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr


def _doc_table(heading: str) -> list[list[str]]:
    """The rows of the first table under `## heading` in docs/abi.md, cells stripped."""
    doc = (ROOT / "docs" / "abi.md").read_text()
    section = doc.split(f"\n## {heading}", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("|")][2:]
    return [[c.strip().strip("`") for c in r.strip("|").split("|")] for r in rows]


def test_docs_tables_match_abi_py() -> None:
    doc = (ROOT / "docs" / "abi.md").read_text()
    assert doc.startswith(f"# The wasmkiln object ABI, version {abi.ABI_VERSION}\n")
    assert f"\n## `wk_vmctx` ({abi.VMCTX_SIZE} bytes)" in doc
    vmctx = [(int(r[0]), r[1]) for r in _doc_table("`wk_vmctx`")]
    assert vmctx == [(f.value, f.name.lower()) for f in abi.VmctxField]
    builtins = [(int(r[0]), r[1]) for r in _doc_table("Builtins")]
    assert builtins == [(b.value, b.name.lower()) for b in abi.Builtin]
    traps = [(int(r[0]), r[1], r[2]) for r in _doc_table("Traps")]
    assert traps == [(t.value, t.name, abi.TRAP_MESSAGES[t]) for t in abi.Trap]
