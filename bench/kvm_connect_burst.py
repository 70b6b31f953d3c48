"""The kvm test kernel under a connect burst through QEMU's slirp: backlog 1 against widened.

    python bench/kvm_connect_burst.py [--reps N] [--busy K]

tests/test_net_kvm.py's 64-connection case (32 client threads, each connects, GETs 1000+i
bytes then 20,000), timed per connection, with QEMU's hostfwd listener as libslirp leaves it
(backlog 1) and widened to 128 by the tests' harness (widen_listen_backlog), alternating in one
run. Per run: the 64 connections' wall time, the slowest connect, the host's listen-queue
overflows and SYN retransmissions in that time (nstat: whole-host counters, so another job's
can show), or the timeout a client hit (60 s read, as the test). --busy K starts K busy loops
beside, as the host load under which CI saw ~50 s stalls. Output: a table and
bench/results/kvm_connect_burst.json (docs/network.md "slirp's listen backlog").
"""

from __future__ import annotations

import argparse
import concurrent.futures
import importlib
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import benchlib as bl

# bench/ is first on the path, and its http.py would be taken for the `http` package that
# test_net_kvm's http.client is in: load the standard library's first, without bench/.
_BENCH = sys.path.pop(0)
importlib.import_module("http.client")
sys.path.insert(0, _BENCH)
sys.path.insert(0, str(bl.REPO / "tests"))
import test_net_kvm as netkvm  # noqa: E402

COUNTERS = ("TcpExtListenOverflows", "TcpExtTCPSynRetrans")


def counters() -> dict[str, int]:
    out = subprocess.run(
        ["nstat", "-az", *COUNTERS], capture_output=True, text=True, check=False
    ).stdout
    return {f[0]: int(f[1]) for f in (line.split() for line in out.splitlines()) if len(f) > 1}


def burst(image: Path, widen: bool) -> dict[str, Any]:
    with (
        tempfile.TemporaryDirectory() as d,
        netkvm.Guest(image, Path(d), f"arg=net_kvm_test arg=120 {netkvm.STATIC}") as g,
    ):
        g.wait_line(r"listening port 80")
        if widen and (err := g.widen_backlog()):
            raise bl.BenchError(f"cannot widen slirp's backlog: {err}")

        def one(i: int) -> float:
            c = g.connect()
            try:
                t0 = time.perf_counter()
                c.connect()
                took = time.perf_counter() - t0
                netkvm.fetch(c, 1000 + i)
                netkvm.fetch(c, 20000)
            finally:
                c.close()
            return took

        before, t0 = counters(), time.perf_counter()
        row: dict[str, Any] = {"backlog": netkvm.LISTEN_BACKLOG if widen else 1}
        try:
            with concurrent.futures.ThreadPoolExecutor(max_workers=32) as pool:
                connects = list(pool.map(one, range(64)))
            row["max_connect_s"] = max(connects)
        except TimeoutError:
            row["error"] = "read timed out (60 s)"
        row["seconds"] = time.perf_counter() - t0
        after = counters()
        row.update({k: after[k] - before[k] for k in COUNTERS if k in after and k in before})
        g.stop()
        return row


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=10)
    ap.add_argument("--busy", type=int, default=3, help="busy loops beside (default 3)")
    args = ap.parse_args()
    if reason := netkvm.skip_reason():
        raise bl.BenchError(reason)
    with tempfile.TemporaryDirectory() as d:
        bl.say("building the test kernel")
        image = netkvm.build(Path(d))
        busy = [subprocess.Popen(["sh", "-c", "while :; do :; done"]) for _ in range(args.busy)]
        runs: list[dict[str, Any]] = []
        try:
            for rep in range(args.reps):
                for widen in (False, True):
                    row = burst(image, widen) | {"rep": rep}
                    bl.say(f"{row}")
                    runs.append(row)
        finally:
            for p in busy:
                p.kill()
                p.wait()
    table = bl.Table(
        f"64 connections, 32 at once, through slirp ({args.reps} runs each, {args.busy} busy "
        "loops beside; medians, [lowest-highest])",
        ["listener backlog", "wall s", "slowest connect s", "listen overflows", "timeouts"],
    )
    for backlog in (1, netkvm.LISTEN_BACKLOG):
        rows = [r for r in runs if r["backlog"] == backlog]
        done = [r for r in rows if "error" not in r]

        def span(key: str, rows: list[dict[str, Any]] = done, digits: int = 2) -> str:
            xs = [float(r[key]) for r in rows if key in r]
            if not xs:
                return "-"
            low, high = bl.fmt(min(xs), digits), bl.fmt(max(xs), digits)
            return f"{bl.fmt(bl.median(xs), digits)} [{low}-{high}]"

        table.rows.append(
            [
                str(backlog),
                span("seconds", rows),
                span("max_connect_s"),
                span("TcpExtListenOverflows", rows, 0),
                str(len(rows) - len(done)),
            ]
        )
    print(table.render())
    path = bl.write_results(
        "kvm_connect_burst",
        {"machine": bl.machine_facts(), "busy_loops": args.busy, "runs": runs},
    )
    bl.say(f"wrote {path}")
    return 0


if __name__ == "__main__":
    bl.run_script(main)
