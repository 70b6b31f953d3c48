"""Errors for bad input. Each names where in the module the problem is."""

from __future__ import annotations


class WasmError(Exception):
    """Base of every error a user's module can cause; never a compiler bug."""

    kind = "invalid module"

    def __init__(
        self,
        message: str,
        *,
        section: str | None = None,
        func: int | None = None,
        offset: int | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.section = section
        self.func = func
        self.offset = offset

    def __str__(self) -> str:
        where = []
        if self.section:
            where.append(f"{self.section} section")
        if self.func is not None:
            where.append(f"function {self.func}")
        if self.offset is not None:
            where.append(f"offset 0x{self.offset:x}")
        loc = f" ({', '.join(where)})" if where else ""
        return f"{self.kind}{loc}: {self.message}"


class DecodeError(WasmError):
    """The bytes are not a well-formed binary module (spec: malformed)."""

    kind = "malformed module"


class ValidationError(WasmError):
    """Well-formed, but breaks a validation rule (spec: invalid)."""


class UnsupportedError(WasmError):
    """Valid Wasm that this version of wasmkiln does not compile yet."""

    kind = "unsupported"


class LinkError(WasmError):
    """The module needs something the target does not provide."""

    kind = "link error"
