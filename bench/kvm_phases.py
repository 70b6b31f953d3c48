"""Where the kvm image's first HTTP response goes, phase by phase (issue 13).

    pip install -e . -Ccmake.define.WK_BOOT_MARKS=ON     # a runtime that prints the marks
    python bench/kvm_phases.py [--reps N] [--memory MB] [--launch runner|previous|slirp]

examples/http-static (bench/http.py's server and site) on x86_64-kvm, launched as
bench/kvm_first_response.py does (the runner's way, or --launch's), with the guest's
stderr on a pipe that a thread reads: each "wasmkiln-mark NAME" line (wk/bootmark.h: guest
entry, wk_main, the NIC up, lwIP up, the address, listening, the handshake of the first
connection, its accept, the first send) and the server's "serving" line is stamped with
the host's clock when it arrives, and with the CPU time QEMU's threads have used by then
(schedstat). Host-side instants: passt started and listening, QEMU let go (its RESUME
event), the first 200. Per phase: the median, over the launches, of the wall time since
the previous phase and of QEMU's CPU time in it. On a loaded machine the wall times grow,
the CPU times much less: read the CPU column for where the work is.

Output: a table and bench/results/kvm_phases.json.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import benchlib as bl
import first_response
from kvm_first_response import WORK, cpu_ms, time_wait_sockets

MARK = "wasmkiln-mark "


def _qemu_cpu_ms(pid: int | None) -> float:
    return float("nan") if pid is None else cpu_ms(pid)


def one_launch(
    image: Path, accel: str, memory_mb: int, launch: str
) -> list[tuple[str, float, float]]:
    """(phase, ms since the launch, QEMU CPU ms by then, NaN where unknown), in the order
    they happened."""
    from http_guests import free_port

    port = free_port()
    events: list[tuple[str, float, float]] = []
    qemu_pid: list[int | None] = [None]

    def note(name: str) -> None:
        events.append((name, time.perf_counter(), _qemu_cpu_ms(qemu_pid[0])))

    r, w = os.pipe()

    def reader() -> None:
        buf = b""
        while chunk := os.read(r, 4096):
            now, cpu = time.perf_counter(), _qemu_cpu_ms(qemu_pid[0])
            buf += chunk
            while b"\n" in buf:
                line, buf = buf.split(b"\n", 1)
                text = line.decode(errors="replace")
                if text.startswith(MARK):
                    events.append((text[len(MARK) :], now, cpu))
                elif "serving" in text:
                    events.append(("server says serving", now, cpu))

    thread = threading.Thread(target=reader, daemon=True)
    thread.start()
    start = first_response.kvm_direct_start(
        image, accel, memory_mb, bl.http_bench().GUEST_PORT, launch, note, w
    )
    with tempfile.TemporaryDirectory(prefix="bench-kvmphases-") as tmp:
        procs: list[subprocess.Popen[bytes]] = []
        try:
            with first_response._stopping(procs):  # noqa: SLF001 - the same launch
                t0 = time.perf_counter()
                procs += start(port, Path(tmp))
                os.close(w)  # QEMU has its copies: the reader sees the end when it ends
                w = -1
                qemu_pid[0] = procs[-1].pid
                note("QEMU running" if launch == "slirp" else "QEMU let go")
                serving = False
                while not first_response._answered(port, "index.html", 5.0 if serving else 0.005):  # noqa: SLF001
                    serving = any(e[0] == "server says serving" for e in events)
                    if procs[-1].poll() is not None or time.perf_counter() - t0 > 60:
                        raise bl.BenchError(f"no answer ({launch}): {[e[0] for e in events]}")
                    time.sleep(0.0005)
                note("first 200")
        finally:
            if w >= 0:
                os.close(w)
            thread.join(2)  # QEMU is gone: the pipe's last write end is closed
            os.close(r)
    events.sort(key=lambda e: e[1])
    return [(name, (t - t0) * 1000.0, cpu) for name, t, cpu in events]


def main() -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--reps", type=int, default=15, help="launches (default 15)")
    ap.add_argument("--memory", type=int, default=128, help="guest MiB (the runner's default)")
    ap.add_argument("--launch", default="runner", choices=first_response.KVM_LAUNCHES)
    args = ap.parse_args()
    from wasmkiln.pyhook.run import runner

    h = bl.http_bench()
    wasm, site = h.build_server(), h.make_site()
    image = WORK / "server-marks.kvm"
    bl.wasmkiln_build(wasm, "x86_64-kvm", image, ["--dir", f"{site}::/"])
    if MARK.encode() not in image.read_bytes():
        raise bl.BenchError(
            "the runtime prints no phase marks: configure it with WK_BOOT_MARKS=ON "
            "(pip install -e . -Ccmake.define.WK_BOOT_MARKS=ON), then run this again"
        )
    accel = "kvm" if runner.kvm_usable() else "tcg"
    load_before, tw_before = os.getloadavg(), time_wait_sockets()
    runs = []
    for rep in range(args.reps):
        runs.append(one_launch(image, accel, args.memory, args.launch))
        bl.say(f"launch {rep + 1}: " + ", ".join(f"{n} {t:.1f}" for n, t, _ in runs[-1]))
    load_after, tw_after = os.getloadavg(), time_wait_sockets()
    order = [name for name, _, _ in runs[0]]  # phases in the order of the first launch
    rows: list[dict[str, Any]] = []
    for i, name in enumerate(order):
        wall, since, cpu = [], [], []
        for run in runs:
            at = {n: (t, c) for n, t, c in run}
            if name not in at:
                continue
            wall.append(at[name][0])
            if i > 0 and order[i - 1] in at:
                since.append(at[name][0] - at[order[i - 1]][0])
            # QEMU's CPU since the last phase that knew it (0 before QEMU's start): the
            # host-side phases (passt's) have none.
            known = [at[n][1] for n in order[:i] if n in at and at[n][1] == at[n][1]]
            if at[name][1] == at[name][1]:  # not NaN
                cpu.append(at[name][1] - (known[-1] if known else 0.0))
        rows.append(
            {
                "phase": name,
                "launches": len(wall),
                "ms_from_launch": bl.median(wall),
                "ms_since_previous": bl.median(since) if since else None,
                "qemu_cpu_ms_in_phase": bl.median(cpu) if cpu else None,
            }
        )
    bl.write_results(
        "kvm_phases",
        {
            "machine": bl.machine_facts(),
            "accel": accel,
            "launch": args.launch,
            "memory_mb": args.memory,
            "reps": args.reps,
            "load_before": load_before,
            "load_after": load_after,
            "time_wait_sockets": [tw_before, tw_after],
            "phases": rows,
            "samples": runs,
        },
    )
    t = bl.Table(
        f"kvm image (QEMU microvm, {accel.upper()}, {args.launch} launch): phases to the first "
        f"200, medians of {args.reps} launches; load average {load_before[0]:.2f} before, "
        f"{load_after[0]:.2f} after; TIME_WAIT sockets {tw_before} -> {tw_after}",
        ["phase", "ms from launch", "ms since the previous", "QEMU CPU ms in it"],
    )
    for row in rows:
        t.rows.append(
            [
                row["phase"],
                bl.fmt(row["ms_from_launch"]),
                bl.fmt(row["ms_since_previous"]),
                bl.fmt(row["qemu_cpu_ms_in_phase"]),
            ]
        )
    print(t.render())
    return 0


if __name__ == "__main__":
    bl.run_script(main)
