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

import ipaddress
import os
import re
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from contextlib import closing
from pathlib import Path

import pytest
from guest_programs import compile_c
from http_guests import build_image, free_port, skip_reason, start, wasmkiln_cli, wasmtime_cli

from wasmkiln.bridge.hostfuncs import SOCKET_EXTENSION_FUNCS, WASI_P1, lookup
from wasmkiln.pyhook.run.netopts import NetOptionError, NetOptions

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


# ---- gather writes and reads after a short read ------------------------------------------

GATHER = Path(__file__).resolve().parent / "net_guests" / "sock_gather.c"
GATHER_PAT = 8 << 20


def _pattern(n: int) -> bytes:
    """sock_gather.c's pat[]: byte i is (i * 131 + (i >> 8)) mod 256."""
    return bytes((i * 131 + (i >> 8)) & 0xFF for i in range(n))


def _recv_exact(s: socket.socket, n: int) -> bytes:
    got = bytearray()
    while len(got) < n:
        chunk = s.recv(min(n - len(got), 1 << 20))
        if not chunk:
            break
        got += chunk
    return bytes(got)


def _gather_peer(port: int) -> list[str]:
    """sock_gather.c's peer (its comment has the script); what did not match, else []."""
    pat = _pattern(GATHER_PAT + 4096)
    bad = []
    s = socket.create_connection(("127.0.0.1", port), timeout=60)
    with s:
        s.sendall(b"go")
        n40 = sum(i * 37 % 100 for i in range(40))
        if _recv_exact(s, n40) != pat[:n40]:
            bad.append("the 40-iovec send")
        time.sleep(0.3)  # the 4 MiB send fills the socket meanwhile
        nbig = 101 + (4 << 20)
        if _recv_exact(s, nbig) != pat[:nbig]:
            bad.append("the 4 MiB send")
        time.sleep(0.5)  # the non-blocking send fills it and waits
        for half in ("first", "second"):
            if _recv_exact(s, GATHER_PAT) != pat[:GATHER_PAT]:
                bad.append(f"the non-blocking send's {half} 8 MiB")
        s.sendall(b"abc")
        for said, then in ((b"ok\n", b"def"), (b"ok2\n", b"ghi"), (b"ok3\n", b"jkl")):
            if _recv_exact(s, len(said)) != said:
                bad.append(f"no {said!r}")
                break
            if then != b"ghi":
                time.sleep(0.05)  # the guest is spinning (def) or blocked (jkl) in sock_recv
            s.sendall(then)
        s.shutdown(socket.SHUT_WR)
        if s.recv(16) != b"":
            bad.append("bytes after the script")
    return bad


def _gather_output(runner: str, tmp_path: Path) -> str:
    why = skip_reason(runner)
    if why:
        pytest.skip(why)
    wasm = compile_c(GATHER)
    image = None
    if runner in ("kvm", "spt"):
        image = build_image(wasm, None, tmp_path / f"gather.{runner}", f"x86_64-{runner}")
    with start(runner, image=image, wasm=wasm, ready_marker="waiting", timeout=120) as srv:
        assert _gather_peer(srv.port) == [], srv.stderr()
        srv.proc.wait(timeout=120)
        assert srv.proc.returncode == 0, srv.stderr()
        return srv.stdout()


GATHER_EXPECTED = f"""\
accept 0
hello 0 "go"
gather40 0 1960 of 1960
big 0 {101 + (4 << 20)}
set nonblock 0
nonblock first 0 short 1
nonblock all 0 {2 * GATHER_PAT} (waited: 1)
read 0 "abc"
spin 0 "def"
set blocking 0
blocking 0 "ghi"
blocking 0 "jkl"
at the end 0 ""
close 0
"""


@pytest.mark.parametrize("runner", ["spt", "kvm", "wasmtime"])
def test_gather_sends_and_reads_after_a_short_read(runner: str, tmp_path: Path) -> None:
    """Every byte of sends of 40 iovecs, of 4 MiB (short writes resumed inside a piece) and
    of 2 x 8 MiB non-blocking arrives in order; after a short read, a guest spinning on a
    non-blocking sock_recv gets the data sent later, a blocking one too, then the end of the
    stream. The same lines as wasmtime's (spt: one writev per sock_send, one EAGAIN answered
    without asking the kernel)."""
    assert _gather_output(runner, tmp_path) == GATHER_EXPECTED


# ---- the WasmEdge socket extension ---------------------------------------------------------

WASMEDGE_CLIENT = Path(__file__).resolve().parent / "net_guests" / "wasmedge_client.c"
WASMEDGE_SERVER = Path(__file__).resolve().parent / "net_guests" / "wasmedge_server.c"
WASMEDGE_V2_CLIENT = Path(__file__).resolve().parent / "net_guests" / "wasmedge_v2_client.c"
WAMR_CLIENT = Path(__file__).resolve().parent / "net_guests" / "wamr_client.c"
IPV6_CLIENT = Path(__file__).resolve().parent / "net_guests" / "ipv6_client.c"
EXT_HEADER = (
    Path(__file__).resolve().parent.parent / "unikernel" / "include" / "wk" / "wasi_sock_ext.h"
)


def _serve_udp(
    sock: socket.socket, stop: threading.Event, answer: Callable[[bytes], bytes | None]
) -> None:
    """Answer each datagram on sock (which has a timeout) with answer(data), until stop."""
    while not stop.is_set():
        try:
            data, peer = sock.recvfrom(65536)
        except TimeoutError:
            continue
        reply = answer(data)
        if reply is not None:
            sock.sendto(reply, peer)


class _EchoServers:
    """A TCP and a UDP echo server on the host's loopback (127.0.0.1, or ::1), which both
    slirp and passt make reachable from the guest at the gateway address 10.0.2.2 (passt:
    also at its IPv6 gateway)."""

    def __init__(self, host: str = "127.0.0.1") -> None:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.tcp = socket.create_server((host, 0), family=family)
        self.udp = socket.socket(family, socket.SOCK_DGRAM)
        self.udp.bind((host, 0))
        self.udp.settimeout(0.2)
        self.tcp.settimeout(0.2)
        self.stop = threading.Event()
        self.threads = [
            threading.Thread(target=f, daemon=True) for f in (self._tcp_loop, self._udp_loop)
        ]
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
        _serve_udp(self.udp, self.stop, lambda data: data)

    def close(self) -> None:
        self.stop.set()
        for t in self.threads:
            t.join(5)
        self.tcp.close()
        self.udp.close()


# The client tests' runs: kvm on its default NIC (slirp), spt on passt (a NIC with lwIP) and
# spt on the host's own sockets (--net: the outbound grant). The same lines are expected of
# each: the gateway 10.0.2.2 is the host's loopback on all three (sock_spt.c maps it).
CLIENT_RUNS = [("kvm", "auto"), ("spt", "passt"), ("spt", "host")]


def _run_client(
    runner: str,
    source: Path,
    tmp_path: Path,
    echo: _EchoServers,
    extra: list[str] | None = None,
    run_flags: list[str] | None = None,
    host: str = "10.0.2.2",
    addr: list[str] | None = None,
    backend: str = "auto",
    tcp_port: int | None = None,
) -> subprocess.CompletedProcess[str]:
    """Build source for runner and run it against the echo servers (args: host, the TCP
    and UDP ports, then extra); the run reaches out but publishes no port. backend: spt's
    --net-backend (host: only --net, no address of its own). tcp_port: another TCP port
    than the echo server's."""
    why = skip_reason("spt-passt" if (runner, backend) == ("spt", "passt") else runner)
    if why:
        pytest.skip(why)
    wasm = compile_c(source)
    image = build_image(wasm, None, tmp_path / f"{source.stem}.{runner}", f"x86_64-{runner}")
    flags = ["--accel", "tcg"] if runner == "kvm" else []
    # The gateway reaches the host's loopback: slirp's 10.0.2.2 is the host, and passt (spt;
    # kvm's -netdev stream) maps its gateway address there (its --map-gw default). A static
    # address makes 10.0.2.2 the gateway under both; passt's DHCP would hand out the host's.
    if addr is None and backend == "host":
        addr = ["--net"]
    elif addr is None:
        addr = ["--net", "--ip", "10.0.2.15/24", "--gateway", "10.0.2.2"]
    if backend != "auto":
        addr = [*addr, "--net-backend", backend]
    return subprocess.run(
        [
            *wasmkiln_cli(),
            "run",
            *flags,
            *addr,
            *(run_flags or []),
            str(image),
            "--",
            host,
            str(tcp_port or echo.tcp.getsockname()[1]),
            str(echo.udp.getsockname()[1]),
            *(extra or []),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.parametrize("runner,backend", CLIENT_RUNS)
def test_wasmedge_tcp_and_udp_client(runner: str, backend: str, tmp_path: Path) -> None:
    """sock_open/sock_connect/sock_send_to/sock_recv_from (the WasmEdge names and signatures)
    against echo servers on the host: a TCP client and a UDP round trip."""
    with closing(_EchoServers()) as echo:
        proc = _run_client(runner, WASMEDGE_CLIENT, tmp_path, echo, backend=backend)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    for line in (
        "tcp connect 0",
        "tcp echo same",
        "local 0 type 4 port>0 1",
        "peer 0 10.0.2.2 port ok 1",
        "udp SO_TYPE 0 1",
        "udp send_to 0 10",
        "udp recv_from 0 same family 1 from 10.0.2.2",
    ):
        assert line in proc.stdout.splitlines(), proc.stdout


@pytest.mark.parametrize("runner,backend", CLIENT_RUNS)
def test_connect_refused(runner: str, backend: str, tmp_path: Path) -> None:
    """A connect to a host port nobody listens on is ECONNREFUSED (14) on every back end (on
    spt's host sockets: the connecting socket errs, and SO_ERROR says why); the UDP round
    trip after it still works."""
    with closing(_EchoServers()) as echo:
        proc = _run_client(
            runner, WASMEDGE_CLIENT, tmp_path, echo, backend=backend, tcp_port=free_port()
        )
    lines = proc.stdout.splitlines()
    assert "tcp connect 14" in lines, proc.stdout + proc.stderr
    assert "udp recv_from 0 same family 1 from 10.0.2.2" in lines, proc.stdout + proc.stderr


def test_host_sockets_refuse_what_was_not_granted(tmp_path: Path) -> None:
    """spt on the host's sockets without --net grants the published ports only: a module that
    connects out gets EACCES (2) from sock_connect, and from UDP's send_to too; it is told,
    not killed (the sandbox below kills a socket() or connect() made anyway:
    tests/test_spt_platform.py), and stderr says once which flag grants it."""
    with closing(_EchoServers()) as echo:
        proc = _run_client(
            "spt",
            WASMEDGE_CLIENT,
            tmp_path,
            echo,
            run_flags=["--net-backend", "host", "-p", f"127.0.0.1:{free_port()}:80"],
            addr=[],
        )
    lines = proc.stdout.splitlines()
    assert "tcp connect 2" in lines, proc.stdout + proc.stderr
    assert "udp send_to 2 0" in lines, proc.stdout + proc.stderr
    assert proc.returncode not in (0, 128 + 31), proc.stdout + proc.stderr  # not SIGSYS
    assert "Traceback" not in proc.stderr
    hint = [line for line in proc.stderr.splitlines() if "refused" in line]
    assert hint == [
        "wasmkiln: the guest's connection out was refused: this run grants no outgoing "
        "network (wasmkiln run --net)"
    ], proc.stderr


def test_host_backend_needs_what_it_can_give(tmp_path: Path) -> None:
    """--net-backend host has no NIC: asking it for an address of the guest's own, or for
    nothing at all (no port, no --net), is a one-line error before anything runs."""
    image = build_image(compile_c(WASMEDGE_SERVER), None, tmp_path / "s.spt", "x86_64-spt")
    for flags, why in (
        (["--ip", "10.0.2.15/24", "-p", "8080:80"], "--net-backend passt"),
        (["--net", "--ip", "10.0.2.15/24", "--gateway", "10.0.2.2"], "--net-backend passt"),
        ([], "needs a port to publish (-p or --listen) or --net"),
    ):
        proc = subprocess.run(
            [*wasmkiln_cli(), "run", "--net-backend", "host", *flags, str(image)],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert proc.returncode == 2 and why in proc.stderr, proc.stderr
        assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr


def test_spt_auto_back_end() -> None:
    """What `--net-backend auto` picks on spt: the host's sockets for everything they can give
    (published ports, a module with sockets of its own, --net, --dns), passt only for an
    address of the guest's own (--ip, --gateway); --tap is its own back end."""
    from wasmkiln.pyhook.run.runner import RunOptions, spt_net_backend

    own = {"own_sockets": True}
    cases: tuple[tuple[list[str], dict, dict, str | None], ...] = (
        (["8080:80"], {}, own, "host"),
        (["8080:80"], {}, {}, "host"),
        ([], {"nic": True}, own, "host"),
        ([], {"dns": "10.0.2.2:53"}, {}, "host"),
        (["8080:80"], {"nic": True, "dns": "1.1.1.1"}, own, "host"),
        ([], {"nic": True, "ip": "10.0.2.15/24"}, {}, "passt"),
        (["8080:80"], {"ip": "10.0.2.15", "gateway": "10.0.2.2"}, own, "passt"),
        ([], {}, own, None),
    )
    for publish, kw, info, want in cases:
        net = NetOptions.parse(
            publish,
            [],
            kw.get("ip"),
            kw.get("gateway"),
            nic=bool(kw.get("nic")),
            dns=kw.get("dns"),
        )
        assert spt_net_backend(info, RunOptions(net=net)) == want, (publish, kw, info)
    net = NetOptions.parse(["8080:80"], [], None, None)
    assert spt_net_backend(own, RunOptions(net=net, net_backend="passt")) == "passt"


def test_spt_host_args_grant_outbound_with_net_or_dns(tmp_path: Path) -> None:
    """The spt process's host-socket arguments: --net or --dns add the outbound grant and a
    DNS server (--dns's, else the host's first IPv4 nameserver); -p alone grants neither."""
    resolv = tmp_path / "resolv.conf"
    resolv.write_text("# x\nsearch example\nnameserver fe80::1\nnameserver 192.0.2.53\n")
    publish_only = NetOptions.parse(["8080:80"], [], None, None)
    assert publish_only.spt_host_args([7], resolv) == [
        "--net",
        "host",
        "--net",
        "net.publish=0.0.0.0:80",
        "--net",
        "hostfd=7",
    ]
    net = NetOptions.parse([], [], None, None, nic=True)
    assert net.spt_host_args([], resolv) == [
        "--net",
        "host",
        "--net",
        "outbound",
        "--net",
        "net.dns=192.0.2.53:53",
    ]
    assert net.spt_host_args([], tmp_path / "none") == ["--net", "host", "--net", "outbound"]
    dns = NetOptions.parse([], [], None, None, dns="10.0.2.2:5353")
    assert dns.spt_host_args([], resolv)[-2:] == ["--net", "net.dns=10.0.2.2:5353"]


class _DnsServer:
    """A UDP DNS server on the host's loopback that knows A records of `names` and answers
    NXDOMAIN for the rest; the guest reaches it as 10.0.2.2:PORT (`--dns`)."""

    def __init__(self, names: dict[str, str]) -> None:
        self.names = names
        self.asked: list[str] = []
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.port = int(self.sock.getsockname()[1])
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._loop, daemon=True)
        self.thread.start()

    def _answer(self, query: bytes) -> bytes:
        labels, i = [], 12
        while query[i]:
            labels.append(query[i + 1 : i + 1 + query[i]].decode())
            i += 1 + query[i]
        question = query[12 : i + 5]  # the name, its terminator, type and class
        name = ".".join(labels)
        self.asked.append(name)
        ip = self.names.get(name.lower())
        qtype = int.from_bytes(query[i + 1 : i + 3], "big")
        if ip is None or qtype != 1:
            flags, answers = (0x8183 if ip is None else 0x8180), b""
        else:
            flags = 0x8180
            answers = (
                b"\xc0\x0c"
                + (1).to_bytes(2, "big")
                + (1).to_bytes(2, "big")
                + (60).to_bytes(4, "big")
                + (4).to_bytes(2, "big")
                + socket.inet_aton(ip)
            )
        count = 1 if answers else 0
        header = query[:2] + flags.to_bytes(2, "big") + b"\x00\x01" + count.to_bytes(2, "big")
        return header + b"\x00\x00\x00\x00" + question + answers

    def _loop(self) -> None:
        _serve_udp(self.sock, self.stop, lambda q: self._answer(q) if len(q) > 12 else None)

    def close(self) -> None:
        self.stop.set()
        self.thread.join(5)
        self.sock.close()


def _v2_client_lines(
    runner: str, backend: str, tmp_path: Path, dns: _DnsServer, names: list[str]
) -> list[str]:
    """wasmedge_v2_client's lines (it exited 0), run against fresh echo servers with `names`
    to look up, asked of `dns` at 10.0.2.2 (`--dns`)."""
    with closing(_EchoServers()) as echo:
        proc = _run_client(
            runner,
            WASMEDGE_V2_CLIENT,
            tmp_path,
            echo,
            extra=names,
            run_flags=["--dns", f"10.0.2.2:{dns.port}"],
            backend=backend,
        )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout.splitlines()


@pytest.mark.parametrize("runner,backend", CLIENT_RUNS)
def test_wasmedge_v2_and_getaddrinfo(runner: str, backend: str, tmp_path: Path) -> None:
    """The V2 generation (sock_*_v2, and the plain names with V2 signatures) and
    sock_getaddrinfo: "localhost", a numeric host, and a name asked of a DNS server the test
    runs on the host (`--dns 10.0.2.2:PORT`), which also sees the query."""
    with closing(_DnsServer({"echo.wasmkiln.test": "10.0.2.2"})) as dns:
        names = ["echo.wasmkiln.test", "nosuch.wasmkiln.test"]
        lines = _v2_client_lines(runner, backend, tmp_path, dns, names)
    for line in (
        # [family (1 IPv4, 2 IPv6), socktype (2 stream, 1 datagram: both when the hint
        # says any), address, port]
        "resolve localhost: 0 2 [1 2 127.0.0.1 8080] [2 2 ::1 8080] canon localhost",
        "resolve 10.0.2.2: 0 2 [1 2 10.0.2.2 0] [1 1 10.0.2.2 0] canon 10.0.2.2",
        "resolve echo.wasmkiln.test: 0 1 [1 2 10.0.2.2 80] canon echo.wasmkiln.test",
        "resolve nosuch.wasmkiln.test: 84 0",  # NXDOMAIN: EAI_NONAME
        "resolve : 84 0",  # WasmEdge's EAI_NONAME: neither node nor service
        "empty node and service: 84",
        "resolve ::1: 0 1 [2 1 ::1 443] canon ::1",
        "resolve fd00::1:2: 0 1 [2 2 fd00::1:2 0] canon fd00::1:2",
        "tcp connect_v2 0",
        "tcp echo same",
        "local 0 family 1 port>0 1",
        "peer 0 10.0.2.2 port ok 1",
        "v2 local with a 4-byte buffer: 28",  # EINVAL: V2 wants the 128-byte store
        "accept_v2 on a connection: 28",
        "udp send_to_v2 0 13",
        "udp recv_from 0 same from 10.0.2.2 port ok 1",
    ):
        assert line in lines, lines
    # Numbers and localhost never reach DNS.
    assert dns.asked == ["echo.wasmkiln.test", "nosuch.wasmkiln.test"]


class _AwkwardDnsServer(_DnsServer):
    """A DNS server that tests a stub's patience: before each answer it sends one with the
    wrong identifier (and a wrong address); it ignores the first query for `slow.*`; it
    answers `alias.*` with a CNAME record before the A record; and a name it has no A
    record for gets an empty answer (NOERROR), not NXDOMAIN."""

    def __init__(self, names: dict[str, str]) -> None:
        self.ignored: set[str] = set()
        super().__init__(names)

    def _loop(self) -> None:
        while not self.stop.is_set():
            try:
                query, peer = self.sock.recvfrom(65536)
            except TimeoutError:
                continue
            if len(query) <= 12:
                continue
            answer = self._answer(query)
            name = self.asked[-1]
            if name.startswith("slow.") and name not in self.ignored:
                self.ignored.add(name)
                continue
            ip = self.names.get(name.lower())
            if ip is None:  # NOERROR, no records: the name exists without an address
                answer = answer[:2] + b"\x81\x80" + answer[4:]
            elif name.startswith("alias."):
                target = b"\x06target\xc0\x0c"
                cname = b"\xc0\x0c\x00\x05\x00\x01\x00\x00\x00\x3c" + len(target).to_bytes(2, "big")
                header = answer[:6] + b"\x00\x02" + answer[8:12]
                question = query[12 : len(query)]
                answer = header + question + cname + target + answer[12 + len(question) :]
            wrong_id = bytes([query[0] ^ 0xFF, query[1]]) + answer[2:-4] + bytes([192, 0, 2, 99])
            self.sock.sendto(wrong_id, peer)
            self.sock.sendto(answer, peer)


@pytest.mark.slow
def test_host_sockets_dns_stub_is_patient(tmp_path: Path) -> None:
    """spt's own DNS stub (platform/spt/dns_spt.c, on the host's sockets): it skips an answer
    with another identifier, reads the A record after a CNAME, asks again when the first
    query goes unanswered (half of its 10 s budget later), and takes an empty answer for
    EAI_NONAME (84)."""
    names = {
        "echo.wasmkiln.test": "10.0.2.2",
        "alias.wasmkiln.test": "192.0.2.7",
        "slow.wasmkiln.test": "192.0.2.8",
    }
    lookups = ["echo.wasmkiln.test", "alias.wasmkiln.test", "slow.wasmkiln.test"]
    with closing(_AwkwardDnsServer(names)) as dns:
        t0 = time.monotonic()
        lines = _v2_client_lines("spt", "host", tmp_path, dns, [*lookups, "empty.wasmkiln.test"])
        took = time.monotonic() - t0
    want = [
        "resolve echo.wasmkiln.test: 0 1 [1 2 10.0.2.2 80] canon echo.wasmkiln.test",
        "resolve alias.wasmkiln.test: 0 1 [1 2 192.0.2.7 0] canon alias.wasmkiln.test",
        "resolve slow.wasmkiln.test: 0 1 [1 2 192.0.2.8 0] canon slow.wasmkiln.test",
        "resolve empty.wasmkiln.test: 84 0",
    ]
    assert [x for x in lines if x.startswith("resolve ") and "wasmkiln.test" in x] == want
    assert dns.asked.count("slow.wasmkiln.test") == 2, dns.asked
    assert 4.5 < took < 60, took  # the retry waited half the budget, once


@pytest.mark.parametrize("runner,backend", CLIENT_RUNS)
def test_wamr_tcp_and_udp_client(runner: str, backend: str, tmp_path: Path) -> None:
    """WAMR's extension (sock_open(poolfd, af, type, *fd), sock_connect(fd, *addr), ...,
    declared by the guest with WAMR's names and signatures) against the host's echo
    servers, with its options and the ENOTSUP (58) of the ones the stack lacks."""
    with closing(_EchoServers()) as echo:
        proc = _run_client(runner, WAMR_CLIENT, tmp_path, echo, backend=backend)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = proc.stdout.splitlines()
    for line in (
        # [kind (0 IPv4, 1 IPv6), type (1 stream, 0 datagram), address, port]
        "resolve localhost: 0 4 [0 1 127.0.0.1 0] [0 0 127.0.0.1 0] [1 1 0:0:0:0:0:0:0:1 0]"
        " [1 0 0:0:0:0:0:0:0:1 0]",
        "resolve 10.0.2.2: 0 1 [0 1 10.0.2.2 7]",
        "resolve fe80::1: 0 1 [1 0 fe80:0:0:0:0:0:0:1 53]",  # hints: IPv6 datagram
        "resolve localhost: 0 1 [1 0 0:0:0:0:0:0:0:1 0]",
        "resolve 10.0.2.2: 44 0",  # ENOENT: no IPv6 address for it
        "tcp open 0",
        "nodelay off 0 get 0 0",
        "keepalive on 0 get 0 1",
        "reuse_addr on 0 get 0 1",
        "buffers 0 0 1",
        "recv_timeout 58 linger 58",
        "tcp connect 0",
        "nodelay on 0 get 0 1",
        "tcp echo same",
        "local 0 kind 0 port>0 1",
        "peer 0 10.0.2.2 port ok 1",
        "tcp close 0",
        "udp open 0",
        "broadcast 0 get 0 1",
        "udp nodelay 50",  # ENOPROTOOPT on UDP
        "udp send_to 0 15",
        "udp recv_from 0 same from 10.0.2.2 port ok 1",
        "udp close 0",
    ):
        assert line in lines, proc.stdout


@pytest.mark.parametrize(
    "runner,backend", [("kvm", "auto"), ("spt", "auto"), ("spt", "host"), ("spt", "passt")]
)
def test_wasmedge_server_takes_the_published_port(
    runner: str, backend: str, tmp_path: Path
) -> None:
    """A server on sock_open/sock_bind/sock_listen/sock_accept(fd, *fd), run with `-p`: its
    bind takes over the preopened listener on that port, and a host client is echoed. On spt
    auto gives such a module the host's sockets; passt (a NIC) serves it as well."""
    why = skip_reason("spt-passt" if backend == "passt" else runner)
    if why:
        pytest.skip(why)
    wasm = compile_c(WASMEDGE_SERVER)
    image = build_image(wasm, None, tmp_path / f"server.{runner}", f"x86_64-{runner}")
    with start(
        runner,
        image=image,
        args=["80"],
        ready_marker="listening",
        run_flags=["--net-backend", backend],
    ) as srv:
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
            "listen 0",
            "accept 0",
            f"echoed {len(payload)} bytes, close 0",
        ]


@pytest.mark.parametrize("runner", ["kvm", "spt", "spt-passt"])
def test_own_socket_server_sees_its_directories_with_p(runner: str, tmp_path: Path) -> None:
    """A wasi-libc server that opens its own socket, run with `-p` and a packed directory:
    `-p`'s listener comes after the directories, so libc's preopen scan finds them and
    fopen works (a listener at fd 3 used to end the scan: every file was missing). spt: on
    the host's sockets (auto) and on passt."""
    why = skip_reason(runner)
    if why:
        pytest.skip(why)
    site = tmp_path / "site"
    (site / "sub").mkdir(parents=True)
    files = {"/hello.txt": b"hello from the packed dir\n", "/sub/data.bin": os.urandom(10000)}
    for path, body in files.items():
        (site / path.lstrip("/")).write_bytes(body)
    wasm = compile_c(WASMEDGE_SERVER)
    target = "x86_64-kvm" if runner == "kvm" else "x86_64-spt"
    image = build_image(wasm, site, tmp_path / f"server.{runner}", target)
    asks = [*files, "/nope"]
    with start(runner, image=image, args=["80", str(len(asks))], ready_marker="listening") as srv:
        for path in asks:
            with socket.create_connection(("127.0.0.1", srv.port), timeout=30) as c:
                c.sendall(path.encode() + b"\n")
                got = b""
                while chunk := c.recv(65536):
                    got += chunk
            assert got == files.get(path, b"missing\n"), path
        srv.proc.wait(timeout=60)
        assert srv.proc.returncode == 0, srv.stderr()


def _host_ipv6_gateway() -> str | None:
    """The host's default IPv6 gateway (/proc/net/ipv6_route), which passt gives the guest as
    its own and maps to the host's ::1; None without one (passt then turns IPv6 off)."""
    try:
        lines = Path("/proc/net/ipv6_route").read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        f = line.split()
        if len(f) >= 5 and f[0] == "0" * 32 and f[1] == "00" and f[4] != "0" * 32:
            return str(ipaddress.IPv6Address(bytes.fromhex(f[4])))
    return None


@pytest.mark.parametrize("runner,backend", [("kvm", "passt"), ("spt", "passt"), ("spt", "host")])
def test_ipv6_tcp_and_udp(runner: str, backend: str, tmp_path: Path) -> None:
    """AF_INET6 through both extensions (a WasmEdge TCP echo, a WAMR UDP round trip) to echo
    servers on the host's ::1. Over passt, which gives the guest IPv6 (router
    advertisements: SLAAC) and maps its gateway to the host's ::1; kvm: with QEMU's NIC on
    passt too (`--net-backend passt`); slirp's IPv6 host is another address (docs/network.md
    "IPv6"). On spt's host sockets the host is slirp's fec0::2, which they map to ::1."""
    if backend == "host":
        with closing(_EchoServers("::1")) as echo:
            proc = _run_client(runner, IPV6_CLIENT, tmp_path, echo, host="fec0::2", backend=backend)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        _check_ipv6_lines(proc.stdout.splitlines())
        assert "udp6 from fec0::2" in proc.stdout.splitlines(), proc.stdout
        return
    gateway = _host_ipv6_gateway()
    if gateway is None:
        pytest.skip("the host has no default IPv6 route: passt gives the guest no IPv6")
    flags: list[str] = []
    if runner == "kvm":
        helptext = subprocess.run(
            [*wasmkiln_cli(), "run", "--help"],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        ).stdout
        if "--net-backend" not in helptext:
            pytest.skip("this wasmkiln runs kvm's NIC on slirp only (no --net-backend passt)")
        flags = ["--net-backend", "passt"]
    with closing(_EchoServers("::1")) as echo:
        proc = _run_client(runner, IPV6_CLIENT, tmp_path, echo, host=gateway, run_flags=flags)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    _check_ipv6_lines(proc.stdout.splitlines())


def _check_ipv6_lines(lines: list[str]) -> None:
    """What tests/net_guests/ipv6_client.c prints on every back end."""
    for line in (
        "tcp6 open 0",
        "tcp6 connect 0",
        "tcp6 echo same",
        "tcp6 peer 0 family 2 port ok 1 same host 1",
        "tcp6 local 0 family 2",
        "udp6 open 0",
        "udp6 send_to 0 16",
        "udp6 recv_from 0 same kind 1 port ok 1",
    ):
        assert line in lines, lines
    local = next(x for x in lines if x.startswith("local address "))
    assert not ipaddress.IPv6Address(local.split()[-1]).is_link_local, local  # SLAAC's


def test_extension_table_matches_header() -> None:
    """bridge/hostfuncs.py's signature-keyed socket functions are the ones the tables of
    wk/wasi_sock_ext.h list, and each symbol is declared (there, or in wk/wasi.h for a
    preview1 function reused) with parameters of exactly the signature's types."""
    text = EXT_HEADER.read_text()
    table = {
        (m.group(1), m.group(2), m.group(3))
        for m in re.finditer(r"^ \*   (sock_\w+)\s+(\w+:i)\s+(wk_\w+)$", text, re.M)
    }
    assert table == set(SOCKET_EXTENSION_FUNCS)
    letters = {"int32_t": "i", "int64_t": "I"}
    protos: dict[str, str] = {}
    for header in (EXT_HEADER, EXT_HEADER.with_name("wasi.h")):
        body = re.sub(r"/\*.*?\*/", "", header.read_text(), flags=re.S)
        for m in re.finditer(r"int32_t (wk_\w+)\(wk_vmctx \*vm([^)]*)\);", body):
            params = [p.split()[0] for p in m.group(2).split(",")[1:]]
            protos[m.group(1)] = "".join(letters[t] for t in params) + ":i"
    for name, sig, sym in SOCKET_EXTENSION_FUNCS:
        assert protos.get(sym) == sig, (name, sig, sym)
        assert lookup(WASI_P1, name, sig) == sym
    # The clashes the signature keys exist for.
    assert lookup(WASI_P1, "sock_accept", "iii:i") == "wk_wasi_sock_accept"
    assert lookup(WASI_P1, "sock_accept", "ii:i") == "wk_wasmedge_sock_accept"
    assert lookup(WASI_P1, "sock_open", "iii:i") == "wk_wasmedge_sock_open"
    assert lookup(WASI_P1, "sock_open", "iiii:i") == "wk_wamr_sock_open"
    assert lookup(WASI_P1, "sock_recv_from", "iiiiii:i") == "wk_wamr_sock_recv_from"
    assert lookup(WASI_P1, "sock_recv_from", "iiiiiii:i") == "wk_wasmedge_sock_recv_from"
    assert lookup(WASI_P1, "sock_recv_from", "iiiiiiii:i") == "wk_wasmedge_sock_recv_from_v2"
    assert lookup(WASI_P1, "sock_open", "iiiii:i") is None  # nobody's


# ---- the options of `wasmkiln run` ---------------------------------------------------------


def test_net_options_to_qemu_and_kernel() -> None:
    net = NetOptions.parse(
        ["8080:80", "127.0.0.1:8443:443"], ["127.0.0.1:9000"], "10.0.2.20/24", "10.0.2.2"
    )
    assert net.listen_ports() == [9000]
    assert net.publish_ports() == [80, 443]
    assert net.kvm_tokens() == [
        "net.listen=0.0.0.0:9000",
        "net.publish=0.0.0.0:80",
        "net.publish=0.0.0.0:443",
        "net.ip=10.0.2.20/24",
        "net.gw=10.0.2.2",
    ]
    netdev = net.qemu_args()[net.qemu_args().index("-netdev") + 1]
    assert netdev == (
        "user,id=n0,net=10.0.2.0/24,host=10.0.2.2"
        ",hostfwd=tcp:127.0.0.1:9000-10.0.2.20:9000"
        ",hostfwd=tcp::8080-10.0.2.20:80"
        ",hostfwd=tcp:127.0.0.1:8443-10.0.2.20:443"
    )
    assert not NetOptions.parse([], [], None, None).wanted
    assert NetOptions.parse([], [], None, None, nic=True).kvm_tokens() == []


@pytest.mark.parametrize(
    "bad",
    [
        (["80"], [], None, None),
        (["0:80"], [], None, None),
        (["x:1:2"], [], None, None),
        ([], ["8080"], None, None),
        ([], ["localhost:8080"], None, None),
        (["8080:80", "8080:81"], [], None, None),
        ([], [], "10.0.2.300", None),
        ([], [], None, "10.0.2.2"),
    ],
)
def test_net_option_errors(bad: tuple[list[str], list[str], str | None, str | None]) -> None:
    with pytest.raises(NetOptionError):
        NetOptions.parse(*bad)


def test_dns_option() -> None:
    """--dns A.B.C.D[:PORT] becomes net.dns=A.B.C.D:PORT (port 53 unless given) and alone
    still asks for a NIC; anything else is a one-line option error."""
    net = NetOptions.parse([], [], None, None, dns="10.0.2.3")
    assert net.wanted and net.kvm_tokens() == ["net.dns=10.0.2.3:53"]
    assert NetOptions.parse([], [], None, None, dns="10.0.2.2:5353").kvm_tokens() == [
        "net.dns=10.0.2.2:5353"
    ]
    for bad in ("resolver", "10.0.2.3:0", "10.0.2.3:x", "::1"):
        with pytest.raises(NetOptionError, match="--dns"):
            NetOptions.parse([], [], None, None, dns=bad)


def test_cli_errors_are_one_line(wasm_fixture: Callable[[str], Path]) -> None:
    hello = wasm_fixture("hello")
    for args, want in [
        (["-p", "80", str(hello)], "HOSTPORT:GUESTPORT"),
        (["--gateway", "10.0.2.2", str(hello)], "--gateway needs --ip"),
    ]:
        proc = subprocess.run(
            [*wasmkiln_cli(), "run", *args],
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        assert proc.returncode == 2, proc.stderr
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1 and want in lines[0], proc.stderr


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-q"]))


def _session_commands(sid: int) -> list[str]:
    """The command names of the processes in session sid (/proc/PID/stat: comm, session)."""
    names = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        comm, rest = text[text.index("(") + 1 : text.rindex(")")], text[text.rindex(")") + 2 :]
        if int(rest.split()[3]) == sid:
            names.append(comm)
    return names


def _ask(port: int, path: bytes, source_port: int = 0) -> bytes:
    """One request to wasmedge_server's COUNT mode from 127.0.0.1:source_port (0: any)."""
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.settimeout(30)
        s.bind(("127.0.0.1", source_port))
        s.connect(("127.0.0.1", port))
        s.sendall(path + b"\n")
        got = b""
        while chunk := s.recv(65536):
            got += chunk
        return got


def test_own_socket_server_on_auto_survives_short_connections(tmp_path: Path) -> None:
    """Why spt's auto gives a module with sockets of its own the host's sockets: under passt
    (Debian bookworm's 2023-03 build) such a server stopped serving when a client reused a
    source port (docs/network.md "Known problem (passt)"). The server under `wasmkiln run -p`
    with auto runs without passt, answers three connections from one source port back to
    back, then 3,000 short connections, every answer whole (0 errors), and one more after."""
    why = skip_reason("spt")
    if why:
        pytest.skip(why)
    site = tmp_path / "site"
    site.mkdir()
    body = os.urandom(3000)
    (site / "f.bin").write_bytes(body)
    n = 3000
    image = build_image(compile_c(WASMEDGE_SERVER), site, tmp_path / "server.spt", "x86_64-spt")
    with start("spt", image=image, args=["80", str(3 + n + 1)], ready_marker="listening") as srv:
        running = _session_commands(srv.proc.pid)
        assert not [c for c in running if c.startswith("passt")], running  # passt.avx2 too
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            source = int(probe.getsockname()[1])
        for i in range(3):
            assert _ask(srv.port, b"/f.bin", source) == body, i
        t0 = time.monotonic()
        errors = sum(_ask(srv.port, b"/f.bin") != body for _ in range(n))
        took = time.monotonic() - t0
        assert errors == 0
        assert _ask(srv.port, b"/f.bin") == body
        srv.proc.wait(timeout=60)
        assert srv.proc.returncode == 0, srv.stderr()
    print(f"\nspt auto (host sockets): {n} short connections in {took:.2f} s, 0 errors")
