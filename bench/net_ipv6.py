"""What the dual-stack lwIP costs: examples/http-static on x86_64-spt, the installed runtime
(LWIP_IPV6=1) against the same runtime rebuilt with -DLWIP_IPV6=0, under wrk.

    python bench/net_ipv6.py [--reps N] [--duration S]

The IPv4-only runtime is configured and built with CMake into bench/.cache/net_ipv6/build (the
spt library only) and laid out as a runtime folder for WASMKILN_RUNTIME_DIR; both images serve
the same site. Each repetition starts each server once (interleaved, benchlib's rule), warms it
with a 2 s wrk run, then measures `wrk -t1 -c32 -dS` per file. Prints medians and the ratio
dual stack / IPv4 only; writes bench/results/net_ipv6.json. docs/network.md ("IPv6") quotes a run.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from pathlib import Path

from benchlib import (
    CACHE,
    REPO,
    fmt,
    http_bench,
    median,
    run_script,
    say,
    wasmkiln_build,
    write_results,
)

sys.path.insert(0, str(REPO / "tests"))
from guest_programs import compile_c  # noqa: E402
from http_guests import HTTP_STATIC_SOURCE, start  # noqa: E402

WORK = CACHE / "net_ipv6"
FILES = {"612 B": ("index.html", 612), "64 KiB": ("64k.bin", 65536)}


def ipv4_only_runtime() -> Path:
    """A copy of the installed runtime whose spt library has lwIP without IPv6."""
    from wasmkiln.pyhook.image.runtime import runtime_dir

    build = WORK / "build"
    lwip = REPO / "build" / "lwip-src"
    subprocess.run(
        [
            "cmake",
            "-S",
            str(REPO),
            "-B",
            str(build),
            "-G",
            "Ninja",
            "-DCMAKE_BUILD_TYPE=Release",
            "-DCMAKE_C_FLAGS=-DLWIP_IPV6=0",
            f"-DLWIP_SOURCE_DIR={lwip}",
        ],
        check=True,
        capture_output=True,
    )
    subprocess.run(
        ["ninja", "-C", str(build), "wasmkiln-x86_64-spt"], check=True, capture_output=True
    )
    rt = WORK / "runtime" / "_runtime"
    shutil.rmtree(rt, ignore_errors=True)
    shutil.copytree(runtime_dir(), rt)
    shutil.copy2(build / "unikernel" / "libwasmkiln-x86_64-spt.a", rt / "x86_64-spt")
    return rt


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--duration", type=float, default=5.0)
    args = ap.parse_args()
    site = WORK / "site"
    site.mkdir(parents=True, exist_ok=True)
    for name, size in FILES.values():
        (site / name).write_bytes(os.urandom(size))
    wasm = compile_c(HTTP_STATIC_SOURCE)
    wrk = http_bench().wrk  # bench/http.py's load and parser
    say("building the IPv4-only runtime (CMake, spt only)")
    v4 = ipv4_only_runtime()
    images = {"dual stack": WORK / "server.ipv6.spt", "IPv4 only": WORK / "server.ipv4.spt"}
    wasmkiln_build(wasm, "x86_64-spt", images["dual stack"], ["--dir", f"{site}::/"])
    os.environ["WASMKILN_RUNTIME_DIR"] = str(v4)
    try:
        wasmkiln_build(wasm, "x86_64-spt", images["IPv4 only"], ["--dir", f"{site}::/"])
    finally:
        del os.environ["WASMKILN_RUNTIME_DIR"]
    samples: dict[str, dict[str, list[float]]] = {k: {f: [] for f in FILES} for k in images}
    for rep in range(args.reps):
        for key, image in images.items():
            say(f"rep {rep + 1}/{args.reps}: {key}")
            with start("spt", image=image) as srv:
                where = ("127.0.0.1", srv.port)
                wrk(where, "index.html", 2.0)  # warm-up
                for label, (name, _) in FILES.items():
                    samples[key][label].append(wrk(where, name, args.duration).rps)
    medians = {k: {f: median(v) for f, v in by.items()} for k, by in samples.items()}
    for label in FILES:
        a, b = medians["dual stack"][label], medians["IPv4 only"][label]
        print(
            f"{label:>7}: dual stack {fmt(a, 0)} req/s, IPv4 only {fmt(b, 0)} req/s, "
            f"ratio {a / b:.2f}"
        )
    path = write_results(
        "net_ipv6",
        {"samples": samples, "medians": medians, "reps": args.reps, "duration_s": args.duration},
    )
    say(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    run_script(main)
