"""Which WebAssembly version's binary rules the decoder and validator apply.

WebAssembly 3.0 made valid what 2.0 rejects: a second memory ("multiple memories"), a
memory index in `memory.size`'s reserved byte (which 2.0 requires to be a single 0x00,
"zero byte expected"), 64-bit memories and tables, and arithmetic in constant expressions.
The 2.0 spec suite asserts those rejections and the 3.0 suite asserts the opposite, so
the rules are a parameter (as wasmtime's `Config::wasm_multi_memory` and friends are):
everything defaults to 3.0; the spec runner gives a 2.0 script (a wast2json `.json`)
`WASM2`.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Features:
    """Proposals merged into WebAssembly 3.0 that this code base implements, on or off."""

    multi_memory: bool = True
    memory64: bool = True
    extended_const: bool = True


WASM3 = Features()
WASM2 = Features(multi_memory=False, memory64=False, extended_const=False)
