"""Exception handling (bridge/exceptions.py, core/exceptions_core.c), fast: a script of its
corner cases through the spec runner on both backends, decoding and validation errors, the
"no checks without exceptions" rule, and an uncaught exception in an image on both x86_64
targets. The spec suite's own exception scripts run in test_spec.py (slow)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from wasmkiln.bridge.decode import decode
from wasmkiln.bridge.environ import uses_exceptions
from wasmkiln.bridge.errors import ValidationError, WasmError
from wasmkiln.bridge.module import ValType
from wasmkiln.bridge.validate import validate
from wasmkiln.pyhook.spec import wast

wasmtime = pytest.importorskip("wasmtime", reason="wat2wasm comes from the wasmtime package")

# Payloads of every kind (v128, f64, externref), exnrefs kept in a local, a global and a
# table and thrown again, an exception crossing two instances, a catch clause per kind.
SCRIPT = r"""
(module $a
  (tag $t (export "t") (param i32))
  (func (export "throw") (param i32) (throw $t (local.get 0))))
(register "a")
(module
  (import "a" "t" (tag $t (param i32)))
  (import "a" "throw" (func $throw (param i32)))
  (tag $big (param v128 f64 externref))
  (tag $other)
  (global $g (mut exnref) (ref.null exn))
  (table $tb 2 exnref)
  (func (export "cross") (param i32) (result i32)
    (block $h (result i32)
      (try_table (catch $t $h) (call $throw (local.get 0)))
      (i32.const -1)))
  (func (export "lanes") (result i64 i64 f64)
    (local $v v128) (local $d f64)
    (block $h (result v128 f64 externref)
      (try_table (catch $big $h)
        (throw $big (v128.const i64x2 7 9) (f64.const 2.5) (ref.null extern)))
      (unreachable))
    (drop)
    (local.set $d)
    (local.set $v)
    (i64x2.extract_lane 0 (local.get $v))
    (i64x2.extract_lane 1 (local.get $v))
    (local.get $d))
  (func (export "store-and-rethrow") (param i32) (result i32)
    (local $e exnref)
    (block $h (result exnref)
      (try_table (catch_all_ref $h) (call $throw (local.get 0)))
      (unreachable))
    (local.set $e)
    (global.set $g (local.get $e))
    (table.set $tb (i32.const 1) (global.get $g))
    (block $h2 (result i32)
      (try_table (catch $t $h2) (throw_ref (table.get $tb (i32.const 1))))
      (i32.const -2)))
  (func (export "order") (result i32)
    (block $all
      (block $o
        (try_table (catch $other $o) (catch_all $all) (call $throw (i32.const 1)))
        (return (i32.const 0)))
      (return (i32.const 1)))
    (i32.const 2))
  (func (export "uncaught") (call $throw (i32.const 5)))
  (func (export "uncaught-other") (throw $other))
  (func (export "null") (throw_ref (ref.null exn)))
  (func $deep (param i32) (result i32)
    (if (result i32) (local.get 0)
      (then (call $deep (i32.sub (local.get 0) (i32.const 1))) (i32.const 1) (i32.add))
      (else (call $throw (i32.const 42)) (i32.const 0))))
  (func (export "catch-deep") (result i32)
    (block $h (result i32)
      (try_table (result i32) (catch $t $h) (call $deep (i32.const 100))))))
(assert_return (invoke "cross" (i32.const 7)) (i32.const 7))
(assert_return (invoke "lanes") (i64.const 7) (i64.const 9) (f64.const 2.5))
(assert_return (invoke "store-and-rethrow" (i32.const 11)) (i32.const 11))
(assert_return (invoke "order") (i32.const 2))
(assert_exception (invoke "uncaught"))
(assert_exception (invoke "uncaught-other"))
(assert_trap (invoke "null") "null exception reference")
(assert_return (invoke "catch-deep") (i32.const 42))
(assert_return (invoke "cross" (i32.const 8)) (i32.const 8))
"""

LEGACY = r"""
(module
  (tag $e (param i32))
  (tag $f)
  (func $throw (param i32) (throw $e (local.get 0)))
  (func (export "catch") (param i32) (result i32)
    (try (result i32) (do (call $throw (local.get 0)) (i32.const -1))
      (catch $f (i32.const -2))
      (catch $e (i32.const 1) (i32.add))))
  (func (export "rethrow") (result i32)
    (try (result i32)
      (do (try (do (call $throw (i32.const 3))) (catch_all (rethrow 0))) (i32.const 0))
      (catch $e)))
  (func (export "delegate") (result i32)
    (try $outer (result i32)
      (do (try (result i32) (do (call $throw (i32.const 9)) (i32.const 0)) (delegate $outer)))
      (catch $e)))
  (func (export "escape") (try (do (throw $f)) (catch $e (drop)))))
(assert_return (invoke "catch" (i32.const 4)) (i32.const 5))
(assert_return (invoke "rethrow") (i32.const 3))
(assert_return (invoke "delegate") (i32.const 9))
(assert_exception (invoke "escape"))
"""


def _run(tmp_path: Path, text: str, backend: str) -> wast.FileResult:
    script = tmp_path / f"{backend}.wast"
    script.write_text(text)
    (result,) = wast.run_scripts([script], backend=backend, workdir=tmp_path / "work")
    return result


@pytest.mark.parametrize("backend", ["cranelift", "llvm"])
def test_exception_script(backend: str, tmp_path: Path) -> None:
    r = _run(tmp_path, SCRIPT, backend)
    assert (r.failed, r.failures, r.passed) == (0, [], 12)


@pytest.mark.parametrize("backend", ["cranelift", "llvm-O0"])
def test_legacy_script(backend: str, tmp_path: Path) -> None:
    if shutil.which("wat2wasm") is None:
        print("skipping: the legacy instructions' text needs WABT's wat2wasm")
        pytest.skip("the legacy instructions' text needs WABT's wat2wasm")
    r = _run(tmp_path, LEGACY, backend)
    assert (r.failed, r.failures, r.passed) == (0, [], 5)


def test_runner_sees_a_missing_exception(tmp_path: Path) -> None:
    """assert_exception fails when the call returns, and when it traps instead."""
    text = (
        '(module (func (export "ok")) (func (export "trap") unreachable))\n'
        '(assert_exception (invoke "ok"))\n(assert_exception (invoke "trap"))\n'
    )
    r = _run(tmp_path, text, "cranelift")
    assert r.failed == 2
    assert "expected an exception" in r.failures[0].message
    assert "unreachable" in r.failures[1].message


def _wasm(text: str) -> bytes:
    return bytes(wasmtime.wat2wasm(text))


def test_decode_forms_and_flags() -> None:
    m = decode(
        _wasm(
            "(module (tag $t (param exnref)) (func (param (ref null exn)) (result (ref exn))"
            " (block $h (result (ref exn)) (try_table (catch_all_ref $h) (throw $t (ref.null"
            " exn))) (unreachable)) unreachable))"
        )
    )
    validate(m)
    assert m.types[0].params == (ValType.EXNREF,)
    assert m.exception_ops and uses_exceptions(m)
    plain = decode(_wasm("(module (func $f) (func (call $f)))"))
    assert not uses_exceptions(plain)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("(module (tag (param i32)) (func (block $h (try_table (catch 0 $h)))))", "type mismatch"),
        ("(module (func (block $h (try_table (catch_all_ref $h)))))", "type mismatch"),
        ("(module (func (throw 0)))", "unknown tag 0"),
        ("(module (tag) (func (i32.const 1) (throw_ref)))", "type mismatch"),
    ],
)
def test_validation_errors(text: str, message: str) -> None:
    try:
        data = _wasm(text)
    except Exception:  # noqa: BLE001 - wasmtime's parser refused the text: not our case
        pytest.skip(f"wat2wasm does not take {text!r}")
    with pytest.raises(ValidationError, match=message):
        validate(decode(data))


def test_tag_with_results_is_invalid() -> None:
    # (type (func (result i32))) (tag (type 0)): hand-written, the text format refuses it.
    body = bytes([0x01, 0x05, 0x01, 0x60, 0x00, 0x01, 0x7F, 0x0D, 0x03, 0x01, 0x00, 0x00])
    with pytest.raises(WasmError, match="non-empty tag result type"):
        validate(decode(b"\0asm\1\0\0\0" + body))


def test_no_checks_without_exceptions() -> None:
    """A module that cannot see an exception gets no pending-cell test after its calls."""
    from wasmkiln.bridge.llvm_backend import LLVMModule
    from wasmkiln.bridge.translate import FunctionTranslator

    def ir(text: str) -> str:
        m = decode(_wasm(text))
        mb = LLVMModule(m, opt_level=0)
        for i in range(len(m.funcs)):
            FunctionTranslator(m, mb.function()).translate(m.num_imported_funcs + i)
        return mb.ir()

    calls = "(func $g (call $f) (call $f))"
    assert "vm.exn" not in ir(f"(module (func $f) {calls})")
    # With exceptions, only calls that may end in one are checked (throwing_functions).
    assert "vm.exn" not in ir(f"(module (tag) (func $f) {calls})")
    assert ir(f"(module (tag $t) (func $f (throw $t)) {calls})").count("@llvm.expect.i1") == 2


def test_which_calls_may_throw() -> None:
    from wasmkiln.bridge.environ import throwing_functions

    m = decode(
        _wasm(
            """(module
      (import "wasi_snapshot_preview1" "sched_yield" (func $host (result i32)))
      (import "other" "f" (func $other))
      (tag $t) (type $v (func)) (table 1 funcref)
      (func $leaf (drop (call $host)))
      (func $thrower (throw $t))
      (func $calls_thrower (call $thrower))
      (func $calls_other (call $other))
      (func $indirect (call_indirect (type $v) (i32.const 0)))
      (func $calls_leaf (call $leaf)))"""
        )
    )
    may, indirect = throwing_functions(m)
    assert indirect  # some function throws: an indirect call may reach it
    assert may == {
        1,
        3,
        4,
        5,
        6,
    }  # $other (imported), $thrower, its caller, $calls_other, $indirect


UNCAUGHT = """(module
  (import "wasi_snapshot_preview1" "fd_write" (func $w (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 16) "before\\n")
  (tag $e (param i32))
  (func $inner (throw $e (i32.const 7)))
  (func (export "_start")
    (i32.store (i32.const 0) (i32.const 16)) (i32.store (i32.const 4) (i32.const 7))
    (drop (call $w (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))
    (call $inner)
    (i32.store (i32.const 4) (i32.const 0))))
"""


@pytest.mark.parametrize("target", ["x86_64-spt", "x86_64-kvm"])
def test_uncaught_exception_in_an_image(target: str, tmp_path: Path) -> None:
    """An exception no handler catches ends the program: a message, exit status 134."""
    from wasmkiln.pyhook.image.targets import TARGETS, runtime_built

    if not runtime_built(TARGETS[target]):
        pytest.skip(f"the {target} runtime is not built")
    if target.endswith("kvm") and shutil.which("qemu-system-x86_64") is None:
        print("skipping: qemu-system-x86_64 is not installed")
        pytest.skip("qemu-system-x86_64 is not installed")
    wasm = tmp_path / "throw.wasm"
    wasm.write_bytes(_wasm(UNCAUGHT))
    cli = [sys.executable, "-m", "wasmkiln.pyhook.cli"]
    image = tmp_path / "throw.img"
    build = subprocess.run(
        [*cli, "build", str(wasm), "--target", target, "-o", str(image)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert build.returncode == 0, build.stderr
    run = subprocess.run([*cli, "run", str(image)], capture_output=True, text=True, timeout=120)
    assert run.stdout == "before\n"
    assert "uncaught exception of tag 0" in run.stderr
    assert "wasm trap: uncaught wasm exception" in run.stderr
    assert run.returncode == 134


CXX = Path(__file__).parent / "fixtures" / "cxx_exceptions" / "exceptions.cpp"


@pytest.fixture(scope="module")
def cxx_program(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """exceptions.cpp for wasm32-wasi (clang-14 -fwasm-exceptions, with its own small C++
    exception runtime, fixtures/cxx_exceptions/wasm_cxxabi.c: Debian has no libc++abi for
    wasm) and its expected stdout, from the same source built natively with g++."""
    for tool in ("clang++-14", "g++"):
        if shutil.which(tool) is None:
            print(f"skipping: {tool} is not installed")
            pytest.skip(f"{tool} is not installed")
    tmp = tmp_path_factory.mktemp("cxx")
    wasm, native = tmp / "exceptions.wasm", tmp / "exceptions"
    flags = ["--target=wasm32-wasi", "-fwasm-exceptions", "-O2", "-nostdlib++"]
    subprocess.run(["clang++-14", *flags, str(CXX), "-o", str(wasm)], check=True)
    subprocess.run(["g++", "-O2", str(CXX), "-o", str(native)], check=True)
    expected = subprocess.run([str(native)], capture_output=True, text=True, check=True).stdout
    assert "loop 15000" in expected
    return wasm, expected


@pytest.mark.parametrize(
    ("target", "backend"),
    [("x86_64-spt", "cranelift"), ("x86_64-spt", "llvm"), ("x86_64-kvm", "cranelift")],
)
def test_cxx_exceptions(
    target: str, backend: str, cxx_program: tuple[Path, str], tmp_path: Path
) -> None:
    """C++ try/catch (typed catches, catch (...), 10000 throws, a throw 50 frames deep), then
    the same program with an uncaught throw: a message and exit status 134, as natively."""
    from wasmkiln.pyhook.image.targets import TARGETS, runtime_built

    if not runtime_built(TARGETS[target]):
        pytest.skip(f"the {target} runtime is not built")
    if target.endswith("kvm") and shutil.which("qemu-system-x86_64") is None:
        pytest.skip("qemu-system-x86_64 is not installed")
    wasm, expected = cxx_program
    cli = [sys.executable, "-m", "wasmkiln.pyhook.cli"]
    image = tmp_path / "cxx.img"
    build = subprocess.run(
        [*cli, "build", str(wasm), "--target", target, "--backend", backend, "-o", str(image)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert build.returncode == 0, build.stderr
    run = subprocess.run([*cli, "run", str(image)], capture_output=True, text=True, timeout=120)
    assert (run.returncode, run.stdout) == (0, expected), run.stderr
    run = subprocess.run(
        [*cli, "run", str(image), "--", "x"], capture_output=True, text=True, timeout=120
    )
    assert run.returncode == 134
    assert run.stdout == expected.replace("deep 51", "deep 52").replace("total 154", "total 155")
    assert "uncaught wasm exception" in run.stderr


@pytest.mark.parametrize(
    "text",
    [
        "(module (global anyref (ref.null any)))",
        "(module (func (param nullexnref)))",
        "(module (func (drop (ref.null noexn))))",
    ],
)
def test_later_reference_types_are_unsupported_not_malformed(text: str) -> None:
    """Valid 3.0 reference types of GC: named, not garbage (typed function references,
    `(ref null $t)`, are supported: test_tail_calls.py)."""
    from wasmkiln.bridge.errors import UnsupportedError

    with pytest.raises(UnsupportedError, match="garbage collection|typed function references"):
        validate(decode(_wasm(text)))


def test_scripts_of_one_name_both_run(tmp_path: Path) -> None:
    """spec3/throw.wast and spec3/legacy/throw.wast: the second must not replace the first."""
    module = '(module (func (export "f") (result i32) (i32.const 1)))\n'
    check = '(assert_return (invoke "f") (i32.const 1))\n'
    for sub, n in (("a", 1), ("b", 2)):
        (tmp_path / sub).mkdir()
        (tmp_path / sub / "x.wast").write_text(module + check * n)
    results = wast.run_scripts(
        [tmp_path / "a" / "x.wast", tmp_path / "b" / "x.wast"], workdir=tmp_path / "work"
    )
    assert [r.passed for r in results] == [2, 3]
