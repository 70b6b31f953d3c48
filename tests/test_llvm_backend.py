"""The LLVM backend: same fixtures, same answers as Cranelift; every real module compiles.

Three layers, cheapest first:

* compile-only: every module under ../shared/testdata/real/ and every fixture goes through the
  walker, the IR text is parsed and verified by LLVM and an ELF object comes out (at -O0; the
  small ones at -O2 too), so an IR bug shows as a verifier message, not as a wrong run;
* numeric semantics: one exported function per operator, compiled into a shared object (the
  PIC path) and called through its trampoline with ctypes, compared bit for bit with wasmtime
  on edge values (test_llvm_semantics.py);
* end to end: each fixture of tests/guest_programs.py built with `--backend llvm` for
  x86_64-spt and x86_64-kvm (and `llvm-O0` for spt) and run, held to the same FIXTURE_CASES
  table as the Cranelift runs of test_run.py.

test_compile_speed prints ops/s at -O0 and -O2 (`pytest -s` shows it); bench/compile.py is the
full comparison with Cranelift.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest
from guest_programs import FIXTURE_CASES, FixtureCase, compile_fixture
from wkcli import assert_ran, need_target, wasmkiln

from wasmkiln.bridge import abi
from wasmkiln.bridge.codegen import generate
from wasmkiln.bridge.compile import compile_wasm
from wasmkiln.bridge.decode import decode
from wasmkiln.bridge.llvm_backend import LLVMModule, emit_object
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
        objects = generate(module, "llvm" if opt else "llvm-O0")
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
        assert generate(module, "llvm" if opt else "llvm-O0", pic=True)[0][:4] == b"\x7fELF"


def test_ir_is_verified() -> None:
    """A malformed IR text is an error at emit time, never a silently broken object."""
    lm = LLVMModule(_module(compile_fixture("exit")), opt_level=0)
    text = lm.ir() + "define void @broken() {\nentry:\n  ret i32 0\n}\n"
    with pytest.raises(RuntimeError):
        emit_object(text, lm.triple, 0, False)


def test_translate_fixtures_and_coremark() -> None:
    """Every fixture and coremark translate and finish at -O0 and -O2 in one process. (Speed
    is bench/scale.py's: the operators/s threshold that stood here failed under load.)"""
    paths = [compile_fixture(f) for f in FIXTURES] + [
        p for p in REAL_MODULES if p.stem == "coremark"
    ]
    modules = [_module(p) for p in paths]
    for opt in (0, 2):
        for m in modules:
            lm = LLVMModule(m, opt_level=opt)
            first = m.num_imported_funcs
            for i in range(first, first + len(m.funcs)):
                FunctionTranslator(m, lm.function()).translate(i)
            for t in range(len(m.types)):
                lm.trampoline(t)
            assert lm.finish()


# ---- end to end -----------------------------------------------------------------------
# The release tier on both targets; -O0 (a different code path through LLVM, same IR) on spt.
END_TO_END = [("llvm", "x86_64-spt"), ("llvm", "x86_64-kvm"), ("llvm-O0", "x86_64-spt")]


@pytest.fixture(scope="module")
def images() -> dict[tuple[str, str, str], Path]:
    return {}


def _image(images: dict, tmp: Path, fixture: str, backend: str, target: str) -> Path:
    key = (fixture, backend, target)
    if key not in images:
        out = tmp / f"{fixture}-{backend}-{target}.img"
        proc = wasmkiln(
            "build",
            str(compile_fixture(fixture)),
            "--target",
            target,
            "--backend",
            backend,
            "-o",
            str(out),
        )
        assert proc.returncode == 0, proc.stderr
        images[key] = out
    return images[key]


@pytest.mark.parametrize(("backend", "target"), END_TO_END, ids=lambda v: v)
@pytest.mark.parametrize("case", FIXTURE_CASES, ids=lambda c: c.id)
def test_fixture_runs(
    case: FixtureCase,
    backend: str,
    target: str,
    images: dict,
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """The spine's fixtures, held to the same FIXTURE_CASES table as test_run.py's."""
    need_target(target)
    image = _image(images, tmp_path_factory.getbasetemp(), case.fixture, backend, target)
    env_flags = [f"--env={k}={v}" for k, v in case.env.items()]
    proc = wasmkiln("run", *env_flags, str(image), "--", *case.args)
    assert_ran(proc, case.stdout, case.exit_code, case.trap)


def test_release_profile_uses_llvm(tmp_path: Path) -> None:
    out = tmp_path / "fib.spt"
    proc = wasmkiln(
        "build",
        str(compile_fixture("fib")),
        "--target",
        "x86_64-spt",
        "--profile",
        "release",
        "-o",
        str(out),
    )
    assert proc.returncode == 0, proc.stderr
    proc = wasmkiln("run", str(out), "--", "20")
    assert proc.stdout == "fib(20) = 6765\n", proc.stderr


# ---- numeric semantics, bit for bit against wasmtime -------------------------------------
# Each operator becomes one exported function; the module is compiled as PIC, linked into a
# shared object and called through its trampolines with ctypes. Calls wasmtime says trap run
# in a forked child each (the trap builtin never returns: it reports the code and exits).
_I32 = [0, 1, -1, 7, -7, 31, 32, 33, 0x12345678, -(2**31), 2**31 - 1]
_I64 = [0, 1, -1, 7, -7, 63, 64, 65, 0x123456789ABCDEF, -(2**63), 2**63 - 1]
_F = [
    0.0,
    -0.0,
    1.5,
    -1.5,
    2.5,
    -2.5,
    0.49999997,
    1e-45,
    1e10,
    -1e10,
    2147483648.0,
    -2147483649.0,
    4294967296.0,
    9.3e18,
    -9.3e18,
    2.0**64,
    float("inf"),
    float("-inf"),
    float("nan"),
]
_INPUTS: dict[str, list[Any]] = {"i32": _I32, "i64": _I64, "f32": _F, "f64": _F}
_TRAP_CODES = {
    "integer divide by zero": 2,
    "integer overflow": 3,
    "invalid conversion to integer": 4,
    "out of bounds memory access": 5,
    "call stack exhausted": 9,
}
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
        ops += [(f"{t}.{n}", (t,), t) for n in ("clz", "ctz", "popcnt", "extend8_s", "extend16_s")]
        for f in ("f32", "f64"):
            for s in "su":
                ops += [(f"{t}.trunc_{f}_{s}", (f,), t), (f"{t}.trunc_sat_{f}_{s}", (f,), t)]
                ops += [(f"{f}.convert_{t}_{s}", (t,), f)]
    ops += [
        ("i64.extend32_s", ("i64",), "i64"),
        ("i32.wrap_i64", ("i64",), "i32"),
        ("i64.extend_i32_s", ("i32",), "i64"),
        ("i64.extend_i32_u", ("i32",), "i64"),
        ("f32.demote_f64", ("f64",), "f32"),
        ("f64.promote_f32", ("f32",), "f64"),
        ("i32.reinterpret_f32", ("f32",), "i32"),
        ("i64.reinterpret_f64", ("f64",), "i64"),
        ("f32.reinterpret_i32", ("i32",), "f32"),
        ("f64.reinterpret_i64", ("i64",), "f64"),
    ]
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
        self.tramp_t = ctypes.CFUNCTYPE(
            None, ctypes.c_void_p, ctypes.c_void_p, ctypes.POINTER(ctypes.c_uint64)
        )
        self.trap_t = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_uint32)
        # ABI 4: u64 memory_grow(vm, u32 mem, u64 delta)
        self.grow_t = ctypes.CFUNCTYPE(
            ctypes.c_uint64, ctypes.c_void_p, ctypes.c_uint32, ctypes.c_uint64
        )
        self.trap_cb = self.trap_t(self._on_trap)
        self.grow_cb = self.grow_t(self._on_grow)
        self.heap = ctypes.create_string_buffer(65536 * 4)
        self.memory = (ctypes.c_uint64 * 3)(ctypes.addressof(self.heap), 65536, 4)
        self.builtins = (ctypes.c_void_p * 11)()
        self.builtins[0] = ctypes.cast(self.trap_cb, ctypes.c_void_p)
        self.builtins[1] = ctypes.cast(self.grow_cb, ctypes.c_void_p)
        self.memories = (ctypes.c_uint64 * 1)(ctypes.addressof(self.memory))
        self.vmctx = (ctypes.c_uint64 * (abi.VMCTX_SIZE // 8))()
        self.vmctx[0] = ctypes.addressof(self.memory)
        self.vmctx[8] = ctypes.addressof(self.memories)  # vmctx->memories
        self.vmctx[6] = ctypes.cast(self.builtins, ctypes.c_void_p).value or 0
        self.report_fd = -1
        self.ctypes = ctypes

    def _on_trap(self, vm: int, code: int) -> None:
        os.write(self.report_fd, f"trap {code}\n".encode())
        os._exit(0)

    def _on_grow(self, vm: int, mem: int, delta: int) -> int:
        old = self.memory[1] // 65536
        if mem != 0 or old + delta > self.memory[2]:
            return 0xFFFFFFFFFFFFFFFF
        self.memory[1] = (old + delta) * 65536
        return old

    def call(
        self, name: str, params: Sequence[str], results: Sequence[str], args: Sequence[float | int]
    ) -> list[float | int]:
        ctypes = self.ctypes
        index = self.exports[name]
        tramp = self.tramp_t(
            ctypes.cast(
                getattr(self.lib, f"wk_tramp_{self.module.funcs[index].type_idx}"), ctypes.c_void_p
            ).value
        )
        slots = (ctypes.c_uint64 * max(len(params), len(results), 1))()
        for i, (t, v) in enumerate(zip(params, args, strict=True)):
            slots[i] = _to_bits(t, v)
        code = ctypes.cast(getattr(self.lib, f"wk_func_{index}"), ctypes.c_void_p).value
        tramp(ctypes.addressof(self.vmctx), code, slots)
        return [_from_bits(t, slots[i]) for i, t in enumerate(results)]

    def in_child(self, calls: list[tuple]) -> tuple[list, str]:
        """Run calls in a forked child; (results so far, "trap N" or "")."""
        import pickle

        def child(w: int) -> None:  # results, one pickle per call
            self.report_fd = w
            for call in calls:
                data = pickle.dumps(self.call(*call))
                os.write(w, b"r" + len(data).to_bytes(4, "little") + data)

        buf = _fork_read(child)
        results, trap = [], ""
        while buf:
            if buf[:1] == b"r":
                n = int.from_bytes(buf[1:5], "little")
                results.append(pickle.loads(buf[5 : 5 + n]))
                buf = buf[5 + n :]
            else:
                trap, buf = buf.decode().strip(), b""
        return results, trap


def _fork_read(child: Callable[[int], None]) -> bytes:
    """Everything child(write_fd) writes from a forked process that then exits.

    Generated code may trap (the trap builtin exits) or crash: neither takes pytest along.
    """
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        try:
            child(w)
        finally:
            os._exit(0)
    os.close(w)
    buf = b""
    while chunk := os.read(r, 1 << 16):
        buf += chunk
    os.close(r)
    os.waitpid(pid, 0)
    return buf


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

    cases: list[tuple[str, tuple[str, ...], tuple[str, ...], Any]]
    cases = [
        (op, params, (result,), args)
        for op, params, result in ops
        for args in itertools.product(*(_INPUTS[t] for t in params))
    ]
    cases += _EXTRA
    cases = [
        (n, p, r, a)
        for n, p, r, args in cases
        for a in ([args] if args and not isinstance(args, list) else args or [()])
    ]
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
        failures.append(
            f"{ok_calls[len(got_all)][0]}{ok_calls[len(got_all)][3]}: unexpected {trap}"
        )
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


# ---- NaN quieting survives the optimiser ------------------------------------------------
# Wasm: an arithmetic result that is NaN is quiet. LLVM's default FP semantics let -O2 fold
# x*1, x/1, x-0, x+-0, -0-x, x*-1, demote(promote x) and min(x, x) to x (or to a sign flip),
# which passes a signalling NaN through. Each identity is reached three ways: the constant
# in place, through a local (mem2reg + SCCP) and through a call with a constant argument
# (inlining), so a lowering that only looks at the operator's operands cannot pass. Values
# cross as integer bits: a float in Python would be quieted by the conversion to double.
_QUIET = {"f32": 1 << 22, "f64": 1 << 51}
_EXP = {"f32": 0xFF << 23, "f64": 0x7FF << 52}
_ITYPE = {"f32": "i32", "f64": "i64"}
_NAN_INPUTS = {
    "f32": [0x7FA00000, 0xFFA00001, 0x7F800001, 0x7FC00000, 0x3FC00000, 0x80000000, 0],
    "f64": [
        0x7FF4000000000000,
        0xFFF4000000000001,
        0x7FF0000000000001,
        0x7FF8000000000000,
        0x3FF8000000000000,
        0x8000000000000000,
        0,
    ],
}
# name -> (wat of a binary operator, the constant second operand; None: the same x twice)
_IDENTITIES = {
    "add_neg0": ("add", "-0x0p+0"),
    "sub_0": ("sub", "0x0p+0"),
    "mul_1": ("mul", "1"),
    "mul_neg1": ("mul", "-1"),
    "div_1": ("div", "1"),
    "div_neg1": ("div", "-1"),
    "min_self": ("min", None),
    "max_self": ("max", None),
    "min_inf": ("min", "inf"),
    "max_neginf": ("max", "-inf"),
}


def _is_nan(t: str, bits: int) -> bool:
    return bits & _EXP[t] == _EXP[t] and bits & (_QUIET[t] * 2 - 1) != 0


def _nan_identity_wat() -> tuple[str, list[tuple[str, str]]]:
    """The module and its (export, float type) pairs."""
    funcs, exports = [], []
    for t in ("f32", "f64"):
        i = _ITYPE[t]
        x = f"({t}.reinterpret_{i} (local.get 0))"
        for name, (op, k) in _IDENTITIES.items():
            rhs = x if k is None else f"({t}.const {k})"
            funcs.append(
                f"(func ${t}_{name}_f (param {t} {t}) (result {t}) "
                f"({t}.{op} (local.get 0) (local.get 1)))"
            )
            bodies = {
                "direct": f"({t}.{op} {x} {rhs})",
                "local": f"(local.set 1 {rhs}) ({t}.{op} {x} (local.get 1))",
                "inlined": f"(call ${t}_{name}_f {x} {rhs})",
            }
            for how, body in bodies.items():
                export = f"{t}.{name}.{how}"
                funcs.append(
                    f'(func (export "{export}") (param {i}) (result {i}) (local {t}) '
                    f"(i{t[1:]}.reinterpret_{t} {body}))"
                )
                exports.append((export, t))
        neg_zero = f"({t}.sub ({t}.const -0x0p+0) {x})"
        funcs.append(
            f'(func (export "{t}.neg0_sub") (param {i}) (result {i}) '
            f"(i{t[1:]}.reinterpret_{t} {neg_zero}))"
        )
        exports.append((f"{t}.neg0_sub", t))
    funcs.append(
        '(func (export "f32.demote_promote") (param i32) (result i32) '
        "(i32.reinterpret_f32 (f32.demote_f64 (f64.promote_f32 "
        "(f32.reinterpret_i32 (local.get 0))))))"
    )
    exports.append(("f32.demote_promote", "f32"))
    return "(module\n" + "\n".join(funcs) + ")", exports


@pytest.mark.parametrize("opt", [0, 2])
def test_nan_results_stay_quiet(opt: int, tmp_path: Path) -> None:
    wasmtime = pytest.importorskip("wasmtime")
    wat, exports = _nan_identity_wat()
    wasm = bytes(wasmtime.wat2wasm(wat))
    native = _Native(wasm, opt, tmp_path)
    store = wasmtime.Store()
    instance = wasmtime.Instance(store, wasmtime.Module(store.engine, wasm), [])
    calls, expected = [], []
    for export, t in exports:
        i = _ITYPE[t]
        for bits in _NAN_INPUTS[t]:
            arg = _from_bits(i, bits)
            calls.append((export, (i,), (i,), (arg,)))
            expected.append(instance.exports(store)[export](store, arg))
    got, trap = native.in_child(calls)
    assert not trap and len(got) == len(calls), trap
    failures = []
    for (export, params, _, (arg,)), want, (result,) in zip(calls, expected, got, strict=True):
        t = "f32" if params[0] == "i32" else "f64"
        w, g = _to_bits(params[0], want), _to_bits(params[0], result)
        w_nan, g_nan = _is_nan(t, w), _is_nan(t, g)
        if w_nan != g_nan or (g_nan and not g & _QUIET[t]) or (not w_nan and w != g):
            failures.append(
                f"{export}({_to_bits(params[0], arg):#x}): wasmtime {w:#x}, ours {g:#x}"
            )
    assert not failures, f"{len(failures)} of {len(calls)}:\n" + "\n".join(failures)


# ---- multi-value calling conventions (docs/abi.md "Several results") ---------------------
# Each backend's trampoline calls each backend's function. Same backend: always right. Across
# backends: the Wasm convention is each backend's tail convention (Cranelift `tail`, LLVM
# `tailcc`), which are different conventions, so a crossed call is not expected to work; the
# test records that it does not for three integer results, where even the return registers
# part ways. That is why a module is never split between backends.
_MULTI_WAT = """(module
  (func (export "two") (param i32) (result i64 i32) (i64.const -6) (local.get 0))
  (func (export "four") (param i32) (result i32 f64 i64 f32)
    (local.get 0) (f64.const 2.5) (i64.const -7) (f32.const 4.5))
  (func (export "five") (param i32) (result i32 i32 i32 f32 i64)
    (local.get 0) (i32.const 2) (i32.const 3) (f32.const 4.5) (i64.const 5)))"""
_MULTI_EXPECTED = {"two": [-6, 11], "four": [11, 2.5, -7, 4.5], "five": [11, 2, 3, 4.5, 5]}


def _in_child(fn: Any, *args: Any) -> Any:
    """fn(*args) in a forked child: its pickled result, or "crashed" if the child died."""
    import pickle

    def child(w: int) -> None:
        os.write(w, pickle.dumps(fn(*args)))

    data = _fork_read(child)
    return pickle.loads(data) if data else "crashed"


def test_multi_value_conventions(tmp_path: Path) -> None:
    import ctypes
    import subprocess

    wasmtime = pytest.importorskip("wasmtime")
    objcopy, cc = shutil.which("objcopy"), shutil.which("cc")
    if objcopy is None or cc is None:
        pytest.skip("objcopy and cc are needed to link both backends into one object")
    module = decode(bytes(wasmtime.wat2wasm(_MULTI_WAT)))
    validate(module)
    (tmp_path / "cl.o").write_bytes(generate(module, "cranelift", pic=True)[0])
    (tmp_path / "ll0.o").write_bytes(generate(module, "llvm", pic=True)[0])
    subprocess.run(
        [objcopy, "--prefix-symbols=ll_", str(tmp_path / "ll0.o"), str(tmp_path / "ll.o")],
        check=True,
    )
    so = tmp_path / "both.so"
    subprocess.run(
        [cc, "-shared", "-o", str(so), str(tmp_path / "cl.o"), str(tmp_path / "ll.o")], check=True
    )
    lib = ctypes.CDLL(str(so))
    vmctx = (ctypes.c_uint64 * 8)()  # no stack limit; nothing else is touched
    tramp_t = ctypes.CFUNCTYPE(
        None, ctypes.c_void_p, ctypes.c_void_p, ctypes.POINTER(ctypes.c_uint64)
    )
    prefix = {"cranelift": "", "llvm": "ll_"}

    def call(export: str, tramp_by: str, func_by: str) -> list:
        index = next(e.index for e in module.exports if e.name == export)
        ftype = module.types[module.funcs[index].type_idx]
        tramp_at = ctypes.cast(
            getattr(lib, f"{prefix[tramp_by]}wk_tramp_{module.funcs[index].type_idx}"),
            ctypes.c_void_p,
        )
        assert tramp_at.value is not None
        tramp = tramp_t(tramp_at.value)
        code = ctypes.cast(getattr(lib, f"{prefix[func_by]}wk_func_{index}"), ctypes.c_void_p)
        slots = (ctypes.c_uint64 * 8)(11)
        tramp(ctypes.addressof(vmctx), code.value, slots)
        return [_from_bits(str(t), slots[i]) for i, t in enumerate(ftype.results)]

    for export, want in _MULTI_EXPECTED.items():
        for tramp_by in prefix:
            assert _in_child(call, export, tramp_by, tramp_by) == want, export
        crossed = [
            _in_child(call, export, a, b) for a, b in (("cranelift", "llvm"), ("llvm", "cranelift"))
        ]
        if export == "five":  # three integer results: the conventions part ways
            assert all(c != want for c in crossed), crossed
