"""The release profile's tiered LLVM pipeline (bridge/codegen.py "llvm-tiered").

In a module of over TIER_ABOVE operators (python.wasm), functions of at most HOT_LINES lines of
IR get LLVM -O2 and the rest a light pipeline whose code generation runs as at -O0
(llvm_backend.TIERED_PASSES). These tests hold the tiers to the same answers as -O2: the spine's
fixtures compiled with every function in the light tier run as FIXTURE_CASES says, a split module
defines every function once, and smaller modules are compiled exactly as by `llvm` (same bytes).
The spec suite with every function in the light tier is in docs/performance.md.
"""

from __future__ import annotations

import dataclasses
import subprocess
from pathlib import Path

import pytest
from guest_programs import FIXTURE_CASES, FixtureCase, compile_fixture
from wkcli import assert_ran, need_target, wasmkiln

from wasmkiln.bridge import codegen
from wasmkiln.bridge.decode import decode
from wasmkiln.bridge.llvm_backend import LLVMModule
from wasmkiln.bridge.parallel import Source
from wasmkiln.bridge.translate import FunctionTranslator
from wasmkiln.bridge.validate import validate
from wasmkiln.pyhook.image.profiles import ProfileError, resolve_profile

COREMARK = Path(__file__).resolve().parents[2] / "shared" / "testdata" / "real" / "coremark"


def _coremark():  # noqa: ANN202 - a bridge Module
    path = COREMARK / "coremark.wasm"
    if not path.is_file():
        pytest.skip(f"no {path} (shared test data)")
    module = decode(path.read_bytes())
    validate(module)
    return module


def test_release_profile_is_tiered() -> None:
    assert resolve_profile("release").compile_backend == "llvm-tiered"
    full: dict[str, dict[str, object]] = {"f": {"inherits": "release", "pipeline": "full"}}
    assert resolve_profile("f", full).compile_backend == "llvm"
    o3: dict[str, dict[str, object]] = {"o3": {"inherits": "release", "opt-level": 3}}
    assert resolve_profile("o3", o3).compile_backend == "llvm-O3"
    bad: dict[str, dict[str, object]] = {"x": {"inherits": "release", "pipeline": "fast"}}
    with pytest.raises(ProfileError, match="pipeline must be one of tiered, full"):
        resolve_profile("x", bad)


def test_small_module_compiles_as_llvm() -> None:
    """Below TIER_ABOVE, llvm-tiered is -O2 for every function: the very same objects."""
    module = _coremark()
    assert Source(module).operators() < codegen.TIER_ABOVE
    assert codegen.generate(module, "llvm-tiered") == codegen.generate(module, "llvm")


def test_split_defines_every_function() -> None:
    """Both tiers non-empty; the linked object defines each function exactly once."""
    module = _coremark()
    lm = LLVMModule(module, opt_level=2, hot_lines=40)
    first = module.num_imported_funcs
    for i in range(first, first + len(module.funcs)):
        FunctionTranslator(module, lm.function()).translate(i)
    assert lm.bulk and lm.parts
    obj = lm.finish()
    assert obj[:4] == b"\x7fELF"
    path = Path(__file__).parent / ".tiered-coremark.o"
    try:
        path.write_bytes(obj)
        nm = subprocess.run(["nm", "--defined-only", str(path)], capture_output=True, text=True)
    finally:
        path.unlink(missing_ok=True)
    assert nm.returncode == 0, nm.stderr
    defined = [ln.split()[-1] for ln in nm.stdout.splitlines() if " T " in ln or " t " in ln]
    funcs = [n for n in defined if n.startswith("wk_func_")]
    assert sorted(funcs) == sorted(f"wk_func_{i}" for i in range(first, first + len(module.funcs)))


def test_tail_calls_stay_in_the_o2_tier() -> None:
    """Code generated as at -O0 (`optnone`) does not honour `tail call tailcc`: a function
    with return_call must not reach the light tier, or its loop of tail calls grows the stack
    (the spec's return_call scripts trapped with "call stack exhausted" before this rule)."""
    wasmtime = pytest.importorskip("wasmtime")
    wat = """(module
      (func $count (export "count") (param i64) (result i64)
        (if (result i64) (i64.eqz (local.get 0)) (then (i64.const 0))
          (else (return_call $count (i64.sub (local.get 0) (i64.const 1))))))
      (func (export "plain") (param i64) (result i64)
        (i64.add (local.get 0) (i64.const 1))))"""
    module = decode(bytes(wasmtime.wat2wasm(wat)))
    validate(module)
    lm = LLVMModule(module, opt_level=2, hot_lines=0)
    for i in range(len(module.funcs)):
        FunctionTranslator(module, lm.function()).translate(i)
    assert list(lm.bulk) == ["wk_func_1"]  # `plain`; `count` (wk_func_0) keeps -O2
    assert lm.finish()[:4] == b"\x7fELF"


@pytest.fixture(scope="module")
def light_images(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Fixture images built in this process with every function in the light tier."""
    return {}


def _light_image(images: dict[str, Path], tmp: Path, fixture: str) -> Path:
    if fixture not in images:
        from wasmkiln.pyhook.cli.main import main

        out = tmp / f"{fixture}-light.spt"
        saved = codegen.BACKENDS["llvm-tiered"]
        # Tier every module, and every function but trampolines into the light tier.
        codegen.BACKENDS["llvm-tiered"] = dataclasses.replace(saved, tier_above=1, hot_lines=0)
        try:
            args = ["build", str(compile_fixture(fixture)), "--target", "x86_64-spt"]
            status = main([*args, "--profile", "release", "-o", str(out)])
        finally:
            codegen.BACKENDS["llvm-tiered"] = saved
        assert status == 0
        images[fixture] = out
    return images[fixture]


@pytest.mark.slow
@pytest.mark.parametrize("case", FIXTURE_CASES, ids=lambda c: c.id)
def test_light_tier_runs_fixtures(
    case: FixtureCase, light_images: dict[str, Path], tmp_path_factory: pytest.TempPathFactory
) -> None:
    need_target("x86_64-spt")
    image = _light_image(light_images, tmp_path_factory.getbasetemp(), case.fixture)
    env_flags = [f"--env={k}={v}" for k, v in case.env.items()]
    proc = wasmkiln("run", *env_flags, str(image), "--", *case.args)
    assert_ran(proc, case.stdout, case.exit_code, case.trap)
