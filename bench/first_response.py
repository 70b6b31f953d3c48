"""Launch to the first HTTP response of examples/http-static, for bench/boot.py.

The clock starts just before the first process of a row is started (passt, QEMU, the spt
process, `wasmkiln run`, wasmtime) and stops when a GET of the 612-byte page, retried every
millisecond from the start, is answered with a 200. Rows:
- wasmkiln kvm and spt launched the way the runner does it, without its Python: kvm, QEMU
  with the runner's argv (`qemu_command`) started paused, then passt (`PasstAfterQemu`, on
  one end of a socketpair), QEMU let go once passt listens; spt, passt first (the runner's
  `_start_passt`), then the spt process with the runner's `--net` arguments; the guest's
  address is given at boot (`NetOptions.for_passt`), as the runner does; and spt on the
  host's own sockets (the runner's default there: `_host_listeners`, then the process with
  `--net host`); this is the figure the targets speak of (<= 60 ms under QEMU microvm,
  <= 5 ms spt);
- kvm launched the runner's previous way (passt first, its port looked for in
  /proc/net/tcp) and with QEMU's own slirp instead of passt, as peers of the first row;
- the same through `wasmkiln run -p` (what a user types: Python's start-up and imports count;
  kvm on its default slirp, and with `--net-backend passt`);
- the Linux VM running the wasmtime CLI under the same QEMU, through the same runner
  (bench/linuxvm/vmrun.py, as bench/http.py's row);
- the wasmtime 36 CLI on the host, running a module precompiled with `wasmtime compile`.
The site and the server are bench/http.py's (its module is loaded under another name, since
a module called `http` would hide the standard library's).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

from benchlib import BenchError, http_bench, say, wasmkiln_build, wasmkiln_command

if TYPE_CHECKING:
    from wasmkiln.pyhook.run.netopts import NetOptions

TIMEOUT_S = 120.0  # the Linux VM under TCG boots in tens of seconds


@dataclass
class Row:
    label: str
    start: Callable[[int, Path], list[subprocess.Popen[bytes]]]  # (host port, tmp) -> procs
    samples: list[float] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)


def _answered(port: int, path: str, timeout: float) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as c:
            c.sendall(f"GET /{path} HTTP/1.1\r\nHost: b\r\nConnection: close\r\n\r\n".encode())
            return c.recv(16).startswith(b"HTTP/1.1 200")
    except OSError:
        return False


def _popen(
    cmd: list[str],
    tmp: Path,
    pass_fds: tuple[int, ...] = (),
    ready: Callable[[], None] | None = None,
) -> subprocess.Popen[bytes]:
    """Start a row's process in its own session, its output in tmp/server.log; with
    ``ready`` it is a QEMU started paused and let go once ``ready`` returns (the runner's
    start_qemu)."""
    from wasmkiln.pyhook.run.runner import start_qemu

    log = (tmp / "server.log").open("ab")
    try:
        return start_qemu(
            cmd,
            pass_fds,
            ready,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            start_new_session=True,
        )
    finally:
        log.close()


def _said_serving(log: Path) -> bool:
    try:
        return b"serving" in log.read_bytes()
    except OSError:
        return False


def _stop(procs: list[subprocess.Popen[bytes]]) -> None:
    """Kill each process's session, the last started first, and reap them."""
    for p in reversed(procs):
        if p.poll() is None:
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        p.wait()


@contextmanager
def _stopping(procs: list[subprocess.Popen[bytes]]) -> Iterator[None]:
    try:
        yield
    finally:
        _stop(procs)


def time_one(row: Row, path: str) -> float:
    """Milliseconds from launch to the first 200; BenchError if it never comes."""
    from http_guests import free_port

    port = free_port()
    with tempfile.TemporaryDirectory(prefix="bench-first-") as tmp:
        procs: list[subprocess.Popen[bytes]] = []
        with _stopping(procs):
            t0 = time.perf_counter()
            procs += row.start(port, Path(tmp))
            # Until the server says it listens, probes give up after 5 ms: a connection that
            # passt accepts before the guest listens is otherwise retried on passt's SYN
            # timer (1 s), which no client waiting for a server would sit through (and a
            # longer probe timeout would be measured instead of the server). After that, a
            # slow guest (the Linux VM under TCG) gets 5 s to answer.
            log_path = Path(tmp) / "server.log"
            while not _answered(port, path, 5.0 if _said_serving(log_path) else 0.005):
                dead = [p for p in procs if p.poll() is not None]
                if dead or time.perf_counter() - t0 > TIMEOUT_S:
                    log = (Path(tmp) / "server.log").read_text(errors="replace")[-800:]
                    why = "exited" if dead else f"no answer in {TIMEOUT_S:g} s"
                    raise BenchError(f"{row.label}: {why}:\n{log}")
                time.sleep(0.001)
            return (time.perf_counter() - t0) * 1000.0


def _passt_net(port: int, guest_port: int) -> NetOptions:
    from wasmkiln.pyhook.run.netopts import NetOptions

    return NetOptions.parse([f"127.0.0.1:{port}:{guest_port}"], [], None, None).for_passt()


def _await_listening_proc(passt: subprocess.Popen[bytes], port: int) -> None:
    """The runner's wait for passt's port before 3 Dec (evening): /proc/net/tcp read every
    millisecond (its cost grows with the host's sockets: listening.py)."""
    from wasmkiln.pyhook.run.listening import listening_tcp_ports_proc

    deadline = time.monotonic() + 2.0
    while passt.poll() is None and time.monotonic() < deadline:
        if port in listening_tcp_ports_proc():
            return
        time.sleep(0.001)


KVM_LAUNCHES = ("runner", "previous", "slirp")
"""How kvm_direct_start launches: "runner", as the runner does with passt; "previous", the
runner's way before 3 Dec (evening): passt started first, its port looked for in
/proc/net/tcp; "slirp", QEMU's own user network (`--net-backend slirp`: no passt, QEMU
binds the published port itself before the guest runs, so it starts unpaused)."""


def kvm_direct_start(
    image: Path,
    accel: str,
    memory_mb: int,
    guest_port: int,
    launch: str = "runner",
    note: Callable[[str], None] | None = None,
    out_fd: int | None = None,
) -> Callable[[int, Path], list[subprocess.Popen[bytes]]]:
    """A row's start for the kvm image launched as the runner does, without its Python:
    QEMU with `qemu_command`'s argv started paused, then passt (the runner's
    `PasstAfterQemu`), QEMU let go once passt listens (the runner's `start_qemu`); or one
    of the other KVM_LAUNCHES, as peers in the same run. ``note`` is told "QEMU started
    (paused)" and "passt listening" as they happen, and ``out_fd`` takes the guest's stdout
    and stderr instead of tmp/server.log (bench/kvm_phases.py)."""
    from wasmkiln.pyhook.run import runner

    if launch not in KVM_LAUNCHES:
        raise BenchError(f"kvm launch {launch!r}: one of {', '.join(KVM_LAUNCHES)}")

    def start(port: int, tmp: Path) -> list[subprocess.Popen[bytes]]:
        opts = runner.RunOptions(
            accel=accel,
            memory_mb=memory_mb,
            net=_passt_net(port, guest_port),  # slirp: the same address layout, given at boot
            program_name="server",
            net_backend="slirp" if launch == "slirp" else "passt",
        )
        first: subprocess.Popen[bytes] | None = None
        passt: runner.PasstAfterQemu | None = None
        ready: Callable[[], None] | None = None
        fd: int | None = None
        if launch == "previous":
            first, fd = runner._start_passt(opts.net, wait=False)  # noqa: SLF001
            ready = partial(_await_listening_proc, first, port)
        elif launch == "runner":
            passt = runner.PasstAfterQemu(opts.net)
            fd, ready = passt.nic_fd, passt.ready
        release = ready
        if ready is not None and note is not None:
            wait, tell = ready, note

            def release() -> None:
                tell("QEMU started (paused)")
                wait()
                tell("passt listening")

        control = tmp / "control"
        control.touch()
        log = tmp / "server.log"
        flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT
        if out_fd is None:
            outs = (os.open(log, flags), os.open(log, flags))  # stdout, stderr
        else:
            outs = (os.dup(out_fd), os.dup(out_fd))
        cmd = [str(w) for w in runner.qemu_command(image, opts, control, outs, fd)]
        passed = outs if fd is None else (*outs, fd)
        try:
            qemu = _popen(cmd, tmp, passed, release)
        except BaseException:
            if first is not None:
                _stop([first])
            if passt is not None:
                passt.stop()
            raise
        finally:
            for f in passed:
                os.close(f)
        helper = passt.proc if passt is not None else first
        return [qemu] if helper is None else [helper, qemu]

    return start


def spt_host_direct_start(
    image: Path, guest_port: int
) -> Callable[[int, Path], list[subprocess.Popen[bytes]]]:
    """A row's start for the spt image on the host's own sockets, launched as the runner does
    it without its Python: the listener bound first (`_host_listeners`), then the process."""
    from wasmkiln.pyhook.run import runner
    from wasmkiln.pyhook.run.netopts import NetOptions

    def start(port: int, tmp: Path) -> list[subprocess.Popen[bytes]]:
        n = NetOptions.parse([f"127.0.0.1:{port}:{guest_port}"], [], None, None)
        fds = runner._host_listeners(n)  # noqa: SLF001
        try:
            return [_popen([str(image), *n.spt_host_args(fds), "--"], tmp, tuple(fds))]
        finally:
            for fd in fds:
                os.close(fd)

    return start


def rows(work: Path, memory_mb: int) -> tuple[list[Row], dict[str, int]]:
    """The rows, and the sizes of what they run (bytes)."""
    from wasmkiln.pyhook.run import runner

    h = http_bench()
    wasm, site = h.build_server(), h.make_site()
    images = {kind: work / f"server.{kind}" for kind in ("kvm", "spt")}
    for kind, image in images.items():
        wasmkiln_build(wasm, f"x86_64-{kind}", image, ["--dir", f"{site}::/"])
    wasmtime = h.wasmtime_binary()
    cwasm = work / "server.cwasm"
    if not cwasm.exists() or cwasm.stat().st_mtime < wasm.stat().st_mtime:
        subprocess.run([str(wasmtime), "compile", str(wasm), "-o", str(cwasm)], check=True)
    accel, backend, backend_flags = h.runner_choices()
    setup = h.Setup(wasm, site, images, wasmtime, None, None, accel, backend, backend_flags)
    say("building the Linux VM's initramfs with the server (bench/http.py's)")
    setup.vm = h.linux_vm(wasmtime, wasm, site)

    def net(port: int) -> NetOptions:
        return _passt_net(port, h.GUEST_PORT)

    kvm_direct = kvm_direct_start(images["kvm"], accel, memory_mb, h.GUEST_PORT)

    def spt_direct(port: int, tmp: Path) -> list[subprocess.Popen[bytes]]:
        n = net(port)
        passt, fd = runner._start_passt(n)  # noqa: SLF001
        try:
            return [passt, _popen([str(images["spt"]), *n.spt_args(fd), "--"], tmp, (fd,))]
        finally:
            os.close(fd)

    wasmkiln = wasmkiln_command()  # once: it probes an import in a child (~40 ms), untimed

    def via(kind: str, *more: str) -> Callable[[int, Path], list[subprocess.Popen[bytes]]]:
        """What a user types: no --accel or --memory (the runner picks them), so a plain -p
        run takes the quick start (cli/entry.py) and one with --net-backend the full CLI."""

        def start(port: int, tmp: Path) -> list[subprocess.Popen[bytes]]:
            argv = [*wasmkiln, "run", "-p", f"127.0.0.1:{port}:{h.GUEST_PORT}", *more]
            return [_popen([*argv, str(images[kind])], tmp)]

        return start

    def linux_vm(port: int, tmp: Path) -> list[subprocess.Popen[bytes]]:
        row = next(r for r in h.make_rows(setup) if r.key == "linux-vm-wasmtime")
        return [_popen(h.row_command(row, setup, port, tmp), tmp)]

    def wasmtime_host(port: int, tmp: Path) -> list[subprocess.Popen[bytes]]:
        return [
            _popen(
                [
                    str(wasmtime),
                    "run",
                    "-S",
                    "preview2=n",
                    "-S",
                    f"tcplisten=127.0.0.1:{port}",
                    "--dir",
                    f"{site}::/",
                    "--allow-precompiled",
                    str(cwasm),
                ],
                tmp,
            )
        ]

    acc = accel.upper()
    out = [
        Row(f"wasmkiln kvm, QEMU microvm {acc} + passt (direct)", kvm_direct),
        Row(
            f"wasmkiln kvm, QEMU microvm {acc} + passt (direct), the launch before 3 Dec evening",
            kvm_direct_start(images["kvm"], accel, memory_mb, h.GUEST_PORT, "previous"),
        ),
        Row(
            f"wasmkiln kvm, QEMU microvm {acc} + slirp (direct)",
            kvm_direct_start(images["kvm"], accel, memory_mb, h.GUEST_PORT, "slirp"),
        ),
        Row("wasmkiln spt process + passt (direct)", spt_direct),
        Row(
            "wasmkiln spt process on host sockets (direct)",
            spt_host_direct_start(images["spt"], h.GUEST_PORT),
        ),
        Row(f"wasmkiln kvm via `wasmkiln run -p` (quick start; {acc}, slirp)", via("kvm")),
        Row(
            f"wasmkiln kvm via `wasmkiln run -p --net-backend passt` (full CLI; {acc})",
            via("kvm", "--net-backend", "passt"),
        ),
        Row("wasmkiln spt via `wasmkiln run -p` (quick start; host sockets)", via("spt")),
        Row(f"Linux VM + wasmtime, QEMU microvm {acc} ({backend}, via the runner)", linux_vm),
        Row("wasmtime CLI on the host, precompiled", wasmtime_host),
    ]
    sizes = {
        "server.wasm": wasm.stat().st_size,
        "kvm image": images["kvm"].stat().st_size,
        "spt image": images["spt"].stat().st_size,
        "wasmtime .cwasm": cwasm.stat().st_size,
    }
    return out, sizes


def measure(rows_: list[Row], reps: int, vm_reps: int, path: str = "index.html") -> None:
    """Interleaved repetitions; a failed run is recorded and the row goes on."""
    for rep in range(reps):
        say(f"first response: repetition {rep + 1}")
        for row in rows_:
            if rep >= (vm_reps if row.label.startswith("Linux VM") else reps):
                continue
            try:
                row.samples.append(time_one(row, path))
            except BenchError as e:
                say(str(e).splitlines()[0])
                row.failures.append(str(e))
