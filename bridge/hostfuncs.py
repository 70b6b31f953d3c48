"""Host functions the runtime provides, for binding a module's imports.

Each entry maps an import key ``(module, field)`` to ``(signature, C symbol)``.
The signature spells the Wasm function type with one letter per value
(``i`` = i32, ``I`` = i64, ``f`` = f32, ``F`` = f64), params before ``:`` and
results after it: ``fd_write`` is ``"iiii:i"``, ``proc_exit`` is ``"i:"``.

Both ``wasi_snapshot_preview1`` and preview 0 (``wasi_unstable``) are provided: preview
0 shares the preview1 functions except for four adapters (``WASI_P0_ADAPTED``). The C
side is ``unikernel/include/wk/wasi.h``: every symbol here is a function there whose
parameters, after the leading ``wk_vmctx *``, have exactly these types
(``tests/test_hostfuncs.py`` parses the header and checks it). An import whose key is
missing here, or whose signature differs, is not provided by the runtime; bind it to
``wk_unknown_import`` (wk/core.h), which traps with "called an import that was not
provided" when called."""

from __future__ import annotations

from typing import Final

WASI_P1: Final = "wasi_snapshot_preview1"
WASI_P0: Final = "wasi_unstable"

# Wasm value type letter -> C parameter type in wk/wasi.h.
SIG_C_TYPES: Final[dict[str, str]] = {
    "i": "int32_t",
    "I": "int64_t",
    "f": "float",
    "F": "double",
}

# Called for imports the runtime does not provide; traps when called.
MISSING_IMPORT_SYMBOL: Final = "wk_unknown_import"


# Every wasi_snapshot_preview1 function: (name, signature). All 46 of them.
WASI_P1_FUNCS: Final[tuple[tuple[str, str], ...]] = (
    ("args_get", "ii:i"),
    ("args_sizes_get", "ii:i"),
    ("environ_get", "ii:i"),
    ("environ_sizes_get", "ii:i"),
    ("clock_res_get", "ii:i"),
    ("clock_time_get", "iIi:i"),
    ("fd_advise", "iIIi:i"),
    ("fd_allocate", "iII:i"),
    ("fd_close", "i:i"),
    ("fd_datasync", "i:i"),
    ("fd_fdstat_get", "ii:i"),
    ("fd_fdstat_set_flags", "ii:i"),
    ("fd_fdstat_set_rights", "iII:i"),
    ("fd_filestat_get", "ii:i"),
    ("fd_filestat_set_size", "iI:i"),
    ("fd_filestat_set_times", "iIIi:i"),
    ("fd_pread", "iiiIi:i"),
    ("fd_prestat_get", "ii:i"),
    ("fd_prestat_dir_name", "iii:i"),
    ("fd_pwrite", "iiiIi:i"),
    ("fd_read", "iiii:i"),
    ("fd_readdir", "iiiIi:i"),
    ("fd_renumber", "ii:i"),
    ("fd_seek", "iIii:i"),
    ("fd_sync", "i:i"),
    ("fd_tell", "ii:i"),
    ("fd_write", "iiii:i"),
    ("path_create_directory", "iii:i"),
    ("path_filestat_get", "iiiii:i"),
    ("path_filestat_set_times", "iiiiIIi:i"),
    ("path_link", "iiiiiii:i"),
    ("path_open", "iiiiiIIii:i"),
    ("path_readlink", "iiiiii:i"),
    ("path_remove_directory", "iii:i"),
    ("path_rename", "iiiiii:i"),
    ("path_symlink", "iiiii:i"),
    ("path_unlink_file", "iii:i"),
    ("poll_oneoff", "iiii:i"),
    ("proc_exit", "i:"),
    ("proc_raise", "i:i"),
    ("random_get", "ii:i"),
    ("sched_yield", ":i"),
    ("sock_accept", "iii:i"),
    ("sock_recv", "iiiiii:i"),
    ("sock_send", "iiiii:i"),
    ("sock_shutdown", "ii:i"),
)

# Preview 0 has the same functions and signatures; these four differ in
# meaning (whence numbering, filestat and subscription layouts) and get adapters.
WASI_P0_ADAPTED: Final = frozenset(
    {"fd_seek", "fd_filestat_get", "path_filestat_get", "poll_oneoff"}
)


def _table() -> dict[tuple[str, str], tuple[str, str]]:
    table: dict[tuple[str, str], tuple[str, str]] = {}
    for field, sig in WASI_P1_FUNCS:
        table[(WASI_P1, field)] = (sig, f"wk_wasi_{field}")
    for field, sig in WASI_P1_FUNCS:
        prefix = "wk_wasi_unstable_" if field in WASI_P0_ADAPTED else "wk_wasi_"
        table[(WASI_P0, field)] = (sig, prefix + field)
    return table


HOST_FUNCS: Final[dict[tuple[str, str], tuple[str, str]]] = _table()

# The WasmEdge socket extension (unikernel/include/wk/wasi_sock_ext.h): more functions in
# wasi_snapshot_preview1 whose names clash with preview1's (sock_accept takes two
# parameters here) and with WAMR's extension (sock_open, sock_bind, ... with other
# signatures), so these are keyed by module, name AND signature. (name, signature, symbol).
SOCKET_EXTENSION_FUNCS: Final = (
    ("sock_open", "iii:i", "wk_wasmedge_sock_open"),
    ("sock_bind", "iii:i", "wk_wasmedge_sock_bind"),
    ("sock_listen", "ii:i", "wk_wasmedge_sock_listen"),
    ("sock_accept", "ii:i", "wk_wasmedge_sock_accept"),
    ("sock_connect", "iii:i", "wk_wasmedge_sock_connect"),
    ("sock_getlocaladdr", "iiii:i", "wk_wasmedge_sock_getlocaladdr"),
    ("sock_getpeeraddr", "iiii:i", "wk_wasmedge_sock_getpeeraddr"),
    ("sock_setsockopt", "iiiii:i", "wk_wasmedge_sock_setsockopt"),
    ("sock_getsockopt", "iiiii:i", "wk_wasmedge_sock_getsockopt"),
    ("sock_send_to", "iiiiiii:i", "wk_wasmedge_sock_send_to"),
    ("sock_recv_from", "iiiiiii:i", "wk_wasmedge_sock_recv_from"),
)
SIGNATURE_FUNCS: Final[dict[tuple[str, str, str], str]] = {
    (WASI_P1, name, sig): symbol for name, sig, symbol in SOCKET_EXTENSION_FUNCS
}

# --default-values-unknown-imports: a stand-in per result type (wk/wasi.h), each
# ignoring its arguments and returning zero. Several results have none.
DEFAULT_VALUE_SYMBOLS: Final[dict[str, str]] = {
    "": "wk_default_import_void",
    "i": "wk_default_import_i32",
    "I": "wk_default_import_i64",
    "f": "wk_default_import_f32",
    "F": "wk_default_import_f64",
    "r": "wk_default_import_ref",
    "e": "wk_default_import_ref",
}


def default_value_symbol(signature: str) -> str | None:
    """The zero-returning stand-in for an import of this signature, or None (multi-value)."""
    return DEFAULT_VALUE_SYMBOLS.get(signature.partition(":")[2])


def lookup(module: str, field: str, signature: str) -> str | None:
    """C symbol for an import with this signature, or None if the runtime lacks it."""
    entry = HOST_FUNCS.get((module, field))
    if entry is not None and entry[0] == signature:
        return entry[1]
    return SIGNATURE_FUNCS.get((module, field, signature))
