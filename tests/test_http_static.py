"""examples/http-static served by wasmkiln (x86_64-kvm and aarch64-kvm under QEMU TCG, `-p`
through passt or slirp; x86_64-spt, `-p` through passt) and by the wasmtime 36 CLI
(`-S tcplisten`): the same .wasm, checked the same way.

Each runner must: serve a 612-byte page, a directory's index.html, 1 MiB and 10 MiB files
byte for byte, 404 for a missing file, HEAD without a body, single Range requests (206, 416);
complete 64 connections that are all open at once; keep serving after clients that vanish in
the middle of a 10 MiB body. The wasmtime rows are the differential check: a behaviour both
runtimes share is the program's, one only wasmkiln shows is ours.
"""

from __future__ import annotations

import http.client
import os
import signal
import socket
import struct
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from guest_programs import compile_c
from http_guests import (
    HTTP_STATIC_SOURCE,
    Server,
    build_image,
    free_port,
    skip_reason,
    start,
    target_of,
    wasmkiln_cli,
)

RUNNERS = ["kvm", "spt", "spt-passt", "aarch64-kvm", "wasmtime"]


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("site")
    rnd = os.urandom
    (root / "index.html").write_bytes(
        b"<!doctype html><title>wasmkiln</title>\n" + b"<p>" + b"x" * 564 + b"</p>\n"
    )
    (root / "sub").mkdir()
    (root / "sub" / "index.html").write_bytes(b"<p>sub</p>\n")
    (root / "style.css").write_bytes(b"body{}\n")
    (root / "one.bin").write_bytes(rnd(1 << 20))
    (root / "ten.bin").write_bytes(rnd(10 << 20))
    (root / "empty.txt").write_bytes(b"")
    return root


@pytest.fixture(scope="module")
def wasm() -> Path:
    return compile_c(HTTP_STATIC_SOURCE)


@pytest.fixture(scope="module", params=RUNNERS)
def server(
    request: pytest.FixtureRequest, site: Path, wasm: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    runner: str = request.param
    why = skip_reason(runner)
    if why:
        pytest.skip(why)
    image = None
    if runner != "wasmtime":
        image = build_image(
            wasm, site, tmp_path_factory.mktemp("img") / f"server.{runner}", target_of(runner)
        )
    with start(runner, image=image, wasm=wasm, site=site) as srv:
        yield srv
        assert srv.alive(), f"the server died:\n{srv.stderr()}"


def connect(srv: Server, timeout: float = 30) -> http.client.HTTPConnection:
    return http.client.HTTPConnection("127.0.0.1", srv.port, timeout=timeout)


def get(
    conn: http.client.HTTPConnection,
    path: str,
    method: str = "GET",
    headers: dict[str, str] | None = None,
) -> tuple[http.client.HTTPResponse, bytes]:
    conn.request(method, path, headers=headers or {})
    resp = conn.getresponse()
    return resp, resp.read()


def test_files_byte_for_byte(server: Server, site: Path) -> None:
    """One keep-alive connection: every body equals the file, headers say the right things."""
    conn = connect(server)
    for path, file, ctype in [
        ("/", "index.html", "text/html"),
        ("/index.html", "index.html", "text/html"),
        ("/sub/", "sub/index.html", "text/html"),
        ("/style.css", "style.css", "text/css"),
        ("/one.bin", "one.bin", "application/octet-stream"),
        ("/ten.bin", "ten.bin", "application/octet-stream"),
        ("/empty.txt", "empty.txt", "text/plain"),
    ]:
        resp, body = get(conn, path)
        want = (site / file).read_bytes()
        assert resp.status == 200, path
        assert resp.getheader("Content-Type", "").startswith(ctype), path
        assert int(resp.getheader("Content-Length", "-1")) == len(want), path
        assert body == want, f"{path}: {len(body)} bytes differ from {file} ({len(want)})"
    resp, body = get(conn, "/missing.html")
    assert resp.status == 404 and b"404" in body
    resp, body = get(conn, "/../etc/passwd")
    assert resp.status in (400, 404)
    conn.close()


def test_head_and_ranges(server: Server, site: Path) -> None:
    data = (site / "one.bin").read_bytes()
    conn = connect(server)
    resp, body = get(conn, "/one.bin", "HEAD")
    assert resp.status == 200 and body == b""
    assert int(resp.getheader("Content-Length", "-1")) == len(data)
    for rng, first, last in [
        ("bytes=0-0", 0, 0),
        ("bytes=1000-200000", 1000, 200000),
        ("bytes=-100", len(data) - 100, len(data) - 1),
        ("bytes=1048000-", 1048000, len(data) - 1),
    ]:
        resp, body = get(conn, "/one.bin", headers={"Range": rng})
        assert resp.status == 206, rng
        assert resp.getheader("Content-Range") == f"bytes {first}-{last}/{len(data)}", rng
        assert body == data[first : last + 1], rng
    resp, body = get(conn, "/one.bin", headers={"Range": f"bytes={len(data)}-"})
    assert resp.status == 416
    assert resp.getheader("Content-Range") == f"bytes */{len(data)}"
    resp, body = get(conn, "/one.bin", "POST")
    assert resp.status == 405
    conn.close()


def test_64_concurrent_connections(server: Server, site: Path) -> None:
    """64 connections open at the same time, then each asks for two files from its own
    thread; all must complete.

    The connects are 2 ms apart, not a burst: libslirp's hostfwd listens with a backlog of 1,
    so back-to-back connects overflow the host kernel's accept queue; the kernel then sits on
    the handshakes and retries them 1, 3, 7, 15 s later, two at a time, while the clients
    already think they are connected (docs/network.md, "slirp"). With 1 ms between connects
    slirp keeps up; the guest never sees the difference."""
    small = (site / "index.html").read_bytes()
    big = (site / "one.bin").read_bytes()[:65536]
    conns = []
    for _ in range(64):
        c = connect(server, timeout=60)
        c.connect()
        conns.append(c)
        time.sleep(0.002)
    start_line = threading.Barrier(len(conns), timeout=60)
    errors: list[str] = []

    def one(i: int, c: http.client.HTTPConnection) -> None:
        try:
            start_line.wait()
            resp, body = get(c, "/index.html")
            if body != small:
                errors.append(f"conn {i}: index.html differs")
            resp, body = get(c, "/one.bin", headers={"Range": "bytes=0-65535"})
            if body != big:
                errors.append(f"conn {i}: range differs")
        except (OSError, threading.BrokenBarrierError) as e:
            errors.append(f"conn {i}: {e!r}")
        finally:
            c.close()

    threads = [threading.Thread(target=one, args=(i, c)) for i, c in enumerate(conns)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors, errors[:5]


def test_client_vanishes_mid_transfer(server: Server, site: Path) -> None:
    """Clients that close (FIN) or reset (RST) in the middle of 10 MiB: the server goes on."""
    for reset in (False, True):
        for _ in range(3):
            s = socket.create_connection(("127.0.0.1", server.port), timeout=30)
            s.sendall(b"GET /ten.bin HTTP/1.1\r\nHost: x\r\n\r\n")
            got = 0
            while got < 200_000:
                chunk = s.recv(65536)
                assert chunk, "the server closed early"
                got += len(chunk)
            if reset:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            s.close()
    conn = connect(server)
    resp, body = get(conn, "/one.bin")
    assert resp.status == 200 and body == (site / "one.bin").read_bytes()
    conn.close()
    assert server.alive()


@pytest.mark.parametrize("runner", ["kvm", "spt", "aarch64-kvm"])
def test_listen_and_static_address(runner: str, site: Path, wasm: Path, tmp_path: Path) -> None:
    """`--listen ADDR:PORT` (wasmtime's tcplisten spelling) with a static `--ip`/`--gateway`
    instead of DHCP: the guest listens on PORT, the host reaches it at ADDR:PORT."""
    why = skip_reason(runner)
    if why:
        pytest.skip(why)
    image = build_image(wasm, site, tmp_path / f"server.{runner}", target_of(runner))
    port = free_port()
    cmd = [
        *wasmkiln_cli(),
        "run",
        "--listen",
        f"127.0.0.1:{port}",
        "--ip",
        "10.0.2.15/24",
        "--gateway",
        "10.0.2.2",
        str(image),
    ]
    err = tmp_path / "stderr"
    with open(err, "wb") as err_f:
        proc = subprocess.Popen(
            cmd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=err_f,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 60
        while b"serving" not in err.read_bytes():
            assert proc.poll() is None, err.read_text()
            assert time.monotonic() < deadline, err.read_text()
            time.sleep(0.05)
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        resp, body = get(conn, "/")
        assert resp.status == 200 and body == (site / "index.html").read_bytes()
        conn.close()
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)
