"""bridge/parallel.py: chunked, forked, streamed compilation of large modules.

sqlite3 (0.8 MB of code) stands in for a large module: STREAM_BYTES is lowered so that it is
streamed, which python.wasm (74 MB) is by default. What must hold: the objects do not depend on
the number of workers, streamed compilation reports a bad function exactly as decoding the
whole module does, and progress reaches the totals.
"""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

import pytest

from wasmkiln.bridge import parallel
from wasmkiln.bridge.codegen import backend_named, generate_source
from wasmkiln.bridge.compile import compile_wasm
from wasmkiln.bridge.errors import WasmError
from wasmkiln.pyhook.image import progress as progress_mod

SQLITE = Path(__file__).resolve().parent.parent.parent / "shared/testdata/real/sqlite3/sqlite3.wasm"


@pytest.fixture(scope="module")
def sqlite() -> bytes:
    if not SQLITE.is_file():
        pytest.skip(f"{SQLITE} is absent (../shared/testdata)")
    return SQLITE.read_bytes()


def _digest(objects: list[bytes]) -> str:
    return hashlib.sha256(b"\0".join(objects)).hexdigest()


@pytest.mark.slow
@pytest.mark.parametrize("stream", [True, False])
def test_objects_do_not_depend_on_the_workers(
    sqlite: bytes, stream: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(parallel, "STREAM_BYTES", 0 if stream else 1 << 40)
    source = parallel.load(sqlite)
    assert source.streamed == stream
    backend = backend_named("cranelift")
    seen = []
    one, ops1 = generate_source(source, backend, jobs=1)
    two, ops2 = generate_source(source, backend, jobs=2, progress=lambda *a: seen.append(a))
    assert len(one) > 1  # chunked: more than one object
    assert _digest(one) == _digest(two)
    assert ops1 == ops2 == 347874  # speedtest1's operators, decoded in the workers or not
    done, funcs, weight_done, weight = seen[-1]
    assert (done, weight_done) == (funcs, weight) and len(seen) == len(two)


def _with_body(wasm: bytes, k: int, body: bytes) -> bytes:
    """`wasm` with defined function k's body replaced."""
    sec_start, sec_end, spans, content = parallel._code_section(wasm)  # type: ignore[misc]
    code = bytearray(parallel.uleb_bytes(len(spans)))
    for i, (start, size) in enumerate(spans):
        b = body if i == k else wasm[content + start : content + start + size]
        code += parallel.uleb_bytes(len(b)) + b
    return (
        wasm[:sec_start] + b"\x0a" + parallel.uleb_bytes(len(code)) + bytes(code) + wasm[sec_end:]
    )


@pytest.mark.parametrize(
    ("body", "kind"),
    [
        (b"\x00\x41\x00\x41\x00\x0b", "invalid module"),  # two i32s left on the stack
        (b"\x00\xff\x0b", "malformed module"),  # no such opcode
        (b"\x00\x01\x01", "malformed module"),  # no end
    ],
)
def test_streamed_errors_name_the_function_as_before(
    sqlite: bytes, body: bytes, kind: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    bad = _with_body(sqlite, 5, body)
    errors = []
    for stream_bytes in (1 << 40, 0):  # whole, then streamed
        monkeypatch.setattr(parallel, "STREAM_BYTES", stream_bytes)
        with pytest.raises(WasmError) as e:
            compile_wasm(bad, blob_path=str(tmp_path / "blob"), unknown_imports="trap")
        errors.append((type(e.value), str(e.value)))
    assert errors[0] == errors[1]
    assert errors[0][1].startswith(f"{kind} (code section, function {5 + 10}")  # 10 imports


def test_small_modules_stay_whole(sqlite: bytes) -> None:
    assert not parallel.load(sqlite).streamed  # 0.8 MB of code: decoded whole, as before


def test_progress_line_only_on_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(progress_mod.sys, "stderr", io.StringIO())
    with progress_mod.terminal_progress("x") as shown:
        assert shown is None  # not a terminal: quiet
    out = io.StringIO()
    p = progress_mod.TerminalProgress("python", out)
    p(1, 10, 5, 100)
    assert out.getvalue() == ""  # a short build draws nothing
    p.start -= progress_mod.DELAY + 1
    p(4, 10, 50, 100)
    assert "compiling python: 50% (4/10 functions)" in out.getvalue()
    p.close()
    assert out.getvalue().endswith("\r\x1b[K")  # erased at the end


def test_functions_yields_every_body_when_streamed(
    sqlite: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    whole = parallel.load(sqlite)
    monkeypatch.setattr(parallel, "STREAM_BYTES", 0)
    streamed = parallel.load(sqlite)
    assert all(not f.body for f in streamed.module.funcs)  # the stub holds no code
    a = [(i, f.body) for i, f in whole.functions()]
    b = [(i, f.body) for i, f in streamed.functions()]
    assert a == b and sum(len(body) for _, body in b) == 347874


TRY_WITHOUT_TAGS = """(module
  (func $f (export "f") (result i32)
    (block $h
      (try_table (catch_all $h) (call $g))
      (return (i32.const 1)))
    (i32.const 2))
  (func $g)
  (func (export "legacy") (result i32)
    try (result i32) call $g i32.const 3 catch_all i32.const 4 end))"""


@pytest.mark.parametrize("backend", ["cranelift", "llvm"])
def test_streamed_try_without_tags_compiles_as_whole(
    backend: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A module whose only exception feature is a try_table/try in a body (no tag, exnref or
    foreign import) cannot see an exception from its stub, which has no bodies: the body's own
    try blocks must still translate, to the same code as when the module is decoded whole
    (found by cl17: "operator try_table is not supported yet" when streamed)."""
    wasmtime = pytest.importorskip("wasmtime")
    wasm = wasmtime.wat2wasm(TRY_WITHOUT_TAGS)
    objects = []
    for stream_bytes in (1 << 40, 0):
        monkeypatch.setattr(parallel, "STREAM_BYTES", stream_bytes)
        source = parallel.load(wasm)
        assert source.streamed == (stream_bytes == 0)
        objects.append(generate_source(source, backend_named(backend), jobs=1)[0])
    assert _digest(objects[0]) == _digest(objects[1])
