"""Tens of thousands of one-request connections (`Connection: close`, as HTTP/1.0 and
short-lived clients make them) against examples/http-static on every runner: no reset, no
timeout, every body whole, and the server still answers afterwards.

Why this load: the server closes first, so each connection leaves a TIME_WAIT behind in the
guest, and the client (wrk, or passt forwarding it) soon reuses the same source port. lwIP used to
answer that SYN with an ACK the client resets, and to keep every TIME_WAIT for two minutes;
the guest then reset thousands of clients and, through passt, stopped serving at all
(net/timewait_lwip.c). The wasmtime 36 CLI serves the same module alike: the reference row.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from guest_programs import compile_c
from http_guests import (
    HTTP_STATIC_SOURCE,
    Server,
    WrkResult,
    build_image,
    fetch,
    run_wrk,
    skip_reason,
    start,
    target_of,
)

pytestmark = pytest.mark.slow

RUNNERS = ["kvm", "spt", "spt-passt", "wasmtime"]
CONNECTIONS = 20_000  # at least this many one-request connections per runner and file
BUDGET_S = 90.0  # wrk runs of 3 s are repeated until CONNECTIONS, within this time
SMALL = b"<!doctype html><p>" + b"s" * 594  # 612 bytes, nginx's index.html size


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("site")
    (root / "index.html").write_bytes(SMALL)
    (root / "64k.bin").write_bytes(bytes(i * 7 & 0xFF for i in range(65536)))
    return root


@pytest.fixture(scope="module", params=RUNNERS)
def server(
    request: pytest.FixtureRequest, site: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    runner: str = request.param
    why = skip_reason(runner) or (
        None if shutil.which("wrk") else "wrk is not installed (apt-get install wrk)"
    )
    if why:
        pytest.skip(why)
    wasm = compile_c(HTTP_STATIC_SOURCE)
    image = None
    if runner != "wasmtime":
        image = build_image(
            wasm, site, tmp_path_factory.mktemp("img") / f"srv.{runner}", target_of(runner)
        )
    with start(runner, image=image, wasm=wasm, site=site) as srv:
        yield srv


def load(srv: Server, path: str) -> WrkResult:
    """wrk with one connection per request, repeated until CONNECTIONS requests are done;
    the totals of all runs (errors summed per kind)."""
    total = WrkResult(0, 0.0, 0.0, 0.0, 0.0, 0, {})
    deadline = time.monotonic() + BUDGET_S
    while total.requests < CONNECTIONS and time.monotonic() < deadline:
        r = run_wrk(("127.0.0.1", srv.port), path, 3, close=True, timeout_s=5)
        total.requests += r.requests
        total.errors += r.errors
        for kind, n in r.error_kinds.items():
            total.error_kinds[kind] = total.error_kinds.get(kind, 0) + n
        if r.errors or not srv.alive():
            break
    return total


@pytest.mark.parametrize("path", ["index.html", "64k.bin"])
def test_short_connections(server: Server, site: Path, path: str) -> None:
    r = load(server, path)
    assert r.errors == 0, (
        f"{server.runner}: {r.error_kinds} in {r.requests} requests\n{server.stderr()[-2000:]}"
    )
    assert r.requests >= CONNECTIONS, (
        f"{server.runner}: only {r.requests} requests in {BUDGET_S:g} s"
    )
    assert server.alive(), server.stderr()
    status, body = fetch("127.0.0.1", server.port, "/" + path, timeout=10)
    assert (status, body) == (200, (site / path).read_bytes()), "not serving afterwards"
