"""How an spt server waits, and what it costs the client: one connection per request.

    python bench/spt_wait.py [--rounds N] [--duration S] [--spin US]

Why: with wrk -t1 -c32 and `Connection: close` on this 2-core machine, wrk is the bottleneck,
and what sets the rate is how much of wrk's CPU each request takes. A server that sleeps in
ppoll between requests makes wrk's connects and requests wake it (docs/performance.md "3 Dec,
night"). This script measures that in one run, rows interleaved, the order rotated each round:
- spt: examples/http-static as an x86_64-spt image on the host's sockets, started as `wasmkiln
  run -p` starts it (the listener bound here, handed over as `--net hostfd=N`), with the
  wait sleeping at once (`--net spin=0`), and with `--net spin=US` (--spin, default 50, the
  runtime's default since 3 Dec (night): ask again for up to US microseconds before sleeping);
- the ceiling: bench/native/close_server.c (a native C server doing the same accept4 / read /
  writev / close loop, one thread), sleeping at once and spinning as long;
- the peers: the wasmtime 36 CLI (`-S tcplisten`) and nginx with one worker (bench/http.py's).
Cells: 612 B with one connection per request (the case), 612 B and 1 MiB keep-alive (the spin
must not cost there). Per cell: req/s (wrk -t1 -c32), the server's CPU and voluntary context
switches per request (/proc: every thread of the server's processes), wrk's CPU per request
(getrusage of the reaped wrk). Medians over rounds; ratios with the lowest and highest
per-round ratio. Output: tables and bench/results/spt_wait.json.
"""

from __future__ import annotations

import argparse
import resource
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import benchlib as bl

sys.path.insert(0, str(bl.REPO / "tests"))
from http_guests import GUEST_PORT, command, free_port  # noqa: E402

from wasmkiln.pyhook.run.portspec import parse_forwards, spt_host_args  # noqa: E402

WORK = bl.CACHE / "spt_wait"
NATIVE_SOURCE = Path(__file__).resolve().parent / "native" / "close_server.c"
CELLS = {  # key -> (path, one connection per request)
    "612 B, close": ("index.html", True),
    "612 B, keep-alive": ("index.html", False),
    "1 MiB, keep-alive": ("1m.bin", False),
}
RATIOS = [
    ("spt-spin", "spt"),
    ("spt", "wasmtime"),
    ("spt", "nginx"),
    ("spt-spin", "wasmtime"),
    ("spt-spin", "nginx"),
    ("native-spin", "native"),
]


@dataclass(frozen=True)
class Row:
    key: str
    label: str
    cells: tuple[str, ...]  # the cells it is measured in


def build_native() -> Path:
    cc = ["cc", "-O2", "-Wall", "-Wextra", "-Werror"]
    return bl.build_if_stale(cc, NATIVE_SOURCE, WORK / "close_server")


def _tree(pid: int) -> list[int]:
    """pid and its descendants (nginx's worker, wasmtime's threads are tasks of one pid)."""
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        try:
            for task in Path(f"/proc/{p}/task").iterdir():
                todo += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            continue
    return out


def _usage(pids: list[int]) -> tuple[int, int]:
    """(CPU ns, voluntary context switches) summed over every thread of pids."""
    cpu = switches = 0
    for p in pids:
        try:
            tasks = list(Path(f"/proc/{p}/task").iterdir())
        except OSError:
            continue
        for t in tasks:
            try:
                cpu += int((t / "schedstat").read_text().split()[0])
                for line in (t / "status").read_text().splitlines():
                    if line.startswith("voluntary_ctxt_switches:"):
                        switches += int(line.split()[1])
            except OSError:
                continue
    return cpu, switches


def _answers(port: int) -> bool:
    """One GET of the small page; True on a 200."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as c:
            c.sendall(b"GET /index.html HTTP/1.1\r\nHost: b\r\nConnection: close\r\n\r\n")
            return c.recv(64).startswith(b"HTTP/1.1 200")
    except OSError:
        return False


@contextmanager
def serving(row: Row, s: dict[str, Any]) -> Iterator[tuple[int, list[int]]]:
    """Start row's server on a free port; yield (port, its pids) once a GET works."""
    h = bl.http_bench()
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="bench-spt-wait-") as tmp:
        fds: list[int] = []
        if row.key.startswith("spt"):
            lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            lsock.bind(("127.0.0.1", port))
            lsock.listen(socket.SOMAXCONN)
            fds = [lsock.fileno()]
            spin = ["--net", f"spin={s['spin_us'] if row.key == 'spt-spin' else 0}"]
            host = spt_host_args(parse_forwards([f"{port}:{GUEST_PORT}"], []), fds)
            cmd = [str(s["spt"]), "--die-with-parent", *host, *spin, "--"]
        elif row.key.startswith("native"):
            spin_us = s["spin_us"] if row.key == "native-spin" else 0
            cmd = [str(s["native"]), str(port), str(spin_us), "612"]
        elif row.key == "wasmtime":
            cmd = command("wasmtime", port, wasm=s["wasm"], site=s["site"], wasmtime=s["wasmtime"])
        else:
            conf = Path(tmp) / "nginx.conf"
            conf.write_text(h.NGINX_CONF.format(run=tmp, port=port, site=s["site"]))
            cmd = [str(s["nginx"]), "-c", str(conf), "-p", tmp]
        proc = subprocess.Popen(
            cmd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            pass_fds=fds,
        )
        for fd in fds:
            socket.socket(fileno=fd).close()  # the server holds it now
        try:
            deadline = time.monotonic() + 60
            while not _answers(port):
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise bl.BenchError(f"{row.label}: no answer on port {port}")
                time.sleep(0.1)
            yield port, _tree(proc.pid)
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def measure(port: int, pids: list[int], path: str, close: bool, seconds: float) -> dict[str, Any]:
    h = bl.http_bench()
    cpu0, sw0 = _usage(pids)
    ru0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    res = h.wrk(("127.0.0.1", port), path, seconds, close=close)
    ru1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu1, sw1 = _usage(pids)
    n = max(res.requests, 1)
    wrk_s = (ru1.ru_utime - ru0.ru_utime) + (ru1.ru_stime - ru0.ru_stime)
    return {
        "rps": res.rps,
        "errors": res.errors,
        "server_us_per_req": (cpu1 - cpu0) / 1e3 / n,
        "switches_per_req": (sw1 - sw0) / n,
        "wrk_us_per_req": wrk_s * 1e6 / n,
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=5, help="interleaved rounds (default 5)")
    ap.add_argument("--duration", type=float, default=4.0, help="seconds per wrk run")
    ap.add_argument(
        "--spin", type=int, default=50, help="the spin of the spinning rows, us (0-1000)"
    )
    ap.add_argument("--only", default="", help="comma-separated row keys")
    args = ap.parse_args()
    if not 0 <= args.spin <= 1000:
        raise bl.BenchError(f"--spin takes 0..1000 (microseconds), not {args.spin}")
    h = bl.http_bench()
    wasm, site = h.build_server(), h.make_site()
    WORK.mkdir(parents=True, exist_ok=True)
    spt = WORK / "server.spt"
    bl.wasmkiln_build(wasm, "x86_64-spt", spt, ["--dir", f"{site}::/"])
    setup: dict[str, Any] = {
        "spt": spt,
        "wasm": wasm,
        "site": site,
        "native": build_native(),
        "wasmtime": bl.wasmtime_binary(),
        "nginx": h.nginx_binary(),
        "spin_us": args.spin,
    }
    every = tuple(CELLS)
    rows = [
        Row("spt", "wasmkiln spt, host sockets, --net spin=0 (sleeps at once)", every),
        Row("spt-spin", f"wasmkiln spt, host sockets, --net spin={args.spin} (default 50)", every),
        Row("wasmtime", "wasmtime 36 CLI (host)", every),
        Row("nginx", "nginx 1 worker (host)", every),
        Row("native", "native C, same loop, sleeps at once (ceiling)", ("612 B, close",)),
        Row(
            "native-spin", f"native C, same loop, spin {args.spin} us (ceiling)", ("612 B, close",)
        ),
    ]
    rows = bl.pick_rows(rows, args.only)
    samples: dict[str, dict[str, list[dict[str, Any]]]] = {
        r.key: {c: [] for c in r.cells} for r in rows
    }
    loads = []
    for rnd in range(args.rounds):
        order = rows[rnd % len(rows) :] + rows[: rnd % len(rows)]
        for row in order:
            bl.say(f"round {rnd + 1}/{args.rounds}: {row.label}")
            with serving(row, setup) as (port, pids):
                h.wrk(("127.0.0.1", port), "index.html", 1.0)  # warm-up
                for cell in row.cells:
                    path, close = CELLS[cell]
                    loads.append(float(Path("/proc/loadavg").read_text().split()[0]))
                    m = measure(port, pids, path, close, args.duration)
                    m["round"] = rnd
                    samples[row.key][cell].append(m)

    keys = ("rps", "server_us_per_req", "switches_per_req", "wrk_us_per_req")
    medians = {
        r: {c: {k: bl.median([x[k] for x in xs]) for k in keys} for c, xs in cells.items()}
        for r, cells in samples.items()
    }
    labels = {r.key: r.label for r in rows}
    note = (
        f"{args.rounds} rounds x {args.duration:g} s, rows interleaved (order rotated), "
        f"load average {min(loads):.1f}-{max(loads):.1f} during the runs; medians."
    )
    for cell in CELLS:
        t = bl.Table(
            f"wrk -t1 -c32, {cell}",
            ["row", "req/s", "server CPU us/req", "server sleeps/req", "wrk CPU us/req", "errors"],
            note=note,
        )
        for key, cells in medians.items():
            if cell not in cells:
                continue
            m = cells[cell]
            errors = sum(x["errors"] for x in samples[key][cell])
            t.rows.append(
                [
                    labels[key],
                    bl.fmt(m["rps"], 0),
                    bl.fmt(m["server_us_per_req"]),
                    bl.fmt(m["switches_per_req"], 3),
                    bl.fmt(m["wrk_us_per_req"]),
                    str(errors),
                ]
            )
        print(t.render())
    ratios: dict[str, Any] = {}
    rt = bl.Table("req/s ratios, median (lowest-highest per round)", ["ratio", *CELLS], note=note)
    for a, b in RATIOS:
        if a not in samples or b not in samples:
            continue
        line = [f"{a} / {b}"]
        for cell in CELLS:
            xa, xb = samples[a].get(cell), samples[b].get(cell)
            if not xa or not xb:
                line.append("-")
                continue
            per = [x["rps"] / y["rps"] for x, y in zip(xa, xb, strict=True) if y["rps"] > 0]
            if not per:
                line.append("-")
                continue
            ratios[f"{a} / {b}, {cell}"] = {
                "median": bl.median(per),
                "low": min(per),
                "high": max(per),
            }
            line.append(f"{bl.median(per):.2f} ({min(per):.2f}-{max(per):.2f})")
        rt.rows.append(line)
    if rt.rows:
        print(rt.render())
    out = bl.write_results(
        "spt_wait",
        {
            "machine": bl.machine_facts(),
            "rounds": args.rounds,
            "duration_s": args.duration,
            "native_spin_us": args.spin,
            "load_average": [min(loads), max(loads)],
            "labels": labels,
            "samples": samples,
            "medians": medians,
            "ratios": ratios,
        },
    )
    bl.say(f"wrote {out}")
    return 0


if __name__ == "__main__":
    bl.run_script(main)
