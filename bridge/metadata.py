"""The metadata object: everything about a module that is data, not code.

Cranelift cannot emit data objects, so memories, tables, globals, segments,
exports and the function array are written as a C file that includes
wk/abi.h; the C compiler then checks it against the runtime's own types. Data
segment bytes go into one blob that the C file pulls in with `.incbin`, which
costs nothing at compile time whatever the segments' size.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from .abi import ABI_VERSION, CONST_STACK, func_name, hostcall_name, trampoline_name
from .errors import UnsupportedError
from .module import (
    ExternKind,
    FuncType,
    GlobalType,
    Import,
    Instr,
    MemoryType,
    Module,
    TableType,
    TagType,
)
from .reftypes import TypeSpace, type_code

U32_MAX = 0xFFFFFFFF


@dataclass
class Metadata:
    c_source: str
    data_blob: bytes


def c_string(s: str) -> str:
    """A C string literal for any text: octal escapes keep it ASCII and free of trigraphs."""
    out = []
    for b in s.encode():
        if 0x20 <= b < 0x7F and b not in (0x22, 0x5C, 0x3F):
            out.append(chr(b))
        else:
            out.append(f"\\{b:03o}")
    return '"' + "".join(out) + '"'


def type_signature(ftype: FuncType, types: Sequence[FuncType] = ()) -> str:
    """The runtime's spelling of a signature, e.g. "iI:f" (abi.h, type_sigs); a typed
    reference spells the type it names by structure (reftypes.TypeSpace), so equal
    signatures of different modules get the same runtime id."""
    return TypeSpace(types).signature(ftype)


_CONST_ARITH = {
    f"{t}.{op}": f"WK_CONST_{t.upper()}_{op.upper()}"
    for t in ("i32", "i64")
    for op in ("add", "sub", "mul")
}


def _const(expr: list[Instr], what: str, ops: list[str] | None = None) -> str:
    """A wk_const initialiser for a constant expression. Kinds are written by their abi.h
    names (WK_CONST_*), so the numbers have one home: the C header. An extended constant
    expression (several instructions: add, sub, mul) goes to `ops`, the module's
    const_ops array, in order, and the result is a WK_CONST_EXPR naming its slice."""
    if len(expr) > 1 and ops is not None:
        start, depth = len(ops), 0
        for ins in expr:
            if ins[0] in _CONST_ARITH:
                ops.append(f"{{{_CONST_ARITH[ins[0]]}, 0, 0}}")
                depth -= 1
            else:
                ops.append(_const([ins], what))
                depth += 1
                if depth > CONST_STACK:
                    raise UnsupportedError(
                        f"{what}: constant expression deeper than {CONST_STACK} values"
                    )
        return f"{{WK_CONST_EXPR, {start}u, {len(expr)}u}}"
    if len(expr) == 1:
        op, *imm = expr[0]
        if op == "i32.const":
            return f"{{WK_CONST_VALUE, 0, 0x{imm[0] & U32_MAX:x}ull}}"
        if op == "i64.const":
            return f"{{WK_CONST_VALUE, 0, 0x{imm[0] & 0xFFFFFFFFFFFFFFFF:x}ull}}"
        if op in ("f32.const", "f64.const"):
            return f"{{WK_CONST_VALUE, 0, 0x{imm[0]:x}ull}}"
        if op == "v128.const":
            return (
                f"{{WK_CONST_VALUE, 0, 0x{imm[0] & 0xFFFFFFFFFFFFFFFF:x}ull, "
                f"0x{imm[0] >> 64:x}ull}}"
            )
        if op == "global.get":
            return f"{{WK_CONST_GLOBAL_GET, {imm[0]}u, 0}}"
        if op == "ref.func":
            return f"{{WK_CONST_REF_FUNC, {imm[0]}u, 0}}"
        if op == "ref.null":
            return "{WK_CONST_REF_NULL, 0, 0}"
    raise UnsupportedError(f"{what}: constant expression {expr!r} is not supported yet")


def _array(ctype: str, name: str, items: list[str]) -> str:
    if not items:
        return ""
    body = ",\n  ".join(items)
    return f"static {ctype} {name}[] = {{\n  {body}\n}};\n"


def _limits_max(value: int | None) -> str:
    """A table's maximum as wk_table_type holds it (u32; a table64's larger one is
    unbounded in practice: the runtime caps tables far below, WK_TABLE_MAX_ELEMS)."""
    return f"{value}u" if value is not None and value <= U32_MAX else "UINT32_MAX"


def _table_min(value: int) -> str:
    return f"{min(value, U32_MAX)}u"


def _memory_type(mem: MemoryType) -> str:
    """A wk_memory_type: pages as u64, the maximum the index type's (65536, 2^48) if none."""
    lim = mem.limits
    top = (1 << 48) if mem.is64 else 65536
    hi = lim.max if lim.max is not None else top
    return f"{{{lim.min}ull, {hi}ull, {int(mem.is64)}u, 0}}"


def _global_type(g: GlobalType) -> int:
    return type_code(g.type) | (256 if g.mutable else 0)


def _import_max(value: int | None) -> str:
    return f"{value}ull" if value is not None else "UINT64_MAX"


def _import_item(module: Module, imp: Import, symbol: str | None, adapter: str | None) -> str:
    kind, desc = imp.kind, imp.desc
    type_, lo, hi = "0", "0", "0"
    if kind == ExternKind.FUNC:
        type_ = f"{desc}u"
    elif kind == ExternKind.GLOBAL:
        assert isinstance(desc, GlobalType)
        type_ = f"{_global_type(desc)}u"
    elif kind == ExternKind.TAG:
        assert isinstance(desc, TagType)
        type_ = f"{desc.type_idx}u"
    elif kind == ExternKind.TABLE:
        assert isinstance(desc, TableType)
        type_ = f"{type_code(desc.elem) | int(desc.is64) << 8}u"
        lo, hi = f"{desc.limits.min}ull", _import_max(desc.limits.max)
    else:
        assert isinstance(desc, MemoryType)
        type_ = f"{int(desc.is64) << 8}u"
        lo, hi = f"{desc.limits.min}ull", _import_max(desc.limits.max)
    code = f"(void *){symbol}" if symbol else "0"
    entry = f"(void *){adapter}" if adapter else "0"
    return (
        f"{{{c_string(imp.module)}, {c_string(imp.name)}, WK_EXTERN_{kind.name}, {type_}, "
        f"{lo}, {hi}, {code}, {entry}}}"
    )


def render(
    module: Module,
    import_symbols: list[str | None],
    blob_path: str,
    name: str = "main",
) -> Metadata:
    """C source for `const wk_module wk_module_main` plus the data blob.

    import_symbols holds, per imported function, the host code bound at link
    time, or None when the embedder supplies it at instantiation.
    """
    n_imported = module.num_imported_funcs
    defined = [func_name(n_imported + i) for i in range(len(module.funcs))]
    tramps = [trampoline_name(i) for i in range(len(module.types))]
    out = ["/* Generated by wasmkiln.bridge.metadata. DO NOT EDIT. */", '#include "wk/abi.h"', ""]
    bound = [s for s in import_symbols if s]
    adapters = [hostcall_name(i) for i in range(n_imported)]  # codegen emits one per import
    for sym in dict.fromkeys([*bound, *adapters, *defined]):
        out.append(f"extern char {sym}[];")
    for sym in tramps:
        out.append(f"extern void {sym}(wk_vmctx *, void *, uint64_t *);")
    out.append("")

    blob = bytearray()
    data_items = []
    const_ops: list[str] = []
    memories = module.all_memories()
    for i, seg in enumerate(module.datas):
        what = f"data segment {i} offset"
        offset = _const(seg.offset, what, const_ops) if seg.offset else "{0}"
        start = len(blob)
        blob += seg.data
        blob += b"\0" * (-len(blob) % 8)
        passive = 1 if seg.mode == "passive" else 0
        is64 = int(seg.mode == "active" and memories[seg.memory].is64)
        data_items.append(
            f"{{wk_data_blob + {start}, {len(seg.data)}u, {passive}u, {seg.memory}u, {is64}u, "
            f"{offset}}}"
        )
    if data_items:
        out.append(
            '__asm__(".section .rodata.wk_data,\\"a\\"\\n.balign 16\\n'
            ".globl wk_data_blob\\nwk_data_blob:\\n"
            f'.incbin \\"{blob_path}\\"\\n.previous");'
        )
        out.append("extern const uint8_t wk_data_blob[];")

    sigs = [c_string(type_signature(t, module.types)) for t in module.types]
    out.append(_array("const char *const", "type_sigs", sigs))
    out.append(_array("const wk_trampoline", "trampolines", tramps))
    func_imports = iter(zip(import_symbols, adapters, strict=True))
    import_items = [
        _import_item(
            module, imp, *(next(func_imports) if imp.kind == ExternKind.FUNC else (None, None))
        )
        for imp in module.imports
    ]
    out.append(_array("const wk_import", "imports", import_items))
    out.append(_array("void *const", "func_code", [f"(void *){s}" for s in defined]))
    func_types = [f"{module.imported(ExternKind.FUNC)[i].desc}u" for i in range(n_imported)]
    func_types += [f"{f.type_idx}u" for f in module.funcs]
    out.append(_array("const uint32_t", "func_types", func_types))
    globals_ = [
        f"{{{_global_type(g.type)}u, 0, {_const(g.init, f'global {i}', const_ops)}}}"
        for i, g in enumerate(module.globals)
    ]
    out.append(_array("const wk_global_def", "globals", globals_))
    out.append(_array("const wk_data_segment", "data_segments", data_items))

    elem_items = []
    tables = module.all_tables()
    for i, elem in enumerate(module.elems):
        items = [_const(e, f"element segment {i}", const_ops) for e in elem.init]
        if items:
            out.append(_array("const wk_const", f"elem_{i}", items))
        what = f"element segment {i} offset"
        offset = _const(elem.offset, what, const_ops) if elem.offset else "{0}"
        array = f"elem_{i}" if items else "0"
        is64 = int(elem.mode == "active" and tables[elem.table].is64)
        elem_items.append(
            f"{{{array}, {len(items)}u, {elem.table}u, WK_ELEM_{elem.mode.upper()}, {is64}u, "
            f"{offset}}}"
        )
    out.append(_array("const wk_elem_segment", "elem_segments", elem_items))
    out.append(_array("const wk_const", "const_ops", const_ops))
    table_items = [
        f"{{{_table_min(t.limits.min)}, {_limits_max(t.limits.max)}, {type_code(t.elem)}u, 0, "
        f"{_const(list(t.init), f'table {i} initial value') if t.init else '{WK_CONST_REF_NULL}'}}}"
        for i, t in enumerate(module.tables)
    ]
    memory_items = [_memory_type(m) for m in module.memories]
    out.append(_array("const wk_memory_type", "memories", memory_items))
    out.append(_array("const wk_table_type", "tables", table_items))
    export_items = [
        f"{{{c_string(e.name)}, WK_EXTERN_{e.kind.name}, {e.index}u}}" for e in module.exports
    ]
    out.append(_array("const wk_export", "exports", export_items))

    entry = next(
        (e.index for e in module.exports if e.name == "_start" and e.kind == ExternKind.FUNC), -1
    )
    start = module.start if module.start is not None else -1

    def ref(array: str, items: list[str]) -> str:
        return array if items else "0"

    tag_types = [f"{t}u" for t in module.all_tags()]
    out.append(_array("const uint32_t", "tag_types", tag_types))
    n_globals = len(module.imported(ExternKind.GLOBAL))
    n_tables = len(module.imported(ExternKind.TABLE))
    fields = [
        f".abi_version = {ABI_VERSION}",
        f".num_types = {len(sigs)}",
        f".type_sigs = {ref('type_sigs', sigs)}",
        f".trampolines = {ref('trampolines', tramps)}",
        f".num_imports = {len(import_items)}",
        f".imports = {ref('imports', import_items)}",
        f".num_funcs = {n_imported + len(defined)}",
        f".num_imported_funcs = {n_imported}",
        f".func_code = {ref('func_code', defined)}",
        f".func_types = {ref('func_types', func_types)}",
        f".num_globals = {n_globals + len(globals_)}",
        f".num_imported_globals = {n_globals}",
        f".globals = {ref('globals', globals_)}",
        f".num_memories = {len(memories)}",
        f".num_imported_memories = {len(memories) - len(memory_items)}",
        f".memories = {ref('memories', memory_items)}",
        f".num_const_ops = {len(const_ops)}",
        f".const_ops = {ref('const_ops', const_ops)}",
        f".num_tables = {n_tables + len(table_items)}",
        f".num_imported_tables = {n_tables}",
        f".tables = {ref('tables', table_items)}",
        f".num_data = {len(data_items)}",
        f".data = {ref('data_segments', data_items)}",
        f".num_elems = {len(elem_items)}",
        f".elems = {ref('elem_segments', elem_items)}",
        f".num_exports = {len(export_items)}",
        f".exports = {ref('exports', export_items)}",
        f".start_func = {start}",
        f".entry_func = {entry}",
        f".name = {c_string(name)}",
        f".num_tags = {len(tag_types)}",
        f".num_imported_tags = {len(module.imported(ExternKind.TAG))}",
        f".tag_types = {ref('tag_types', tag_types)}",
    ]
    out.append("const wk_module wk_module_main = {\n  " + ",\n  ".join(fields) + "\n};")
    return Metadata("\n".join(out) + "\n", bytes(blob))
