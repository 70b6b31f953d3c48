"""Just enough ELF64 reading to find a named section, and the loaded extent, of an image we built.

Only the headers are read (and the one section asked for): `wasmkiln run` reads an image's
info on every start, and an image with packed folders may be hundreds of megabytes. Paths may
be strings, and typing is not imported: the quick start of `wasmkiln run IMAGE` (cli/entry.py)
loads neither it nor pathlib.
"""

from __future__ import annotations

import os
import struct

TYPE_CHECKING = False  # mypy takes it as typing's; typing is not imported (see above)
if TYPE_CHECKING:
    from typing import BinaryIO

PT_LOAD = 1


def _header(f: BinaryIO) -> bytes | None:
    head = f.read(64)
    if len(head) < 64 or head[:4] != b"\x7fELF" or head[4] != 2 or head[5] != 1:
        return None
    return head


def _read(f: BinaryIO, offset: int, size: int) -> bytes:
    f.seek(offset)
    data = f.read(size)
    if len(data) != size:
        raise EOFError
    return data


def section_bytes(path: str | os.PathLike[str], name: str) -> bytes | None:
    """The contents of section `name`, or None (no such section, or not an ELF64 file)."""
    try:
        with open(path, "rb") as f:
            return _section(f, name.encode())
    except (OSError, EOFError):
        return None


def _section(f: BinaryIO, wanted: bytes) -> bytes | None:
    head = _header(f)
    if head is None:
        return None
    (shoff,) = struct.unpack_from("<Q", head, 0x28)
    shentsize, shnum, shstrndx = struct.unpack_from("<HHH", head, 0x3A)
    if shoff == 0 or shentsize < 64 or shstrndx >= shnum:
        return None
    table = _read(f, shoff, shnum * shentsize)

    def header(i: int) -> tuple[int, int, int]:
        base = i * shentsize
        (sh_name,) = struct.unpack_from("<I", table, base)
        sh_offset, sh_size = struct.unpack_from("<QQ", table, base + 0x18)
        return sh_name, sh_offset, sh_size

    _, str_off, str_size = header(shstrndx)
    names = _read(f, str_off, str_size)
    for i in range(shnum):
        n, off, size = header(i)
        end = names.find(b"\0", n)
        if end >= 0 and names[n:end] == wanted:
            return _read(f, off, size)
    return None


def load_end(path: str | os.PathLike[str]) -> int | None:
    """The highest physical address a loader writes (PT_LOAD p_paddr + p_memsz, `.bss`
    included), or None (not an ELF64 file, or no loaded segment)."""
    try:
        with open(path, "rb") as f:
            head = _header(f)
            if head is None:
                return None
            (phoff,) = struct.unpack_from("<Q", head, 0x20)
            phentsize, phnum = struct.unpack_from("<HH", head, 0x36)
            if phoff == 0 or phentsize < 56:
                return None
            table = _read(f, phoff, phnum * phentsize)
    except (OSError, EOFError):
        return None
    end = 0
    for i in range(phnum):
        (p_type,) = struct.unpack_from("<I", table, i * phentsize)
        if p_type == PT_LOAD:
            paddr, _filesz, memsz = struct.unpack_from("<QQQ", table, i * phentsize + 0x18)
            end = max(end, paddr + memsz)
    return end or None
