"""Property tests (hypothesis) for the decoder: LEB128, section framing, and "any bytes end in a
module or a clean WasmError". Bounded example counts keep the file under a few seconds; the
garbage fuzzer (test_fuzz.py, `wasmkiln fuzz --garbage`) covers far more inputs."""

from __future__ import annotations

from typing import Any

import pytest

hypothesis = pytest.importorskip("hypothesis", reason="hypothesis is not installed (test extra)")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from wasmkiln.bridge.decode import decode  # noqa: E402
from wasmkiln.bridge.decode_expr import LebError, read_sleb, read_uleb  # noqa: E402
from wasmkiln.bridge.errors import DecodeError, WasmError  # noqa: E402
from wasmkiln.bridge.validate import validate  # noqa: E402
from wasmkiln.pyhook.fuzz.garbage import HANDMADE, HEADER, assemble, sections  # noqa: E402

FAST = settings(
    max_examples=300, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
)


def uleb(v: int, pad_to: int = 0) -> bytes:
    """Unsigned LEB128 of v, padded with 0x80 continuation bytes to `pad_to` bytes."""
    out = bytearray()
    while True:
        out.append(v & 0x7F)
        v >>= 7
        if not v and len(out) >= pad_to:
            return bytes(out)
        out[-1] |= 0x80


def sleb(v: int, pad_to: int = 0) -> bytes:
    out = bytearray()
    while True:
        byte = v & 0x7F
        v >>= 7
        done = (v == 0 and not byte & 0x40) or (v == -1 and byte & 0x40)
        out.append(byte)
        if done and len(out) >= pad_to:
            return bytes(out)
        out[-1] |= 0x80
        if done:  # padding: continue with sign-extension bytes
            v = -1 if byte & 0x40 else 0


# ---- LEB128 -------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("read", "encode", "bits", "signed"),
    [
        (read_uleb, uleb, 32, False),
        (read_uleb, uleb, 64, False),
        (read_sleb, sleb, 32, True),
        (read_sleb, sleb, 64, True),
    ],
    ids=["u32", "u64", "s32", "s64"],
)
@FAST
@given(data=st.data())
def test_leb_round_trip(
    read: Any, encode: Any, bits: int, signed: bool, data: st.DataObject
) -> None:
    """Every value, in its shortest form and padded up to the longest legal one, reads back,
    consuming exactly its bytes (whatever follows)."""
    lo, hi = (-(2 ** (bits - 1)), 2 ** (bits - 1) - 1) if signed else (0, 2**bits - 1)
    longest = (bits + 6) // 7
    v = data.draw(st.integers(lo, hi))
    enc = encode(v, data.draw(st.integers(0, longest)))
    if len(enc) <= longest:
        assert read(enc + data.draw(st.binary(max_size=4)), 0, bits) == (v, len(enc))


@FAST
@given(st.integers(0, 2**32 - 1), st.integers(6, 12))
def test_uleb32_overlong_is_rejected(v: int, pad: int) -> None:
    with pytest.raises(LebError, match="too long"):
        read_uleb(uleb(v, pad), 0, 32)


@FAST
@given(st.integers(2**32, 2**35 - 1))
def test_uleb32_too_large_is_rejected(v: int) -> None:
    with pytest.raises(LebError, match="too large"):
        read_uleb(uleb(v), 0, 32)


@FAST
@given(st.one_of(st.integers(2**31, 2**34), st.integers(-(2**34), -(2**31) - 1)))
def test_sleb32_out_of_range_is_rejected(v: int) -> None:
    with pytest.raises(LebError):
        read_sleb(sleb(v), 0, 32)


@FAST
@given(st.integers(0, 2**32 - 1))
def test_truncated_leb_runs_out(v: int) -> None:
    enc = uleb(v)
    with pytest.raises(IndexError):  # decode.py turns this into "unexpected end" per region
        read_uleb(enc[:-1], 0, 32)


# ---- section framing ---------------------------------------------------------------------------
names = st.text(max_size=12)
customs = st.lists(st.tuples(names, st.binary(max_size=40)), max_size=6)


def _custom(name: str, content: bytes) -> tuple[int, bytes]:
    raw = name.encode()
    return 0, uleb(len(raw)) + raw + content


@FAST
@given(customs)
def test_custom_sections_frame_and_round_trip(items: list[tuple[str, bytes]]) -> None:
    secs = [_custom(n, c) for n, c in items]
    data = assemble(secs)
    assert sections(data) == secs
    assert decode(data).customs == items


@FAST
@given(customs.filter(bool), st.integers(1, 8))
def test_section_size_past_the_end_is_malformed(items: list[tuple[str, bytes]], extra: int) -> None:
    """A section that claims more bytes than the file has."""
    secs = [_custom(n, c) for n, c in items]
    last_id, last = secs[-1]
    body = assemble(secs[:-1]) + bytes([last_id]) + uleb(len(last) + extra) + last
    with pytest.raises(DecodeError):
        decode(body)


@FAST
@given(st.sampled_from(HANDMADE[1:]), st.data())
def test_section_order_is_enforced(module: bytes, data: st.DataObject) -> None:
    secs = sections(module)
    assert secs is not None
    known = [s for s in secs if s[0] != 0]
    i = data.draw(st.integers(0, len(known) - 1))
    j = data.draw(st.integers(0, len(known) - 1))
    if known[i][0] == known[j][0]:
        return
    known[i], known[j] = known[j], known[i]
    with pytest.raises(DecodeError):
        decode(assemble(known))


# ---- anything in, a module or a clean error out -------------------------------------------------
def _decode_and_validate(data: bytes) -> None:
    try:
        validate(decode(data))
    except WasmError:
        pass  # any other exception fails the test: it is a decoder bug


@FAST
@given(st.binary(max_size=300))
def test_any_bytes(data: bytes) -> None:
    _decode_and_validate(data)


@FAST
@given(st.binary(max_size=300))
def test_any_bytes_after_the_header(data: bytes) -> None:
    _decode_and_validate(HEADER + data)


@FAST
@given(
    st.sampled_from(HANDMADE),
    st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 255)), min_size=1, max_size=4),
)
def test_mutated_modules(module: bytes, edits: list[tuple[int, int]]) -> None:
    data = bytearray(module)
    for at, byte in edits:
        data[at % len(data)] = byte
    _decode_and_validate(bytes(data))


@FAST
@given(st.sampled_from(HANDMADE[1:]), st.integers(8, 200))
def test_truncated_modules_are_malformed(module: bytes, cut: int) -> None:
    if cut >= len(module) or sections(module[:cut]) is not None:
        return  # cut at a section boundary: possibly a valid, shorter module
    with pytest.raises(DecodeError):
        decode(module[:cut])
