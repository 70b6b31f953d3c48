"""spt on host sockets, `--net spin=US`: a wait looks again for up to US microseconds before it
sleeps in ppoll, and backs off when that finds nothing (platform/spt/sock_spt.c, `hs_wait`).

Why: with one connection per request the client (wrk) is the bottleneck, and a server that
sleeps between requests makes every connect and request of the client pay for waking it
(docs/performance.md "3 Dec, night: one connection per request"). The spin is 50 us by
default (1.19x with one connection per request on the quiet machine; bench/spt_wait.py). A spin that
never stopped would burn CPU whenever the server is idle, so misses make the next waits sleep
at once (1, 3, 7, ... up to 63 of them). These tests check what a user can see of that: an
idle spinning server stays cheap, a short-connection load is served whole and the server
answers after it has backed off, the bounds of the option serve, and a bad value is one line.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Generator, Iterator
from pathlib import Path

import pytest
from guest_programs import compile_c
from http_guests import HTTP_STATIC_SOURCE, build_image, fetch, run_wrk, skip_reason

from wasmkiln.pyhook.run.portspec import parse_forwards, spt_host_args

IDLE_S = 3.0
# An idle http-static waits ~100 times a second (the 10 ms cap of a socket wait). Measured on
# the 2-core machine: ~2.2-2.8 ms of CPU per idle second with or without a 50 us spin that
# backs off; spinning 50 us on every wait (no back-off) used 7.3 ms per second.
IDLE_CPU_MS_PER_S = 4.5
PAGE = b"<!doctype html><p>" + b"s" * 594


def _cpu_ns(pid: int) -> int:
    """CPU time of one process (all its threads), from /proc/PID/schedstat, in ns."""
    return int(Path(f"/proc/{pid}/schedstat").read_text().split()[0])


def _spt_argv(image: Path, port: int, fd: int, *net: str) -> list[str]:
    """The spt process's argv as `wasmkiln run -p PORT:80` builds it (run/portspec.py, the
    one source of those arguments), plus extra `--net` tokens."""
    host = spt_host_args(parse_forwards([f"{port}:80"], []), [fd])
    extra = [a for tok in net for a in ("--net", tok)]
    return [str(image), "--die-with-parent", *host, *extra, "--"]


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("site")
    (root / "index.html").write_bytes(PAGE)
    return root


@pytest.fixture(scope="module")
def image(site: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    why = skip_reason("spt")
    if why:
        pytest.skip(why)
    wasm = compile_c(HTTP_STATIC_SOURCE)
    return build_image(wasm, site, tmp_path_factory.mktemp("img") / "srv.spt", "x86_64-spt")


def _serve(image: Path, *net: str) -> Generator[tuple[int, subprocess.Popen[bytes]], None, None]:
    """The image on a listener bound here (as `wasmkiln run -p` hands it over), with extra
    `--net` tokens: (port, process), until the generator is closed."""
    with socket.socket() as lsock:
        lsock.bind(("127.0.0.1", 0))
        lsock.listen(128)
        port = lsock.getsockname()[1]
        proc = subprocess.Popen(
            _spt_argv(image, port, lsock.fileno(), *net),
            pass_fds=[lsock.fileno()],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
    try:
        yield port, proc
    finally:
        proc.kill()
        proc.wait()


@pytest.fixture(scope="module")
def spinning(image: Path) -> Iterator[tuple[int, subprocess.Popen[bytes]]]:
    yield from _serve(image)  # the default: a 50 us spin


def test_idle_spinning_server_stays_cheap(spinning: tuple[int, subprocess.Popen[bytes]]) -> None:
    """After a burst of requests (the spin finds work), an idle server goes back to sleeping:
    its CPU per idle second stays near what a server that never spins uses."""
    port, proc = spinning
    for _ in range(50):
        assert fetch("127.0.0.1", port, "/index.html", timeout=10) == (200, PAGE)
    time.sleep(0.5)  # the back-off reaches its longest skip within ~0.6 s of waits
    before = _cpu_ns(proc.pid)
    time.sleep(IDLE_S)
    used_ms_per_s = (_cpu_ns(proc.pid) - before) / 1e6 / IDLE_S
    assert used_ms_per_s < IDLE_CPU_MS_PER_S, (
        f"an idle spt server with the default spin used {used_ms_per_s:.2f} ms of CPU per second "
        f"(bound {IDLE_CPU_MS_PER_S}): does the wait spin without backing off?"
    )
    assert fetch("127.0.0.1", port, "/index.html", timeout=10) == (200, PAGE)


@pytest.mark.skipif(
    shutil.which("wrk") is None, reason="wrk is not installed (apt-get install wrk)"
)
def test_short_connections_then_idle_then_served(
    spinning: tuple[int, subprocess.Popen[bytes]],
) -> None:
    """One connection per request (the load the spin is for), then idle, then one more request:
    every request served, no socket error, and the server answers after the back-off."""
    port, proc = spinning
    r = run_wrk(("127.0.0.1", port), "/index.html", 2, close=True, timeout_s=5)
    assert r.errors == 0, f"{r.error_kinds} in {r.requests} requests"
    assert r.requests > 1000, f"only {r.requests} requests in 2 s"
    time.sleep(1.0)
    assert fetch("127.0.0.1", port, "/index.html", timeout=10) == (200, PAGE)
    assert proc.poll() is None


@pytest.mark.parametrize("spin", [None, "0", "1000"])
def test_spin_option_serves(image: Path, spin: str | None) -> None:
    """The default (a 50 us spin), `--net spin=0` and the largest spin all serve 200 fresh
    connections, every body whole."""
    gen = _serve(image, *([f"spin={spin}"] if spin is not None else []))
    port, proc = next(gen)
    try:
        for _ in range(200):
            assert fetch("127.0.0.1", port, "/index.html", timeout=10) == (200, PAGE)
        assert proc.poll() is None
    finally:
        gen.close()


@pytest.mark.parametrize("token", ["spin=1001", "spin=", "spin=5us", "spin=-1"])
def test_spin_option_bad_value(image: Path, token: str) -> None:
    """A bad `--net spin=` is one line naming the range, exit 2 before the guest starts."""
    proc = subprocess.run(
        [str(image), "--net", token, "--"], capture_output=True, text=True, timeout=30
    )
    assert proc.returncode == 2, proc.stderr
    first = proc.stderr.splitlines()[0]
    assert first == "wasmkiln-spt: --net spin=US wants 0..1000 (microseconds)", proc.stderr
    assert "Traceback" not in proc.stderr
