"""Multiple memories for the differential fuzzer: binaryen's module spread over several.

binaryen's `-ttf` (132 included) puts every memory instruction on memory 0, so it never
writes a module with a second memory even with `--enable-multimemory`. `spread_memories`
rewrites a generated module instead: its one defined memory is repeated 1-3 times (same
limits and index type, so every rewrite stays valid), every memory instruction (loads,
stores, SIMD loads/stores/lanes, memory.size/grow/fill/copy/init) and every active data
segment is moved to a memory drawn from the seeded PRNG, and every memory is exported, so
that the fuzzer compares all of them after each call (engines.py hashes the exported
memories). Memory 0 keeps the guard region in wasmkiln while the others are checked
explicitly (docs/abi.md), so the spread exercises both, and memory.copy between them.

The rewrite works on the binary: the decoder (bridge/decode.py) gives each instruction's
file offset, and only the memory immediates are re-encoded, every other byte is copied.
"""

from __future__ import annotations

import random
from collections.abc import Iterator

from wasmkiln.bridge.decode import decode

from .garbage import assemble, sections, uleb

MEMARG_OPS = range(0x28, 0x3F)  # i32.load .. i64.store32
SIMD_MEMARG = {*range(0, 12), 92, 93}  # v128.load*, v128.store, v128.load32/64_zero
SIMD_LANE = range(84, 92)  # v128.load8_lane .. v128.store64_lane: memarg, then a lane byte
EXPORT_PREFIX = "wasmkiln-memory"


def _leb(b: bytes, pos: int) -> tuple[int, int]:
    """An unsigned LEB128 at pos: (value, position after it)."""
    value = shift = 0
    while True:
        byte = b[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if byte < 0x80:
            return value, pos


def _skip_sleb(b: bytes, pos: int) -> int:
    while b[pos] & 0x80:
        pos += 1
    return pos + 1


def _memory_immediates(code: bytes, at: int) -> tuple[str, int, int] | None:
    """How the instruction at `at` names its memories: (kind, start, end) of the immediates
    that hold the memory indices, or None for an instruction without any. Kinds: "memarg"
    (align flags, optional index, offset), "index" (memory.size/grow/fill), "init" (data
    index, memory index), "copy" (two memory indices)."""
    op = code[at]
    if op in MEMARG_OPS:
        return "memarg", at + 1, _memarg_end(code, at + 1)
    if op in (0x3F, 0x40):
        return "index", at + 1, _leb(code, at + 1)[1]
    if op in (0xFC, 0xFD):
        sub, pos = _leb(code, at + 1)
        if op == 0xFC and sub == 8:
            return "init", pos, _leb(code, _leb(code, pos)[1])[1]
        if op == 0xFC and sub == 10:
            return "copy", pos, _leb(code, _leb(code, pos)[1])[1]
        if op == 0xFC and sub == 11:
            return "index", pos, _leb(code, pos)[1]
        if op == 0xFD and (sub in SIMD_MEMARG or sub in SIMD_LANE):
            return "memarg", pos, _memarg_end(code, pos)
    return None


def _memarg_end(code: bytes, pos: int) -> int:
    align, pos = _leb(code, pos)
    if align & 0x40:
        pos = _leb(code, pos)[1]
    return _leb(code, pos)[1]


def _memarg_index(code: bytes, start: int) -> int:
    align, pos = _leb(code, start)
    return _leb(code, pos)[0] if align & 0x40 else 0


def _encode(kind: str, code: bytes, start: int, pick: Iterator[int]) -> bytes:
    """The immediates of one instruction with new memory indices from `pick`."""
    if kind == "memarg":
        align, pos = _leb(code, start)
        if align & 0x40:
            pos = _leb(code, pos)[1]
        offset = code[pos : _leb(code, pos)[1]]
        mem = next(pick)
        flags = align & ~0x40 | (0x40 if mem else 0)
        return uleb(flags) + (uleb(mem) if mem else b"") + offset
    if kind == "index":
        return uleb(next(pick))
    if kind == "init":
        data, _ = _leb(code, start)
        return uleb(data) + uleb(next(pick))
    return uleb(next(pick)) + uleb(next(pick))  # copy: destination, source


def memory_indices(wasm: bytes) -> list[int]:
    """The memory index of every memory instruction in the module's code (both of a
    memory.copy), for the fuzzer's feature counts."""
    m = decode(wasm)
    out: list[int] = []
    for f in m.funcs:
        for at in f.offsets:
            found = _memory_immediates(wasm, at)
            if found is None:
                continue
            kind, start, _ = found
            if kind == "memarg":
                out.append(_memarg_index(wasm, start))
            elif kind == "index":
                out.append(_leb(wasm, start)[0])
            elif kind == "init":
                out.append(_leb(wasm, _leb(wasm, start)[1])[0])
            else:
                dst, pos = _leb(wasm, start)
                out += [dst, _leb(wasm, pos)[0]]
    return out


def spread_memories(wasm: bytes, rng: random.Random) -> bytes:
    """`wasm` with its one memory repeated 1-3 times, its memory instructions and active data
    segments spread over the copies, and every memory exported. A module with no memory,
    an imported one or several is returned unchanged."""
    m = decode(wasm)
    secs = sections(wasm)
    if secs is None or len(m.memories) != 1 or m.all_memories() != m.memories:
        return wasm
    count = 1 + rng.randint(1, 3)

    def pick() -> Iterator[int]:
        while True:
            yield rng.randrange(count)

    picks = pick()
    out: list[tuple[int, bytes]] = []
    for sid, payload in secs:
        if sid == 5:  # memory: the one memory type, repeated
            _, pos = _leb(payload, 0)
            payload = uleb(count) + payload[pos:] * count
        elif sid == 7:
            payload = _exports(payload, m, count)
        elif sid == 10:
            payload = _code(wasm, m, picks)
        elif sid == 11:
            payload = _data(payload, picks)
        out.append((sid, payload))
    return assemble(out)


def _exports(payload: bytes, m: object, count: int) -> bytes:
    """The export section plus an export of every memory not exported yet."""
    n, pos = _leb(payload, 0)
    exported = set()
    for _ in range(n):
        size, pos = _leb(payload, pos)
        pos += size
        kind = payload[pos]
        index, pos = _leb(payload, pos + 1)
        if kind == 2:
            exported.add(index)
    extra = b""
    added = 0
    for index in range(count):
        if index not in exported:
            name = f"{EXPORT_PREFIX}{index}".encode()
            extra += uleb(len(name)) + name + b"\x02" + uleb(index)
            added += 1
    return uleb(n + added) + payload[_leb(payload, 0)[1] :] + extra


def _code(wasm: bytes, m: object, picks: Iterator[int]) -> bytes:
    """The code section rebuilt body by body, memory immediates re-encoded."""
    funcs = getattr(m, "funcs")  # noqa: B009 - a bridge Module
    bodies = []
    for f in funcs:
        starts = list(f.offsets)
        # the body ends after its final `end`, the last instruction (one byte)
        ends = starts[1:] + [starts[-1] + 1]
        body = bytearray(wasm[f.offset : starts[0]])  # the local declarations
        for at, end in zip(starts, ends, strict=True):
            found = _memory_immediates(wasm, at)
            if found is None:
                body += wasm[at:end]
                continue
            kind, start, stop = found
            body += wasm[at:start] + _encode(kind, wasm, start, picks) + wasm[stop:end]
        bodies.append(uleb(len(body)) + bytes(body))
    return uleb(len(bodies)) + b"".join(bodies)


def _data(payload: bytes, picks: Iterator[int]) -> bytes:
    """The data section with each active segment moved to a drawn memory."""
    n, pos = _leb(payload, 0)
    out = bytearray(uleb(n))
    for _ in range(n):
        flag, pos = _leb(payload, pos)
        if flag == 1:  # passive: bytes only
            start = pos
        else:
            if flag == 2:
                pos = _leb(payload, pos)[1]
            start = pos
            while payload[pos] != 0x0B:  # the offset: a constant expression
                op = payload[pos]
                pos = _skip_sleb(payload, pos + 1) if op in (0x41, 0x42, 0x23) else pos + 1
            pos += 1
        size, after = _leb(payload, pos)
        end = after + size
        if flag == 1:
            out += uleb(1) + payload[start:end]
        else:
            mem = next(picks)
            out += (uleb(2) + uleb(mem) if mem else uleb(0)) + payload[start:end]
        pos = end
    return bytes(out)
