"""bridge/hostfuncs.py and unikernel/include/wk/wasi.h must describe the same functions.

The compiler binds imports from the Python table; the C header declares what the
runtime defines. This parses every prototype in wasi.h and checks both ways: each
table entry has a prototype with matching parameter and result types, and each
prototype is in the table (and in the header's own table comment).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from wasmkiln.bridge.hostfuncs import (
    DEFAULT_VALUE_SYMBOLS,
    HOST_FUNCS,
    SIG_C_TYPES,
    WASI_P0,
    WASI_P1,
    WASI_P1_FUNCS,
    default_value_symbol,
    lookup,
)

ROOT = Path(__file__).resolve().parent.parent
WASI_H = ROOT / "unikernel" / "include" / "wk" / "wasi.h"

_PROTO = re.compile(
    r"(?P<noreturn>_Noreturn\s+)?(?P<ret>int32_t|int64_t|float|double|void)\s+"
    r"(?P<name>wk_wasi_\w+)\s*\((?P<params>[^)]*)\)\s*;",
    re.S,
)
_COMMENT_ROW = re.compile(
    r"^\s*\*\s+(wasi_\w+)\s+(\w+)\s+([iIfF]*:[iIfF]*)\s+(wk_wasi_\w+)\s*$", re.M
)
_C_TO_SIG = {c: s for s, c in SIG_C_TYPES.items()}


def _strip_comments(text: str) -> str:
    return re.sub(r"/\*.*?\*/", " ", text, flags=re.S)


def _prototypes() -> dict[str, str]:
    """C symbol -> signature string derived from its prototype in wasi.h."""
    protos: dict[str, str] = {}
    # wk_default_import_* are stand-ins bound by result type only: not in this table.
    for m in _PROTO.finditer(_strip_comments(WASI_H.read_text())):
        params = [p.strip() for p in m["params"].split(",")]
        assert re.fullmatch(r"wk_vmctx\s*\*\s*vm", params[0]), f"{m['name']}: vmctx must come first"
        sig = ""
        for p in params[1:]:
            ctype = p.rsplit(None, 1)[0]
            assert ctype in _C_TO_SIG, f"{m['name']}: parameter {p!r} is not a Wasm value type"
            sig += _C_TO_SIG[ctype]
        result = "" if m["ret"] == "void" else _C_TO_SIG[m["ret"]]
        if m["noreturn"]:
            assert result == "", f"{m['name']}: a _Noreturn function returns nothing"
        protos[m["name"]] = f"{sig}:{result}"
    return protos


def test_header_has_prototypes() -> None:
    assert len(_prototypes()) >= 50


def test_all_46_preview1_functions() -> None:
    assert len(WASI_P1_FUNCS) == 46
    assert len({f for f, _ in WASI_P1_FUNCS}) == 46


def test_preview0_has_every_preview1_name() -> None:
    p1 = {f: sig for (m, f), (sig, _) in HOST_FUNCS.items() if m == WASI_P1}
    p0 = {f: sig for (m, f), (sig, _) in HOST_FUNCS.items() if m == WASI_P0}
    assert p0 == p1


@pytest.mark.parametrize("key", sorted(HOST_FUNCS), ids=lambda k: f"{k[0]}.{k[1]}")
def test_entry_matches_prototype(key: tuple[str, str]) -> None:
    sig, symbol = HOST_FUNCS[key]
    protos = _prototypes()
    assert symbol in protos, f"{symbol} is bound by hostfuncs.py but not declared in wasi.h"
    assert protos[symbol] == sig, f"{symbol}: hostfuncs.py says {sig}, wasi.h says {protos[symbol]}"


def test_every_prototype_is_bound() -> None:
    bound = {symbol for _, symbol in HOST_FUNCS.values()}
    assert set(_prototypes()) == bound


def test_header_table_comment_matches() -> None:
    """The header lists every preview1 row and the preview 0 rows with their own symbol."""
    rows = {(m, f): (s, c) for m, f, s, c in _COMMENT_ROW.findall(WASI_H.read_text())}
    expected = {
        key: value
        for key, value in HOST_FUNCS.items()
        if key[0] == WASI_P1 or value[1] != HOST_FUNCS[(WASI_P1, key[1])][1]
    }
    assert rows == expected, "the table comment at the top of wasi.h has drifted"


def test_default_value_stand_ins_are_declared() -> None:
    text = _strip_comments(WASI_H.read_text())
    for symbol in set(DEFAULT_VALUE_SYMBOLS.values()):
        assert re.search(rf"\b{symbol}\s*\(wk_vmctx \*vm\);", text), symbol
    assert default_value_symbol("ii:") == "wk_default_import_void"
    assert default_value_symbol("i:I") == "wk_default_import_i64"
    assert default_value_symbol(":ii") is None  # several results: no stand-in


def test_lookup_checks_signature() -> None:
    assert lookup(WASI_P1, "fd_write", "iiii:i") == "wk_wasi_fd_write"
    assert lookup(WASI_P1, "fd_write", "iii:i") is None
    assert lookup(WASI_P1, "no_such_call", "i:i") is None
