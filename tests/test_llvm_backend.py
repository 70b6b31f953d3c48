"""The LLVM backend: same fixtures, same answers as Cranelift; every real module compiles.

Three layers, cheapest first:

* compile-only: every module under ../shared/testdata/real/ and every fixture goes through the
  walker, the IR text is parsed and verified by LLVM and an ELF object comes out (at -O0; the
  small ones at -O2 too), so an IR bug shows as a verifier message, not as a wrong run;
* numeric semantics: one exported function per operator, compiled into a shared object (the
  PIC path) and called through its trampoline with ctypes, compared bit for bit with wasmtime
  on edge values (test_llvm_semantics.py);
* end to end: each fixture of tests/guest_programs.py built with `--backend llvm` (and
  `llvm-O0`) for x86_64-spt and run, held to the same FIXTURE_CASES table as the Cranelift
  runs of test_run.py.

test_compile_speed prints ops/s at -O0 and -O2 (`pytest -s` shows it); bench/compile.py is the
full comparison with Cranelift.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from guest_programs import FIXTURE_CASES, FixtureCase, compile_fixture
from test_run import TRAP_EXIT, wasmkiln

from wasmkiln.bridge.compile import compile_wasm
from wasmkiln.bridge.decode import decode
from wasmkiln.bridge.llvm_backend import LLVMModule, emit_object, generate
from wasmkiln.bridge.translate import FunctionTranslator
from wasmkiln.bridge.validate import validate

REAL = Path(__file__).resolve().parents[2] / "shared" / "testdata" / "real"
REAL_MODULES = sorted(REAL.glob("*/*.wasm"))
FIXTURES = sorted({c.fixture for c in FIXTURE_CASES})
SMALL = 60_000  # instructions; modules up to this size are also compiled at -O2 here
LLVM_BACKENDS = ["llvm", "llvm-O0"]


def _module(path: Path):  # noqa: ANN202 - a bridge Module
    module = decode(path.read_bytes())
    validate(module)
    return module


# ---- compile only ---------------------------------------------------------------------
@pytest.mark.parametrize("path", REAL_MODULES, ids=lambda p: p.stem)
def test_real_module_compiles(path: Path) -> None:
    module = _module(path)
    opt_levels = [0, 2] if sum(len(f.body) for f in module.funcs) <= SMALL else [0]
    for opt in opt_levels:
        objects = generate(module, opt_level=opt)
        assert objects and all(o[:4] == b"\x7fELF" for o in objects)


@pytest.mark.parametrize("fixture", FIXTURES)
def test_fixture_compiles(fixture: str) -> None:
    """Through compile_wasm, with the metadata: what `wasmkiln build --backend llvm` runs."""
    data = compile_fixture(fixture).read_bytes()
    for backend in LLVM_BACKENDS:
        out = compile_wasm(data, blob_path="blob.bin", backend=backend)
        assert out.code[:4] == b"\x7fELF"
        assert "wk_func_" in out.metadata_c


def test_pic_object() -> None:
    """Shared objects (the spec runner's path) need PIC; the IR is the same."""
    module = _module(compile_fixture("fib"))
    for opt in (0, 2):
        assert generate(module, opt_level=opt, pic=True)[0][:4] == b"\x7fELF"


def test_ir_is_verified() -> None:
    """A malformed IR text is an error at emit time, never a silently broken object."""
    lm = LLVMModule(_module(compile_fixture("exit")), opt_level=0)
    text = lm.ir() + "define void @broken() {\nentry:\n  ret i32 0\n}\n"
    with pytest.raises(RuntimeError):
        emit_object(text, lm.triple, 0, False)


def test_compile_speed() -> None:
    """Wasm operators per second, single process, text generation plus LLVM."""
    paths = [compile_fixture(f) for f in FIXTURES] + [
        p for p in REAL_MODULES if p.stem == "coremark"
    ]
    modules = [_module(p) for p in paths]
    ops = sum(len(f.body) for m in modules for f in m.funcs)
    for opt in (0, 2):
        t0 = time.perf_counter()
        for m in modules:
            lm = LLVMModule(m, opt_level=opt)
            first = m.num_imported_funcs
            for i in range(first, first + len(m.funcs)):
                FunctionTranslator(m, lm.function()).translate(i)
            for t in range(len(m.types)):
                lm.trampoline(t)
            lm.finish()
        dt = time.perf_counter() - t0
        print(f"\nLLVM -O{opt}: {ops} ops in {dt:.2f} s = {ops / dt:,.0f} ops/s")
        assert ops / dt > (20_000 if opt == 0 else 1_000)


# ---- end to end -----------------------------------------------------------------------
@pytest.fixture(scope="module")
def images() -> dict[tuple[str, str], Path]:
    return {}


def _image(images: dict, tmp: Path, fixture: str, backend: str) -> Path:
    key = (fixture, backend)
    if key not in images:
        out = tmp / f"{fixture}-{backend}.spt"
        proc = wasmkiln("build", str(compile_fixture(fixture)), "--target", "x86_64-spt",
                        "--backend", backend, "-o", str(out))
        assert proc.returncode == 0, proc.stderr
        images[key] = out
    return images[key]


@pytest.mark.parametrize("backend", LLVM_BACKENDS)
@pytest.mark.parametrize("case", FIXTURE_CASES, ids=lambda c: c.id)
def test_fixture_runs(case: FixtureCase, backend: str, images: dict,
                      tmp_path_factory: pytest.TempPathFactory) -> None:
    image = _image(images, tmp_path_factory.getbasetemp(), case.fixture, backend)
    env_flags = [f"--env={k}={v}" for k, v in case.env.items()]
    proc = wasmkiln("run", *env_flags, str(image), "--", *case.args)
    assert proc.stdout == case.stdout, proc.stderr
    if case.trap is None:
        assert proc.returncode == case.exit_code, proc.stderr
    else:
        assert proc.returncode == TRAP_EXIT, proc.stderr
        assert "wasm trap: " in proc.stderr and case.trap in proc.stderr, proc.stderr


def test_release_profile_uses_llvm(tmp_path: Path) -> None:
    out = tmp_path / "fib.spt"
    proc = wasmkiln("build", str(compile_fixture("fib")), "--target", "x86_64-spt",
                    "--profile", "release", "-o", str(out))
    assert proc.returncode == 0, proc.stderr
    proc = wasmkiln("run", str(out), "--", "20")
    assert proc.stdout == "fib(20) = 6765\n", proc.stderr


# ---- numeric semantics, bit for bit against wasmtime -------------------------------------
# Each operator becomes one exported function; the module is compiled as PIC, linked into a
# shared object and called through its trampolines with ctypes. Calls wasmtime says trap run
# in a forked child each (the trap builtin never returns: it reports the code and exits).
_I32 = [0, 1, -1, 7, -7, 31, 32, 33, 0x12345678, -(2**31), 2**31 - 1]
_I64 = [0, 1, -1, 7, -7, 63, 64, 65, 0x123456789ABCDEF, -(2**63), 2**63 - 1]
_F = [0.0, -0.0, 1.5, -1.5, 2.5, -2.5, 0.49999997, 1e-45, 1e10, -1e10, 2147483648.0,
      -2147483649.0, 4294967296.0, 9.3e18, -9.3e18, 2.0**64, float("inf"), float("-inf"),
      float("nan")]
_INPUTS = {"i32": _I32, "i64": _I64, "f32": _F, "f64": _F}
_TRAP_CODES = {"integer divide by zero": 2, "integer overflow": 3,
               "invalid conversion to integer": 4, "out of bounds memory access": 5,
               "call stack exhausted": 9}
_INT_BINARY = "add sub mul div_s div_u rem_s rem_u and or xor shl shr_s shr_u rotl rotr".split()
_INT_CMP = "eq ne lt_s lt_u gt_s gt_u le_s le_u ge_s ge_u".split()
_F_BINARY = "add sub mul div min max copysign".split()
_F_CMP = "eq ne lt gt le ge".split()
_F_UNARY = "abs neg sqrt ceil floor trunc nearest".split()


def _numeric_ops() -> list[tuple[str, tuple[str, ...], str]]:
    """(operator, param types, result type) for every pure numeric operator."""
    ops: list[tuple[str, tuple[str, ...], str]] = []
    for t in ("i32", "i64"):
        ops += [(f"{t}.{n}", (t, t), t) for n in _INT_BINARY]
        ops += [(f"{t}.{n}", (t, t), "i32") for n in _INT_CMP]
        ops += [(f"{t}.eqz", (t,), "i32")]
        ops += [(f"{t}.{n}", (t,), t) for n in ("clz", "ctz", "popcnt", "extend8_s",
                                                 "extend16_s")]
        for f in ("f32", "f64"):
            for s in "su":
                ops += [(f"{t}.trunc_{f}_{s}", (f,), t), (f"{t}.trunc_sat_{f}_{s}", (f,), t)]
                ops += [(f"{f}.convert_{t}_{s}", (t,), f)]
    ops += [("i64.extend32_s", ("i64",), "i64"), ("i32.wrap_i64", ("i64",), "i32"),
            ("i64.extend_i32_s", ("i32",), "i64"), ("i64.extend_i32_u", ("i32",), "i64"),
            ("f32.demote_f64", ("f64",), "f32"), ("f64.promote_f32", ("f32",), "f64"),
            ("i32.reinterpret_f32", ("f32",), "i32"), ("i64.reinterpret_f64", ("f64",), "i64"),
            ("f32.reinterpret_i32", ("i32",), "f32"), ("f64.reinterpret_i64", ("i64",), "f64")]
    for f in ("f32", "f64"):
        ops += [(f"{f}.{n}", (f, f), f) for n in _F_BINARY]
        ops += [(f"{f}.{n}", (f, f), "i32") for n in _F_CMP]
        ops += [(f"{f}.{n}", (f,), f) for n in _F_UNARY]
    return ops


_EXTRA_WAT = """
  (memory 1)
  (func (export "load32") (param i32) (result i32) local.get 0 i32.load offset=4)
  (func (export "store8") (param i32 i32) local.get 0 local.get 1 i32.store8 offset=1)
  (func (export "load8_s") (param i32) (result i32) local.get 0 i32.load8_s)
  (func (export "grow") (param i32) (result i32) local.get 0 memory.grow)
  (func (export "size") (result i32) memory.size)
  (func (export "pair") (param i32 i64) (result i64 i32) local.get 1 local.get 0)
  (func (export "select") (param i32 i64 i64) (result i64)
    local.get 1 local.get 2 local.get 0 select)
  (func (export "loop") (param i32) (result i32) (local i32)
    (loop $l (local.set 1 (i32.add (local.get 1) (local.get 0)))
      (local.tee 0 (i32.sub (local.get 0) (i32.const 1))) (br_if $l))
    (local.get 1))
  (func (export "switch") (param i32) (result i32)
    (block $c (block $b (block $a (br_table $a $b $c (local.get 0)))
      (return (i32.const 10))) (return (i32.const 20))) (i32.const 30))
"""
_EXTRA = [  # (export, params, results, argument tuples)
    ("load32", ("i32",), ("i32",), [(0,), (65528,), (65529,), (-1,), (-8,)]),
    ("store8", ("i32", "i32"), (), [(0, 0x1FF), (65534, 2), (65535, 1)]),
    ("load8_s", ("i32",), ("i32",), [(1,), (65535,), (65536,)]),
    ("pair", ("i32", "i64"), ("i64", "i32"), [(5, -6)]),
    ("select", ("i32", "i64", "i64"), ("i64",), [(0, 1, 2), (7, 1, 2)]),
    ("loop", ("i32",), ("i32",), [(10,), (1,)]),
    ("switch", ("i32",), ("i32",), [(0,), (1,), (2,), (3,), (-1,)]),
    ("size", (), ("i32",), [()]),
    ("grow", ("i32",), ("i32",), [(1,), (70000,)]),
]


def _to_bits(t: str, v: float | int) -> int:
    import struct

    if t == "f32":
        return struct.unpack("<I", struct.pack("<f", v))[0]
    if t == "f64":
        return struct.unpack("<Q", struct.pack("<d", v))[0]
    return int(v) & ((1 << (32 if t == "i32" else 64)) - 1)


def _from_bits(t: str, bits: int) -> float | int:
    import struct

    if t == "f32":
        return struct.unpack("<f", struct.pack("<I", bits & 0xFFFFFFFF))[0]
    if t == "f64":
        return struct.unpack("<d", struct.pack("<Q", bits))[0]
    width = 32 if t == "i32" else 64
    bits &= (1 << width) - 1
    return bits - (1 << width) if bits >> (width - 1) else bits


def _same(t: str, a: float | int, b: float | int) -> bool:
    if t[0] == "f" and a != a and b != b:  # noqa: PLR0124 - NaN: any NaN matches
        return True
    return _to_bits(t, a) == _to_bits(t, b)


class _Native:
    """The module compiled by our backend, loaded as a shared object with a fake vmctx."""

    def __init__(self, wasm: bytes, opt: int, tmp: Path) -> None:
        import ctypes
        import shutil
        import subprocess

        module = decode(wasm)
        validate(module)
        lm = LLVMModule(module, opt_level=opt, pic=True)
        for i in range(len(module.funcs)):
            FunctionTranslator(module, lm.function()).translate(i)
        for t in range(len(module.types)):
            lm.trampoline(t)
        obj, so = tmp / f"m{opt}.o", tmp / f"m{opt}.so"
        obj.write_bytes(lm.finish())
        cc = shutil.which("cc") or shutil.which("clang-14")
        if cc is None:
            pytest.skip("no C compiler to link a shared object")
        subprocess.run([cc, "-shared", "-o", str(so), str(obj)], check=True)
        self.lib = ctypes.CDLL(str(so))
        self.module = module
        self.exports = {e.name: e.index for e in module.exports}
        self.tramp_t = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_void_p,
                                        ctypes.POINTER(ctypes.c_uint64))
        self.trap_t = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_uint32)
        self.grow_t = ctypes.CFUNCTYPE(ctypes.c_uint32, ctypes.c_void_p, ctypes.c_uint32)
        self.trap_cb = self.trap_t(self._on_trap)
        self.grow_cb = self.grow_t(self._on_grow)
        self.heap = ctypes.create_string_buffer(65536 * 4)
        self.memory = (ctypes.c_uint64 * 3)(ctypes.addressof(self.heap), 65536, 4)
        self.builtins = (ctypes.c_void_p * 11)()
        self.builtins[0] = ctypes.cast(self.trap_cb, ctypes.c_void_p)
        self.builtins[1] = ctypes.cast(self.grow_cb, ctypes.c_void_p)
        self.vmctx = (ctypes.c_uint64 * 8)()
        self.vmctx[0] = ctypes.addressof(self.memory)
        self.vmctx[6] = ctypes.cast(self.builtins, ctypes.c_void_p).value or 0
        self.report_fd = -1
        self.ctypes = ctypes

    def _on_trap(self, vm: int, code: int) -> None:
        import os

        os.write(self.report_fd, f"trap {code}\n".encode())
        os._exit(0)

    def _on_grow(self, vm: int, delta: int) -> int:
        old = self.memory[1] // 65536
        if old + delta > self.memory[2]:
            return 0xFFFFFFFF
        self.memory[1] = (old + delta) * 65536
        return old

    def call(self, name: str, params: Sequence[str], results: Sequence[str],
             args: Sequence[float | int]) -> list[float | int]:
        ctypes = self.ctypes
        index = self.exports[name]
        tramp = self.tramp_t(ctypes.cast(getattr(self.lib, f"wk_tramp_"
                                                  f"{self.module.funcs[index].type_idx}"),
                                         ctypes.c_void_p).value)
        slots = (ctypes.c_uint64 * max(len(params), len(results), 1))()
        for i, (t, v) in enumerate(zip(params, args, strict=True)):
            slots[i] = _to_bits(t, v)
        code = ctypes.cast(getattr(self.lib, f"wk_func_{index}"), ctypes.c_void_p).value
        tramp(ctypes.addressof(self.vmctx), code, slots)
        return [_from_bits(t, slots[i]) for i, t in enumerate(results)]

    def in_child(self, calls: list[tuple]) -> tuple[list, str]:
        """Run calls in a forked child; (results so far, "trap N" or "")."""
        import os
        import pickle

        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:  # child: results, one pickle per call, then exit
            os.close(r)
            self.report_fd = w
            try:
                for call in calls:
                    out = self.call(*call)
                    data = pickle.dumps(out)
                    os.write(w, b"r" + len(data).to_bytes(4, "little") + data)
            finally:
                os._exit(0)
        os.close(w)
        buf = b""
        while chunk := os.read(r, 1 << 16):
            buf += chunk
        os.close(r)
        os.waitpid(pid, 0)
        results, trap = [], ""
        while buf:
            if buf[:1] == b"r":
                n = int.from_bytes(buf[1:5], "little")
                results.append(pickle.loads(buf[5:5 + n]))
                buf = buf[5 + n:]
            else:
                trap, buf = buf.decode().strip(), b""
        return results, trap


def _wasmtime_call(instance: Any, store: Any, name: str, args: Sequence) -> tuple[Any, str]:
    import wasmtime

    try:
        out = instance.exports(store)[name](store, *args)
    except wasmtime.Trap as e:
        code = next((c for m, c in _TRAP_CODES.items() if m in str(e)), -1)
        return None, f"trap {code}"
    if out is None:
        return [], ""
    return (list(out) if isinstance(out, (list, tuple)) else [out]), ""


@pytest.mark.parametrize("opt", [0, 2])
def test_semantics_match_wasmtime(opt: int, tmp_path: Path) -> None:
    import itertools

    wasmtime = pytest.importorskip("wasmtime")
    ops = _numeric_ops()
    funcs = []
    for op, params, result in ops:
        ps = " ".join(params)
        body = " ".join(f"local.get {i}" for i in range(len(params)))
        funcs.append(f'(func (export "{op}") (param {ps}) (result {result}) {body} {op})')
    wat = "(module\n" + "\n".join(funcs) + _EXTRA_WAT + ")"
    wasm = wasmtime.wat2wasm(wat)
    native = _Native(bytes(wasm), opt, tmp_path)
    store = wasmtime.Store()
    instance = wasmtime.Instance(store, wasmtime.Module(store.engine, wasm), [])

    cases = [(op, params, (result,), args) for op, params, result in ops
             for args in itertools.product(*(_INPUTS[t] for t in params))]
    cases += _EXTRA
    cases = [(n, p, r, a) for n, p, r, args in cases
             for a in ([args] if args and not isinstance(args, list) else args or [()])]
    ok_calls, expected, failures = [], [], []
    for name, params, results, args in cases:
        want, trap = _wasmtime_call(instance, store, name, args)
        if trap:
            got, got_trap = native.in_child([(name, params, results, args)])
            if got_trap != trap:
                failures.append(f"{name}{args}: want {trap}, got {got or got_trap}")
        else:
            ok_calls.append((name, params, results, args))
            expected.append(want)
    got_all, trap = native.in_child(ok_calls)
    if trap:
        failures.append(f"{ok_calls[len(got_all)][0]}{ok_calls[len(got_all)][3]}: "
                        f"unexpected {trap}")
    for call, want, got in zip(ok_calls, expected, got_all, strict=False):
        if len(want) != len(got) or not all(
            _same(t, a, b) for t, a, b in zip(call[2], want, got, strict=True)
        ):
            failures.append(f"{call[0]}{call[3]}: want {want}, got {got}")
    assert not failures, f"{len(failures)} of {len(cases)} differ:\n" + "\n".join(failures[:40])
    assert len(cases) > 10_000


def test_stack_limit_traps(tmp_path: Path) -> None:
    wasmtime = pytest.importorskip("wasmtime")
    wasm = wasmtime.wat2wasm('(module (func (export "f") (result i32) i32.const 1))')
    native = _Native(bytes(wasm), 2, tmp_path)
    native.vmctx[5] = (1 << 64) - 1  # every stack pointer is below the limit
    assert native.in_child([("f", (), ("i32",), ())]) == ([], "trap 9")
    native.vmctx[5] = 0
    assert native.in_child([("f", (), ("i32",), ())]) == ([[1]], "")
