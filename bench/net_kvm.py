"""The kvm NIC's back ends and idle waits: examples/http-static on x86_64-kvm (QEMU TCG).

    python bench/net_kvm.py [--reps N] [--duration S] [--modes MODE,...]

Modes (the server image is the same; what changes is how `wasmkiln run` starts QEMU):
- halt/passt, halt/slirp: the defaults (microvm, acpi=off: the guest knows its NIC's IRQ and
  halts when idle), with `--net-backend passt` or `slirp`;
- spin/passt, spin/slirp: microvm with ACPI on: QEMU then names no virtio-mmio device on the
  command line, the guest finds its NIC by probing, knows no IRQ and spins when idle, as every
  kvm guest did before idle halting (QEMU's command is patched in-process for this);
- q35/passt: `--machine q35`, virtio-pci with MSI-X.
For each, per repetition: QEMU's host CPU while the server idles for 5 s (utime + stime from
/proc), then `wrk -t1 -c32 -dS` on the 612-byte page after a 2 s warm-up, then a burst of 64
clients connecting at once (one GET each, 20 s timeout): how many failed and the slowest.
Medians of the repetitions. Output: a table and bench/results/net_kvm.json.
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from benchlib import (
    CACHE,
    REPO,
    BenchError,
    Table,
    fmt,
    http_bench,
    machine_facts,
    median,
    run_script,
    say,
    wasmkiln_build,
    write_results,
)

sys.path.insert(0, str(REPO / "tests"))
from http_guests import free_port, launch  # noqa: E402

bench_http = http_bench()

# The `spin` modes: `wasmkiln run` with microvm's ACPI left on (see the docstring).
SPIN_RUNNER = """\
import sys
from wasmkiln.pyhook.cli import main as cli
from wasmkiln.pyhook.run import runner
command = runner.qemu_command
runner.qemu_command = lambda *a, **k: [x.replace(",acpi=off", "") for x in command(*a, **k)]
sys.exit(cli.main(sys.argv[1:]))
"""
MODES = {
    "halt/passt": ("halt", "passt", "microvm"),
    "halt/slirp": ("halt", "slirp", "microvm"),
    "spin/passt": ("spin", "passt", "microvm"),
    "spin/slirp": ("spin", "slirp", "microvm"),
    "q35/passt": ("halt", "passt", "q35"),
}


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def burst(port: int, clients: int = 64) -> tuple[int, float]:
    """`clients` GETs connecting at once: (failures, slowest seconds)."""
    times: list[float] = []
    fails: list[str] = []
    gate = threading.Barrier(clients)

    def one() -> None:
        gate.wait()
        t0 = time.perf_counter()
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=20) as s:
                s.sendall(b"GET /index.html HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                data = b""
                while chunk := s.recv(65536):
                    data += chunk
            if not data.startswith(b"HTTP/1.1 200"):
                raise OSError(f"answer {data[:20]!r}")
            times.append(time.perf_counter() - t0)
        except OSError as e:
            fails.append(repr(e))

    threads = [threading.Thread(target=one) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return len(fails), max(times, default=float("nan"))


def measure(mode: str, image: Path, spin_runner: Path, seconds: float) -> dict[str, Any]:
    how, backend, machine = MODES[mode]
    port = free_port()
    pre = (
        [sys.executable, str(spin_runner)]
        if how == "spin"
        else [sys.executable, "-m", "wasmkiln.pyhook.cli.main"]
    )
    cmd = [
        *pre,
        "run",
        "--accel",
        "tcg",
        "--machine",
        machine,
        "--net-backend",
        backend,
        "-p",
        f"127.0.0.1:{port}:80",
        str(image),
    ]
    with launch(cmd, "kvm", port) as srv:
        kids = subprocess.run(
            ["pgrep", "-P", str(srv.proc.pid), "qemu"], capture_output=True, text=True
        ).stdout.split()
        if not kids:
            raise BenchError(f"{mode}: no QEMU child")
        qemu = int(kids[0])
        time.sleep(1)
        c0, t0 = cpu_seconds(qemu), time.monotonic()
        time.sleep(5)
        idle = (cpu_seconds(qemu) - c0) / (time.monotonic() - t0)
        burst(port)  # warm-up: TCG translates the accept paths, TIME_WAITs exist from now on
        bench_http.wrk(("127.0.0.1", port), "index.html", 2.0)
        r = bench_http.wrk(("127.0.0.1", port), "index.html", seconds)
        fails, slowest = burst(port)
        if not srv.alive():
            raise BenchError(f"{mode}: the server died:\n{srv.stderr()}")
    return {
        "idle_cpu": idle,
        "rps": r.rps,
        "wrk_errors": r.errors,
        "burst_failures": fails,
        "burst_slowest_s": slowest,
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--duration", type=float, default=10.0, help="seconds per wrk run")
    ap.add_argument(
        "--modes", default=",".join(MODES), help="comma-separated, of: " + ", ".join(MODES)
    )
    args = ap.parse_args()
    modes = args.modes.split(",")
    for m in modes:
        if m not in MODES:
            raise BenchError(f"unknown mode {m!r} (choose from {', '.join(MODES)})")
    wasm, site = bench_http.build_server(), bench_http.make_site()
    image = CACHE / "http" / "server.kvm"
    wasmkiln_build(wasm, "x86_64-kvm", image, ["--dir", f"{site}::/"])
    spin_runner = CACHE / "net_kvm_spin_runner.py"
    spin_runner.write_text(SPIN_RUNNER)
    samples: dict[str, list[dict[str, Any]]] = {m: [] for m in modes}
    for rep in range(args.reps):
        for m in modes:
            say(f"rep {rep + 1}/{args.reps}: {m}")
            samples[m].append(measure(m, image, spin_runner, args.duration))
            say(f"  {samples[m][-1]}")
    table = Table(
        "kvm NIC: idle host CPU, wrk -t1 -c32 on 612 B, 64 connects at once (medians)",
        ["mode", "idle QEMU CPU %", "req/s", "wrk errors", "burst failures", "burst slowest s"],
    )
    medians = {}
    for m in modes:
        s = samples[m]
        med = {k: median([x[k] for x in s]) for k in s[0]}
        medians[m] = med
        table.rows.append(
            [
                m,
                fmt(100 * med["idle_cpu"], 1),
                fmt(med["rps"], 0),
                str(sum(x["wrk_errors"] for x in s)),
                str(sum(x["burst_failures"] for x in s)),
                fmt(med["burst_slowest_s"], 2),
            ]
        )
    table.note = (
        f"{args.reps} repetition(s), {args.duration:g} s wrk runs, QEMU TCG: not "
        "virtualization numbers. Errors and failures are totals over the repetitions."
    )
    print(table.render())
    path = write_results(
        "net_kvm",
        {
            "machine": machine_facts(),
            "reps": args.reps,
            "duration_s": args.duration,
            "samples": samples,
            "medians": medians,
        },
    )
    say(f"wrote {path}")
    return 0


if __name__ == "__main__":
    run_script(main)
