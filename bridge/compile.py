"""Wasm bytes -> (code object, metadata C, data blob): the bridge's one entry point.

The steps are kept apart so each can be tested and timed on its own:
decode, validate, bind imports against what the target provides, translate
every function through a backend, render the metadata.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from .abi import GUARD_RUNTIME_SYMBOL, MEMORY_GUARD
from .codegen import backend_named, generate_source
from .errors import LinkError
from .features import WASM3, Features
from .hostfuncs import default_value_symbol, is_socket_call, lookup
from .invoke import resolve_invoke
from .metadata import render, type_signature
from .module import ExternKind, Module
from .parallel import Progress, load

# What an import that nothing provides becomes, by the user's choice.
UNKNOWN_IMPORTS = ("error", "trap", "default", "embed")
TRAP_IMPORT_SYMBOL = "wk_unknown_import"

signature_string = type_signature  # hostfuncs.py spells signatures the same way


@dataclass
class CompiledModule:
    module: Module
    code: bytes  # relocatable object with one global symbol per defined function
    metadata_c: str
    data_blob: bytes
    timings: dict[str, float] = field(default_factory=dict)
    instructions: int = 0
    extra_objects: list[bytes] = field(default_factory=list)  # more code, when compiled in parallel


class SocketsUnavailable(LinkError):
    """The module imports socket calls, and the runtime it is built for has no network stack.

    A LinkError of its own so that the caller, which knows how the runtime was installed, can
    say how to get networking; `names` lists the socket imports, first appearance first."""

    def __init__(self, names: list[str]) -> None:
        super().__init__(
            f"the module imports socket calls ({', '.join(names)}) and the "
            "runtime has no network stack",
            section="import",
        )
        self.names = names


def check_sockets(module: Module) -> None:
    """Refuse a module that imports socket calls (for a runtime built without networking):
    those calls could only fail, and a server would die at its first accept."""
    names = [
        imp.name
        for imp in module.imports
        if imp.kind == ExternKind.FUNC and is_socket_call(imp.module, imp.name)
    ]
    if names:
        raise SocketsUnavailable(list(dict.fromkeys(names)))


def bind_imports(module: Module, unknown: str = "error") -> list[str | None]:
    """C symbol for each imported function, keyed by module, field AND signature.

    unknown="embed" leaves unprovided imports unbound (None): an embedder such
    as the spec runner supplies them when it instantiates the module.
    """
    symbols: list[str | None] = []
    missing: list[str] = []
    for imp in module.imports:
        if imp.kind != ExternKind.FUNC:
            if unknown != "embed":
                kind = imp.kind.name.lower()
                why = f"{kind}: only an embedder can supply it"
                missing.append(f"  {imp.module}.{imp.name} ({why})")
            continue
        assert isinstance(imp.desc, int)
        ftype = module.types[imp.desc]
        sig = signature_string(ftype)
        host = lookup(imp.module, imp.name, sig)  # by module, name and signature
        if host is not None:
            symbols.append(host)
            continue
        if unknown == "trap":
            symbols.append(TRAP_IMPORT_SYMBOL)
            continue
        if unknown == "default" and (stub := default_value_symbol(sig)) is not None:
            symbols.append(stub)  # returns zero of its result type
            continue
        if unknown == "embed":
            symbols.append(None)
            continue
        why = "not provided" if host is None else f"provided with signature {host[0]}"
        missing.append(f"  {imp.module}.{imp.name} {ftype} ({why})")
    if missing:
        raise LinkError(
            f"{len(missing)} import(s) cannot be satisfied by the target:\n" + "\n".join(missing),
            section="import",
        )
    return symbols


def compile_wasm(
    data: bytes,
    *,
    blob_path: str,
    backend: str = "cranelift",
    unknown_imports: str = "error",
    name: str = "main",
    pic: bool = False,
    memory_guard: bool = False,
    cpu: str = "baseline",
    sockets: bool = True,
    arch: str = "x86_64",
    features: Features = WASM3,
    progress: Progress | None = None,
    invoke: str | None = None,
) -> CompiledModule:
    """Compile a module; raises a WasmError subclass for any fault of the input.

    backend: a name of codegen.BACKENDS ("cranelift", "llvm", "llvm-O0", ...).
    pic: position-independent code, for a shared object (the spec runner's host build).
    memory_guard: leave out the bounds checks a guard region catches (docs/abi.md "Linear
    memory"); only for runtimes that reserve one, which the metadata then requires at link.
    cpu: "baseline", "native" or an x86-64 psABI level (LLVM only; llvm_backend.CPU_LEVELS).
    sockets: False for a runtime without a network stack: a module importing socket calls is
    then refused (SocketsUnavailable) before anything is compiled.
    arch: the code's architecture, x86_64 or aarch64 (LLVM backends only; codegen.LLVM_TRIPLES).
    progress: called after every chunk of functions (parallel.Progress).
    invoke: run this export (after `_initialize`) instead of `_start` (bridge/invoke.py);
    checked before anything is compiled.

    A large module is streamed (parallel.py): its bodies are decoded and validated as they are
    compiled, so "decode" and "validate" then time the rest of the module and "translate" the
    bodies' decoding and validation too.
    """
    chosen = backend_named(backend, cpu, arch)
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    source = load(data, features)
    module = source.module
    t2 = time.perf_counter()
    timings["decode"], timings["validate"] = t2 - t0, 0.0  # one step now (parallel.load)
    if not sockets:
        check_sockets(module)
    symbols = bind_imports(module, unknown_imports)
    entry = resolve_invoke(module, invoke) if invoke is not None else None
    module.memory_guard = MEMORY_GUARD if memory_guard else 0
    objects, count = generate_source(source, chosen, pic=pic, progress=progress)
    code, *extra_objects = objects
    t3 = time.perf_counter()
    timings["translate"] = t3 - t2
    meta = render(module, symbols, blob_path, name)
    timings["metadata"] = time.perf_counter() - t3
    c_source = meta.c_source + (_GUARD_C if memory_guard else "")
    if entry is not None:
        c_source += entry.c_source()
    return CompiledModule(module, code, c_source, meta.data_blob, timings, count, extra_objects)


# A guard-compiled module tells core (wk_module_memory_guard, weak there) and references the
# symbol only runtimes with a guard reservation define: any other runtime fails to link it.
_GUARD_C = f"""
extern const char {GUARD_RUNTIME_SYMBOL}[];
const char wk_module_memory_guard[] = "guard";
__attribute__((used)) static const char *const wk_requires_memory_guard = {GUARD_RUNTIME_SYMBOL};
"""
