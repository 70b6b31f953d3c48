"""What exception handling's explicit checks cost code that never throws.

    python bench/exceptions.py [--reps N] [--quick]

wasmkiln raises Wasm exceptions without an unwinder (docs/abi.md "Exceptions"): in a module
that can see exceptions, a call to a function that may throw is followed by a test of the
pending-exception cell. Modules without exception handling get no test at all, and calls
that cannot end in an exception (environ.throwing_functions) neither. To measure the worst
case on code that never throws, each program here runs twice, as built by clang and with
one unused tag added to its module (a tag section: nothing else changes, but the module now
"uses exceptions"), built with WASMKILN_EXCEPTION_CHECK_ALL_CALLS=1 so that every call site
gets its check (without it, these programs, which never throw, would get none):

- bench/kernels/*.c (compute.py's kernels; each prints its own kernel_ms), and
- fib (tests/fixtures/fib.c, recursive fib(40): a call every few instructions, the worst
  case for a per-call check), and
- CoreMark (../shared/testdata/real/coremark, call-heavy; it prints its own score).

Both variants are built for x86_64-spt with each backend (Cranelift, LLVM -O2) and run
interleaved; the table gives medians of the self-reported times (CoreMark: iterations/s)
and the ratio checked / plain (above 1: slower), with the number of call sites in each
module. This machine is shared by other jobs: the ratios are noisy (a few %); compare
medians. Writes bench/results/exceptions.json.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import tempfile
from pathlib import Path
from typing import Any

from benchlib import CACHE, TESTDATA, BenchError, publish, run_script, say, wasmkiln_build
from compute import KERNELS_DIR, QUICK_SIZES, WORK, build_kernel

from wasmkiln.bridge.decode import decode, read_uleb
from wasmkiln.bridge.environ import CHECK_ALL_CALLS

OUT = CACHE / "exceptions"
COREMARK = TESTDATA / "real" / "coremark" / "coremark.wasm"
FIB = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "fib.c"
BACKENDS = ("cranelift", "llvm")


def with_unused_tag(wasm: bytes) -> bytes:
    """The module with a tag section of one tag (of a type with no results) added: valid, and
    identical otherwise. The tag section goes before the global section (spec order)."""
    m = decode(wasm)
    type_idx = next(i for i, t in enumerate(m.types) if not t.results)
    body = bytes([1, 0]) + _uleb(type_idx)
    section = bytes([13]) + _uleb(len(body)) + body
    pos = 8
    while pos < len(wasm):
        sid = wasm[pos]
        size, start = read_uleb(wasm, pos + 1, 32)
        if sid in (6, 7, 8, 9, 12, 10, 11):  # the first section after the tag section's place
            return wasm[:pos] + section + wasm[pos:]
        pos = start + size
    return wasm + section


def _uleb(v: int) -> bytes:
    out = bytearray()
    while True:
        b, v = v & 0x7F, v >> 7
        out.append(b | (0x80 if v else 0))
        if not v:
            return bytes(out)


def call_sites(wasm: bytes) -> int:
    m = decode(wasm)
    return sum(1 for f in m.funcs for ins in f.body if ins[0] in ("call", "call_indirect"))


def run_cpu(cmd: list[str]) -> tuple[float, int, bytes]:
    """Run cmd: (user + system CPU seconds, exit status, stdout)."""
    with tempfile.TemporaryFile() as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.DEVNULL)
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        return usage.ru_utime + usage.ru_stime, proc.returncode, out.read()


def _score(name: str, stdout: bytes) -> float:
    """kernel_ms (lower is better) or CoreMark's iterations/s (higher is better)."""
    pattern = {
        "coremark": rb"Iterations/Sec\s*:\s*([0-9.]+)",
        "fib": rb"fib\(40\) = (102334155)",
    }.get(name, rb"kernel_ms ([0-9.]+)")
    m = re.search(pattern, stdout)
    if m is None:
        raise BenchError(f"{name}: no result in its output: {stdout[-300:]!r}")
    return float(m.group(1))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--reps", type=int, default=5)
    p.add_argument("--quick", action="store_true", help="smaller kernel sizes, no CoreMark")
    args = p.parse_args(argv)
    programs: list[tuple[str, Path, list[str]]] = []
    for src in sorted(KERNELS_DIR.glob("*.c")):
        build_kernel(src)
        size = [QUICK_SIZES[src.stem]] if args.quick and src.stem in QUICK_SIZES else []
        programs.append((src.stem, WORK / "wasm" / f"{src.stem}.wasm", size))
    fib = OUT / "wasm" / "fib.wasm"
    fib.parent.mkdir(parents=True, exist_ok=True)
    cmd = ["clang-14", "--target=wasm32-wasi", "-O2", "-s", "-o", str(fib), str(FIB)]
    if subprocess.run(cmd, capture_output=True).returncode != 0:
        raise BenchError(f"{' '.join(cmd)} failed")
    programs.insert(0, ("fib", fib, ["40"]))
    if not args.quick and COREMARK.is_file():
        programs.append(("coremark", COREMARK, []))
    rows: list[dict[str, Any]] = []
    header = (
        f"{'program':<10} {'backend':<10} {'calls':>6} {'plain':>10} {'checked':>10} {'ratio':>7}"
    )
    say(header)
    for name, wasm, prog_args in programs:
        plain = wasm.read_bytes()
        variants = {"plain": wasm, "checked": OUT / "wasm" / f"{name}-tag.wasm"}
        variants["checked"].parent.mkdir(parents=True, exist_ok=True)
        variants["checked"].write_bytes(with_unused_tag(plain))
        for backend in BACKENDS:
            images = {}
            for kind, path in variants.items():
                image = OUT / backend / f"{name}-{kind}.spt"
                if kind == "checked":
                    os.environ[CHECK_ALL_CALLS] = "1"
                try:
                    wasmkiln_build(path, "x86_64-spt", image, ["--backend", backend])
                finally:
                    os.environ.pop(CHECK_ALL_CALLS, None)
                images[kind] = image
            samples: dict[str, list[float]] = {"plain": [], "checked": []}
            for _ in range(args.reps):
                for kind, image in images.items():  # interleaved: drift hits both alike
                    cpu, status, stdout = run_cpu([str(image), "--", *prog_args])
                    if status != 0:
                        raise BenchError(f"{name} ({kind}, {backend}) exited {status}")
                    score = _score(name, stdout)  # also checks that it printed its result
                    samples[kind].append(score if name == "coremark" else cpu * 1000.0)
            med = {k: statistics.median(v) for k, v in samples.items()}
            # Ratio as "time checked / time plain": CoreMark reports a rate, so invert it.
            r = (
                med["plain"] / med["checked"]
                if name == "coremark"
                else med["checked"] / med["plain"]
            )
            row = {
                "program": name,
                "backend": backend,
                "call_sites": call_sites(plain),
                "unit": "iterations/s" if name == "coremark" else "CPU ms",
                "samples": samples,
                "median": med,
                "time_ratio_checked_over_plain": r,
            }
            rows.append(row)
            say(
                f"{name:<10} {backend:<10} {row['call_sites']:>6} {med['plain']:>10.2f} "
                f"{med['checked']:>10.2f} {r:>7.3f}"
            )
    for backend in BACKENDS:
        ratios = [r["time_ratio_checked_over_plain"] for r in rows if r["backend"] == backend]
        geo = statistics.geometric_mean(ratios)
        say(f"geometric mean of the time ratios, {backend}: {geo:.3f}")
    names = sorted({r["program"] for r in rows})
    chart = {
        "title": "exception checks on code that never throws: time checked / plain",
        "ylabel": "time ratio (1 = no cost)",
        "groups": names,
        "reference": 1.0,
        "series": {
            b: [
                next(
                    r["time_ratio_checked_over_plain"]
                    for r in rows
                    if r["program"] == n and r["backend"] == b
                )
                for n in names
            ]
            for b in BACKENDS
        },
    }
    publish("exceptions", {"reps": args.reps, "quick": args.quick, "rows": rows, "chart": chart})
    return 0


if __name__ == "__main__":
    run_script(main)
