"""Packing host directories into an image, and baking arguments and environment.

``wasmkiln build --dir HOST[::GUEST]`` (wasmtime's syntax) puts the directory HOST into the
image, preopened in the guest as GUEST (default: HOST as written). The packed form is one
read-only blob whose format docs/fs.md describes; the unikernel's fs layer
(unikernel/fs/tree_fs.c) reads it in place through the symbol ``wk_fs_image``. ``--arg`` and
``--env`` baked at build time become ``wk_wasi_baked_config`` (unikernel/include/wk/wasi.h).
Both symbols are optional: ``config_c`` writes them only when there is something to say, and
an image without them has no preopens and only the run's arguments.

The blob is written in two passes (metadata, then file contents streamed into place), so a
directory of any size packs in constant memory besides its tree of names.
"""

from __future__ import annotations

import hashlib
import os
import stat
import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

MAGIC = b"WKFSIMG1"
VERSION = 1
HEADER = struct.Struct("<8sIIIIQQQQQ")  # magic, version, preopens, nodes, dirents, offsets, size
PREOPEN = struct.Struct("<IIII")  # name_off, name_len, root node, pad
NODE = struct.Struct("<BxxxIQQQ")  # type, pad, reserved (0), mtime_ns, a, b
DIRENT = struct.Struct("<IIII")  # name_off, name_len, node, pad
DIR, FILE, SYMLINK = 3, 4, 7  # the WASI filetype values
DATA_ALIGN = 16
assert HEADER.size == 64 and NODE.size == 32


class PackError(Exception):
    """A directory cannot be packed (missing, unreadable, or a name the guest cannot use)."""


@dataclass(frozen=True)
class DirMapping:
    """One ``--dir``: the host directory and the name the guest sees it under."""

    host: Path
    guest: str

    @classmethod
    def parse(cls, spec: str) -> DirMapping:
        """``HOST`` or ``HOST::GUEST`` (wasmtime's syntax); GUEST defaults to HOST as written."""
        host, sep, guest = spec.partition("::")
        if not host or (sep and not guest):
            raise PackError(f"--dir takes HOST or HOST::GUEST, got {spec!r}")
        return cls(Path(host), guest if sep else host)


@dataclass
class _Node:
    kind: int
    mtime: int
    a: int = 0
    b: int = 0
    source: Path | None = None  # regular files: where the bytes come from


def _check_dir(m: DirMapping) -> None:
    if not m.host.is_dir():
        why = "does not exist" if not m.host.exists() else "is not a directory"
        raise PackError(f"--dir {m.host}: {why}")


class _Packer:
    def __init__(self) -> None:
        self.nodes: list[_Node] = []
        self.dirents: list[tuple[int, int, int]] = []
        self.names = bytearray()
        self.data_size = 0  # bytes of file data so far (relative offsets)

    def name(self, raw: bytes) -> tuple[int, int]:
        off = len(self.names)
        self.names += raw
        return off, len(raw)

    def add_tree(self, root: Path) -> int:
        """Add a directory and everything below it; returns its node index."""
        root_idx = len(self.nodes)
        self.nodes.append(_Node(DIR, root.stat().st_mtime_ns))
        queue = [(root, root_idx)]
        while queue:  # a work list, not recursion: any depth packs
            path, idx = queue.pop()
            try:
                entries = sorted(os.scandir(path), key=lambda e: os.fsencode(e.name))
            except OSError as e:
                raise PackError(f"cannot list {path}: {e.strerror}") from None
            first = len(self.dirents)
            kids: list[tuple[bytes, int]] = []
            for entry in entries:
                child = self.add_entry(Path(entry.path), queue)
                if child is not None:
                    kids.append((os.fsencode(entry.name), child))
            for raw, child in kids:
                self.dirents.append((*self.name(raw), child))
            self.nodes[idx].a, self.nodes[idx].b = first, len(kids)
        return root_idx

    def add_entry(self, path: Path, queue: list[tuple[Path, int]]) -> int | None:
        st = path.lstat()
        idx = len(self.nodes)
        if stat.S_ISLNK(st.st_mode):
            off, n = self.name(os.fsencode(os.readlink(path)))
            self.nodes.append(_Node(SYMLINK, st.st_mtime_ns, off, n))
        elif stat.S_ISDIR(st.st_mode):
            self.nodes.append(_Node(DIR, st.st_mtime_ns))
            queue.append((path, idx))
        elif stat.S_ISREG(st.st_mode):
            self.data_size += -self.data_size % DATA_ALIGN
            self.nodes.append(_Node(FILE, st.st_mtime_ns, self.data_size, st.st_size, path))
            self.data_size += st.st_size
        else:
            return None  # sockets, fifos, devices: nothing a guest could use
        return idx


def pack_dirs(dirs: Sequence[DirMapping], out: Path) -> int:
    """Write the packed image of `dirs` to `out`; returns its size in bytes."""
    p = _Packer()
    preopens = []
    for m in dirs:
        _check_dir(m)
        guest = m.guest.encode()
        preopens.append((*p.name(guest), p.add_tree(m.host)))
    off = HEADER.size
    pre_off = off
    off += PREOPEN.size * len(preopens)
    nodes_off = off
    off += NODE.size * len(p.nodes)
    dirents_off = off
    off += DIRENT.size * len(p.dirents)
    names_off = off
    off += len(p.names)
    data_off = off + (-off % DATA_ALIGN)
    total = data_off + p.data_size
    with out.open("wb") as f:
        f.write(
            HEADER.pack(
                MAGIC,
                VERSION,
                len(preopens),
                len(p.nodes),
                len(p.dirents),
                pre_off,
                nodes_off,
                dirents_off,
                names_off,
                total,
            )
        )
        f.write(b"".join(PREOPEN.pack(o, n, root, 0) for o, n, root in preopens))
        for node in p.nodes:
            a = node.a + data_off if node.kind == FILE else node.a
            f.write(NODE.pack(node.kind, 0, node.mtime, a, node.b))
        f.write(b"".join(DIRENT.pack(o, n, idx, 0) for o, n, idx in p.dirents))
        f.write(p.names)
        for node in p.nodes:
            if node.kind != FILE:
                continue
            f.seek(node.a + data_off)
            assert node.source is not None
            try:
                with node.source.open("rb") as src:
                    copied = 0
                    while chunk := src.read(1 << 20):
                        f.write(chunk[: node.b - copied])
                        copied += len(chunk)
            except OSError as e:
                raise PackError(f"cannot read {node.source}: {e.strerror}") from None
            if copied < node.b:
                raise PackError(f"{node.source} shrank while it was packed")
        f.truncate(total)
    return total


def fingerprint(dirs: Sequence[DirMapping]) -> str:
    """A digest of what pack_dirs would pack (names, sizes, mtimes, link targets): a cache key."""
    h = hashlib.sha256()
    for m in dirs:
        _check_dir(m)
        h.update(f"{m.guest}\0{m.host.resolve()}\0".encode())
        for root, dirnames, filenames in os.walk(m.host):
            dirnames.sort()
            for name in sorted(filenames + dirnames):
                path = os.path.join(root, name)
                st = os.lstat(path)
                h.update(f"{path}\0{st.st_mode}\0{st.st_size}\0{st.st_mtime_ns}\0".encode())
                if stat.S_ISLNK(st.st_mode):
                    h.update(os.fsencode(os.readlink(path)))
    return h.hexdigest()


def _c_array(name: str, items: Iterable[str]) -> str:
    from wasmkiln.bridge.metadata import c_string  # the compiler's: not on `run`'s import path

    body = "".join(f"{c_string(s)}, " for s in items)  # `{, 0}` would not compile
    return f"static const char *const {name}[] = {{{body}0}};\n"


def config_c(fs_blob: Path | None, args: Sequence[str] = (), env: Sequence[str] = ()) -> str | None:
    """C source defining wk_fs_image (from `fs_blob`) and wk_wasi_baked_config, or None."""
    if fs_blob is None and not args and not env:
        return None
    for e in env:
        if "=" not in e or e.startswith("="):
            raise PackError(f"--env takes KEY=VALUE, got {e!r}")
    out = ["/* Generated by wasmkiln.pyhook.pack. DO NOT EDIT. */", '#include "wk/wasi.h"', ""]
    if fs_blob is not None:
        path = str(fs_blob).replace("\\", "\\\\").replace('"', '\\"')
        out.append(
            '__asm__(".section .rodata.wk_fs_image,\\"a\\"\\n.balign 16\\n'
            f'.globl wk_fs_image\\nwk_fs_image:\\n.incbin \\"{path}\\"\\n.previous");'
        )
    if args or env:
        out.append(_c_array("baked_argv", args) + _c_array("baked_envp", env))
        out.append(
            "const wk_wasi_baked wk_wasi_baked_config = "
            f"{{{len(args)}, baked_argv, {len(env)}, baked_envp}};"
        )
    return "\n".join(out) + "\n"


def write_config(
    work: Path, dirs: Sequence[DirMapping] = (), args: Sequence[str] = (), env: Sequence[str] = ()
) -> Path | None:
    """Pack `dirs` and write the config C into `work`; its path, or None if nothing to add."""
    blob = None
    if dirs:
        blob = work / "fs.bin"
        pack_dirs(dirs, blob)
    source = config_c(blob, args, env)
    if source is None:
        return None
    (work / "config.c").write_text(source)
    return work / "config.c"
