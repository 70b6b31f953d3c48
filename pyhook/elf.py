"""Just enough ELF64 reading to find a named section in an image we built."""

from __future__ import annotations

import struct
from pathlib import Path


def section_bytes(path: Path, name: str) -> bytes | None:
    try:
        data = path.read_bytes()
    except OSError:
        return None
    if len(data) < 64 or data[:4] != b"\x7fELF" or data[4] != 2 or data[5] != 1:
        return None
    shoff, = struct.unpack_from("<Q", data, 0x28)
    shentsize, shnum, shstrndx = struct.unpack_from("<HHH", data, 0x3A)
    if shoff == 0 or shentsize < 64 or shoff + shnum * shentsize > len(data) or shstrndx >= shnum:
        return None

    def header(i: int) -> tuple[int, int, int]:
        base = shoff + i * shentsize
        sh_name, = struct.unpack_from("<I", data, base)
        sh_offset, sh_size = struct.unpack_from("<QQ", data, base + 0x18)
        return sh_name, sh_offset, sh_size

    _, str_off, str_size = header(shstrndx)
    wanted = name.encode()
    for i in range(shnum):
        n, off, size = header(i)
        end = data.find(b"\0", str_off + n, str_off + str_size)
        if end >= 0 and data[str_off + n : end] == wanted and off + size <= len(data):
            return data[off : off + size]
    return None
