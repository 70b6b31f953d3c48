"""The differential fuzzer with WebAssembly 3.0 (pyhook/fuzz/, docs/fuzzing.md "WebAssembly
3.0"): binaryen's exception imports (engines.HARNESS_SHIM) behave alike on both engines,
references cross the harness as null, `spread_memories` makes valid multi-memory modules
that both engines agree on, the binaryen in use is chosen by $WASMKILN_BINARYEN; and (slow,
CI) a few generated modules per feature and backend with binaryen 132 from npm, which
.ci/run installs into build/binaryen (skipped, saying so, when it is absent)."""

from __future__ import annotations

import os
import random
from collections.abc import Iterator
from pathlib import Path

import pytest
import wasmtime

from wasmkiln.bridge.decode import decode
from wasmkiln.bridge.module import ExternKind
from wasmkiln.pyhook.fuzz import differential as fuzz
from wasmkiln.pyhook.fuzz import engines
from wasmkiln.pyhook.fuzz.engines import Call, FuzzError
from wasmkiln.pyhook.fuzz.memories import memory_indices, spread_memories

ROOT = Path(__file__).resolve().parent.parent
NPM_BINARYEN = ROOT / "build" / "binaryen" / "node_modules" / "binaryen" / "bin"


@pytest.fixture(scope="module", params=["cranelift", "llvm"])
def ours(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[engines.Ours]:
    runner = engines.Ours(request.param, tmp_path_factory.mktemp(f"fuzz3-{request.param}"))
    yield runner
    runner.close()


def _wasm(wat: str) -> bytes:
    return bytes(wasmtime.wat2wasm(wat))


def _both(wasm: bytes, ours: engines.Ours, plan: list[Call]) -> engines.RunResult:
    """wasmtime's run of the plan, after checking that ours agrees with it."""
    ref = engines.run_wasmtime(wasm, plan)
    assert ref.error is None and ref.stopped is None, ref
    assert fuzz.compare(ref, ours.run(wasm, plan)) is None
    return ref


# binaryen's exception imports, used as its -ttf modules use them
THROWING = """(module
  (import "fuzzing-support" "throw" (func $throw (param i32)))
  (import "fuzzing-support" "wasmtag" (tag $wasmtag (param i32)))
  (import "fuzzing-support" "jstag" (tag $jstag (param externref)))
  (import "fuzzing-support" "sleep" (func $sleep (param i32 i32) (result i32)))
  (import "fuzzing-support" "table-get" (func $table_get (param i32) (result funcref)))
  (import "fuzzing-support" "call-export-catch" (func $call (param i32) (result i32)))
  (func (export "caught") (param i32) (result i32)
    (block $b (result i32)
      (try_table (catch $wasmtag $b) (call $throw (local.get 0)))
      (i32.const -1)))
  (func (export "js") (result i32) (local $e externref)
    (block $all
      (local.set $e
        (block $b (result externref)
          (try_table (catch $jstag $b) (catch_all $all) (call $throw (i32.const 0)))
          (return (i32.const -1))))
      (return (i32.add (i32.const 10) (ref.is_null (local.get $e)))))
    (i32.const -2))
  (func (export "uncaught") (call $throw (i32.const 9)))
  (func (export "null") (throw_ref (ref.null exn)))
  (func (export "rethrown") (param i32) (result i32)
    (block $b (result exnref)
      (try_table (catch_all_ref $b) (call $throw (local.get 0)))
      (return (i32.const -1)))
    (throw_ref))
  (func (export "stubs") (result i32)
    (i32.add (call $sleep (i32.const 5) (i32.const 40))
      (i32.add (ref.is_null (call $table_get (i32.const 0))) (call $call (i32.const 1))))))"""


def test_binaryens_throw_import_acts_alike(ours: engines.Ours) -> None:
    """throw(n) raises the imported wasmtag with n, throw(0) the "JS" tag (null externref),
    an exception no handler catches is UNCAUGHT_EXCEPTION on both sides, throw_ref of null
    is wasmtime's NULL_REFERENCE."""
    wasm = _wasm(THROWING)
    plan = [
        Call("caught", (("i32", 7),)),
        Call("caught", (("i32", 0),)),
        Call("js", ()),
        Call("uncaught", ()),
        Call("null", ()),
        Call("rethrown", (("i32", 3),)),
        Call("stubs", ()),
    ]
    got = [(o.trap, o.results) for o in _both(wasm, ours, plan).outcomes]
    assert got == [
        (None, (("i32", 7),)),
        ("UNCAUGHT_EXCEPTION", ()),  # the "JS exception" is not wasmtag's
        (None, (("i32", 11),)),  # caught as jstag, with a null externref
        ("UNCAUGHT_EXCEPTION", ()),
        ("NULL_REFERENCE", ()),  # wasmkiln's NULL_EXNREF: wasmtime has one code for nulls
        ("UNCAUGHT_EXCEPTION", ()),
        (None, (("i32", 41),)),  # sleep's id, a null funcref, call-export-catch's 0
    ]


NO_TAGS = """(module
  (import "fuzzing-support" "throw" (func $throw (param i32)))
  (import "fuzzing-support" "log-i32" (func $log (param i32)))
  (func $inner (call $throw (i32.const 5)))
  (func (export "outer") (call $inner) (call $log (i32.const 1))))"""


def test_an_imported_exception_passes_through_a_module_without_tags(ours: engines.Ours) -> None:
    """Reduced from `wasmkiln fuzz --feature all` seed 17403, module 147 (kept as
    fixtures/fuzz/exception-through-import.wasm): a module with no tag, try or exnref calls
    a function that calls an import which throws. wasmtime ends the call there; wasmkiln
    compiled no exception checks (bridge/environ.uses_exceptions was false for the module),
    so `outer` went on and logged 1 before the exception surfaced. Now a module that calls
    another instance's code gets the checks on the calls that can reach it."""
    wasm = _wasm(NO_TAGS)
    plan = [Call("outer", ())]
    ref = engines.run_wasmtime(wasm, plan)
    assert [(o.trap, o.logs) for o in ref.outcomes] == [("UNCAUGHT_EXCEPTION", ())]
    assert fuzz.compare(ref, ours.run(wasm, plan)) is None
    fixture = Path(__file__).parent / "fixtures" / "fuzz" / "exception-through-import.wasm"
    assert fuzz.check_module(fixture.read_bytes(), ours, "17403:147", ["exceptions"])[0] is None


def test_an_exception_out_of_the_start_function(ours: engines.Ours) -> None:
    """wasmtime raises it from the instantiation as an error, not a trap: both sides report
    UNCAUGHT_EXCEPTION for the instantiation."""
    wasm = _wasm("""(module
      (import "fuzzing-support" "throw" (func $throw (param i32)))
      (func $start (call $throw (i32.const 4)))
      (start $start)
      (func (export "f") (result i32) (i32.const 1)))""")
    plan = [Call("f", ())]
    ref = engines.run_wasmtime(wasm, plan)
    assert ref.init_trap == "UNCAUGHT_EXCEPTION"
    assert fuzz.compare(ref, ours.run(wasm, plan)) is None


def test_references_cross_the_harness_as_null(ours: engines.Ours) -> None:
    """Reference parameters get null, reference results and globals compare by null-ness (a
    global's externref comes wrapped from wasmtime, and binaryen's imported externrefs are
    null on both sides)."""
    wasm = _wasm("""(module
      (import "__fuzz_import" "extern$" (global $x externref))
      (global (export "copy") (mut externref) (global.get $x))
      (global (export "fn") funcref (ref.func $f))
      (func $f (export "f") (param externref funcref) (result externref i32)
        (local.get 0) (ref.is_null (local.get 1))))""")
    exports = engines.exports_of(wasm)
    assert exports == [("f", ["externref", "funcref"])]
    plan = fuzz.make_plan(exports, "17:1")
    assert plan[0].args == (("externref", 0), ("funcref", 0))
    ref = _both(wasm, ours, plan)
    assert ref.outcomes[0].results == (("externref", 0), ("i32", 1))
    assert ref.outcomes[0].globals == (("copy", ("externref", 0)), ("fn", ("funcref", 1)))


def test_exnref_exports_are_left_out() -> None:
    """The wasmtime package aborts the process on an exnref value type: such exports are
    found with wasmkiln's decoder and never touched."""
    wasm = _wasm("""(module
      (table (export "t") 1 exnref)
      (global (export "g") (mut exnref) (ref.null exn))
      (func (export "e") (result exnref) (ref.null exn))
      (func (export "ok") (result i32) (i32.const 1)))""")
    assert engines._opaque_exports(wasm) == {"t", "g", "e"}
    assert engines.exports_of(wasm) == [("ok", [])]
    assert engines.run_wasmtime(wasm, [Call("ok", ())]).outcomes[0].results == (("i32", 1),)


ONE_MEMORY = """(module
  (memory {addr} 1 3)
  (data (i{bits}.const 0) "\\01\\02\\03\\04\\05\\06\\07\\08")
  (data (i{bits}.const 16) "abcdefgh")
  (data $p "passive!")
  (func (export "run") (result i64)
    (i32.store (i{bits}.const 32) (i32.load (i{bits}.const 0)))
    (i64.store offset=8 (i{bits}.const 32) (i64.load (i{bits}.const 16)))
    (memory.fill (i{bits}.const 48) (i32.const 7) (i{bits}.const 4))
    (memory.copy (i{bits}.const 56) (i{bits}.const 0) (i{bits}.const 8))
    (memory.init $p (i{bits}.const 64) (i32.const 0) (i32.const 8))
    (v128.store (i{bits}.const 80) (v128.load8_lane 3 (i{bits}.const 5) (v128.const i64x2 0 0)))
    (drop (memory.grow (i{bits}.const 1)))
    (i64.add (i64.load (i{bits}.const 56)) {size}))
  (func (export "oob") (result i32) (i32.load (i{bits}.const 131070))))"""


@pytest.mark.parametrize("bits", [32, 64])
def test_spread_memories_makes_valid_modules_both_engines_agree_on(
    bits: int, ours: engines.Ours
) -> None:
    """Every memory instruction and active segment lands on a drawn memory (the same type
    repeated), every memory is exported, the result is valid and runs alike."""
    size = "(memory.size)" if bits == 64 else "(i64.extend_i32_u (memory.size))"
    wasm = _wasm(ONE_MEMORY.format(addr="i64" if bits == 64 else "", bits=bits, size=size))
    spread_any = False
    for seed in range(6):
        out = spread_memories(wasm, random.Random(seed))
        assert fuzz.wasmtime_validates(out), seed
        m = decode(out)
        mems = m.all_memories()
        assert 2 <= len(mems) <= 4 and all(t == mems[0] for t in mems)
        assert {e.index for e in m.exports if e.kind == ExternKind.MEMORY} == set(range(len(mems)))
        indices = memory_indices(out)
        assert len(indices) == len(memory_indices(wasm)) == 14  # memory.copy counts twice
        spread_any |= any(indices)
        if seed < 2:
            ref = _both(out, ours, [Call("run", ()), Call("oob", ())])
            assert ref.outcomes[1].trap == "MEM_OOB"
    assert spread_any


def test_spread_memories_leaves_other_modules_alone() -> None:
    no_memory = _wasm('(module (func (export "f")))')
    two = _wasm("(module (memory 1) (memory 1))")
    imported = _wasm('(module (import "m" "mem" (memory 1)))')
    for wasm in (no_memory, two, imported):
        assert spread_memories(wasm, random.Random(1)) == wasm


def test_binaryen_folder_comes_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv(fuzz.BINARYEN_ENV, str(tmp_path))
    with pytest.raises(FuzzError, match=f"{fuzz.BINARYEN_ENV}=.*: no executable wasm-opt there"):
        fuzz.binaryen_version()
    monkeypatch.delenv(fuzz.BINARYEN_ENV)
    if fuzz.shutil.which("wasm-opt") and fuzz.binaryen_version() < fuzz.FEATURES_SINCE:
        with pytest.raises(FuzzError, match="needs binaryen 118 or later"):
            fuzz.feature_flags(["exceptions"])


# ---- generated modules, binaryen 132 (CI: .ci/run installs it) ----------------------------------
# what each feature's modules must hold, counted by differential.feature_counts
EXPECTED = {
    "exceptions": "modules with try_table/throw",
    "memory64": "modules with a 64-bit memory",
    "multi-memory": "modules with several memories",
}


def _npm_binaryen() -> Path:
    folder = Path(os.environ.get(fuzz.BINARYEN_ENV) or NPM_BINARYEN)
    if not (folder / "wasm-opt").is_file():
        pytest.skip(
            f"binaryen 132 is not installed at {folder} (.ci/run: npm install --prefix "
            "build/binaryen binaryen@132.0.0; or set WASMKILN_BINARYEN)"
        )
    return folder


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["cranelift", "llvm"])
@pytest.mark.parametrize("feature", list(EXPECTED))
def test_generated_wasm3_modules_agree(
    feature: str, backend: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(fuzz.BINARYEN_ENV, str(_npm_binaryen()))
    if fuzz.binaryen_version() < fuzz.FEATURES_SINCE:
        pytest.skip(f"{fuzz.BINARYEN_ENV} holds binaryen {fuzz.binaryen_version()}")
    totals = fuzz.run_differential(
        6, 1700, backend, tmp_path / "out", reduce=False, log=print, features=[feature]
    )
    assert totals.failed == 0, f"mismatches saved in {tmp_path / 'out'}"
    assert totals.passed >= 5
    assert totals.features[EXPECTED[feature]] >= 1, totals.features
