"""`wasmkiln inspect`: what a module needs and offers, or what an image is."""

from __future__ import annotations

from pathlib import Path

from wasmkiln.bridge.compile import signature_string
from wasmkiln.bridge.decode import decode
from wasmkiln.bridge.hostfuncs import lookup
from wasmkiln.bridge.module import ExternKind, Module

from ..image.imageinfo import read_image_info


def _limits(lim) -> str:  # noqa: ANN001
    return f"min {lim.min}" + (f", max {lim.max}" if lim.max is not None else "")


def describe_module(module: Module, target: str) -> list[str]:
    lines = [
        f"types: {len(module.types)}  functions: {len(module.funcs)} defined, "
        f"{module.num_imported_funcs} imported  instructions: "
        f"{sum(len(f.body) for f in module.funcs)}"
    ]
    lines.append(f"imports ({len(module.imports)}), checked against {target}:")
    for imp in module.imports:
        if imp.kind == ExternKind.FUNC:
            ftype = module.types[imp.desc]  # type: ignore[index]
            ok = lookup(imp.module, imp.name, signature_string(ftype)) is not None
            mark = "provided" if ok else "MISSING"
            lines.append(f"  func   {imp.module}.{imp.name} {ftype}  [{mark}]")
        else:
            lines.append(f"  {imp.kind.name.lower():<6} {imp.module}.{imp.name}")
    lines.append(f"exports ({len(module.exports)}):")
    for exp in module.exports:
        lines.append(f"  {exp.kind.name.lower():<6} {exp.name} (index {exp.index})")
    for mem in module.memories:
        lines.append(f"memory: {_limits(mem.limits)} pages")
    for tab in module.tables:
        lines.append(f"table: {tab.elem} {_limits(tab.limits)}")
    lines.append(
        f"globals: {len(module.globals)}  data segments: {len(module.datas)} "
        f"({sum(len(d.data) for d in module.datas)} bytes)  element segments: "
        f"{len(module.elems)}"
    )
    if module.start is not None:
        lines.append(f"start function: {module.start}")
    if module.customs:
        names = ", ".join(f"{n} ({len(b)} bytes)" for n, b in module.customs)
        lines.append(f"custom sections: {names}")
    return lines


def inspect_module(data: bytes, target: str) -> None:
    print("\n".join(describe_module(decode(data), target)))


def inspect_image(path: Path) -> bool:
    info = read_image_info(path)
    if info is None:
        return False
    print(f"wasmkiln image: {path} ({path.stat().st_size} bytes)")
    for key, value in info.items():
        print(f"  {key}: {value}")
    return True
