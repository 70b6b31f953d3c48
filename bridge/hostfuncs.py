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

# The socket extensions (unikernel/include/wk/wasi_sock_ext.h): more functions in
# wasi_snapshot_preview1 whose names clash with preview1's (WasmEdge V1's sock_accept
# takes two parameters) and with each other (WasmEdge's and WAMR's sock_open, sock_bind,
# sock_connect, sock_send_to, sock_recv_from have other signatures), so these are keyed
# by module, name AND signature. (name, signature, symbol).
#
# WasmEdge: V1 (wasmedge_wasi_socket < 0.5), and V2 (WasmEdge >= 0.12), which newer
# crates import under the plain names with V2 signatures and as *_v2 names. A V2
# function whose signature and meaning are V1's (or preview1's) is the same symbol.
WASMEDGE_SOCKET_FUNCS: Final = (
    ("sock_open", "iii:i", "wk_wasmedge_sock_open"),
    ("sock_open_v2", "iii:i", "wk_wasmedge_sock_open"),
    ("sock_bind", "iii:i", "wk_wasmedge_sock_bind"),
    ("sock_bind_v2", "iii:i", "wk_wasmedge_sock_bind"),
    ("sock_listen", "ii:i", "wk_wasmedge_sock_listen"),
    ("sock_listen_v2", "ii:i", "wk_wasmedge_sock_listen"),
    ("sock_accept", "ii:i", "wk_wasmedge_sock_accept"),
    ("sock_accept_v2", "iii:i", "wk_wasi_sock_accept"),
    ("sock_connect", "iii:i", "wk_wasmedge_sock_connect"),
    ("sock_connect_v2", "iii:i", "wk_wasmedge_sock_connect"),
    ("sock_recv_v2", "iiiiii:i", "wk_wasi_sock_recv"),
    ("sock_send_v2", "iiiii:i", "wk_wasi_sock_send"),
    ("sock_getlocaladdr", "iiii:i", "wk_wasmedge_sock_getlocaladdr"),
    ("sock_getlocaladdr", "iii:i", "wk_wasmedge_sock_getlocaladdr_v2"),
    ("sock_getlocaladdr_v2", "iii:i", "wk_wasmedge_sock_getlocaladdr_v2"),
    ("sock_getpeeraddr", "iiii:i", "wk_wasmedge_sock_getpeeraddr"),
    ("sock_getpeeraddr", "iii:i", "wk_wasmedge_sock_getpeeraddr_v2"),
    ("sock_getpeeraddr_v2", "iii:i", "wk_wasmedge_sock_getpeeraddr_v2"),
    ("sock_setsockopt", "iiiii:i", "wk_wasmedge_sock_setsockopt"),
    ("sock_getsockopt", "iiiii:i", "wk_wasmedge_sock_getsockopt"),
    ("sock_send_to", "iiiiiii:i", "wk_wasmedge_sock_send_to"),
    ("sock_send_to_v2", "iiiiiii:i", "wk_wasmedge_sock_send_to"),
    ("sock_recv_from", "iiiiiii:i", "wk_wasmedge_sock_recv_from"),
    ("sock_recv_from", "iiiiiiii:i", "wk_wasmedge_sock_recv_from_v2"),
    ("sock_recv_from_v2", "iiiiiiii:i", "wk_wasmedge_sock_recv_from_v2"),
    ("sock_getaddrinfo", "iiiiiiii:i", "wk_wasmedge_sock_getaddrinfo"),
)

# WAMR's extension (wasm-micro-runtime's lib-socket). sock_listen, and the two-parameter
# sock_accept of older WAMR releases, have WasmEdge's signatures and meaning. Options the
# stack lacks are ENOTSUP through one stand-in per signature; older WAMR releases passed
# a pointer where newer ones pass two values (linger, multicast), so both are listed.
_WAMR_UNSUPPORTED: Final = (
    ("sock_set_reuse_port", "ii:i"),
    ("sock_get_reuse_port", "ii:i"),
    ("sock_get_recv_timeout", "ii:i"),
    ("sock_set_recv_timeout", "iI:i"),
    ("sock_get_send_timeout", "ii:i"),
    ("sock_set_send_timeout", "iI:i"),
    ("sock_set_linger", "iii:i"),
    ("sock_get_linger", "iii:i"),
    ("sock_set_linger", "ii:i"),
    ("sock_get_linger", "ii:i"),
    ("sock_set_tcp_keep_idle", "ii:i"),
    ("sock_get_tcp_keep_idle", "ii:i"),
    ("sock_set_tcp_keep_intvl", "ii:i"),
    ("sock_get_tcp_keep_intvl", "ii:i"),
    ("sock_set_tcp_fastopen_connect", "ii:i"),
    ("sock_get_tcp_fastopen_connect", "ii:i"),
    ("sock_set_tcp_quick_ack", "ii:i"),
    ("sock_get_tcp_quick_ack", "ii:i"),
    ("sock_set_ip_multicast_loop", "iii:i"),
    ("sock_get_ip_multicast_loop", "iii:i"),
    ("sock_set_ip_multicast_loop", "ii:i"),
    ("sock_get_ip_multicast_loop", "ii:i"),
    ("sock_set_ip_multicast_ttl", "ii:i"),
    ("sock_get_ip_multicast_ttl", "ii:i"),
    ("sock_set_ip_add_membership", "iii:i"),
    ("sock_set_ip_drop_membership", "iii:i"),
    ("sock_set_ip_add_membership", "ii:i"),
    ("sock_set_ip_drop_membership", "ii:i"),
    ("sock_set_ip_ttl", "ii:i"),
    ("sock_get_ip_ttl", "ii:i"),
    ("sock_set_ipv6_only", "ii:i"),
    ("sock_get_ipv6_only", "ii:i"),
)
WAMR_SOCKET_FUNCS: Final = (
    ("sock_open", "iiii:i", "wk_wamr_sock_open"),
    ("sock_bind", "ii:i", "wk_wamr_sock_bind"),
    ("sock_listen", "ii:i", "wk_wasmedge_sock_listen"),
    ("sock_accept", "ii:i", "wk_wasmedge_sock_accept"),
    ("sock_connect", "ii:i", "wk_wamr_sock_connect"),
    ("sock_addr_local", "ii:i", "wk_wamr_sock_addr_local"),
    ("sock_addr_remote", "ii:i", "wk_wamr_sock_addr_remote"),
    ("sock_addr_resolve", "iiiiii:i", "wk_wamr_sock_addr_resolve"),
    ("sock_send_to", "iiiiii:i", "wk_wamr_sock_send_to"),
    ("sock_recv_from", "iiiiii:i", "wk_wamr_sock_recv_from"),
    ("sock_close", "i:i", "wk_wasi_fd_close"),
    *(
        (f"sock_{op}_{opt}", "ii:i", f"wk_wamr_sock_{op}_{opt}")
        for opt in (
            "reuse_addr",
            "keep_alive",
            "tcp_no_delay",
            "broadcast",
            "recv_buf_size",
            "send_buf_size",
        )
        for op in ("set", "get")
    ),
    *(
        (name, sig, "wk_wamr_sock_unsupported_" + sig.partition(":")[0])
        for name, sig in _WAMR_UNSUPPORTED
    ),
)

SOCKET_EXTENSION_FUNCS: Final = WASMEDGE_SOCKET_FUNCS + WAMR_SOCKET_FUNCS

# Every import name that reaches the network stack, whatever its signature: preview1's four
# sock_* calls and both extensions. A runtime built without networking (no lwIP) answers them
# all with ENOSYS, so a module importing one is refused at build time (socket_imports).
SOCKET_FIELDS: Final = frozenset(
    {"sock_accept", "sock_recv", "sock_send", "sock_shutdown"}
    | {name for name, _sig, _symbol in SOCKET_EXTENSION_FUNCS}
)


def is_socket_call(module: str, field: str) -> bool:
    """Whether an import is a socket call (needs a runtime with a network stack)."""
    return module in (WASI_P1, WASI_P0) and field in SOCKET_FIELDS


def _signature_table() -> dict[tuple[str, str, str], str]:
    table: dict[tuple[str, str, str], str] = {}
    for name, sig, symbol in SOCKET_EXTENSION_FUNCS:
        key = (WASI_P1, name, sig)
        if table.setdefault(key, symbol) != symbol:
            raise AssertionError(f"{name} {sig}: two meanings ({table[key]}, {symbol})")
    return table


SIGNATURE_FUNCS: Final[dict[tuple[str, str, str], str]] = _signature_table()

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


# A module that imports one of these opens its own sockets (WasmEdge's or WAMR's sock_open):
# recorded in its image, so that `wasmkiln run` on spt gives it a NIC, where it may connect out
# or bind any port, rather than the host's published sockets alone (pyhook/run/runner.py).
OPEN_SOCKET_SYMBOLS: Final = frozenset({"wk_wasmedge_sock_open", "wk_wamr_sock_open"})


def default_value_symbol(signature: str) -> str | None:
    """The zero-returning stand-in for an import of this signature, or None (multi-value)."""
    return DEFAULT_VALUE_SYMBOLS.get(signature.partition(":")[2])


def lookup(module: str, field: str, signature: str) -> str | None:
    """C symbol for an import with this signature, or None if the runtime lacks it."""
    entry = HOST_FUNCS.get((module, field))
    if entry is not None and entry[0] == signature:
        return entry[1]
    return SIGNATURE_FUNCS.get((module, field, signature))
