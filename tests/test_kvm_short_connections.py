"""A kvm server keeps serving short connections on its default back end (issue 13).

Debian bookworm's passt (0.0~git20230309) died of a division by zero when a client opened a
connection from the source port of one passt still held (docs/network.md "Known problem
(passt)"): the second connection from one source port was reset and the third refused, and
wrk -c200 with one connection per request got there within minutes. kvm's default back end
is now QEMU's slirp with a listen backlog the runner raises (pyhook/run/slirp_backlog.py);
these tests hold both: the same source port reused back to back, a wrk load of tens of
thousands of short connections, and the backlog itself.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import test_net_kvm

from wasmkiln.pyhook.run.slirp_backlog import BacklogError, raise_backlog

http_static = test_net_kvm.http_static  # the fixture: http-static as a kvm image, a site packed


def _backlog(port: int) -> int | None:
    """The backlog of the host's listener on `port` (ss's Send-Q for a listening socket)."""
    out = subprocess.run(
        ["ss", "-Htln", f"sport = :{port}"], capture_output=True, text=True, check=True
    ).stdout.split()
    return int(out[2]) if len(out) >= 3 else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.skipif(shutil.which("ss") is None, reason="needs ss (apt-get install iproute2)")
def test_raise_backlog_changes_another_process_listener() -> None:
    """A child that listens with a backlog of 1 (as libslirp does) ends with 1024, and a
    port it never opens is a BacklogError, not a hang or a traceback."""
    port = _free_port()
    code = (
        "import socket, sys, time\n"
        "s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n"
        f"s.bind(('127.0.0.1', {port})); s.listen(1); print('up', flush=True)\n"
        "time.sleep(60)\n"
    )
    child = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE)
    try:
        assert child.stdout is not None and child.stdout.readline() == b"up\n"
        assert _backlog(port) == 1
        raise_backlog(child.pid, {port})
        assert _backlog(port) == 1024
        with pytest.raises(BacklogError, match="did not listen"):
            raise_backlog(child.pid, {_free_port()}, wait_s=0.05)
    finally:
        child.kill()
        child.wait()


def test_raise_backlog_gives_up_at_once_when_the_process_exits() -> None:
    """A QEMU that exits before it listens (a guest that ends at once, bad arguments) does
    not hold the run for the whole wait."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    try:
        t0 = time.monotonic()
        with pytest.raises(BacklogError, match="exited"):
            raise_backlog(child.pid, {_free_port()}, wait_s=30)
        assert time.monotonic() - t0 < 5
    finally:
        child.wait()


def _get_from(port: int, source_port: int) -> bytes:
    """One GET with Connection: close from 127.0.0.1:source_port; the whole answer."""
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.settimeout(30)
        s.bind(("127.0.0.1", source_port))
        s.connect(("127.0.0.1", port))
        s.sendall(b"GET /index.html HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        data = b""
        while chunk := s.recv(65536):
            data += chunk
        return data


@pytest.mark.slow
def test_kvm_default_back_end_survives_short_connections(http_static: tuple[Path, Path]) -> None:
    """On the default back end: 1,000 connections back to back from one source port (passt
    2023-03 died at the second), then wrk -c200 with one connection per request for 8 s
    (tens of thousands under TCG), every answer whole: 0 socket errors, 0 non-2xx; the
    published port has the raised backlog, and the guest still answers afterwards."""
    from http_guests import run_wrk, start

    image, site = http_static
    body = (site / "index.html").read_bytes()
    with start("kvm", image=image, site=site, timeout=300.0) as srv:
        source = _free_port()
        t0 = time.monotonic()
        for i in range(1000):
            answer = _get_from(srv.port, source)
            assert answer.startswith(b"HTTP/1.1 200") and answer.endswith(body), (i, answer[:80])
        reused = time.monotonic() - t0
        if shutil.which("ss") is not None:
            assert _backlog(srv.port) == 1024, "the published port kept slirp's backlog of 1"
        else:
            print("\nss is not installed (apt-get install iproute2): the backlog was not read")
        if shutil.which("wrk") is None:
            pytest.skip("wrk is not installed (apt-get install wrk): the -c200 load was not run")
        r = run_wrk(("127.0.0.1", srv.port), "index.html", 8, connections=200, close=True)
        print(
            f"\nkvm default back end: 1000 reuses of one source port in {reused:.1f} s; "
            f"wrk -c200 close: {r.requests} requests, {r.rps:.0f} req/s, errors {r.error_kinds}"
        )
        assert r.requests >= 2_000, r  # 17,657 at load ~6 in 8 s; tens of thousands idle
        assert r.errors == 0, r.error_kinds
        assert _get_from(srv.port, _free_port()).endswith(body)
        assert srv.alive(), srv.stderr()


@pytest.mark.parametrize(
    ("dpkg", "warns"),
    [
        ((0, "0.0~git20230309.7c7625d-1"), True),  # bookworm's: dies on a reused source port
        ((0, "0.0~git20230908.05627dc-1"), False),  # the upstream fix's release
        ((0, "0.0~git20250217.a1e48a0-1"), False),
        ((1, ""), False),  # passt not installed by dpkg (built from source, say)
        (None, False),  # no dpkg-query at all
    ],
)
def test_a_passt_that_dies_on_reused_ports_is_named(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    dpkg: tuple[int, str] | None,
    warns: bool,
) -> None:
    """A run that starts passt says, in one warning line, when the installed passt predates
    the fix (its version comes from dpkg: `passt --version` says "unknown"); otherwise
    nothing."""
    from wasmkiln.pyhook.run import runner

    def fake_run(argv: list[str], **kw: object) -> subprocess.CompletedProcess[str]:
        assert argv[0] == "dpkg-query"
        if dpkg is None:
            raise FileNotFoundError(argv[0])
        return subprocess.CompletedProcess(argv, dpkg[0], dpkg[1], "")

    monkeypatch.setattr(runner.subprocess, "run", fake_run)
    runner._warn_if_passt_resets.cache_clear()  # noqa: SLF001
    runner._warn_if_passt_resets()  # noqa: SLF001
    runner._warn_if_passt_resets()  # noqa: SLF001  (once per process)
    err = capsys.readouterr().err.splitlines()
    runner._warn_if_passt_resets.cache_clear()  # noqa: SLF001
    if warns:
        assert len(err) == 1 and err[0].startswith("wasmkiln: warning: passt 0.0~git20230309")
        assert "2023_09_08" in err[0]
    else:
        assert err == []
