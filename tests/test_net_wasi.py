"""WASI preview1 sockets, call by call: tests/net_guests/sock_probe.c prints the result of every
socket call on a preopened listener (fd 3) while the test plays its peer. wasmkiln (x86_64-kvm
under QEMU TCG, and x86_64-spt with passt, both through `-p`) must print what wasmtime 36
(`-S tcplisten`) prints, and both must print the
values the spec and wasi-libc depend on (the listener non-blocking and invisible to the
preopen scan, EAGAIN until a client waits, a clock firing when nobody connects).

Also the `wasmkiln run` network options: their parsing, the QEMU and kernel arguments they
become, and their one-line errors.
"""

from __future__ import annotations

import re
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from guest_programs import compile_c
from http_guests import build_image, skip_reason, start, wasmkiln_cli, wasmtime_cli

from wasmkiln.bridge.hostfuncs import SOCKET_EXTENSION_FUNCS, WASI_P1, lookup
from wasmkiln.pyhook.netopts import NetOptionError, NetOptions

PROBE = Path(__file__).resolve().parent / "net_guests" / "sock_probe.c"

# What every runtime must print (errno values: AGAIN 6, BADF 8; event types: clock 0,
# fd_read 1; filetype SOCKET_STREAM 6).
EXPECTED = """\
fdstat(3) 0 type 6 nonblock 1
prestat(3) 8
accept, nobody waiting: 6
poll(listener, 20 ms) 0: 1 event(s), first userdata 2 type 0
poll(listener) 0: 1 event(s), userdata 1 type 1 error 0
accept 0
fdstat(conn) 0 type 6 nonblock 0
fd_read "ping\\n"
fd_write 0 5
sock_send 0 5
set nonblock 0
sock_recv until EOF "bye\\n"
eof 1
shutdown(conn, WR) 0
"""


def _peer(port: int) -> bytes:
    s = socket.create_connection(("127.0.0.1", port), timeout=30)
    s.sendall(b"ping\n")
    got = b""
    while len(got) < 10:
        chunk = s.recv(64)
        if not chunk:
            break
        got += chunk
    time.sleep(0.05)  # the guest is in poll_oneoff on the socket when "bye" arrives
    s.sendall(b"bye\n")
    s.shutdown(socket.SHUT_WR)
    while chunk := s.recv(64):
        got += chunk
    s.close()
    return got


def _probe_output(runner: str, tmp_path: Path) -> str:
    wasm = compile_c(PROBE)
    why = skip_reason(runner)
    if why:
        pytest.skip(why)
    image = None
    if runner in ("kvm", "spt"):
        image = build_image(wasm, None, tmp_path / f"probe.{runner}", f"x86_64-{runner}")
    with start(runner, image=image, wasm=wasm, ready_marker="waiting") as srv:
        assert _peer(srv.port) == b"pong\nmore\n"
        srv.proc.wait(timeout=60)
        assert srv.proc.returncode == 0, srv.stderr()
        return srv.stdout()


@pytest.mark.parametrize("runner", ["kvm", "spt", "wasmtime"])
def test_socket_calls(runner: str, tmp_path: Path) -> None:
    out = _probe_output(runner, tmp_path)
    assert out.startswith(EXPECTED), out


@pytest.mark.parametrize("runner", ["kvm", "spt"])
def test_same_as_wasmtime(runner: str, tmp_path: Path) -> None:
    """Every line, the error cases after the pinned part included, as wasmtime prints it."""
    binary, why = wasmtime_cli()
    if binary is None:
        pytest.skip(why)
    theirs = _probe_output("wasmtime", tmp_path)
    ours = _probe_output(runner, tmp_path)
    # The one known difference: sock_* on a descriptor that is not a socket. The
    # wasi-testsuite (sock_shutdown-not_sock) and wasmtime's default preview1 say ENOTSOCK
    # (57); the legacy preview1 that -S tcplisten needs says EBADF (8). We follow the suite.
    theirs = theirs.replace("sock_accept(stdout) 8\n", "sock_accept(stdout) 57\n")
    assert ours == theirs


# ---- the WasmEdge socket extension ---------------------------------------------------------

WASMEDGE_CLIENT = Path(__file__).resolve().parent / "net_guests" / "wasmedge_client.c"
WASMEDGE_SERVER = Path(__file__).resolve().parent / "net_guests" / "wasmedge_server.c"
EXT_HEADER = Path(__file__).resolve().parent.parent / "unikernel" / "include" / "wk" / \
    "wasi_sock_ext.h"


class _EchoServers:
    """A TCP and a UDP echo server on the host's loopback, which both slirp and passt make
    reachable from the guest at the gateway address 10.0.2.2."""

    def __init__(self) -> None:
        self.tcp = socket.create_server(("127.0.0.1", 0))
        self.udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.udp.bind(("127.0.0.1", 0))
        self.udp.settimeout(0.2)
        self.tcp.settimeout(0.2)
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=f, daemon=True)
                        for f in (self._tcp_loop, self._udp_loop)]
        for t in self.threads:
            t.start()

    def _tcp_loop(self) -> None:
        while not self.stop.is_set():
            try:
                conn, _ = self.tcp.accept()
            except TimeoutError:
                continue
            with conn:
                conn.settimeout(30)
                while data := conn.recv(4096):
                    conn.sendall(data)

    def _udp_loop(self) -> None:
        while not self.stop.is_set():
            try:
                data, peer = self.udp.recvfrom(65536)
            except TimeoutError:
                continue
            self.udp.sendto(data, peer)

    def close(self) -> None:
        self.stop.set()
        for t in self.threads:
            t.join(5)
        self.tcp.close()
        self.udp.close()


@pytest.mark.parametrize("runner", ["kvm", "spt"])
def test_wasmedge_tcp_and_udp_client(runner: str, tmp_path: Path) -> None:
    """sock_open/sock_connect/sock_send_to/sock_recv_from (the WasmEdge names and signatures)
    against echo servers on the host: a TCP client and a UDP round trip."""
    why = skip_reason(runner)
    if why:
        pytest.skip(why)
    wasm = compile_c(WASMEDGE_CLIENT)
    image = build_image(wasm, None, tmp_path / f"client.{runner}", f"x86_64-{runner}")
    echo = _EchoServers()
    try:
        flags = ["--accel", "tcg"] if runner == "kvm" else []
        # spt: passt maps the gateway address to the host's loopback (its --map-gw default).
        addr = ["--ip", "10.0.2.15/24", "--gateway", "10.0.2.2"] if runner == "spt" else []
        proc = subprocess.run(
            [*wasmkiln_cli(), "run", "--net", *flags, *addr, str(image), "--", "10.0.2.2",
             str(echo.tcp.getsockname()[1]), str(echo.udp.getsockname()[1])],
            capture_output=True, text=True, timeout=120, check=False)
    finally:
        echo.close()
    assert proc.returncode == 0, proc.stdout + proc.stderr
    for line in ("tcp connect 0", "tcp echo same", "local 0 type 4 port>0 1",
                 "peer 0 10.0.2.2 port ok 1", "udp SO_TYPE 0 1", "udp send_to 0 10",
                 "udp recv_from 0 same family 1 from 10.0.2.2"):
        assert line in proc.stdout.splitlines(), proc.stdout


@pytest.mark.parametrize("runner", ["kvm", "spt"])
def test_wasmedge_server_takes_the_published_port(runner: str, tmp_path: Path) -> None:
    """A server on sock_open/sock_bind/sock_listen/sock_accept(fd, *fd), run with `-p`: its
    bind takes over the preopened listener on that port, and a host client is echoed."""
    why = skip_reason(runner)
    if why:
        pytest.skip(why)
    wasm = compile_c(WASMEDGE_SERVER)
    image = build_image(wasm, None, tmp_path / f"server.{runner}", f"x86_64-{runner}")
    with start(runner, image=image, args=["80"], ready_marker="listening") as srv:
        payload = bytes(range(256)) * 64
        with socket.create_connection(("127.0.0.1", srv.port), timeout=30) as c:
            c.sendall(payload)
            c.shutdown(socket.SHUT_WR)
            got = b""
            while chunk := c.recv(65536):
                got += chunk
        assert got == payload
        srv.proc.wait(timeout=60)
        assert srv.proc.returncode == 0, srv.stderr()
        assert srv.stdout().splitlines() == [
            "listen 0", "accept 0", f"echoed {len(payload)} bytes, close 0"]


def test_extension_table_matches_header() -> None:
    """bridge/hostfuncs.py's signature-keyed socket functions are the ones wk/wasi_sock_ext.h
    declares, with the same parameter counts, and the header's table says the same."""
    text = EXT_HEADER.read_text()
    body = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    protos = {m.group(1): len(m.group(2).split(",")) - 1
              for m in re.finditer(r"int32_t (wk_wasmedge_\w+)\((wk_vmctx \*vm[^)]*)\);", body)}
    table = {(m.group(1), m.group(2)): m.group(3)
             for m in re.finditer(r"^ \*   (sock_\w+)\s+(\w+:i)\s+(wk_wasmedge_\w+)$", text,
                                  re.M)}
    assert table == {(n, sig): sym for n, sig, sym in SOCKET_EXTENSION_FUNCS}
    assert set(protos) == {sym for _, _, sym in SOCKET_EXTENSION_FUNCS}
    for name, sig, sym in SOCKET_EXTENSION_FUNCS:
        assert protos[sym] == len(sig.partition(":")[0]), sym
        assert lookup(WASI_P1, name, sig) == sym
    # The clash the signature keys exist for: two sock_accept functions.
    assert lookup(WASI_P1, "sock_accept", "iii:i") == "wk_wasi_sock_accept"
    assert lookup(WASI_P1, "sock_accept", "ii:i") == "wk_wasmedge_sock_accept"
    assert lookup(WASI_P1, "sock_open", "iiii:i") is None  # WAMR's: not provided yet


# ---- the options of `wasmkiln run` ---------------------------------------------------------


def test_net_options_to_qemu_and_kernel() -> None:
    net = NetOptions.parse(["8080:80", "127.0.0.1:8443:443"], ["127.0.0.1:9000"],
                           "10.0.2.20/24", "10.0.2.2")
    assert net.listen_ports() == [9000, 80, 443]
    assert net.kvm_tokens() == ["net.listen=0.0.0.0:9000", "net.listen=0.0.0.0:80",
                                "net.listen=0.0.0.0:443", "net.ip=10.0.2.20/24",
                                "net.gw=10.0.2.2"]
    netdev = net.qemu_args()[net.qemu_args().index("-netdev") + 1]
    assert netdev == ("user,id=n0,net=10.0.2.0/24,host=10.0.2.2"
                      ",hostfwd=tcp:127.0.0.1:9000-10.0.2.20:9000"
                      ",hostfwd=tcp::8080-10.0.2.20:80"
                      ",hostfwd=tcp:127.0.0.1:8443-10.0.2.20:443")
    assert not NetOptions.parse([], [], None, None).wanted
    assert NetOptions.parse([], [], None, None, nic=True).kvm_tokens() == []


@pytest.mark.parametrize("bad", [
    (["80"], [], None, None), (["0:80"], [], None, None), (["x:1:2"], [], None, None),
    ([], ["8080"], None, None), ([], ["localhost:8080"], None, None),
    (["8080:80", "8080:81"], [], None, None), ([], [], "10.0.2.300", None),
    ([], [], None, "10.0.2.2"),
])
def test_net_option_errors(bad: tuple[list[str], list[str], str | None, str | None]) -> None:
    with pytest.raises(NetOptionError):
        NetOptions.parse(*bad)


def test_cli_errors_are_one_line(wasm_fixture) -> None:  # type: ignore[no-untyped-def]
    hello = wasm_fixture("hello")
    for args, want in [
        (["-p", "80", str(hello)], "HOSTPORT:GUESTPORT"),
        (["--gateway", "10.0.2.2", str(hello)], "--gateway needs --ip"),
    ]:
        proc = subprocess.run([*wasmkiln_cli(), "run", *args], capture_output=True, text=True,
                              timeout=300, check=False)
        assert proc.returncode == 2, proc.stderr
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1 and want in lines[0], proc.stderr


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-q"]))
