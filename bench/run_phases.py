"""Where `wasmkiln run -p server.img` spends its time before the guest runs (issue 13, kvm).

    python bench/run_phases.py [--reps N]

examples/http-static built for x86_64-kvm with its site packed (bench/cli_startup.py's image),
run as `wasmkiln run -p H:80 server.img` (the quick start, run/kvm_direct.py) and as the same
with `--accel ACCEL` (an option the quick start does not take: the full CLI and the runner),
interleaved, each under `strace -f -ttt` with a few system calls traced. The time of each event
after the command's exec, median of the runs:
- cli/entry.py loaded (its .pyc opened: Python is up);
- the image's info read (the image first opened);
- QEMU spawned (the first vfork/clone of the wasmkiln process), QEMU exec'd (the successful
  execve of qemu-system-x86_64, after setpriv's), passt exec'd;
- the QMP release sent (QEMU let go: passt listens).
Each run ends at its first HTTP 200 (a GET retried every millisecond). strace stops the
processes at each traced call, so Python's start and imports (hundreds of `openat`) read
longer than they are, and QEMU's own start far longer (the first answer, ~1 s under strace, is
left out): compare the two rows and the order of events, and take durations from
bench/cli_startup.py. Output: a table and bench/results/run_phases.json.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import tempfile
from pathlib import Path
from typing import Any

import benchlib as bl
from cli_startup import WORK, _console_script, serving

EVENTS = (
    "entry.py loaded",
    "image info read",
    "QEMU spawned",
    "QEMU exec'd",
    "passt exec'd",
    "QMP release sent",
)


def _events(trace: Path, image: Path) -> dict[str, float]:
    """EVENTS' times in ms after the traced command's exec, from strace's log."""
    lines = trace.read_text(errors="replace").splitlines()
    t0 = float(lines[0].split()[1])
    root = lines[0].split()[0]
    seen: dict[str, float] = {}
    execs: dict[str, str] = {}  # pid -> the program of its last execve

    def mark(name: str, t: float) -> None:
        seen.setdefault(name, (t - t0) * 1000.0)

    for line in lines:
        parts = line.split(None, 2)
        if len(parts) < 3:
            continue
        pid, stamp, call = parts[0], float(parts[1]), parts[2]
        if call.startswith("openat(") and "cli/__pycache__/entry." in call:
            mark("entry.py loaded", stamp)
        elif call.startswith("openat(") and str(image) in call and pid == root:
            mark("image info read", stamp)
        elif pid == root and (call.startswith("clone") or call.startswith("vfork")):
            mark("QEMU spawned", stamp)
        elif call.startswith("execve(") or call.startswith("<... execve resumed>"):
            if call.startswith("execve("):  # (its result may come on a "resumed" line)
                execs[pid] = call.split('"', 2)[1]
            if call.rstrip().endswith("= 0"):
                prog = execs.get(pid, "")
                if prog.endswith("/qemu-system-x86_64"):
                    mark("QEMU exec'd", stamp)
                elif "/passt" in prog:
                    mark("passt exec'd", stamp)
        elif "qmp_capabilities" in call:
            mark("QMP release sent", stamp)
    return seen


def _one(cmd: list[str], image: Path, port: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="wk-phases-") as tmp:
        trace = Path(tmp) / "trace"
        calls = "execve,openat,clone,clone3,vfork,sendto"
        strace = ["strace", "-f", "-ttt", "-qq", "-e", f"trace={calls}", "-o", str(trace)]
        proc = serving([*strace, *cmd], port)
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        return _events(trace, image)


def main() -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--reps", type=int, default=10, help="runs per row (default 10)")
    args = ap.parse_args()
    if shutil.which("strace") is None:
        raise bl.BenchError("strace is not installed (Debian: apt-get install strace)")
    h = bl.http_bench()
    image = WORK / "server.kvm"
    WORK.mkdir(parents=True, exist_ok=True)
    bl.wasmkiln_build(h.build_server(), "x86_64-kvm", image, ["--dir", f"{h.make_site()}::/"])
    wk = _console_script()
    accel = h.runner_choices()[0]
    from http_guests import free_port

    rows = {
        "wasmkiln run -p server.img (quick start)": [],
        f"wasmkiln run -p --accel {accel} server.img (full CLI)": ["--accel", accel],
    }
    samples: dict[str, list[dict[str, float]]] = {label: [] for label in rows}
    load_before = os.getloadavg()
    for rep in range(args.reps + 1):  # the first round untimed: .pyc files, the page cache
        for label, flags in rows.items():
            port = free_port()
            cmd = [wk, "run", *flags, "-p", f"127.0.0.1:{port}:{h.GUEST_PORT}", str(image)]
            got = _one(cmd, image, port)
            if rep:
                samples[label].append(got)
    load_after = os.getloadavg()
    medians = {
        label: {e: bl.median([s[e] for s in runs if e in s]) for e in EVENTS}
        for label, runs in samples.items()
    }
    rows_out = {
        label: {"samples_ms": samples[label], "median_ms": medians[label]} for label in rows
    }
    out: dict[str, Any] = {"rows": rows_out, "reps": args.reps, "machine": bl.machine_facts()}
    out["load_before"], out["load_after"] = load_before, load_after
    bl.write_results("run_phases", out)
    t = bl.Table(
        f"`wasmkiln run -p server.img` under strace: ms after the command's exec, median of "
        f"{args.reps}; load average (1 min) {load_before[0]:.2f} before, {load_after[0]:.2f} after",
        ["event", *rows],
    )
    for e in EVENTS:
        t.rows.append([e, *(bl.fmt(medians[label][e]) for label in rows)])
    print(t.render())
    return 0


if __name__ == "__main__":
    bl.run_script(main)
