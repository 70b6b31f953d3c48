"""What a built image says about itself: the JSON in its ``.wasmkiln.info`` section (target,
module name, ABI version, recorded ports, CPU level, whether the module opens its own sockets).

Apart from pyhook/image/image.py, which writes it, so that running a built image reads it without
loading the compiler (the run path imports this, elf.py and runner.py only)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

INFO_SECTION = ".wasmkiln.info"


@dataclass(frozen=True)
class NetDefaults:
    """The ports an image publishes when its run names none (`build -p/--listen`, the
    manifest's `listen`): a server image then runs with a plain `wasmkiln run IMAGE`, as a
    container image's EXPOSE would let it. Specs in `wasmkiln run`'s syntax, checked at build."""

    publish: tuple[str, ...] = ()
    listen: tuple[str, ...] = ()

    def info(self) -> dict[str, list[str]]:
        return {k: list(v) for k, v in (("publish", self.publish), ("listen", self.listen)) if v}

    @classmethod
    def from_info(cls, info: dict) -> NetDefaults:
        return cls(tuple(info.get("publish", ())), tuple(info.get("listen", ())))


def read_image_info(path: Path) -> dict | None:
    """The JSON build info an image carries, or None if `path` is no wasmkiln image."""
    from .elf import section_bytes

    data = section_bytes(path, INFO_SECTION)
    if data is None:
        data = _flat_info(path)
    if data is None:
        return None
    try:
        return json.loads(data.rstrip(b"\0").decode())
    except (UnicodeDecodeError, json.JSONDecodeError):
        return None


_FLAT_INFO_MARK = b'{"target": "'


def _flat_info(path: Path) -> bytes | None:
    """The info string inside a flat image (no ELF sections: link_aarch64.ld keeps
    .wasmkiln.info in .rodata): the JSON image._info_c writes, which starts with its target."""
    try:
        data = path.read_bytes()
    except OSError:
        return None
    if data[56:60] != b"ARM\x64":  # a Linux arm64 Image header
        return None
    start = data.find(_FLAT_INFO_MARK)
    end = data.find(b"\0", start)
    return data[start:end] if start >= 0 and end > start else None
