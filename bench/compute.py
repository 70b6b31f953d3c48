"""Compute benchmark: the same Wasm, ahead-of-time compiled by wasmkiln and by wasmtime, and the
same C compiled natively.

    python bench/compute.py [--quick] [--reps N] [--only NAME,...] [--tcg] [--explicit-bounds]

Rows:
- our kernels (bench/kernels/*.c): clang-14 --target=wasm32-wasi -O2, and gcc -O2 natively;
- our SIMD kernels (bench/kernels/simd/*.c, group "simd", rows "simd/NAME"): clang-14 -O2
  -msimd128 for wasm32-wasi, gcc -O2 natively (SSE2, the x86-64 baseline: no -march). Each
  .wasm must contain v128 operations (counted with wasmkiln's decoder), else the run stops;
- ../shared/testdata/polybench: the 30 PolyBench/C kernels (SMALL_DATASET, so each kernel runs
  for well under a millisecond and process start-up dominates the wall time; the self-reported
  kernel time is shown in its own table). No native column: the C source is not in testdata;
- ../shared/testdata/real: bz2, sqlite3, coremark (each with the reason it is skipped, where it is).

Columns: wasmkiln spt process (Cranelift; LLVM when `wasmkiln build --help` offers it), the
wasmtime 36 CLI running a module precompiled by `wasmtime compile` (`--allow-precompiled`), and
native. Both runtimes compile before timing starts; compile times are reported separately. The
kvm image is not a compute column: here it runs under TCG, an emulator, and its times say
nothing about virtualization; `--tcg` adds it for our kernels, labelled as emulation.

Every run's output is checked (checksums against native, PolyBench's array dump and the real
programs' expected output): a runner that computes a wrong answer gets no time.
Output: a table per group, bench/results/compute.json (raw samples, medians, and a top-level
"ratios" object: wasmkiln time over each peer's, per row; lower is better), and compute.png.
"""

from __future__ import annotations

import argparse
import math
import os
import re
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchlib import (
    CACHE,
    TESTDATA,
    Backend,
    BenchError,
    Run,
    Table,
    fmt,
    geomean,
    machine_facts,
    median,
    publish,
    ratio,
    run_script,
    run_timed,
    say,
    wasmkiln_backends,
    wasmkiln_build,
    wasmkiln_help,
    wasmtime_binary,
)

KERNELS_DIR = Path(__file__).resolve().parent / "kernels"
POLYBENCH = TESTDATA / "polybench"
REAL = TESTDATA / "real"
WORK = CACHE / "compute"

# Sizes passed as argv[1] under --quick (the full sizes are each kernel's default, about
# 150-250 ms natively on this machine's kind).
QUICK_SIZES = {
    "matmul": "160",
    "sieve": "1000000",
    "sha256": "4",
    "nbody": "500",
    "sort": "200000",
    "hashmap": "100000",
}
QUICK_SIMD_SIZES = {"blake3": "2", "dot": "400", "blur": "16", "bytecount": "60"}
QUICK_POLYBENCH = ["2mm", "gemm", "jacobi-2d"]
SIMD_DIR = KERNELS_DIR / "simd"
GROUPS = ("kernels", "simd", "polybench", "real")
UNKNOWN_IMPORTS_FLAG = "--default-values-unknown-imports"


# ---- rows -------------------------------------------------------------------------------------
@dataclass
class Row:
    name: str
    group: str  # one of GROUPS
    wasm: Path
    args: list[str] = field(default_factory=list)
    native: Path | None = None
    native_missing: str = ""
    cwd: Path | None = None  # preopened as "." (real programs read their input there)
    bench_imports: bool = False  # imports sightglass's bench.start/bench.end
    wasmkiln_missing: str = ""  # why wasmkiln cannot run this row at all
    wasmtime_missing: str = ""
    reps: int = 5
    keep_stderr: bool = True
    check: Callable[[Run, Row], str | None] = lambda run, row: None
    self_ms: Callable[[Run], float | None] = lambda run: None
    expected: bytes | None = None  # filled by the native run, for checksums
    simd_ops: int | None = None  # v128 operations in the .wasm (the simd group)


def _kernel_check(run: Run, row: Row) -> str | None:
    m = re.search(rb"checksum ([0-9a-f]+)", run.stdout)
    if m is None:
        return "no checksum printed"
    if row.expected is not None and m.group(1) != row.expected:
        return f"checksum {m.group(1).decode()} != native {row.expected.decode()}"
    return None


def _kernel_ms(run: Run) -> float | None:
    m = re.search(rb"kernel_ms ([0-9.]+)", run.stdout)
    return float(m.group(1)) if m else None


def _polybench_check(run: Run, row: Row) -> str | None:
    expected = (POLYBENCH / f"{row.name.split('/')[1]}.stderr.expected").read_bytes()
    return None if run.stderr == expected else "array dump differs from the expected one"


def _polybench_ms(run: Run) -> float | None:
    try:
        return float(run.stdout.split()[-1]) * 1000.0
    except (IndexError, ValueError):
        return None


def _expected_stdout(path: Path) -> Callable[[Run, Row], str | None]:
    def check(run: Run, row: Row) -> str | None:
        return None if run.stdout == path.read_bytes() else f"stdout differs from {path.name}"

    return check


def _coremark_check(run: Run, row: Row) -> str | None:
    return None if b"Correct operation validated" in run.stdout else "not validated"


def _rows(quick: bool, has_unknown_imports: bool, has_dir: bool) -> list[Row]:
    rows: list[Row] = []
    for src in sorted(KERNELS_DIR.glob("*.c")):
        rows.append(
            Row(
                src.stem,
                "kernels",
                WORK / "wasm" / f"{src.stem}.wasm",
                args=[QUICK_SIZES[src.stem]] if quick else [],
                native=WORK / "native" / src.stem,
                reps=2 if quick else 5,
                check=_kernel_check,
                self_ms=_kernel_ms,
            )
        )
    for src in sorted(SIMD_DIR.glob("*.c")):
        rows.append(
            Row(
                f"simd/{src.stem}",
                "simd",
                WORK / "wasm" / "simd" / f"{src.stem}.wasm",
                args=[QUICK_SIMD_SIZES[src.stem]] if quick else [],
                native=WORK / "native" / "simd" / src.stem,
                reps=2 if quick else 5,
                check=_kernel_check,
                self_ms=_kernel_ms,
            )
        )
    names = QUICK_POLYBENCH if quick else sorted(p.stem for p in POLYBENCH.glob("*.wasm"))
    for name in names:
        rows.append(
            Row(
                f"polybench/{name}",
                "polybench",
                POLYBENCH / f"{name}.wasm",
                native_missing="PolyBench's C source is not in testdata",
                reps=2 if quick else 5,
                check=_polybench_check,
                self_ms=_polybench_ms,
            )
        )
    if quick or not REAL.is_dir():
        return rows
    no_imports = (
        (
            f"wasmkiln build has no {UNKNOWN_IMPORTS_FLAG} yet (the module imports "
            "bench.start/bench.end)"
        )
        if not has_unknown_imports
        else ""
    )
    no_dir = "" if has_dir else "wasmkiln build has no --dir yet (the file system issue)"
    for name in ("bz2", "sqlite3"):
        rows.append(
            Row(
                f"real/{name}",
                "real",
                REAL / name / f"{name}.wasm",
                cwd=REAL / name,
                bench_imports=True,
                wasmkiln_missing=no_imports or no_dir,
                native_missing="no native build of the real programs in testdata",
                reps=3,
                check=_expected_stdout(REAL / name / f"{name}.stdout.expected"),
            )
        )
    rows.append(
        Row(
            "real/coremark",
            "real",
            REAL / "coremark" / "coremark.wasm",
            native_missing="no native build of the real programs in testdata",
            wasmtime_missing="wasmtime 36 answers clock_time_get(2, process CPU time) "
            "with EBADF, and coremark then never stops (measured)",
            reps=1,
            check=_coremark_check,
        )
    )
    return rows


# ---- building ---------------------------------------------------------------------------------
def _newer(out: Path, src: Path) -> bool:
    return out.exists() and out.stat().st_mtime >= src.stat().st_mtime


def _compile(cmd: list[str], src: Path) -> None:
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise BenchError(f"{' '.join(cmd)} ({src.name}) failed:\n{proc.stderr[-2000:]}")


def build_kernel(src: Path) -> None:
    headers = [KERNELS_DIR / "kernel.h", SIMD_DIR / "simd.h"]
    simd = src.parent == SIMD_DIR
    sub = "simd" if simd else ""
    wasm, native = WORK / "wasm" / sub / f"{src.stem}.wasm", WORK / "native" / sub / src.stem
    for out in (wasm, native):
        if _newer(out, src) and all(_newer(out, h) for h in headers):
            continue
        out.parent.mkdir(parents=True, exist_ok=True)
        if out == native:
            _compile(["gcc", "-O2", "-o", str(out), str(src), "-lm"], src)
        elif not simd:
            _compile(
                ["clang-14", "--target=wasm32-wasi", "-O2", "-s", "-o", str(out), str(src), "-lm"],
                src,
            )
        else:
            # Compile and link apart: a clang-14 link with -O runs binaryen's wasm-opt when one
            # is on PATH, without SIMD enabled, and that wasm-opt rejects the v128 operations.
            obj = out.with_suffix(".o")
            _compile(
                [
                    "clang-14",
                    "--target=wasm32-wasi",
                    "-O2",
                    "-msimd128",
                    "-c",
                    "-o",
                    str(obj),
                    str(src),
                ],
                src,
            )
            _compile(
                ["clang-14", "--target=wasm32-wasi", "-s", "-o", str(out), str(obj), "-lm"], src
            )


SIMD_OP = re.compile(r"(v128|[if](8x16|16x8|32x4|64x2))\.")


def count_simd_ops(wasm: Path) -> int:
    """v128 operations in a module's code (wasmkiln's own decoder reads it)."""
    from wasmkiln.bridge.decode import decode

    module = decode(wasm.read_bytes())
    return sum(1 for f in module.funcs for ins in f.body if SIMD_OP.match(ins[0]))


def check_simd(row: Row) -> None:
    """A SIMD kernel whose .wasm holds no v128 operation measures scalar code: stop."""
    row.simd_ops = count_simd_ops(row.wasm)
    if row.simd_ops == 0:
        raise BenchError(
            f"{row.wasm} contains no v128 operation: the {row.name} kernel lost "
            "its SIMD (clang-14 -msimd128 produced scalar code)"
        )


def wasmtime_compile(wasmtime: Path, row: Row) -> tuple[Path, float]:
    out = WORK / "cwasm" / f"{row.name.replace('/', '-')}.cwasm"
    secs_file = out.with_name(out.name + ".seconds")
    if _newer(out, row.wasm) and secs_file.exists():
        return out, float(secs_file.read_text())
    out.parent.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    proc = subprocess.run(
        [str(wasmtime), "compile", str(row.wasm), "-o", str(out)], capture_output=True, text=True
    )
    if proc.returncode != 0:
        raise BenchError(f"wasmtime compile {row.wasm.name}: {proc.stderr.strip()[-400:]}")
    secs = time.perf_counter() - t0
    secs_file.write_text(f"{secs:.4f}\n")
    return out, secs


# ---- runners ----------------------------------------------------------------------------------
@dataclass
class Cell:
    """One runner on one row: how to run it (or why not), and what it measured."""

    cmd: list[str] | None = None
    missing: str = ""
    compile_s: float | None = None
    wall_ms: list[float] = field(default_factory=list)
    self_ms: list[float] = field(default_factory=list)
    last_stdout: bytes = b""

    def summary(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "median_wall_ms": _round(median(self.wall_ms)) if self.wall_ms else None
        }
        if self.self_ms:
            d["median_self_ms"] = _round(median(self.self_ms))
        d |= {
            "wall_ms": [_round(x) for x in self.wall_ms],
            "self_ms": [_round(x) for x in self.self_ms],
        }
        if self.compile_s is not None:
            d["compile_s"] = round(self.compile_s, 3)
        score = re.search(rb"Iterations/Sec\s*:\s*([0-9.]+)", self.last_stdout)
        if score:  # coremark: iterations are calibrated per runner, so its score is the metric
            d["coremark_iterations_per_s"] = float(score.group(1))
        if self.missing:
            d["skipped"] = self.missing
        return d


def _round(x: float) -> float:
    return round(x, 3) if math.isfinite(x) else x


def _tcg_command(image: Path, args: list[str], control: Path) -> list[str]:
    from wasmkiln.pyhook.run.runner import RunOptions, qemu_command

    cmd = qemu_command(
        image, RunOptions(args=args, accel="tcg", memory_mb=512, program_name=image.stem), control
    )
    return [str(word) for word in cmd]


def prepare(
    row: Row, runner: str, backends: dict[str, Backend], wasmtime: Path, control: Path
) -> Cell:
    if runner == "native":
        if row.native is None:
            return Cell(missing=row.native_missing)
        return Cell([str(row.native), *row.args])
    if runner == "wasmtime":
        if row.wasmtime_missing:
            return Cell(missing=row.wasmtime_missing)
        try:
            cwasm, secs = wasmtime_compile(wasmtime, row)
        except BenchError as e:
            return Cell(missing=str(e))
        flags = ["-W", "unknown-imports-default=y"] if row.bench_imports else []
        if row.cwd is not None:
            flags += ["--dir", ".::."]
        return Cell(
            [str(wasmtime), "run", "--allow-precompiled", *flags, str(cwasm), *row.args],
            compile_s=secs,
        )
    # wasmkiln-<backend>[-tcg]
    backend = backends[runner.split("-")[1]]
    tcg = runner.endswith("-tcg")
    if backend.missing:
        return Cell(missing=backend.missing)
    if row.wasmkiln_missing:
        return Cell(missing=row.wasmkiln_missing)
    target = "x86_64-kvm" if tcg else "x86_64-spt"
    suffix = ".img" if tcg else ".spt"
    bounds = "-explicit" if os.environ.get("WASMKILN_EXPLICIT_BOUNDS") == "1" else ""
    image = WORK / f"{target}-{backend.name}{bounds}" / f"{row.name.replace('/', '-')}{suffix}"
    flags = list(backend.flags)
    if row.bench_imports:
        flags.append(UNKNOWN_IMPORTS_FLAG)
    if row.cwd is not None:  # packed into the image, preopened as "." like wasmtime's --dir
        flags += ["--dir", f"{row.cwd}::."]
    try:
        secs = wasmkiln_build(row.wasm, target, image, flags)
    except BenchError as e:
        return Cell(missing=str(e))
    if tcg:
        return Cell(_tcg_command(image, row.args, control), compile_s=secs)
    return Cell([str(image), "--", *row.args], compile_s=secs)


# ---- measuring --------------------------------------------------------------------------------
def measure(
    rows: list[Row], runners: list[str], cells: dict[tuple[str, str], Cell], control: Path
) -> None:
    # One checked run per cell first (warms the page cache, validates the output; native
    # first so that the kernels' checksums are known). A wrong answer removes the cell.
    for row in rows:
        for runner in runners:
            cell = cells[row.name, runner]
            if cell.cmd is None:
                continue
            try:
                run = run_timed(cell.cmd, cwd=row.cwd, timeout=900)
            except subprocess.TimeoutExpired:
                cell.cmd, cell.missing = None, "timed out (900 s)"
                continue
            problem = (
                f"exit status {run.returncode}: {run.stderr.decode(errors='replace')[-300:]}"
                if run.returncode != 0
                else row.check(run, row)
            )
            if problem:
                say(f"{row.name} on {runner}: {problem}")
                cell.cmd, cell.missing = None, f"wrong result: {problem}"
                continue
            if runner == "native" and row.group in ("kernels", "simd"):
                m = re.search(rb"checksum ([0-9a-f]+)", run.stdout)
                row.expected = m.group(1) if m else None
            if row.reps == 1:  # long-running rows: the checked run is the measurement
                _record(cell, row, run)
    # Timed repetitions, interleaved across runners.
    for rep in range(max(r.reps for r in rows)):
        say(f"repetition {rep + 1}")
        for row in rows:
            if rep >= row.reps or row.reps == 1:
                continue
            for runner in runners:
                cell = cells[row.name, runner]
                if cell.cmd is None:
                    continue
                control.write_bytes(b"")
                run = run_timed(cell.cmd, cwd=row.cwd, timeout=900, keep_stderr=row.keep_stderr)
                if run.returncode != 0:
                    cell.cmd, cell.missing = None, f"exit status {run.returncode} in a timed run"
                    continue
                _record(cell, row, run)


def _record(cell: Cell, row: Row, run: Run) -> None:
    cell.wall_ms.append(run.seconds * 1000.0)
    cell.last_stdout = run.stdout
    own = row.self_ms(run)
    if own is not None:
        cell.self_ms.append(own)


# ---- reporting --------------------------------------------------------------------------------
WASMKILN = ["wasmkiln-cranelift", "wasmkiln-llvm", "wasmkiln-llvmnative"]
RATIO_COLUMNS = (
    "cranelift/wasmtime",
    "cranelift/native",
    "llvm/wasmtime",
    "llvm/native",
    "llvmnative/wasmtime",
    "llvmnative/native",
)
PEERS = ["wasmtime", "native"]


def _med(cell: Cell, kind: str) -> float | None:
    xs = cell.wall_ms if kind == "wall" else cell.self_ms
    return median(xs) if xs else None


def _ratios(
    rows: list[Row], cells: dict[tuple[str, str], Cell], kind: str
) -> dict[str, dict[str, float | None]]:
    out: dict[str, dict[str, float | None]] = {}
    for row in rows:
        r: dict[str, float | None] = {}
        for ours in WASMKILN:
            for peer in PEERS:
                value = ratio(_med(cells[row.name, ours], kind), _med(cells[row.name, peer], kind))
                if value is not None:
                    r[f"{ours.split('-')[1]}/{peer}"] = round(value, 3)
        out[row.name] = r
    for group in GROUPS:
        members = [out[r.name] for r in rows if r.group == group]
        keys = sorted({k for m in members for k in m})
        summary = {
            k: round(geomean([v for m in members if (v := m.get(k)) is not None]), 3) for k in keys
        }
        if summary:
            out[f"geomean {group}"] = {
                k: (v if math.isfinite(v) else None) for k, v in summary.items()
            }
    return out


# Issue 16's targets for the SIMD kernels: wasmkiln's time over wasmtime's, geomean.
SIMD_TARGETS = {"cranelift/wasmtime": 1.1, "llvm/wasmtime": 0.8}


def _simd_summary(
    rows: list[Row],
    wall: dict[str, dict[str, float | None]],
    own: dict[str, dict[str, float | None]],
) -> dict[str, Any]:
    """The "simd" section of the JSON: the group's geomean ratios on both metrics and issue
    16's targets read off them (met: None when a column did not run)."""
    targets: dict[str, dict[str, Any]] = {}
    for key, limit in SIMD_TARGETS.items():
        per: dict[str, Any] = {"limit": limit}
        for metric, ratios in (("wall", wall), ("self_reported", own)):
            value = ratios.get("geomean simd", {}).get(key)
            per[metric] = value
            per[f"met_{metric}"] = None if value is None else value <= limit
        targets[key] = per
    return {
        "kernels": [r.name for r in rows],
        "wasm_simd_ops": {r.name: r.simd_ops for r in rows},
        "geomean": wall.get("geomean simd", {}),
        "geomean_self_reported": own.get("geomean simd", {}),
        "targets": targets,
    }


def _simd_render(simd: dict[str, Any]) -> str:
    t = Table(
        "SIMD kernels: issue 16's targets (geomean of wasmkiln time / wasmtime time)",
        ["ratio", "target", "process wall", "met", "self-reported", "met"],
    )
    for key, per in simd["targets"].items():
        t.rows.append(
            [
                key,
                f"<= {per['limit']}",
                fmt(per["wall"], 2),
                {True: "yes", False: "no", None: "-"}[per["met_wall"]],
                fmt(per["self_reported"], 2),
                {True: "yes", False: "no", None: "-"}[per["met_self_reported"]],
            ]
        )
    return t.render()


def _table(
    title: str,
    rows: list[Row],
    cells: dict[tuple[str, str], Cell],
    kind: str,
    ratios: dict[str, dict[str, float | None]],
    extra: list[str],
    note: str,
) -> Table:
    headers = [
        "row",
        "wk-cranelift ms",
        "wk-llvm ms",
        "wk-llvm-native ms",
        "wasmtime ms",
        "native ms",
        *extra,
        "cl/wasmtime",
        "cl/native",
        "llvm/wasmtime",
        "llvm/native",
        "llvm-nat/wasmtime",
        "llvm-nat/native",
    ]
    t = Table(title, headers, note=note)
    for row in rows:
        meds = [
            fmt(_med(cells[row.name, r], kind), 2 if kind == "self" else 1)
            for r in [*WASMKILN, *PEERS]
        ]
        ext = [fmt(_med(cells[row.name, r], kind), 1) for r in extra]
        rr = ratios.get(row.name, {})
        t.rows.append([row.name, *meds, *ext, *(fmt(rr.get(k), 2) for k in RATIO_COLUMNS)])
    group = rows[0].group if rows else ""
    g = ratios.get(f"geomean {group}", {})
    if g:
        t.rows.append(
            [
                f"geomean {group}",
                *["" for _ in range(len(WASMKILN) + 2 + len(extra))],
                *(fmt(g.get(k), 2) for k in RATIO_COLUMNS),
            ]
        )
    return t


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--quick", action="store_true", help="small sizes, 2 reps, few rows")
    ap.add_argument("--reps", type=int, help="repetitions per row (overrides the defaults)")
    ap.add_argument(
        "--only",
        help="comma-separated row names or groups to run (groups: " + ", ".join(GROUPS) + ")",
    )
    ap.add_argument(
        "--tcg",
        action="store_true",
        help="also run our kernels as kvm images under QEMU TCG (emulation!)",
    )
    ap.add_argument(
        "--explicit-bounds",
        action="store_true",
        help="build spt images with explicit bounds checks instead of the guard "
        "region (WASMKILN_EXPLICIT_BOUNDS=1): what the guard region saves; "
        "writes results/compute-explicit.json",
    )
    args = ap.parse_args(argv)
    if args.explicit_bounds:
        os.environ["WASMKILN_EXPLICIT_BOUNDS"] = "1"  # read by pyhook/image/image.py at build

    wasmtime = wasmtime_binary()
    backends = {b.name: b for b in wasmkiln_backends()}
    build_help = wasmkiln_help("build")
    rows = _rows(args.quick, UNKNOWN_IMPORTS_FLAG in build_help, "--dir" in build_help)
    if args.only:
        wanted = set(args.only.split(","))
        rows = [
            r
            for r in rows
            if r.name in wanted or r.group in wanted or r.name.split("/")[-1] in wanted
        ]
    if args.reps:
        for r in rows:
            r.reps = r.reps if r.reps == 1 else args.reps
    for src in [*sorted(KERNELS_DIR.glob("*.c")), *sorted(SIMD_DIR.glob("*.c"))]:
        build_kernel(src)
    for row in rows:
        if row.group == "simd":
            check_simd(row)

    runners = [*WASMKILN, *PEERS]
    extra = ["wasmkiln-cranelift-tcg"] if args.tcg else []
    cells: dict[tuple[str, str], Cell] = {}
    with tempfile.TemporaryDirectory(prefix="bench-compute-") as tmp:
        control = Path(tmp) / "control"
        control.touch()
        say(f"building {len(rows)} rows for {', '.join(runners + extra)}")
        for row in rows:
            for runner in runners + extra:
                if runner.endswith("-tcg") and row.group not in ("kernels", "simd"):
                    cells[row.name, runner] = Cell(missing="TCG column: our kernels only")
                    continue
                cells[row.name, runner] = prepare(row, runner, backends, wasmtime, control)
        measure(rows, runners + extra, cells, control)

    wall = _ratios(rows, cells, "wall")
    own = _ratios(rows, cells, "self")
    tcg_note = (
        "wasmkiln-cranelift-tcg: the kvm image under QEMU TCG, i.e. an emulated CPU; "
        "not a virtualization figure and in no ratio."
        if extra
        else ""
    )
    tables = []
    for group, label in (
        ("kernels", "our kernels"),
        ("simd", "our SIMD kernels (-msimd128; native: gcc -O2, SSE2)"),
        ("polybench", "PolyBench/C (SMALL)"),
        ("real", "real programs"),
    ):
        grows = [r for r in rows if r.group == group]
        if not grows:
            continue
        ours = group in ("kernels", "simd")
        tables.append(
            _table(
                f"{label}: process wall time, median ms (lower is better)",
                grows,
                cells,
                "wall",
                wall,
                extra if ours else [],
                tcg_note if ours else "",
            )
        )
        if group != "real":
            tables.append(
                _table(
                    f"{label}: time the program reports for its kernel, median ms",
                    grows,
                    cells,
                    "self",
                    own,
                    extra if ours else [],
                    "",
                )
            )
    simd_rows = [r for r in rows if r.group == "simd"]
    simd = _simd_summary(simd_rows, wall, own) if simd_rows else None
    if simd is not None:
        print(_simd_render(simd))
    for t in tables:
        print(t.render())
    for row in rows:
        for runner in runners:
            score = cells[row.name, runner].summary().get("coremark_iterations_per_s")
            if score:
                print(
                    f"{row.name} on {runner}: {score:.0f} CoreMark iterations/s (its own "
                    "figure; wall time includes its calibration runs)\n"
                )

    compile_rows = Table(
        "compile time, seconds (excluded from the run times above)",
        ["runner", "rows", "total s", "median s"],
    )
    for runner in [*WASMKILN, "wasmtime", *extra]:
        secs = [cells[r.name, runner].compile_s for r in rows]
        got = [s for s in secs if s is not None]
        if got:
            compile_rows.rows.append([runner, str(len(got)), fmt(sum(got), 2), fmt(median(got), 3)])
    if compile_rows.rows:
        print(compile_rows.render())
    skipped: dict[tuple[str, str], list[str]] = {}
    for r in rows:
        for runner in runners + extra:
            if cells[r.name, runner].missing:
                skipped.setdefault((runner, cells[r.name, runner].missing), []).append(r.name)
    if skipped:
        print("## not measured, and why\n")
        for (runner, why), names in sorted(skipped.items()):
            which = "every row" if len(names) == len(rows) else ", ".join(names)
            print(f"- {runner} on {which}: {why}")
        print()

    chart_rows = [r for r in rows if r.group in ("kernels", "simd", "real")] + [
        r for r in rows if r.group == "polybench"
    ]
    series = {
        f"{o.split('-')[1]}/{p}": [wall[r.name].get(f"{o.split('-')[1]}/{p}") for r in chart_rows]
        for o in WASMKILN
        for p in PEERS
    }
    series = {k: v for k, v in series.items() if any(x is not None for x in v)}
    data: dict[str, Any] = {
        "script": "compute",
        "quick": args.quick,
        "machine": machine_facts(),
        "wasmtime": str(wasmtime),
        "backends": {b.name: b.missing or "available" for b in backends.values()},
        "metric": "process wall time (fork to reap), median of the repetitions, ms; ratios are "
        "wasmkiln/peer (lower is better)",
        "ratios": wall,
        "ratios_self_reported": own,
        "rows": {
            r.name: {
                "group": r.group,
                "args": r.args,
                "reps": r.reps,
                **({"wasm_simd_ops": r.simd_ops} if r.simd_ops is not None else {}),
                "runners": {k: cells[r.name, k].summary() for k in runners + extra},
            }
            for r in rows
        },
        "chart": {
            "title": "wasmkiln time / peer time, process wall (lower is better)",
            "ylabel": "ratio",
            "log": True,
            "reference": 1.0,
            "groups": [r.name for r in chart_rows],
            "series": series,
        },
    }
    if simd is not None:
        data["simd"] = simd
    name = "compute-explicit" if args.explicit_bounds else "compute"
    data["explicit_bounds"] = args.explicit_bounds
    publish(name, data)
    return 0


if __name__ == "__main__":
    run_script(main)
