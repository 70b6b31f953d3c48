"""First HTTP response of the kvm image under QEMU, and where its time goes (issue 13).

    python bench/kvm_first_response.py [--reps N] [--memory MB]
                                       [--compare LABEL=IMAGE[,launch=previous|slirp] ...]
                                       [--launch previous|slirp ...] [--time-wait N]

The kvm row of bench/first_response.py alone (examples/http-static with bench/http.py's site,
launched as the runner does without its Python: passt and QEMU with `qemu_command`'s argv
started together, QEMU paused until passt listens; the accelerator the runner picks: TCG
here), so a change to the guest's boot can be timed in a minute instead of boot.py's whole
run. Per launch three instants, in ms from just before passt is started: QEMU started and
let go (passt listening), the guest's
"serving" line seen in its log (polled every 0.5 ms), and the first 200 to a GET of the
612-byte page; "QEMU to 200", the last minus the first: the guest's and QEMU's share; and
"QEMU CPU to 200", the CPU time all of QEMU's threads had used when the 200 came (schedstat):
on a loaded host the wall times grow with the load, this much less. Medians of the
repetitions, the spread (min-max), and the load average, since the machine is shared.

The host's TIME_WAIT sockets are recorded too (/proc/net/sockstat "tw"): the launch before 3 Dec
(evening) looked for passt's port in /proc/net/tcp, whose read grows with them
(--launch previous times that launch as a peer row in the same run).

Rows: "this checkout" (the image this wasmkiln builds) and, with --compare LABEL=IMAGE, other
kvm images of the same server (e.g. one built by another checkout's wasmkiln: a before and an
after of a runtime change), launched interleaved (rep 1 of every row, then rep 2, ...) so a
burst of load from elsewhere lands on all of them.

Output: a table and bench/results/kvm_first_response.json (samples and medians per row).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import benchlib as bl
import first_response
from first_response import KVM_LAUNCHES

WORK = bl.CACHE / "kvm_first_response"
PHASES = ("qemu started", "guest serving", "first 200", "QEMU to 200", "QEMU CPU to 200")


def cpu_ms(pid: int) -> float:
    """CPU time of every thread of process pid so far (ms; /proc/PID/task/*/schedstat, ns):
    unlike wall time it does not grow while the host runs something else."""
    total = 0
    for stat in Path(f"/proc/{pid}/task").glob("*/schedstat"):
        try:
            total += int(stat.read_text().split()[0])
        except (OSError, ValueError, IndexError):
            pass  # a thread that ended meanwhile
    return total / 1e6


def time_wait_sockets() -> int:
    """The host's TCP sockets in TIME_WAIT (/proc/net/sockstat), -1 if unreadable."""
    try:
        for line in Path("/proc/net/sockstat").read_text().splitlines():
            fields = line.split()
            if fields[:1] == ["TCP:"] and "tw" in fields:
                return int(fields[fields.index("tw") + 1])
    except (OSError, ValueError, IndexError):
        pass
    return -1


def make_time_wait(count: int) -> None:
    """Leave ``count`` loopback TCP sockets in TIME_WAIT (each closed first by its client),
    as a connection-per-request benchmark leaves the host for a minute."""
    import socket

    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(128)
        for _ in range(count):
            with socket.create_connection(server.getsockname()):
                conn, _ = server.accept()
            conn.close()  # after the client: its end is the one left in TIME_WAIT


def time_phases(start: Any, path: str) -> list[float]:
    """One launch: ms from launch to the first three PHASES, then the span from QEMU's start
    to the 200, and the CPU time QEMU used by then (all its threads: the vCPU, the I/O)."""
    from http_guests import free_port

    port = free_port()
    with tempfile.TemporaryDirectory(prefix="bench-kvmfirst-") as tmp:
        procs: list[Any] = []
        log = Path(tmp) / "server.log"
        with first_response._stopping(procs):  # noqa: SLF001 - same launch as boot.py's
            t0 = time.perf_counter()
            procs += start(port, Path(tmp))
            started = time.perf_counter()
            serving = None
            while True:
                if serving is None and first_response._said_serving(log):  # noqa: SLF001
                    serving = time.perf_counter()
                timeout = 5.0 if serving is not None else 0.005
                if first_response._answered(port, path, timeout):  # noqa: SLF001
                    break
                if any(p.poll() is not None for p in procs) or time.perf_counter() - t0 > 60:
                    raise bl.BenchError(f"no answer: {log.read_text(errors='replace')[-500:]}")
                time.sleep(0.0005)
            done = time.perf_counter()
            cpu = cpu_ms(procs[-1].pid)  # QEMU: the last process started
            serving = done if serving is None else serving
    return [
        *((t - t0) * 1000.0 for t in (started, serving, done)),
        (done - started) * 1000.0,
        cpu,
    ]


def main() -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--reps", type=int, default=15, help="launches per row (default 15)")
    ap.add_argument("--memory", type=int, default=128, help="guest MiB (the runner's default)")
    ap.add_argument(
        "--compare",
        action="append",
        default=[],
        metavar="LABEL=IMAGE",
        help="another kvm image of the server to time in the same run (,launch=previous|slirp:"
        " launched that way)",
    )
    ap.add_argument(
        "--launch",
        action="append",
        default=[],
        choices=first_response.KVM_LAUNCHES[1:],
        help="add this checkout's image launched another way as a row: previous (the runner's"
        " way before 3 Dec evening: passt first, its port looked for in /proc/net/tcp), slirp"
        " (QEMU's own user network instead of passt)",
    )
    ap.add_argument(
        "--time-wait",
        type=int,
        default=0,
        metavar="N",
        help="first leave N loopback sockets in TIME_WAIT (the host after a connection-per-"
        "request benchmark; they last 60 s, so keep the run shorter)",
    )
    args = ap.parse_args()
    from wasmkiln.pyhook.run import runner

    h = bl.http_bench()
    wasm, site = h.build_server(), h.make_site()
    image = WORK / "server.kvm"
    bl.wasmkiln_build(wasm, "x86_64-kvm", image, ["--dir", f"{site}::/"])
    images = {"this checkout": image}
    launches = {"this checkout": "runner"}
    for spec in args.compare:
        label, sep, path = spec.partition("=")
        path, _, launch = path.partition(",launch=")
        if not sep or not Path(path).is_file() or (launch or "runner") not in KVM_LAUNCHES:
            raise bl.BenchError(
                f"--compare {spec!r}: want LABEL=IMAGE[,launch=previous|slirp] with an existing "
                "image"
            )
        images[label], launches[label] = Path(path), launch or "runner"
    accel = "kvm" if runner.kvm_usable() else "tcg"
    starts = {
        label: first_response.kvm_direct_start(
            img, accel, args.memory, h.GUEST_PORT, launches[label]
        )
        for label, img in images.items()
    }
    for launch in args.launch:
        label = f"this checkout, {launch} launch"
        images[label] = image
        starts[label] = first_response.kvm_direct_start(
            image, accel, args.memory, h.GUEST_PORT, launch
        )
    if args.time_wait > 0:
        make_time_wait(args.time_wait)
    load_before, tw_before = os.getloadavg(), time_wait_sockets()
    samples: dict[str, list[list[float]]] = {label: [] for label in images}
    for rep in range(args.reps):
        for label, start in starts.items():
            samples[label].append(time_phases(start, "index.html"))
            row = ", ".join(f"{n} {v:.1f}" for n, v in zip(PHASES, samples[label][-1], strict=True))
            bl.say(f"rep {rep + 1}, {label}: {row}")
    load_after, tw_after = os.getloadavg(), time_wait_sockets()
    runs: dict[str, Any] = {}
    for label, rows in samples.items():
        cols = list(zip(*rows, strict=True))
        runs[label] = {
            "image": str(images[label]),
            "image_bytes": images[label].stat().st_size,
            "samples_ms": {n: list(c) for n, c in zip(PHASES, cols, strict=True)},
            "medians_ms": {n: bl.median(c) for n, c in zip(PHASES, cols, strict=True)},
        }
    bl.write_results(
        "kvm_first_response",
        {
            "machine": bl.machine_facts(),
            "accel": accel,
            "memory_mb": args.memory,
            "reps": args.reps,
            "load_before": load_before,
            "load_after": load_after,
            "time_wait_sockets": [tw_before, tw_after],
            "runs": runs,
        },
    )
    t = bl.Table(
        f"kvm image (QEMU microvm, {accel.upper()}, -m {args.memory}): ms from launch, median "
        f"(min-max) of {args.reps} launches, lower is better; load average (1 min) "
        f"{load_before[0]:.2f} before, {load_after[0]:.2f} after; host TCP sockets in TIME_WAIT "
        f"{tw_before} before, {tw_after} after",
        ["image", *PHASES],
    )
    for label, r in runs.items():
        t.rows.append(
            [
                label,
                *(
                    f"{bl.fmt(r['medians_ms'][n])} ({bl.fmt(min(r['samples_ms'][n]))}-"
                    f"{bl.fmt(max(r['samples_ms'][n]))})"
                    for n in PHASES
                ),
            ]
        )
    print(t.render())
    return 0


if __name__ == "__main__":
    bl.run_script(main)
