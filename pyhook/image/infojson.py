"""Reading the build info an image carries: the JSON in its ``.wasmkiln.info`` section (target,
module name, ABI version, recorded ports, CPU level, whether the module opens its own sockets).

Apart from pyhook/image/image.py, which writes it, and with nothing but json and the ELF reader:
`wasmkiln run IMAGE` reads it at every start, and its quick start (cli/entry.py) loads no more
(no dataclasses, no pathlib). imageinfo.py re-exports it with the recorded ports' type."""

from __future__ import annotations

import json
import os

INFO_SECTION = ".wasmkiln.info"


def read_image_info(path: str | os.PathLike[str]) -> dict | None:
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


def _flat_info(path: str | os.PathLike[str]) -> bytes | None:
    """The info string inside a flat image (no ELF sections: link_aarch64.ld keeps
    .wasmkiln.info in .rodata): the JSON image._info_c writes, which starts with its target."""
    try:
        with open(path, "rb") as f:
            if f.read(64)[56:60] != b"ARM\x64":  # a Linux arm64 Image header
                return None  # (read first: `run MODULE.wasm` asks too, and a module may be large)
            f.seek(0)
            data = f.read()
    except OSError:
        return None
    start = data.find(_FLAT_INFO_MARK)
    end = data.find(b"\0", start)
    return data[start:end] if start >= 0 and end > start else None
