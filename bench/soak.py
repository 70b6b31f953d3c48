"""Soak: examples/http-static under wrk -c200 for minutes, on spt and kvm, in both connection modes.

    python bench/soak.py [--quick] [--minutes M] [--only spt,kvm] [--modes keep-alive,close]

For each runner (wasmkiln x86_64-spt through `wasmkiln run -p`, on the host's own sockets, its
default; x86_64-kvm under QEMU microvm, TCG here, on its default NIC back end, slirp with the
runner's listen backlog, or `--kvm-net-backend passt`) and each connection mode ("keep-alive";
"close": wrk -H "Connection: close", one TCP connection per request), a fresh server
(bench/http.py's server.wasm and site, the image with the site packed) is started and loaded
with `wrk -t1 -c200` on its 612-byte page for 10 minutes (--quick: 30 s), as back-to-back wrk
runs of one minute each (--quick: 10 s), so req/s and errors come per interval. Then:
- errors by kind, summed over the intervals: wrk's socket errors (connect, read, write,
  timeout; a body cut short is a read error) and non-2xx answers;
- memory at the start (after a 2 s warm-up at the same load, so buffers sized by the load are
  already there, and 5 s idle), after every interval, and at the end (5 s idle after the load):
  - spt: the guest process's RSS (/proc/PID/status VmRSS); kvm: QEMU's RSS (the guest's
    touched RAM plus QEMU's own, TCG's code cache included); and passt's RSS;
  - both: the guest kernel heap's own figures (core/alloc_core.c's heap_state), read from the
    running guest's memory (spt: /proc/PID/mem at the symbol's address; kvm: QEMU's mapping of
    guest RAM, the image being identity-mapped): the bytes in allocated blocks without linear
    memory's pages, which kvm takes from the same heap ("kernel heap": lwIP, sockets, files;
    the leak test), its high-water mark ("claimed", never given back), and on kvm the bytes
    of linear memory taken from it (grows to the server's own malloc high-water and never
    shrinks, as Wasm has it). Needs root (ptrace access); "-" when it cannot be read.
- whether the guest still answers afterwards: a GET of each file of the site on a new
  connection must give 200 and the whole body.
Targets (issue 13): 0 socket errors, 0 non-2xx, guest memory at the end within 1 MiB of the
start (judged on the kernel heap when it was read, else on the RSS), still answering. When wrk
cannot go on (the published port refuses connections), the run is recorded as stopped, with the
interval, whether the server still runs and the end of its output, and the other runs go on.

Output: two tables, bench/results/soak.json (every interval's wrk figures and memory samples,
and "verdict" per run) and bench/results/soak.png (req/s per interval).
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import struct
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
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
    publish,
    run_script,
    say,
    wasmkiln_build,
)

sys.path.insert(0, str(REPO / "tests"))
from http_guests import Server, run_wrk, start, wrk_command  # noqa: E402

MODES = {"keep-alive": False, "close": True}  # mode -> run_wrk's close=
RUNNERS = ("spt", "kvm")
CONNECTIONS = 200
PAGE = "index.html"  # bench/http.py's 612-byte page: the most requests, the most connections
MIB = 1 << 20
SETTLE_S = 5.0  # idle seconds before the start and the end memory samples (connections close)
WORK = CACHE / "soak"


# ---- memory: RSS, and the guest kernel heap read from the running guest -----------------------
def _children() -> dict[int, list[int]]:
    kids: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])  # the name may hold spaces
        kids.setdefault(ppid, []).append(int(entry.name))
    return kids


def descendants(pid: int) -> list[int]:
    kids, found, todo = _children(), [], [pid]
    while todo:
        p = todo.pop()
        found.append(p)
        todo.extend(kids.get(p, []))
    return found


def _comm(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""


def _exe(pid: int) -> str:
    try:
        return os.readlink(f"/proc/{pid}/exe")
    except OSError:
        return ""


def rss_bytes(pid: int | None) -> int | None:
    if pid is None:
        return None
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


@dataclass(frozen=True)
class HeapSymbol:
    """Where core/alloc_core.c's `heap_state` lives in the image, and its size (nm -S)."""

    address: int
    size: int


def image_symbol(image: Path, name: str) -> HeapSymbol | None:
    """A data symbol of the image (images keep their symbol table: only DWARF is stripped)."""
    proc = subprocess.run(["nm", "-S", str(image)], capture_output=True, text=True)
    for line in proc.stdout.splitlines():
        parts = line.split()
        if len(parts) == 4 and parts[3] == name:
            return HeapSymbol(int(parts[0], 16), int(parts[1], 16))
    return None


def parse_heap(raw: bytes) -> dict[str, int] | None:
    """heap_state's bytes -> {in_use, claimed}. The layout (alloc_core.c's `kmem`, x86-64):
    floor, mem, base, low (u64 at 24), order_max (u32 at 32), ..., in_use (the last u64).
    None when the bytes are no plausible heap (not set up, or the wrong memory)."""
    if len(raw) < 48:
        return None
    low, order_max = struct.unpack_from("<QI", raw, 24)
    (in_use,) = struct.unpack_from("<Q", raw, len(raw) - 8)
    if not 16 <= order_max <= 32 or low > 1 << order_max or in_use > 1 << order_max:
        return None
    return {"in_use": in_use, "claimed": (1 << order_max) - low}


def _read_mem(pid: int, address: int, size: int) -> bytes | None:
    try:
        with open(f"/proc/{pid}/mem", "rb", buffering=0) as f:
            f.seek(address)
            return f.read(size)
    except (OSError, OverflowError, ValueError):
        return None


def _qemu_ram_bases(pid: int, memory_bytes: int) -> list[int]:
    """Candidate host addresses of QEMU's guest RAM: anonymous mappings at least the guest's
    memory in size (QEMU maps RAM with some alignment slack), smallest first."""
    found: list[tuple[int, int]] = []
    try:
        maps = Path(f"/proc/{pid}/maps").read_text().splitlines()
    except OSError:
        return []
    for line in maps:
        parts = line.split()
        if len(parts) > 5 and parts[5]:  # a file or [heap]/[stack]: not RAM
            continue
        lo, hi = (int(x, 16) for x in parts[0].split("-"))
        if "rw" in parts[1] and hi - lo >= memory_bytes:
            found.append((hi - lo, lo))
    return [lo for _, lo in sorted(found)]


@dataclass
class Guest:
    """The processes of one running server, found under the `wasmkiln run` process."""

    runner: str
    image: Path
    memory_bytes: int
    pid: int | None = None  # spt: the guest process; kvm: QEMU
    helper: int | None = None  # passt
    heap: HeapSymbol | None = None
    committed: HeapSymbol | None = None  # kvm: linear memory's bytes from the kernel heap
    ram_base: int | None = None  # kvm: where QEMU maps guest RAM (found once)

    def find(self, server: Server) -> None:
        image = str(self.image.resolve())
        for pid in descendants(server.proc.pid):
            comm = _comm(pid)
            if self.runner == "spt" and _exe(pid) == image:
                self.pid = pid
            elif self.runner == "kvm" and comm.startswith("qemu-system"):
                self.pid = pid
            elif comm.startswith("passt"):
                self.helper = pid
        self.heap = image_symbol(self.image, "heap_state")
        if self.runner == "kvm":
            self.committed = image_symbol(self.image, "linear_committed")

    def read_heap(self) -> dict[str, int | None] | None:
        """The kernel heap's figures. On kvm, linear memory's pages come from the kernel heap
        (platform/kvm/memory_kvm.c, which counts them in `linear_committed`), so they are taken
        out of `kernel`; on spt linear memory is a reservation of its own (`kernel` = in_use)."""
        if self.pid is None or self.heap is None:
            return None
        bases = (
            [0]
            if self.runner == "spt"
            else [self.ram_base]
            if self.ram_base is not None
            else _qemu_ram_bases(self.pid, self.memory_bytes)
        )
        for base in bases:
            assert base is not None
            raw = _read_mem(self.pid, base + self.heap.address, self.heap.size)
            heap = parse_heap(raw) if raw else None
            if heap is None or heap["claimed"] == 0:
                continue
            self.ram_base = base
            linear: int | None = None
            if self.committed is not None:
                raw = _read_mem(self.pid, base + self.committed.address, 8)
                linear = struct.unpack("<Q", raw)[0] if raw and len(raw) == 8 else None
            return {**heap, "linear": linear, "kernel": heap["in_use"] - (linear or 0)}
        return None

    def sample(self, label: str) -> dict[str, Any]:
        heap = self.read_heap() or {}
        return {
            "at": label,
            "guest_rss": rss_bytes(self.pid),
            "helper_rss": rss_bytes(self.helper),
            "heap_in_use": heap.get("in_use"),
            "heap_claimed": heap.get("claimed"),
            "kernel_heap": heap.get("kernel"),
            "linear_memory": heap.get("linear"),
        }


# ---- the run ----------------------------------------------------------------------------------
def get_whole(where: tuple[str, int], path: str, want: bytes, timeout: float = 30) -> str:
    """One GET on a new connection; "" when it gave 200 and exactly `want`, else what went
    wrong. (A raw socket: bench/http.py's name hides the standard library's http here.)"""
    try:
        with socket.create_connection(where, timeout=timeout) as c:
            c.sendall(f"GET /{path} HTTP/1.1\r\nHost: soak\r\nConnection: close\r\n\r\n".encode())
            data = b""
            while chunk := c.recv(65536):
                data += chunk
    except OSError as e:
        return f"{path}: {e}"
    head, _, body = data.partition(b"\r\n\r\n")
    status = head.split(b"\r\n", 1)[0].decode(errors="replace")
    if not status.startswith("HTTP/1.1 200"):
        return f"{path}: {status or 'no answer'}"
    if body != want:
        return f"{path}: body of {len(body)} bytes, want {len(want)}"
    return ""


@dataclass
class SoakRun:
    runner: str
    mode: str
    intervals: list[dict[str, Any]] = field(default_factory=list)
    memory: list[dict[str, Any]] = field(default_factory=list)
    errors: dict[str, int] = field(default_factory=dict)
    answering: str = ""  # "" = still answers; else what failed
    alive: bool = True
    stopped: str = ""  # "" = the load ran its time; else why wrk could not go on

    def rps(self) -> list[float]:
        return [i["rps"] for i in self.intervals]

    def memory_delta(self) -> tuple[str, int | None]:
        """(what, end - start) of the guest memory the target is judged on."""
        first, last = self.memory[0], self.memory[-1]
        for key in ("kernel_heap", "guest_rss"):
            if first[key] is not None and last[key] is not None:
                return key, last[key] - first[key]
        return "none", None

    def verdict(self) -> dict[str, bool]:
        what, delta = self.memory_delta()
        sock = sum(v for k, v in self.errors.items() if k != "non-2xx")
        return {
            "no_socket_errors": sock == 0,
            "no_non_2xx": self.errors.get("non-2xx", 0) == 0,
            "memory_within_1mib": delta is not None and abs(delta) <= MIB,
            "still_answers": self.alive and not self.answering,
            "ran_to_the_end": not self.stopped,
        }


def soak(
    runner: str,
    mode: str,
    image: Path,
    site: Path,
    seconds: float,
    interval: float,
    memory_bytes: int,
    connections: int,
    run_flags: list[str] | None = None,
) -> SoakRun:
    run = SoakRun(runner, mode)
    close = MODES[mode]
    guest = Guest(runner, image, memory_bytes)
    timeout = 300.0 if runner == "kvm" else 60.0
    with start(runner, image=image, timeout=timeout, run_flags=run_flags or []) as server:
        where = ("127.0.0.1", server.port)
        guest.find(server)
        run_wrk(where, PAGE, 2.0, connections=connections, close=close)  # warm-up
        time.sleep(SETTLE_S)
        run.memory.append(guest.sample("start"))  # the reference: idle after the warm-up
        t0 = time.monotonic()
        n = max(1, round(seconds / interval))
        for i in range(n):
            try:
                r = run_wrk(where, PAGE, interval, connections=connections, close=close)
            except RuntimeError as e:  # recorded, with what the guest said; the other runs go on
                state = "still runs" if server.alive() else "exited"
                run.stopped = (
                    f"{e} (interval {i + 1}/{n}, after {time.monotonic() - t0:.0f} s; the "
                    f"server {state}; its stdout ends:\n{server.stdout()[-300:]}\nits "
                    f"stderr ends:\n{server.stderr()[-900:]})"
                )
                say(f"{runner} {mode}: stopped: {run.stopped}")
                break
            run.intervals.append(
                {
                    "t_s": round(time.monotonic() - t0, 1),
                    "rps": r.rps,
                    "requests": r.requests,
                    "errors": r.error_kinds,
                    "p50_ms": r.p50_ms,
                    "p99_ms": r.p99_ms,
                }
            )
            for kind, count in r.error_kinds.items():
                run.errors[kind] = run.errors.get(kind, 0) + count
            run.memory.append(guest.sample(f"after interval {i + 1}"))
            say(
                f"{runner} {mode}: interval {i + 1}/{n}: {r.rps:,.0f} req/s, "
                f"errors {r.error_kinds or 0}"
            )
        time.sleep(SETTLE_S)  # as before the start sample: the last connections close
        run.memory.append(guest.sample("end"))
        problems = [
            get_whole(where, f.name, f.read_bytes()) for f in sorted(site.iterdir()) if f.is_file()
        ]
        run.answering = "; ".join(p for p in problems if p)
        run.alive = server.alive()
        if not run.alive:
            run.answering = (
                run.answering + "; " if run.answering else ""
            ) + f"the guest exited: {server.stderr()[-300:]}"
    return run


def mib(x: int | None) -> str:
    return "-" if x is None else f"{x / MIB:.2f}"


def report(runs: list[SoakRun], seconds: float, interval: float, connections: int) -> None:
    t = Table(
        f"wrk -t1 -c{connections} on {PAGE}, {seconds:g} s per run ({interval:g} s "
        "intervals): errors, memory (MiB, start -> end), still answering",
        [
            "runner",
            "mode",
            "req/s mean",
            "req/s min",
            "connect/read/write/timeout",
            "non-2xx",
            "guest RSS",
            "passt RSS",
            "kernel heap",
            "heap claimed",
            "linear memory",
            "answers after",
            "targets met",
        ],
        text_columns=2,
    )
    for r in runs:
        rps = r.rps()
        e = r.errors
        a, b = r.memory[0], r.memory[-1]
        v = r.verdict()
        t.rows.append(
            [
                r.runner,
                r.mode,
                fmt(sum(rps) / len(rps), 0) if rps else "-",
                fmt(min(rps), 0) if rps else "-",
                "/".join(str(e.get(k, 0)) for k in ("connect", "read", "write", "timeout")),
                str(e.get("non-2xx", 0)),
                *(
                    f"{mib(a[k])} -> {mib(b[k])}"
                    for k in (
                        "guest_rss",
                        "helper_rss",
                        "kernel_heap",
                        "heap_claimed",
                        "linear_memory",
                    )
                ),
                "yes" if not r.answering and r.alive else f"NO ({r.answering[:60]})",
                "all"
                if all(v.values())
                else "missed: " + ", ".join(k for k, ok in v.items() if not ok),
            ]
        )
    t.note = (
        "guest RSS: spt's guest process, kvm's QEMU (TCG's code cache included). "
        "kernel heap: the guest kernel heap's allocated bytes, read from the running "
        "guest, without linear memory's pages (which kvm takes from it); heap claimed: "
        "its high-water mark, linear memory included on kvm; linear memory (kvm): the "
        "Wasm module's, which grows to the server's malloc high-water, never shrinks. "
        "Start = after a 2 s warm-up at the same "
        f"load, then {SETTLE_S:g} s idle; end = {SETTLE_S:g} s idle after the load. The "
        "memory target is judged on the kernel heap when read, else on the RSS."
    )
    print(t.render())
    n = max(len(r.intervals) for r in runs)
    pt = Table(
        "req/s per interval",
        ["runner", "mode", *(f"{(i + 1) * interval:g} s" for i in range(n))],
        text_columns=2,
    )
    for r in runs:
        pt.rows.append(
            [r.runner, r.mode, *(fmt(x, 0) for x in r.rps()), *([""] * (n - len(r.intervals)))]
        )
    print(pt.render())


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, default=10.0, help="load per runner and mode")
    ap.add_argument("--interval", type=float, default=60.0, help="seconds per wrk run")
    ap.add_argument("--quick", action="store_true", help="30 s per run in 10 s intervals")
    ap.add_argument("--only", default=",".join(RUNNERS), help="runners: spt,kvm")
    ap.add_argument("--modes", default=",".join(MODES), help="keep-alive,close")
    ap.add_argument(
        "--connections",
        type=int,
        default=CONNECTIONS,
        help=f"wrk's -c (default {CONNECTIONS}, the issue's)",
    )
    ap.add_argument(
        "--kvm-net-backend",
        default="auto",
        choices=("auto", "passt", "slirp"),
        help="kvm's `wasmkiln run --net-backend` (auto: slirp, the runner's default)",
    )
    args = ap.parse_args()
    seconds, interval = (30.0, 10.0) if args.quick else (args.minutes * 60, args.interval)
    runners = [r for r in args.only.split(",") if r]
    modes = [m for m in args.modes.split(",") if m]
    if set(runners) - set(RUNNERS) or set(modes) - set(MODES) or not runners or not modes:
        raise BenchError(f"--only takes {','.join(RUNNERS)}; --modes takes {','.join(MODES)}")
    tools = [("wrk", "wrk"), ("nm", "binutils"), ("qemu-system-x86_64", "qemu-system-x86")]
    if args.kvm_net_backend == "passt" and "kvm" in runners:
        tools.append(("passt", "passt"))
    for tool, pkg in tools:
        if shutil.which(tool) is None:
            raise BenchError(f"{tool} is not installed (Debian: apt-get install {pkg})")
    from wasmkiln.pyhook.run.runner import DEFAULT_MEMORY_MB

    h = http_bench()
    wasm, site = h.build_server(), h.make_site()
    images: dict[str, Path] = {}
    for runner in runners:
        images[runner] = WORK / f"server.{runner}"
        wasmkiln_build(wasm, f"x86_64-{runner}", images[runner], ["--dir", f"{site}::/"])
    if os.geteuid() != 0:
        say("not root: the guest heap cannot be read (/proc/PID/mem); RSS only")
    facts = machine_facts()
    runs = []
    for runner in runners:
        for mode in modes:
            say(f"{runner}, {mode}: {seconds:g} s of wrk -c{args.connections}")
            try:
                runs.append(
                    soak(
                        runner,
                        mode,
                        images[runner],
                        site,
                        seconds,
                        interval,
                        DEFAULT_MEMORY_MB * MIB,
                        args.connections,
                        ["--net-backend", args.kvm_net_backend] if runner == "kvm" else None,
                    )
                )
            except RuntimeError as e:  # the guest did not start, or wrk failed
                raise BenchError(f"{runner} {mode}: {str(e)[-1500:]}") from None
    report(runs, seconds, interval, args.connections)
    n = max(len(r.intervals) for r in runs)
    data: dict[str, Any] = {
        "script": "soak",
        "quick": args.quick,
        "machine": facts,
        "loadavg_end": os.getloadavg()[0],
        "seconds": seconds,
        "interval_s": interval,
        "connections": args.connections,
        "kvm_net_backend": args.kvm_net_backend,
        "page": PAGE,
        "settle_s": SETTLE_S,
        "wrk": " ".join(wrk_command(("HOST", 0), PAGE, interval, connections=args.connections)),
        "modes": {m: "-H 'Connection: close'" if c else "" for m, c in MODES.items()},
        "runs": {
            f"{r.runner}, {r.mode}": {
                **asdict(r),
                "verdict": r.verdict(),
                "memory_judged_on": r.memory_delta()[0],
                "memory_delta": r.memory_delta()[1],
            }
            for r in runs
        },
        "chart": {
            "title": f"http-static under wrk -t1 -c{args.connections}: req/s per "
            f"{interval:g} s interval",
            "ylabel": "requests/s",
            "log": False,
            "reference": None,
            "groups": [f"{(i + 1) * interval:g} s" for i in range(n)],
            "series": {
                f"{r.runner}, {r.mode}": [round(x, 1) for x in r.rps()]
                + [None] * (n - len(r.intervals))
                for r in runs
            },
        },
    }
    publish("soak", data)
    return 0


if __name__ == "__main__":
    run_script(main)
