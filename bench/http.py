"""HTTP benchmark: examples/http-static under wrk, on every runner, in the same run.

    python bench/http.py [--quick] [--reps N] [--duration S]

The same server.wasm (clang-14 -O2) serves two files from a preopened directory: a 612-byte
page (the size of nginx's default index.html) and a 64 KiB file. Each is loaded with
`wrk -t1 -c32 -dS` (Debian's wrk) against:
- wasmkiln x86_64-kvm: the image under QEMU microvm, TCG (on this machine /dev/kvm is PVM,
  see docs/performance.md), reached through `wasmkiln run -p` (QEMU slirp hostfwd);
- the wasmtime 36 CLI: `wasmtime run -S preview2=n -S tcplisten=127.0.0.1:PORT`, on the host;
- wasmkiln x86_64-spt: the sandboxed process, its frames through passt (`wasmkiln run -p`);
Every server is started once per repetition (interleaved: rep 1 of every runner, then rep 2),
warmed with a 2 s wrk run whose numbers are dropped, then measured once per file. Figures are
medians of the repetitions; wrk's socket errors and non-2xx answers are reported with them.

Output: a table, bench/results/http.json (raw samples, medians, and "ratios": each wasmkiln
target's req/s over wasmtime's, per file; higher is better for wasmkiln).
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchlib import (
    CACHE,
    REPO,
    BenchError,
    Table,
    fmt,
    machine_facts,
    median,
    ratio,
    run_script,
    say,
    wasmkiln_build,
    wasmtime_binary,
    write_results,
)

sys.path.insert(0, str(REPO / "tests"))
from http_guests import HTTP_STATIC_SOURCE, start  # noqa: E402

FILES = {"612 B": ("index.html", 612), "64 KiB": ("64k.bin", 65536)}
RUNNERS = {"wasmkiln kvm (QEMU microvm, TCG, slirp)": "kvm",
           "wasmkiln spt (process, passt)": "spt",
           "wasmtime 36 CLI (host)": "wasmtime"}


@dataclass
class WrkResult:
    rps: float
    mb_per_s: float
    errors: int  # connect + read + write + timeout errors, and non-2xx/3xx answers
    error_kinds: dict[str, int]
    text: str


def parse_wrk(text: str) -> WrkResult:
    rps = re.search(r"Requests/sec:\s+([\d.]+)", text)
    tps = re.search(r"Transfer/sec:\s+([\d.]+)(\w+)", text)
    if not rps:
        raise BenchError(f"cannot read wrk's output:\n{text}")
    scale = {"B": 1e-6, "KB": 1e-3, "MB": 1.0, "GB": 1e3}
    mb = float(tps.group(1)) * scale.get(tps.group(2), 1.0) if tps else float("nan")
    kinds: dict[str, int] = {}
    sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)",
                     text)
    if sock:
        kinds.update(zip(["connect", "read", "write", "timeout"],
                         (int(g) for g in sock.groups()), strict=True))
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    if non2xx:
        kinds["non-2xx"] = int(non2xx.group(1))
    return WrkResult(float(rps.group(1)), mb, sum(kinds.values()), kinds, text)


def wrk(port: int, path: str, seconds: float) -> WrkResult:
    proc = subprocess.run(["wrk", "-t1", "-c32", f"-d{seconds:g}s", "--latency",
                           f"http://127.0.0.1:{port}/{path}"],
                          capture_output=True, text=True, timeout=seconds + 60)
    if proc.returncode != 0:
        raise BenchError(f"wrk failed: {proc.stderr.strip()}")
    return parse_wrk(proc.stdout)


def build_server() -> Path:
    out = CACHE / "http" / "server.wasm"
    if out.exists() and out.stat().st_mtime >= HTTP_STATIC_SOURCE.stat().st_mtime:
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    proc = subprocess.run(["clang-14", "--target=wasm32-wasi", "-O2", str(HTTP_STATIC_SOURCE),
                           "-o", str(out)], capture_output=True, text=True)
    if proc.returncode != 0:
        raise BenchError(f"clang-14 cannot build the server: {proc.stderr.strip()[:500]}")
    return out


def make_site() -> Path:
    site = CACHE / "http" / "site"
    site.mkdir(parents=True, exist_ok=True)
    for name, size in FILES.values():
        f = site / name
        if not f.exists() or f.stat().st_size != size:
            body = (b"<!doctype html><title>wasmkiln</title><p>" * 64)[:size] \
                if name.endswith(".html") else bytes(i * 7 & 0xFF for i in range(size))
            f.write_bytes(body)
    return site


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--duration", type=float, default=10.0, help="seconds per wrk run")
    ap.add_argument("--quick", action="store_true", help="1 repetition of 3 s runs")
    args = ap.parse_args()
    if args.quick:
        args.reps, args.duration = 1, 3.0
    if shutil.which("wrk") is None:
        raise BenchError("wrk is not installed (Debian: apt-get install wrk)")

    wasm, site = build_server(), make_site()
    if shutil.which("passt") is None:
        raise BenchError("passt is not installed (Debian: apt-get install passt): the spt "
                         "runner needs it")
    images = {kind: CACHE / "http" / f"server.{kind}" for kind in ("kvm", "spt")}
    for kind, image in images.items():
        wasmkiln_build(wasm, f"x86_64-{kind}", image, ["--dir", f"{site}::/"])
    wasmtime = wasmtime_binary()
    samples: dict[str, dict[str, list[dict[str, Any]]]] = {
        r: {f: [] for f in FILES} for r in RUNNERS}
    for rep in range(args.reps):
        for runner, kind in RUNNERS.items():
            say(f"rep {rep + 1}/{args.reps}: {runner}")
            with start(kind, image=images.get(kind), wasm=wasm, site=site,
                       wasmtime=wasmtime) as srv:
                wrk(srv.port, FILES["612 B"][0], 2.0)  # warm-up: connections, caches, JIT-free
                for label, (path, _) in FILES.items():
                    r = wrk(srv.port, path, args.duration)
                    samples[runner][label].append(
                        {"rps": r.rps, "mb_per_s": r.mb_per_s, "errors": r.errors,
                         "error_kinds": r.error_kinds})
                if not srv.alive():
                    raise BenchError(f"{runner}: the server died:\n{srv.stderr()}")

    table = Table("wrk -t1 -c32 req/s, median (higher is better)",
                  ["runner", *(f"{f} req/s" for f in FILES), *(f"{f} MB/s" for f in FILES),
                   "errors", "this / wasmtime (612 B)", "this / wasmtime (64 KiB)"])
    medians: dict[str, dict[str, dict[str, float]]] = {}
    for runner in RUNNERS:
        medians[runner] = {f: {"rps": median([s["rps"] for s in samples[runner][f]]),
                               "mb_per_s": median([s["mb_per_s"] for s in samples[runner][f]])}
                           for f in FILES}
    kvm = medians["wasmkiln kvm (QEMU microvm, TCG, slirp)"]
    wt = medians["wasmtime 36 CLI (host)"]
    for runner in RUNNERS:
        m = medians[runner]
        errs = sum(s["errors"] for f in FILES for s in samples[runner][f])
        table.rows.append([runner, *(fmt(m[f]["rps"], 0) for f in FILES),
                           *(fmt(m[f]["mb_per_s"], 1) for f in FILES), str(errs),
                           *(fmt(ratio(m[f]["rps"], wt[f]["rps"]), 3) for f in FILES)])
    table.note = (f"{args.reps} repetition(s) of {args.duration:g} s per file. The kvm guest "
                  "runs under TCG, an emulator, and reaches the host through slirp: these are "
                  "not virtualization numbers. spt is native code whose frames go through "
                  "passt, a user-space TCP/IP stack, to wrk.")
    print(table.render())
    spt = medians["wasmkiln spt (process, passt)"]
    ratios = {f"{who} / wasmtime, {f}": ratio(m[f]["rps"], wt[f]["rps"])
              for who, m in (("wasmkiln kvm", kvm), ("wasmkiln spt", spt)) for f in FILES}
    data = {"machine": machine_facts(), "reps": args.reps, "duration_s": args.duration,
            "wrk": "wrk -t1 -c32", "files": {f: p for f, (p, _) in FILES.items()},
            "samples": samples, "medians": medians,
            "ratios": ratios}
    say(f"wrote {write_results('http', data)}")
    return 0


if __name__ == "__main__":
    run_script(main)
