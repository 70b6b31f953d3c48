"""Host functions the runtime provides, for binding a module's imports.

Each entry maps an import key ``(module, field)`` to ``(signature, C symbol)``.
The signature spells the Wasm function type with one letter per value
(``i`` = i32, ``I`` = i64, ``f`` = f32, ``F`` = f64), params before ``:`` and
results after it: ``fd_write`` is ``"iiii:i"``, ``proc_exit`` is ``"i:"``.

The C side is ``unikernel/include/wk/wasi.h``: every symbol here is a function
there whose parameters, after the leading ``wk_vmctx *``, have exactly these
types (``tests/test_hostfuncs.py`` parses the header and checks it). An import
whose key is missing here, or whose signature differs, is not provided by the
runtime; bind it to ``wk_unknown_import`` (wk/core.h), which traps with
"called an import that was not provided" when called.
"""

from __future__ import annotations

from typing import Final

WASI_P1: Final = "wasi_snapshot_preview1"

# Wasm value type letter -> C parameter type in wk/wasi.h.
SIG_C_TYPES: Final[dict[str, str]] = {
    "i": "int32_t",
    "I": "int64_t",
    "f": "float",
    "F": "double",
}

# Called for imports the runtime does not provide; traps when called.
MISSING_IMPORT_SYMBOL: Final = "wk_unknown_import"


def _wasi(field: str, sig: str) -> tuple[tuple[str, str], tuple[str, str]]:
    return (WASI_P1, field), (sig, f"wk_wasi_{field}")


HOST_FUNCS: Final[dict[tuple[str, str], tuple[str, str]]] = dict(
    [
        _wasi("args_get", "ii:i"),
        _wasi("args_sizes_get", "ii:i"),
        _wasi("environ_get", "ii:i"),
        _wasi("environ_sizes_get", "ii:i"),
        _wasi("clock_res_get", "ii:i"),
        _wasi("clock_time_get", "iIi:i"),
        _wasi("fd_close", "i:i"),
        _wasi("fd_fdstat_get", "ii:i"),
        _wasi("fd_fdstat_set_flags", "ii:i"),
        _wasi("fd_filestat_get", "ii:i"),
        _wasi("fd_prestat_get", "ii:i"),
        _wasi("fd_prestat_dir_name", "iii:i"),
        _wasi("fd_read", "iiii:i"),
        _wasi("fd_seek", "iIii:i"),
        _wasi("fd_tell", "ii:i"),
        _wasi("fd_sync", "i:i"),
        _wasi("fd_datasync", "i:i"),
        _wasi("fd_write", "iiii:i"),
        _wasi("path_open", "iiiiiIIii:i"),
        _wasi("poll_oneoff", "iiii:i"),
        _wasi("proc_exit", "i:"),
        _wasi("random_get", "ii:i"),
        _wasi("sched_yield", ":i"),
    ]
)


def lookup(module: str, field: str, signature: str) -> str | None:
    """C symbol for an import with this signature, or None if the runtime lacks it."""
    entry = HOST_FUNCS.get((module, field))
    if entry is None or entry[0] != signature:
        return None
    return entry[1]
