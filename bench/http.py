"""HTTP benchmark: examples/http-static under wrk, on every runner, in the same run.

    python bench/http.py [--quick] [--reps N] [--duration S] [--only ROW,...] [--pin on|off|L,S]

The same server.wasm (clang-14 -O2) serves three files from a preopened directory: a 612-byte
page (the size of nginx's default index.html), a 64 KiB and a 1 MiB file. Each is loaded with
`wrk -t1 -c32 -dS --timeout 10s --latency` (Debian's wrk) against the rows of ROWS:
- wasmkiln x86_64-kvm: the image under QEMU microvm through `wasmkiln run -p` (the accelerator
  is the runner's choice, printed: TCG here, where /dev/kvm is PVM; the network back end too);
- the seed's baseline, a Linux VM running the wasmtime 36 CLI, booted by the *same runner*
  (bench/linuxvm/vmrun.py): same QEMU, machine type, accelerator, vCPU count, memory and
  network back end as the row above (ACPI left on: Debian's kernel finds the NIC through it);
  the module is precompiled for the baseline x86-64 ISA;
- wasmkiln x86_64-spt: the sandboxed process on the host's own sockets (`wasmkiln run -p`, whose
  default there is `--net-backend host`);
- wasmkiln x86_64-spt with `--net-backend passt`: lwIP in the guest, its frames through passt;
- wasmkiln x86_64-spt over a host tap interface (`wasmkiln run --tap`), when the script runs as
  root: it makes the interface (10.203.N.1/24) and removes it at the end; wrk connects to the
  guest's own address, with no passt in the path (left out, with the reason, otherwise);
- the wasmtime 36 CLI on the host: `wasmtime run -S preview2=n -S tcplisten=127.0.0.1:PORT`;
- nginx on the host (Debian's nginx-light, i.e. its `nginx` binary, fetched with `apt-get
  download` into bench/.cache and run from there: nothing is installed), one worker process
  (every other row is one thread), sendfile on, no access log, the same files.
Both VM rows get `--memory 512 --ip 10.0.2.15/24 --gateway 10.0.2.2` (the Linux VM needs
~230 MiB to unpack its initramfs; the address is slirp's default, given statically so the two
guests are configured alike whatever the back end).

Every row is measured in two connection modes (MODES): "keep-alive" (wrk's default: each of the
32 connections carries request after request) and "close" (wrk -H "Connection: close": the
server closes after each answer, so every request is a new TCP connection, as HTTP/1.0 and
short-lived clients do; this mode once made the guests reset and wedge, issue 13).

CPU placement (--pin): on a machine of few cores the load generator and the server compete for
CPU, so an unpinned figure measures the two together. `--pin on` runs wrk on one CPU and every
row's server on another (the first two CPUs this process may use; `--pin L,S` names them):
the server's command is started under `taskset -c S`, so what it starts (QEMU, passt, nginx's
worker, the spt process) inherits that CPU, and this script moves itself to CPU L once the
images are built, so wrk inherits L. Every row is placed alike. The choice is recorded in the
results (`"pin"`) and in the table titles; a pinned run writes bench/results/http-pinned.json,
an unpinned one bench/results/http.json, so both can be kept side by side. The default is
unpinned: on this shared 2-core machine pinning did not make runs steadier, and it changes
what is measured (each server capped at one CPU); docs/performance.md ("3 Dec, evening") has
both runs and the reasons. On a quiet machine `--pin on` measures a server's capacity per core.

Every server is started once per repetition (interleaved: rep 1 of every row, then rep 2, so a
burst of load from elsewhere lands on all rows), is ready when a GET of the small file succeeds,
is warmed with a 2 s wrk run whose numbers are dropped, then measured once per file and mode.
Figures are medians of the repetitions (the ratio table adds the lowest and highest of the
per-repetition ratios: within a repetition the two rows ran a few minutes apart at most); wrk's
socket errors and non-2xx answers are reported with them.

Output: tables (one per mode), bench/results/http.json (raw samples and medians keyed
[row][mode][file], and "ratios": each wasmkiln row's req/s over each peer row's, per file and
mode, keyed "ROW / PEER, FILE, MODE" with the row keys of ROWS, e.g. "wasmkiln-spt /
wasmtime-host, 612 B, close"; higher is better for wasmkiln) and bench/results/http.png.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchlib import (
    CACHE,
    REPO,
    BenchError,
    Table,
    build_if_stale,
    fmt,
    machine_facts,
    median,
    pick_rows,
    publish,
    ratio,
    run_script,
    say,
    wasmkiln_build,
    wasmkiln_command,
    wasmtime_binary,
)

sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(Path(__file__).resolve().parent / "linuxvm"))
from http_guests import (  # noqa: E402
    GUEST_PORT,
    HTTP_STATIC_SOURCE,
    WrkResult,
    free_port,
    launch,
    run_wrk,
    wrk_command,
)

import build as linuxvm  # noqa: E402

FILES = {"612 B": ("index.html", 612), "64 KiB": ("64k.bin", 65536), "1 MiB": ("1m.bin", 1 << 20)}
VM_MEMORY_MB = 512
VM_IP, VM_GATEWAY = "10.0.2.15/24", "10.0.2.2"
MODES = {"keep-alive": False, "close": True}  # mode -> wrk's close= (one connection per request)
MODE_LABELS = {"keep-alive": "keep-alive", "close": "one connection per request"}
WORK = CACHE / "http"
DEFAULT_PIN = "off"  # why: docs/performance.md, "3 Dec, evening" (the method)
NGINX = CACHE / "nginx"


@dataclass(frozen=True)
class Pin:
    """--pin: the CPU wrk runs on and the CPU every server (and its children) runs on."""

    load: int
    server: int

    def describe(self) -> str:
        return f"pinned: wrk on CPU {self.load}, every server on CPU {self.server}"


def parse_pin(spec: str) -> Pin | None:
    """--pin's value: "off", "on" (the first two CPUs this process may use) or "L,S"."""
    cpus = sorted(os.sched_getaffinity(0))
    if spec == "off":
        return None
    if spec == "on":
        if len(cpus) < 2:
            raise BenchError(f"--pin on needs two CPUs; this process may use {cpus}")
        return Pin(cpus[0], cpus[1])
    parts = spec.split(",")
    if len(parts) != 2 or not all(p.strip().isdigit() for p in parts):
        raise BenchError(f"--pin takes on, off or LOAD_CPU,SERVER_CPU (e.g. 0,1), not {spec!r}")
    pin = Pin(int(parts[0]), int(parts[1]))
    if pin.load == pin.server or {pin.load, pin.server} - set(cpus):
        raise BenchError(f"--pin {spec}: two different CPUs of {cpus} are needed")
    return pin


@dataclass(frozen=True)
class Row:
    key: str  # names the row in the JSON and in the ratio keys
    label: str  # what the table prints
    wasmkiln: bool  # a wasmkiln row (ratios are wasmkiln over each peer)


def wrk(where: tuple[str, int], path: str, seconds: float, *, close: bool = False) -> WrkResult:
    try:
        return run_wrk(where, path, seconds, close=close, latency=True)
    except RuntimeError as e:
        raise BenchError(str(e)) from None


# ---- what is served ----------------------------------------------------------------------------
def build_server() -> Path:
    clang = ["clang-14", "--target=wasm32-wasi", "-O2"]
    return build_if_stale(clang, HTTP_STATIC_SOURCE, WORK / "server.wasm")


def make_site() -> Path:
    site = WORK / "site"
    site.mkdir(parents=True, exist_ok=True)
    for name, size in FILES.values():
        f = site / name
        if not f.exists() or f.stat().st_size != size:
            body = (
                (b"<!doctype html><title>wasmkiln</title><p>" * 64)[:size]
                if name.endswith(".html")
                else bytes(i * 7 & 0xFF for i in range(size))
            )
            f.write_bytes(body)
    return site


def linux_vm(wasmtime: Path, wasm: Path, site: Path) -> linuxvm.LinuxVM:
    """The Linux VM's initramfs with server.wasm precompiled for the baseline x86-64 ISA
    (QEMU's TCG CPU lacks some of this host's extensions) and the site under /site."""
    cwasm = WORK / "server.linux.cwasm"
    if not cwasm.exists() or cwasm.stat().st_mtime < wasm.stat().st_mtime:
        proc = subprocess.run(
            [
                str(wasmtime),
                "compile",
                "--target",
                "x86_64-unknown-linux-gnu",
                str(wasm),
                "-o",
                str(cwasm),
            ],
            capture_output=True,
            text=True,
        )
        if proc.returncode != 0:
            raise BenchError(f"wasmtime compile failed: {proc.stderr.strip()[-500:]}")
    files = {"server.cwasm": cwasm}
    files.update({f"site/{name}": site / name for name, _ in FILES.values()})
    return linuxvm.build(payload=linuxvm.Payload("http", files))


def nginx_binary() -> Path:
    """Debian's nginx binary, from the package nginx-light depends on, extracted into
    bench/.cache/nginx (apt-get download + dpkg-deb -x; no system install)."""
    exe = NGINX / "root" / "usr" / "sbin" / "nginx"
    if exe.exists():
        return exe
    deps = subprocess.run(
        ["apt-cache", "depends", "nginx-light"], capture_output=True, text=True
    ).stdout
    package = "nginx" if re.search(r"Depends: nginx\b", deps) else "nginx-light"
    NGINX.mkdir(parents=True, exist_ok=True)
    say(f"apt-get download {package} (for nginx-light)")
    proc = subprocess.run(
        ["apt-get", "download", package], cwd=NGINX, capture_output=True, text=True
    )
    debs = sorted(NGINX.glob(f"{package}_*.deb"))
    if proc.returncode != 0 or not debs:
        raise BenchError(
            f"apt-get download {package} failed (apt-get update first?): "
            f"{proc.stderr.strip()[-400:]}"
        )
    subprocess.run(["dpkg-deb", "-x", str(debs[-1]), str(NGINX / "root")], check=True)
    if not exe.exists():
        raise BenchError(f"{debs[-1].name} holds no usr/sbin/nginx")
    return exe


NGINX_CONF = """\
# Written by bench/http.py: the native reference, serving the benchmark's site.
daemon off;
worker_processes 1;
pid {run}/nginx.pid;
error_log stderr notice;
events {{ worker_connections 1024; }}
http {{
    types {{ text/html html; application/octet-stream bin; }}
    default_type application/octet-stream;
    access_log off;
    sendfile on;
    tcp_nopush on;
    keepalive_requests 1000000;
    client_body_temp_path {run}/body;
    proxy_temp_path {run}/proxy;
    fastcgi_temp_path {run}/fastcgi;
    uwsgi_temp_path {run}/uwsgi;
    scgi_temp_path {run}/scgi;
    server {{
        listen 127.0.0.1:{port};
        root {site};
    }}
}}
"""


# ---- running the rows --------------------------------------------------------------------------
@dataclass
class Setup:
    wasm: Path
    site: Path
    images: dict[str, Path]
    wasmtime: Path
    vm: linuxvm.LinuxVM | None
    nginx: Path | None
    accel: str
    backend: str  # the kvm runner's network back end
    backend_flags: list[str]  # `wasmkiln run` flags that pin it
    tap: tuple[str, str, str] | None = None  # (interface, host address, guest address)
    pin: Pin | None = None  # --pin: servers start under taskset on pin.server


@contextmanager
def tap_interface() -> Iterator[tuple[str, str, str] | str]:
    """A tap interface for the spt-over-tap row (root: `ip tuntap add`), removed at the end;
    or, when one cannot be made here, the reason (the row is then left out, and said so)."""
    if os.geteuid() != 0 or not Path("/dev/net/tun").exists() or shutil.which("ip") is None:
        yield "needs root, /dev/net/tun and iproute2"
        return
    name, net = f"wkb{os.getpid() % 100000}", f"10.203.{os.getpid() % 250}"
    made = True
    for argv in (
        ["ip", "tuntap", "add", "dev", name, "mode", "tap"],
        ["ip", "addr", "add", f"{net}.1/24", "dev", name],
        ["ip", "link", "set", name, "up"],
    ):
        proc = subprocess.run(argv, capture_output=True, text=True)
        if proc.returncode != 0:
            made = False
            why = f"{' '.join(argv)}: {proc.stderr.strip()}"
            break
    try:
        yield (name, f"{net}.1", f"{net}.2") if made else why
    finally:
        subprocess.run(["ip", "link", "del", name], capture_output=True)


def runner_choices() -> tuple[str, str, list[str]]:
    """The accelerator and network back end wasmkiln's runner picks here, and the flags that
    pin the back end (so the Linux VM gets the same one)."""
    from wasmkiln.pyhook.run import runner

    accel = "kvm" if runner.kvm_usable() else "tcg"
    choose = getattr(runner, "kvm_net_backend", None)
    if choose is None:  # a runner from before the back-end choice: slirp only
        return accel, "slirp", []
    backend = str(choose(runner.RunOptions()))
    return accel, backend, ["--net-backend", backend]


def row_command(row: Row, s: Setup, port: int, tmp: Path) -> list[str]:
    publish_spec = f"127.0.0.1:{port}:{GUEST_PORT}"
    vm_flags = [
        "--memory",
        str(VM_MEMORY_MB),
        "--ip",
        VM_IP,
        "--gateway",
        VM_GATEWAY,
        *s.backend_flags,
    ]
    if row.key == "wasmkiln-kvm":
        return [
            *wasmkiln_command(),
            "run",
            "--accel",
            s.accel,
            "-p",
            publish_spec,
            *vm_flags,
            str(s.images["kvm"]),
        ]
    if row.key == "linux-vm-wasmtime":
        assert s.vm is not None
        guest = [
            "/bin/wasmtime",
            "run",
            "-S",
            "preview2=n",
            "-S",
            f"tcplisten=0.0.0.0:{GUEST_PORT}",
            "--dir",
            "/site::/",
            "--allow-precompiled",
            "/server.cwasm",
        ]
        return linuxvm.runner_command(
            s.vm,
            VM_MEMORY_MB,
            guest,
            publish=[publish_spec],
            ip=VM_IP,
            gateway=VM_GATEWAY,
            accel=s.accel,
            extra=s.backend_flags,
        )
    if row.key in ("wasmkiln-spt", "wasmkiln-spt-passt"):
        backend = ["--net-backend", "passt"] if row.key.endswith("passt") else []
        return [*wasmkiln_command(), "run", "-p", publish_spec, *backend, str(s.images["spt"])]
    if row.key == "wasmkiln-spt-tap":
        assert s.tap is not None
        name, host, guest_ip = s.tap
        return [
            *wasmkiln_command(),
            "run",
            "--tap",
            name,
            "--ip",
            f"{guest_ip}/24",
            "--gateway",
            host,
            "-p",
            f"{GUEST_PORT}:{GUEST_PORT}",
            str(s.images["spt"]),
        ]
    if row.key == "wasmtime-host":
        return [
            str(s.wasmtime),
            "run",
            "-S",
            "preview2=n",
            "-S",
            f"tcplisten=127.0.0.1:{port}",
            "--dir",
            f"{s.site}::/",
            str(s.wasm),
        ]
    if row.key == "nginx-host":
        assert s.nginx is not None
        conf = tmp / "nginx.conf"
        conf.write_text(NGINX_CONF.format(run=tmp, port=port, site=s.site))
        return [str(s.nginx), "-p", str(tmp), "-c", str(conf), "-e", "stderr"]
    raise ValueError(row.key)


def address(row: Row, s: Setup, port: int) -> tuple[str, int]:
    """Where clients reach row's server: the host port, or the guest's own address on a tap."""
    if row.key == "wasmkiln-spt-tap" and s.tap is not None:
        return s.tap[2], GUEST_PORT
    return "127.0.0.1", port


def _get(where: tuple[str, int], path: str, timeout: float) -> bool:
    """One GET; True on a 200. (A raw socket: this script's name hides the stdlib's http.)"""
    try:
        with socket.create_connection(where, timeout=timeout) as c:
            c.sendall(f"GET /{path} HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n".encode())
            return c.recv(64).startswith(b"HTTP/1.1 200")
    except OSError:
        return False


READY_MARKERS = {  # what each row's server prints on stderr once it listens
    "nginx-host": "start worker process",  # error_log at notice level
}


@contextmanager
def serving(row: Row, s: Setup, ready_timeout: float) -> Iterator[tuple[str, int]]:
    """Start row's server on a free port (tests/http_guests.launch: stops it, QEMU and passt
    included, at the end); yield the port once it said it listens and a GET of the small
    file works (through a VM's port forward the first connection can lag the guest)."""
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="bench-http-") as tmp, ExitStack() as stack:
        cmd = row_command(row, s, port, Path(tmp))
        if s.pin is not None:  # the server and everything it starts stay on one CPU
            cmd = ["taskset", "-c", str(s.pin.server), *cmd]
        try:
            server = stack.enter_context(
                launch(
                    cmd,
                    row.label,
                    port,
                    ready_marker=READY_MARKERS.get(row.key, "serving"),
                    timeout=ready_timeout,
                )
            )
        except RuntimeError as e:
            raise BenchError(str(e)[-1500:]) from None
        deadline = time.monotonic() + ready_timeout
        where = address(row, s, port)
        while not _get(where, FILES["612 B"][0], 5.0):
            if not server.alive() or time.monotonic() > deadline:
                raise BenchError(
                    f"{row.label}: no answer on port {port}:\n{server.stderr()[-1500:]}"
                )
            time.sleep(0.2)
        yield where
        if not server.alive():
            raise BenchError(
                f"{row.label}: the server died during the run:\n{server.stderr()[-1500:]}"
            )


def make_rows(s: Setup) -> list[Row]:
    acc = s.accel.upper()
    return [
        Row("wasmkiln-kvm", f"wasmkiln kvm (QEMU microvm, {acc}, {s.backend})", True),
        Row(
            "linux-vm-wasmtime", f"Linux VM + wasmtime 36 (QEMU microvm, {acc}, {s.backend})", False
        ),
        Row("wasmkiln-spt", "wasmkiln spt (process, host sockets)", True),
        Row("wasmkiln-spt-passt", "wasmkiln spt (process, lwIP + passt)", True),
        *([Row("wasmkiln-spt-tap", "wasmkiln spt (process, host tap)", True)] if s.tap else []),
        Row("wasmtime-host", "wasmtime 36 CLI (host)", False),
        Row("nginx-host", "nginx 1 worker (host)", False),
    ]


TARGETS = {  # issue 6's targets: (wasmkiln row, peer row) -> least req/s ratio
    ("wasmkiln-kvm", "linux-vm-wasmtime"): 2.0,
    ("wasmkiln-spt", "wasmtime-host"): 1.3,
    ("wasmkiln-spt", "nginx-host"): 0.8,
    ("wasmkiln-spt-tap", "wasmtime-host"): 1.3,
    ("wasmkiln-spt-tap", "nginx-host"): 0.8,
}


def rep_ratio_range(
    samples: dict[str, dict[str, dict[str, list[dict[str, Any]]]]],
    row: str,
    peer: str,
    mode: str,
    file: str,
) -> tuple[float, float] | None:
    """The lowest and highest of row's req/s over peer's within each repetition (the two ran
    a few minutes apart at most): how far one run's median ratio can be trusted. None with
    fewer than two repetitions."""
    per_rep = [
        ratio(a["rps"], b["rps"])
        for a, b in zip(samples[row][mode][file], samples[peer][mode][file], strict=True)
    ]
    got = [x for x in per_rep if x is not None]
    return (min(got), max(got)) if len(got) > 1 else None


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--duration", type=float, default=10.0, help="seconds per wrk run")
    ap.add_argument("--quick", action="store_true", help="1 repetition of 3 s runs")
    ap.add_argument("--only", help="comma-separated row keys (default: every row)")
    ap.add_argument(
        "--pin",
        default=DEFAULT_PIN,
        help=f"on: wrk on one CPU, every server on another; off; or LOAD,SERVER CPU numbers "
        f"(default {DEFAULT_PIN}; docs/performance.md says why)",
    )
    args = ap.parse_args()
    args.pin = parse_pin(args.pin)
    if args.quick:
        args.reps, args.duration = 1, 3.0
    for tool, pkg in (
        ("wrk", "wrk"),
        ("passt", "passt"),
        ("qemu-system-x86_64", "qemu-system-x86"),
        *([("taskset", "util-linux")] if args.pin else []),
    ):
        if shutil.which(tool) is None:
            raise BenchError(f"{tool} is not installed (Debian: apt-get install {pkg})")

    with tap_interface() as tap:
        if isinstance(tap, str):
            say(f"wasmkiln spt over a host tap: not measured ({tap})")
        return measure_all(args, None if isinstance(tap, str) else tap)


def measure_all(args: argparse.Namespace, tap: tuple[str, str, str] | None) -> int:
    wasm, site = build_server(), make_site()
    images = {kind: WORK / f"server.{kind}" for kind in ("kvm", "spt")}
    for kind, image in images.items():
        wasmkiln_build(wasm, f"x86_64-{kind}", image, ["--dir", f"{site}::/"])
    wasmtime = wasmtime_binary()
    accel, backend, backend_flags = runner_choices()
    setup = Setup(
        wasm, site, images, wasmtime, None, None, accel, backend, backend_flags, tap, args.pin
    )
    rows = pick_rows(make_rows(setup), args.only)
    keys = {r.key for r in rows}
    if "linux-vm-wasmtime" in keys:
        setup.vm = linux_vm(wasmtime, wasm, site)
    if "nginx-host" in keys:
        setup.nginx = nginx_binary()
    say(f"QEMU accelerator: {accel.upper()}; kvm network back end: {backend}")
    placement = setup.pin.describe() if setup.pin else "not pinned"
    say(f"CPU placement: {placement}")
    if setup.pin is not None:  # wrk, started by this process from now on, inherits it
        os.sched_setaffinity(0, {setup.pin.load})

    facts = machine_facts()
    samples: dict[str, dict[str, dict[str, list[dict[str, Any]]]]] = {
        r.key: {m: {f: [] for f in FILES} for m in MODES} for r in rows
    }
    for rep in range(args.reps):
        for row in rows:
            say(f"rep {rep + 1}/{args.reps}: {row.label}")
            slow = row.key in ("wasmkiln-kvm", "linux-vm-wasmtime")
            with serving(row, setup, 300.0 if slow else 60.0) as where:
                wrk(where, FILES["612 B"][0], 2.0)  # warm-up: connections, caches, JIT
                for mode, close in MODES.items():
                    for label, (path, _) in FILES.items():
                        res = wrk(where, path, args.duration, close=close)
                        samples[row.key][mode][label].append(
                            {
                                "rps": res.rps,
                                "mb_per_s": res.mb_per_s,
                                "p50_ms": res.p50_ms,
                                "p99_ms": res.p99_ms,
                                "errors": res.errors,
                                "error_kinds": res.error_kinds,
                            }
                        )

    medians = {
        r.key: {
            m: {
                f: {
                    k: median([s[k] for s in samples[r.key][m][f]])
                    for k in ("rps", "mb_per_s", "p50_ms", "p99_ms")
                }
                for f in FILES
            }
            for m in MODES
        }
        for r in rows
    }
    note = (
        "The VM rows run under QEMU "
        + accel.upper()
        + (
            ", an emulator: their figures are emulation, not virtualization; the ratio between "
            "the two VM rows is what compares the stacks."
            if accel == "tcg"
            else "."
        )
        + " The wasmtime rows run the same server.wasm; nginx serves the same files natively."
        f" Load average {facts['loadavg_1m']:.1f} at the start, {os.getloadavg()[0]:.1f} at the"
        " end (other work on the machine moves every row). errors: wrk's socket errors"
        " (connect/read/write/timeout) and non-2xx answers, all repetitions."
    )
    for mode in MODES:
        table = Table(
            f"wrk -t1 -c32, {MODE_LABELS[mode]}, {args.reps} x {args.duration:g} s, "
            f"{placement}: req/s and latency, median",
            [
                "row",
                *(f"{f} req/s" for f in FILES),
                *(f"{f} p50/p99 ms" for f in FILES),
                "1 MiB MB/s",
                "errors",
            ],
        )
        for r in rows:
            m = medians[r.key][mode]
            errs = sum(s["errors"] for f in FILES for s in samples[r.key][mode][f])
            table.rows.append(
                [
                    r.label,
                    *(fmt(m[f]["rps"], 0) for f in FILES),
                    *(f"{fmt(m[f]['p50_ms'], 2)} / {fmt(m[f]['p99_ms'], 1)}" for f in FILES),
                    fmt(m["1 MiB"]["mb_per_s"], 1),
                    str(errs),
                ]
            )
        table.note = note if mode == list(MODES)[-1] else ""
        print(table.render())

    ratios: dict[str, float | None] = {}
    ratio_ranges: dict[str, list[float] | None] = {}
    rt = Table(
        f"wasmkiln req/s over the peer's, median ratio (lowest-highest of the repetitions' "
        f"ratios), {placement}; higher is better for wasmkiln",
        ["wasmkiln row", "peer", "mode", *FILES, "target"],
        text_columns=3,
    )
    labels = {r.key: r.label for r in rows}
    for w in (r for r in rows if r.wasmkiln):
        for p in (r for r in rows if not r.wasmkiln):
            target = TARGETS.get((w.key, p.key))
            for mode in MODES:
                vals = [
                    ratio(medians[w.key][mode][f]["rps"], medians[p.key][mode][f]["rps"])
                    for f in FILES
                ]
                spreads = [rep_ratio_range(samples, w.key, p.key, mode, f) for f in FILES]
                for f, v, sp in zip(FILES, vals, spreads, strict=True):
                    key = f"{w.key} / {p.key}, {f}, {mode}"
                    ratios[key] = None if v is None else round(v, 3)
                    ratio_ranges[key] = None if sp is None else [round(x, 3) for x in sp]
                rt.rows.append(
                    [
                        labels[w.key],
                        labels[p.key],
                        mode,
                        *(
                            fmt(v, 2) + (f" ({sp[0]:.2f}-{sp[1]:.2f})" if sp else "")
                            for v, sp in zip(vals, spreads, strict=True)
                        ),
                        f">= {target:g}" if target else "",
                    ]
                )
    print(rt.render())

    data: dict[str, Any] = {
        "script": "http",
        "quick": args.quick,
        "machine": facts,
        "loadavg_end": os.getloadavg()[0],
        "reps": args.reps,
        "duration_s": args.duration,
        "pin": None
        if setup.pin is None
        else {"wrk_cpu": setup.pin.load, "server_cpu": setup.pin.server},
        "wrk": " ".join(wrk_command(("HOST", 0), "PATH", 0, latency=True)),
        "accelerator": accel,
        "kvm_net_backend": backend,
        "vm_memory_mb": VM_MEMORY_MB,
        "files": {f: {"path": p, "bytes": n} for f, (p, n) in FILES.items()},
        "modes": {
            m: {"label": MODE_LABELS[m], "wrk": "-H 'Connection: close'" if c else ""}
            for m, c in MODES.items()
        },
        "rows": {r.key: r.label for r in rows},
        "linux_vm": None
        if setup.vm is None
        else {
            "kernel": setup.vm.kernel_version,
            "initramfs_bytes": setup.vm.initramfs.stat().st_size,
        },
        "samples": samples,
        "medians": medians,
        "ratios": ratios,
        "ratio_ranges": ratio_ranges,
        "targets": {f"{w} / {p}": t for (w, p), t in TARGETS.items()},
        "chart": {
            "title": f"http-static under wrk -t1 -c32, {placement}: req/s, median (log "
            f"scale; VM rows under QEMU {accel.upper()})",
            "ylabel": "requests/s",
            "log": True,
            "reference": None,
            "groups": [f"{f}, {m}" for m in MODES for f in FILES],
            "series": {
                r.label: [round(medians[r.key][m][f]["rps"], 1) for m in MODES for f in FILES]
                for r in rows
            },
        },
    }
    publish("http-pinned" if setup.pin else "http", data)
    return 0


if __name__ == "__main__":
    run_script(main)
