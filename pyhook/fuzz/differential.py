"""`wasmkiln fuzz`: differential fuzzing against wasmtime, and the garbage-input fuzzer.

Differential mode: every module is made by binaryen (`wasm-opt -ttf`) from seeded random bytes
with only the features wasmkiln compiles, checked by wasmtime's validator, then run twice: in the
`wasmtime` package (the reference) and in wasmkiln's in-process runtime (pyhook/spec/hostrt.py, the
spec runner's), compiled by the chosen backend. Both runs make the same calls (`plan`): for two
rounds, every exported function with deterministic arguments, each preceded by binaryen's
`hangLimitInitializer` (binaryen's fuzz modules count loop iterations and calls down from a
global and trap at zero, so a call cannot run for long). After each call both sides record an
`Outcome`: the results, the trap kind, what the module logged through the `fuzzing-support`
imports, the exported globals and a hash of linear memory. The outcomes must be equal, with
NaNs compared as the spec allows (`_values_match`, `memories_match`, and `check_module`'s
second run without NaNs, `wasm-opt --denan`). docs/fuzzing.md has the details.

Our side runs in a forked child with a wall-clock limit, so a hang or a crash of generated code
is reported as such instead of taking the fuzzer down. Wasmtime runs under fuel; a call that
exhausts the fuel (or wasmtime's stack) ends the comparison of that module at that call, as the
two engines' limits differ.

A module that does not match is saved under the run's folder with a reduced reproducer
(`wasm-reduce`, driven by `python -m wasmkiln.pyhook.fuzz.differential --check`, whose exit
code says whether the mismatch persists). The last line printed is `N passed, N failed`.
"""

from __future__ import annotations

import argparse
import functools
import os
import random
import re
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from .engines import (
    HANG_EXPORT,
    LOG_FUNCS,
    LOG_MODULE,
    LOG_V128,
    SHIM_NAMES,
    Call,
    FuzzError,
    Ours,
    Outcome,
    RunResult,
    Value,
    exports_of,
    run_wasmtime,
    wasmtime_validates,
)

# wasm-opt flags: the features wasmkiln compiles, nothing else (reference types are left out,
# as binaryen 108's -ttf emits invalid modules with them). Tail calls: -ttf emits return_call
# and return_call_indirect with them.
FEATURE_FLAGS = [
    "--mvp-features", "--enable-mutable-globals", "--enable-sign-ext",
    "--enable-nontrapping-float-to-int", "--enable-bulk-memory", "--enable-multivalue",
    "--enable-simd", "--enable-tail-call",
]  # fmt: skip
# WebAssembly 3.0 features for half of the modules, where binaryen's -ttf makes them (116 and
# later: 64-bit memories, arithmetic in constant expressions; binaryen 108, Debian's, has no
# multi-memory and writes 32-bit memories only, so it gets none of these).
FEATURE_FLAGS_3 = ["--enable-memory64", "--enable-extended-const", "--enable-multimemory"]
FEATURE_FLAGS_3_SINCE = 116
# `--feature NAME`: every module of the run gets these (binaryen 116 or later). Exceptions
# need reference types in binaryen (exnref); --emit-exnref (binaryen 118 and later) turns the
# legacy try/catch binaryen also writes into try_table, since the wasmtime package cannot
# enable legacy exceptions (the spec scripts in spec3/legacy cover those). Binaryen's -ttf
# only ever uses memory 0, so `multi-memory` is binaryen's module spread over several
# memories by spread_memories() afterwards.
FEATURES = {
    "exceptions": ["--enable-reference-types", "--enable-exception-handling", "--emit-exnref"],
    "memory64": ["--enable-memory64", "--enable-extended-const"],
    "multi-memory": ["--enable-multimemory"],
}
FEATURES_SINCE = 118
BINARYEN_ENV = "WASMKILN_BINARYEN"  # a folder holding wasm-opt and wasm-reduce (--binaryen)
ROUNDS = 2


# ---- what is compared -------------------------------------------------------------------------
def _is_nan(v: Value) -> bool:
    ty, bits = v
    if ty == "f32":
        return bits & 0x7F800000 == 0x7F800000 and bits & 0x007FFFFF != 0
    if ty == "f64":
        exp, frac = 0x7FF0000000000000, 0x000FFFFFFFFFFFFF
        return bits & exp == exp and bits & frac != 0
    return False


def _values_match(ref: Value, ours: Value) -> bool:
    """Equal bits, or two NaNs. Why any two NaNs: the spec lets an arithmetic result be any
    NaN of the canonical or arithmetic set (sign included), and wasmtime's Python API turns
    f32 values into Python floats, which quiets signalling NaNs, so the reference's payload is
    not known exactly. Payload differences that reach memory still show in the memory hash."""
    if ref[0] != ours[0]:
        return False
    if ref[0] == "v128":  # lanes of unknown shape: forgive bytes of floats NaN on both sides
        return memories_match(ref[1].to_bytes(16, "little"), ours[1].to_bytes(16, "little"))
    return ref == ours or (_is_nan(ref) and _is_nan(ours))


def _seq_match(ref: Sequence[Value], ours: Sequence[Value]) -> bool:
    return len(ref) == len(ours) and all(map(_values_match, ref, ours))


def _nan_window(a: bytes, b: bytes, i: int) -> bool:
    """Is byte i inside a float that is NaN in both memories? f64 first: an f64 infinity and
    an f64 NaN differ in bytes whose f32 reading is NaN on both sides, and must not pass."""

    def windows(width: int) -> list[tuple[int, int]]:
        lo, hi = max(0, i - width + 1), min(i, len(a) - width)
        return [
            (int.from_bytes(a[s : s + width], "little"), int.from_bytes(b[s : s + width], "little"))
            for s in range(lo, hi + 1)
        ]

    f64 = [(_is_nan(("f64", x)), _is_nan(("f64", y)), x, y) for x, y in windows(8)]
    if any(nx and ny for nx, ny, _, _ in f64):
        return True
    inf = 0x7FF0000000000000
    if any(nx != ny and (x & ~(1 << 63) == inf or y & ~(1 << 63) == inf) for nx, ny, x, y in f64):
        return False
    return any(_is_nan(("f32", x)) and _is_nan(("f32", y)) for x, y in windows(4))


def memories_match(a: bytes, b: bytes) -> bool:
    """Equal, or every differing byte lies in a float that is NaN in both: a NaN's sign and
    payload may legitimately differ once it is stored (see _values_match)."""
    if len(a) != len(b):
        return False
    if a == b:
        return True
    diff = [i for i in range(0, len(a), 4096) if a[i : i + 4096] != b[i : i + 4096]]
    return all(
        _nan_window(a, b, i)
        for page in diff
        for i in range(page, min(page + 4096, len(a)))
        if a[i] != b[i]
    )


def _memory_match(r: Outcome, o: Outcome) -> bool:
    if r.memory == o.memory:
        return True
    if r.memory_bytes is None or o.memory_bytes is None:
        return False
    return memories_match(r.memory_bytes, o.memory_bytes)


def compare(ref: RunResult, ours: RunResult) -> str | None:
    """None when the runs agree, else the first difference, in one paragraph."""
    if ours.error:
        return f"wasmkiln: {ours.error}"
    if ref.init_trap != ours.init_trap:
        return f"instantiation: wasmtime {ref.init_trap or 'ok'}, wasmkiln {ours.init_trap or 'ok'}"
    if len(ours.outcomes) < len(ref.outcomes):
        return f"wasmkiln made {len(ours.outcomes)} calls, wasmtime {len(ref.outcomes)}"
    for r, o in zip(ref.outcomes, ours.outcomes, strict=False):
        same = (
            r.call == o.call
            and r.trap == o.trap
            and _seq_match(r.results, o.results)
            and _seq_match(r.logs, o.logs)
            and _memory_match(r, o)
            and [n for n, _ in r.globals] == [n for n, _ in o.globals]
            and _seq_match([v for _, v in r.globals], [v for _, v in o.globals])
        )
        if not same:
            return f"call {r.call}:\n  wasmtime {r.describe()}\n  wasmkiln {o.describe()}"
    return None


# ---- the calls --------------------------------------------------------------------------------
_SPECIAL = {
    "i32": [0, 1, 0xFFFFFFFF, 0x7FFFFFFF, 0x80000000, 2, 65536, 0xFFFF],
    "i64": [0, 1, (1 << 64) - 1, (1 << 63) - 1, 1 << 63, 2, 1 << 32],
    "f32": [
        0,
        0x80000000,
        0x3F800000,
        0xBF800000,
        0x7F800000,
        0xFF800000,
        0x7FC00000,
        0x4F000000,
        0x00000001,
    ],
    "f64": [
        0,
        1 << 63,
        0x3FF0000000000000,
        0xBFF0000000000000,
        0x7FF0000000000000,
        0x7FF8000000000000,
        0x41E0000000000000,
        1,
    ],
}


def _arg(rng: random.Random, ty: str) -> Value:
    if ty not in _SPECIAL:  # funcref, externref: null, the only value made outside a module
        return ty, 0
    if rng.random() < 0.5:
        return ty, rng.choice(_SPECIAL[ty])
    if ty in ("f32", "f64"):  # a random finite number: random bits are NaN-free this way
        x = rng.uniform(-1e6, 1e6) if rng.random() < 0.8 else rng.uniform(-1, 1)
        fmt = "<f" if ty == "f32" else "<d"
        return ty, int.from_bytes(struct.pack(fmt, x), "little")
    return ty, rng.getrandbits(32 if ty == "i32" else 64)


def make_plan(exports: Sequence[tuple[str, Sequence[str]]], seed: str) -> list[Call]:
    """The calls for a module's exported functions ((name, param types) in export order).

    Arguments depend only on the seed, the round and the export's name, so a reduced module
    whose exports survive is called with the same arguments as the original."""
    plan = []
    for rnd in range(ROUNDS):
        for name, params in exports:
            if name == HANG_EXPORT:
                continue
            rng = random.Random(f"{seed}:{rnd}:{name}")
            plan.append(Call(name, tuple(_arg(rng, t) for t in params)))
    return plan


# ---- generating modules ---------------------------------------------------------------------
def _tool(name: str) -> str:
    """binaryen's tool `name`: from $WASMKILN_BINARYEN (`--binaryen`) when set, else PATH's.

    Why a folder: binaryen 132 from npm (docs/fuzzing.md) is a folder of node scripts
    (node_modules/binaryen/bin) that must not shadow Debian's binaryen on PATH for the rest
    of the project."""
    folder = os.environ.get(BINARYEN_ENV)
    if folder:
        path = Path(folder) / name
        if not os.access(path, os.X_OK):
            raise FuzzError(f"{BINARYEN_ENV}={folder}: no executable {name} there")
        return str(path)
    found = shutil.which(name)
    if found is None:
        raise FuzzError(f"{name} (binaryen) is not on PATH: install binaryen (Debian: binaryen)")
    return found


def _command(name: str) -> list[str]:
    """How to run binaryen's tool `name`. npm's tools are node scripts around a 10 MB Wasm
    build of binaryen, which V8 compiles anew in every run: with Liftoff only (no optimising
    tier-up, useless in a process this short) a `-ttf` takes about a third of the CPU time
    (0.3 s instead of 0.8 s, measured here)."""
    path = _tool(name)
    with open(path, "rb") as f:
        node_script = f.read(64).startswith(b"#!/usr/bin/env node")
    node = shutil.which("node") if node_script else None
    return [node, "--liftoff-only", path] if node else [path]


def binaryen_version() -> int:
    """The major version of the binaryen in use (0 when its wasm-opt does not say)."""
    return _version_of(_tool("wasm-opt"))


@functools.cache
def _version_of(wasm_opt: str) -> int:
    proc = subprocess.run([*_command("wasm-opt"), "--version"], capture_output=True, text=True)
    found = re.search(r"version (\d+)", proc.stdout)
    return int(found.group(1)) if found else 0


def feature_flags(features: Sequence[str]) -> list[str]:
    """wasm-opt's flags for the --feature names (FEATURES); a clear error when the binaryen
    in use is too old to generate them."""
    if not features:
        return []
    version = binaryen_version()
    if version < FEATURES_SINCE:
        raise FuzzError(
            f"--feature {','.join(features)} needs binaryen {FEATURES_SINCE} or later, "
            f"{_tool('wasm-opt')} is {version} (docs/fuzzing.md: binaryen from npm, "
            f"--binaryen or {BINARYEN_ENV})"
        )
    flags: list[str] = []
    for name in features:
        flags += [f for f in FEATURES[name] if f not in flags]
    return flags


def harness_imports_only(wasm: bytes) -> bool:
    """Whether the module imports only what both sides provide: the logging functions, the
    rest of binaryen's `fuzzing-support` imports (engines.HARNESS_SHIM: throw, the tags,
    sleep, and stubs of the table and call imports) and immutable globals (binaryen's
    externrefs, given null). Other imports are skipped and counted."""
    import wasmtime

    allowed = {*LOG_FUNCS, LOG_V128, *SHIM_NAMES}
    module = wasmtime.Module(wasmtime.Engine(), wasm)
    return all(
        (i.module == LOG_MODULE and i.name in allowed)
        or (isinstance(i.type, wasmtime.GlobalType) and not i.type.mutable)
        for i in module.imports
    )


def generate(seed: int, index: int, tmp: Path, features: Sequence[str] = ()) -> bytes:
    """Module `index` of run `seed`: wasm-opt -ttf over 1..16 KiB of seeded random bytes; half
    of them then optimised by binaryen, for the shapes optimised producers emit (select,
    br_if with values, merged blocks, multivalue) that -ttf alone rarely makes. With a
    binaryen that has them, half get the 3.0 features of FEATURE_FLAGS_3 too; with
    `features` (FEATURES' names), every module gets those instead."""
    rng = random.Random(f"wasmkiln-fuzz:{seed}:{index}")
    src, out = tmp / "input.bin", tmp / "gen.wasm"
    src.write_bytes(rng.randbytes(rng.randint(1024, 16384)))
    opt = rng.choice([[], [], [], ["-O1"], ["-O2"], ["-O3"], ["-Oz"]])
    extra: list[str] = feature_flags(features)
    if not features and binaryen_version() >= FEATURE_FLAGS_3_SINCE and rng.random() < 0.5:
        extra = FEATURE_FLAGS_3
    proc = subprocess.run(
        [*_command("wasm-opt"), str(src), "-ttf", *FEATURE_FLAGS, *extra, *opt, "-o", str(out)],
        capture_output=True,
        text=True,
    )
    if proc.returncode != 0:
        raise FuzzError(f"wasm-opt -ttf failed: {proc.stderr.strip()[-500:]}")
    wasm = out.read_bytes()
    if "multi-memory" in features:
        from .memories import spread_memories

        wasm = spread_memories(wasm, rng)
    return wasm


EXCEPTION_OPS = ("try_table", "throw", "throw_ref", "try", "catch", "catch_all", "rethrow")
TAIL_CALL_OPS = ("return_call", "return_call_indirect", "return_call_ref")


def feature_counts(wasm: bytes) -> Counter[str]:
    """What of WebAssembly 3.0 a module holds, for the run's summary: its exception and tail
    call instructions by name, its tags, the memory instructions on a 64-bit memory and
    those on a memory other than 0, and (as "modules with ...") how many modules have any."""
    from wasmkiln.bridge.decode import decode
    from wasmkiln.bridge.module import ExternKind

    from .memories import memory_indices

    m = decode(wasm)
    found: Counter[str] = Counter()
    for f in m.funcs:
        for ins in f.body:
            if ins[0] in EXCEPTION_OPS or ins[0] in TAIL_CALL_OPS:
                found[ins[0]] += 1
    found["tag"] = len(m.tags) + len(m.imported(ExternKind.TAG))
    mems = m.all_memories()
    indices = memory_indices(wasm)
    found["memory op, 64-bit memory"] = sum(1 for i in indices if mems[i].is64)
    found["memory op, memory > 0"] = sum(1 for i in indices if i > 0)
    kinds = {
        "modules with try_table/throw": any(found[o] for o in EXCEPTION_OPS),
        "modules with a 64-bit memory": any(t.is64 for t in mems),
        "modules with several memories": len(mems) > 1,
        "modules with tail calls": any(found[o] for o in TAIL_CALL_OPS),
    }
    found.update(k for k, v in kinds.items() if v)
    return +found


# ---- one module --------------------------------------------------------------------------------
def _differ(
    wasm: bytes, ours: Ours, seed: str, canonical_nans: bool = False
) -> tuple[str | None, str]:
    """(first difference or None, "nan-memory" when memories matched only up to NaN bits)."""
    plan = make_plan(exports_of(wasm), seed)
    ref = run_wasmtime(wasm, plan, canonical_nans=canonical_nans)
    if ref.error:
        return f"wasmtime: {ref.error}", ""
    if ref.stopped:  # wasmtime ran out of fuel or stack: run as many calls as it finished
        plan = plan[: len(ref.outcomes)]
    why = compare(ref, ours.run(wasm, plan))
    if why is None:
        return None, ""
    # Run both again keeping the memories, which may differ only in NaN bits (rare: cheap).
    why = compare(
        run_wasmtime(wasm, plan, keep_memory=True, canonical_nans=canonical_nans),
        ours.run(wasm, plan, keep_memory=True),
    )
    return why, "" if why else "nan-memory"


def denan(wasm: bytes, features: Sequence[str] = ()) -> bytes | None:
    """The module with every float value that is NaN at run time replaced by 0 (binaryen's
    --denan instruments params, loads and every float-producing instruction)."""
    with tempfile.TemporaryDirectory(prefix="wasmkiln-denan-") as tmp:
        src, out = Path(tmp) / "in.wasm", Path(tmp) / "out.wasm"
        src.write_bytes(wasm)
        proc = subprocess.run(
            [*_command("wasm-opt"), str(src), "--denan", *FEATURE_FLAGS, *feature_flags(features)]
            + ["-o", str(out)],
            capture_output=True,
        )
        return out.read_bytes() if proc.returncode == 0 else None


def check_module(
    wasm: bytes, ours: Ours, seed: str, features: Sequence[str] = ()
) -> tuple[str | None, str]:
    """(None when wasmkiln agrees with wasmtime on this module, else what differs; a note).

    The note is "" for an exact match, "nan-memory" when memories agreed only up to NaN bits,
    and "nan-divergent" when the module disagreed but agrees once NaNs cannot occur (--denan):
    a NaN the spec lets each engine choose (e.g. `f32.min` of a NaN with a payload, which LLVM
    folds to the canonical NaN while wasmtime propagates the payload) was stored, hashed or
    reinterpreted, and everything downstream differs. That is allowed by the spec; a
    difference that survives --denan is not NaN bits and fails the module.

    Before --denan, "nan-canonical": wasmkiln agrees exactly with wasmtime run with canonical
    NaNs (a conforming execution: a canonical NaN is allowed wherever a NaN is). LLVM gives
    the positive canonical NaN where wasmtime's x86 sequences give the negative one (e.g.
    f32x4.max of a NaN lane), and binaryen's --denan leaves v128 lanes alone, so a sign bit
    that bitwise v128 operations carry into a hashed memory is only told apart this way."""
    why, note = _differ(wasm, ours, seed)
    if why is None:
        return None, note
    if _differ(wasm, ours, seed, canonical_nans=True)[0] is None:
        return None, "nan-canonical"
    tamed = denan(wasm, features)
    if tamed is None or not wasmtime_validates(tamed):
        return why, ""
    why_tamed, _ = _differ(tamed, ours, seed)
    if why_tamed is None:
        return None, "nan-divergent"
    return f"{why_tamed}\n(in the module with NaNs turned into 0 by wasm-opt --denan)", ""


def reduce_module(
    wasm: bytes,
    folder: Path,
    backend: str,
    seed: str,
    budget: float,
    features: Sequence[str] = (),
) -> Path | None:
    """Shrink a mismatching module with wasm-reduce; the checker is `fuzz --check`."""
    reducer = shutil.which("wasm-reduce")
    if reducer is None:
        return None
    orig, test, work = folder / "module.wasm", folder / "test.wasm", folder / "reduced.wasm"
    orig.write_bytes(wasm)
    check = (
        f"{sys.executable} -m wasmkiln.pyhook.fuzz.differential --check {test} --backend {backend} "
        f"--plan-seed {seed}" + "".join(f" --feature {f}" for f in features)
    )
    try:
        subprocess.run(
            [
                reducer,
                str(orig),
                f"--command={check}",
                "-t",
                str(test),
                "-w",
                str(work),
                "-b",
                str(Path(_tool("wasm-opt")).parent),
                "--timeout=60",
            ],
            capture_output=True,
            timeout=budget,
            cwd=folder,
        )
    except subprocess.TimeoutExpired:
        pass  # the working file holds the smallest module found so far
    test.unlink(missing_ok=True)
    return work if work.is_file() else None


# ---- the run -----------------------------------------------------------------------------------
@dataclass
class Totals:
    passed: int = 0
    failed: int = 0
    invalid: int = 0  # generated modules wasmtime rejected (not counted as passed or failed)
    foreign: int = 0  # modules importing what the harness lacks (newer binaryen): skipped
    notes: Counter[str] = field(default_factory=Counter)  # passed modules, by check_module note
    features: Counter[str] = field(default_factory=Counter)  # feature_counts over compared ones

    def line(self) -> str:
        return f"{self.passed} passed, {self.failed} failed"


def run_differential(
    count: int,
    seed: int,
    backend: str,
    out: Path,
    reduce: bool = True,
    reduce_budget: float = 600.0,
    log: Callable[[str], None] = print,
    features: Sequence[str] = (),
) -> Totals:
    """Fuzz `count` modules; mismatches go to out/<index>/ with a note and a reduced module."""
    out.mkdir(parents=True, exist_ok=True)
    totals = Totals()
    t0 = time.perf_counter()
    done = 0
    with tempfile.TemporaryDirectory(prefix="wasmkiln-fuzz-") as tmp:
        ours = Ours(backend, Path(tmp) / "modules")
        try:
            for i in range(count):
                done = i  # modules finished before this one
                wasm = generate(seed, i, Path(tmp), features)
                if not wasmtime_validates(wasm):
                    totals.invalid += 1
                    continue
                if not harness_imports_only(wasm):
                    totals.foreign += 1
                    continue
                plan_seed = f"{seed}:{i}"
                totals.features.update(feature_counts(wasm))
                try:
                    why, note = check_module(wasm, ours, plan_seed, features)
                except Exception as e:  # noqa: BLE001 - a harness bug fails one module, not the run
                    why, note = f"fuzzer error: {type(e).__name__}: {e}", ""
                ours.forget()
                if why is None:
                    totals.passed += 1
                    if note:
                        totals.notes[note] += 1
                        _save(out / note, f"{seed}-{i:05d}-{backend}.wasm", wasm)
                else:
                    totals.failed += 1
                    folder = out / f"{seed}-{i:05d}-{backend}"
                    folder.mkdir(parents=True, exist_ok=True)
                    (folder / "module.wasm").write_bytes(wasm)
                    (folder / "mismatch.txt").write_text(
                        f"seed {seed} module {i} backend {backend} plan seed {plan_seed}\n{why}\n"
                    )
                    log(f"module {i}: MISMATCH ({folder})\n  {why}")
                    if reduce:
                        small = reduce_module(
                            wasm, folder, backend, plan_seed, reduce_budget, features
                        )
                        if small is not None:
                            log(
                                f"  reduced: {small} ({small.stat().st_size} bytes, "
                                f"from {len(wasm)})"
                            )
                if (i + 1) % 25 == 0:
                    log(f"[{i + 1}/{count}] {totals.line()} ({time.perf_counter() - t0:.0f} s)")
            done = count
        except KeyboardInterrupt:  # a long run stopped (SIGINT, SIGTERM): the totals so far
            log(f"interrupted: {done} of {count} modules done")
        finally:
            ours.close()
    log(
        f"{done} modules in {time.perf_counter() - t0:.0f} s: {totals.invalid} rejected by "
        f"wasmtime's validator (skipped); {totals.foreign} import what the harness lacks "
        f"(skipped); passed up to NaN bits the spec leaves open: "
        f"{totals.notes['nan-memory']} in memory only, {totals.notes['nan-canonical']} with "
        f"wasmtime's canonical NaNs, {totals.notes['nan-divergent']} only with NaNs removed "
        f"(--denan; modules kept in {out}/nan-*)"
    )
    log("3.0 features in the compared modules: " + _show_counts(totals.features))
    return totals


def _show_counts(counts: Counter[str]) -> str:
    return ", ".join(f"{k} {v}" for k, v in sorted(counts.items())) or "none"


def _save(folder: Path, name: str, data: bytes) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_bytes(data)


def _check_main(path: Path, backend: str, plan_seed: str, features: Sequence[str]) -> int:
    """wasm-reduce's test: exit 1 when the mismatch persists, 0 when it is gone, 2 when the
    candidate is not a valid module (so the reducer never keeps an invalid one)."""
    try:
        wasm = path.read_bytes()
    except OSError:
        return 2
    if not wasmtime_validates(wasm):
        return 2
    with tempfile.TemporaryDirectory(prefix="wasmkiln-fuzz-check-") as tmp:
        ours = Ours(backend, Path(tmp))
        try:
            return 0 if check_module(wasm, ours, plan_seed, features)[0] is None else 1
        finally:
            ours.close()


def main(argv: list[str] | None = None) -> int:
    """`python -m wasmkiln.pyhook.fuzz.differential`: `wasmkiln fuzz`'s flags, plus --check."""
    p = argparse.ArgumentParser(prog="python -m wasmkiln.pyhook.fuzz.differential")
    add_arguments(p)
    p.add_argument("--check", type=Path, help=argparse.SUPPRESS)
    p.add_argument("--plan-seed", default="0", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    _use_binaryen(args)
    if args.check:
        return _check_main(args.check, args.backend, args.plan_seed, _features(args))
    try:
        return run_from_args(args)
    except FuzzError as e:
        print(f"wasmkiln: error: {e}", file=sys.stderr)
        return 2


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--count", type=int, default=100, help="modules to generate (default 100)")
    p.add_argument("--seed", type=int, help="run seed (default: random, printed)")
    p.add_argument(
        "--backend",
        default="cranelift",
        choices=["cranelift", "llvm"],
        help="wasmkiln backend to compare with wasmtime (default cranelift)",
    )
    p.add_argument(
        "--exceptions",
        action="store_true",
        help="generate with binaryen's exception handling too (binaryen 108's -ttf then "
        "adds tags, so every call site gets its exception check, but no throw or try; "
        f"with binaryen {FEATURES_SINCE} or later the same as --feature exceptions)",
    )
    p.add_argument(
        "--feature",
        action="append",
        choices=[*FEATURES, "all"],
        default=[],
        help="WebAssembly 3.0 feature every module gets (repeatable; all: the three); needs "
        f"binaryen {FEATURES_SINCE} or later (--binaryen)",
    )
    p.add_argument(
        "--binaryen",
        type=Path,
        metavar="DIR",
        help=f"folder of the binaryen tools to use (default: ${BINARYEN_ENV}, else PATH's), "
        "e.g. build/binaryen/node_modules/binaryen/bin from npm (docs/fuzzing.md)",
    )
    p.add_argument("--out", type=Path, help="folder for mismatches (default fuzz-out/SEED)")
    p.add_argument("--no-reduce", action="store_true", help="save mismatches without reducing")
    p.add_argument(
        "--garbage",
        type=int,
        metavar="N",
        help="instead: feed N garbage inputs to the decoder, validator and compiler",
    )


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def _use_binaryen(args: argparse.Namespace) -> None:
    """--binaryen DIR: into the environment, which carries it to wasm-reduce's --check runs."""
    if args.binaryen is not None:
        os.environ[BINARYEN_ENV] = str(args.binaryen.resolve())


def _features(args: argparse.Namespace) -> list[str]:
    """The FEATURES names asked for: --feature (all: every one), and --exceptions with a
    binaryen that generates throw and try_table."""
    names = list(FEATURES) if "all" in args.feature else list(dict.fromkeys(args.feature))
    if args.exceptions and "exceptions" not in names and binaryen_version() >= FEATURES_SINCE:
        names.append("exceptions")
    return names


def run_from_args(args: argparse.Namespace) -> int:
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(1 << 32)
    if args.garbage is not None:
        from .garbage import run_garbage

        print(f"seed {seed}, backend {args.backend}, {args.garbage} garbage inputs", flush=True)
        totals = run_garbage(
            args.garbage,
            seed,
            backend=args.backend,
            out=args.out,
            log=lambda s: print(s, flush=True),
        )
        print(totals.line())
        return 1 if totals.failed else 0
    out = args.out or Path("fuzz-out") / str(seed)
    _use_binaryen(args)
    _tool("wasm-opt")  # fail before printing anything else
    features = _features(args)
    feature_flags(features)  # too old a binaryen: say so now
    if args.exceptions and not features and "--enable-exception-handling" not in FEATURE_FLAGS:
        FEATURE_FLAGS.append("--enable-exception-handling")  # binaryen 108: tags only
    try:
        import wasmtime  # noqa: F401 - the reference engine
    except ImportError:
        raise FuzzError(
            "the wasmtime Python package is missing: pip install wasmtime (or "
            "wasmkiln's test extra)"
        ) from None
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise FuzzError(f"cannot create {out}: {e.strerror}") from None
    print(
        f"seed {seed}, backend {args.backend}, {args.count} modules, mismatches in {out}; "
        f"binaryen {binaryen_version()} ({_tool('wasm-opt')})"
        + (f", features {','.join(features)}" if features else ""),
        flush=True,
    )
    # A long run in the background ignores SIGINT (the shell's doing): SIGTERM stops it the
    # same way, with the totals so far.
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        diff = run_differential(
            args.count,
            seed,
            args.backend,
            out,
            reduce=not args.no_reduce,
            log=lambda s: print(s, flush=True),
            features=features,
        )
    except OSError as e:
        raise FuzzError(f"{e.filename or 'a file'}: {e.strerror}") from None
    print(diff.line())
    return 1 if diff.failed else 0


if __name__ == "__main__":
    sys.exit(main())
