"""Which TCP ports the host listens on: the runner's wait for passt's published ports.

Asked of the kernel through sock_diag netlink with a state filter (LISTEN only), so the
answer costs the same however many connections the host has. /proc/net/tcp, the earlier
way, lists every TCP socket: with the ~41,000 TIME_WAIT sockets a connection-per-request
benchmark leaves for a minute, one read took ~150 ms, and the runner read it every
millisecond while the guest waited to be let go (docs/performance.md "kvm first response:
the launch path"). /proc/net/tcp stays the fallback where netlink is refused (a seccomp
sandbox, a kernel without inet_diag).
"""

from __future__ import annotations

import _socket as socket  # socket.py's enums cost milliseconds of `wasmkiln run`'s start
import struct

TYPE_CHECKING = False  # mypy takes it as typing's; typing is not imported (the quick start)
if TYPE_CHECKING:
    from collections.abc import Callable

_NETLINK_SOCK_DIAG = 4
_SOCK_DIAG_BY_FAMILY = 20
_NLM_F_REQUEST = 0x1
_NLM_F_DUMP = 0x300
_NLMSG_ERROR = 2
_NLMSG_DONE = 3
_TCP_LISTEN = 10
_NLMSG_HDR = struct.Struct("=IHHII")  # length, type, flags, sequence, port id
_DIAG_REQ = struct.Struct("=BBBBI48x")  # family, protocol, ext, pad, states; inet_diag_sockid


def listening_tcp_ports() -> set[int] | None:
    """The local ports of the host's listening TCP sockets (IPv4 and IPv6) in this network
    namespace, from sock_diag; None when netlink cannot answer (then read /proc, below)."""
    try:
        sock = socket.socket(
            socket.AF_NETLINK, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC, _NETLINK_SOCK_DIAG
        )
    except (OSError, AttributeError):
        return None
    ports: set[int] = set()
    try:
        for seq, family in enumerate((socket.AF_INET, socket.AF_INET6), start=1):
            req = _DIAG_REQ.pack(family, socket.IPPROTO_TCP, 0, 0, 1 << _TCP_LISTEN)
            flags = _NLM_F_REQUEST | _NLM_F_DUMP
            sock.send(
                _NLMSG_HDR.pack(_NLMSG_HDR.size + len(req), _SOCK_DIAG_BY_FAMILY, flags, seq, 0)
                + req
            )
            if not _read_dump(sock, seq, ports):
                return None
    except OSError:
        return None
    finally:
        sock.close()
    return ports


def _read_dump(sock: socket.socket, seq: int, ports: set[int]) -> bool:
    """Add the dump's listening ports to ``ports``; False if the kernel answered an error."""
    while True:
        data = sock.recv(65536)
        if not data:
            return False
        off = 0
        while off + _NLMSG_HDR.size <= len(data):
            length, kind, _flags, got_seq, _pid = _NLMSG_HDR.unpack_from(data, off)
            if length < _NLMSG_HDR.size:
                return False
            body = off + _NLMSG_HDR.size
            if got_seq == seq:
                if kind == _NLMSG_DONE:
                    return True
                if kind == _NLMSG_ERROR:
                    return False
                # inet_diag_msg: family, state, timer, retrans, then the socket id whose
                # first field is the source port (network byte order).
                if body + 6 <= len(data) and data[body + 1] == _TCP_LISTEN:
                    ports.add(struct.unpack_from("!H", data, body + 4)[0])
            off += (length + 3) & ~3


def listening_tcp_ports_proc() -> set[int]:
    """The same from /proc/net/tcp and tcp6 (cost grows with every socket on the host)."""
    from pathlib import Path  # only here: `wasmkiln run`'s quick start loads no pathlib

    listening: set[int] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if len(fields) > 3 and fields[3] == "0A":  # TCP_LISTEN
                listening.add(int(fields[1].rsplit(":", 1)[1], 16))
    return listening


def host_listening(ports: set[int]) -> bool:
    """Whether the host listens on every port of ``ports``."""
    found = listening_tcp_ports()
    if found is None:
        found = listening_tcp_ports_proc()
    return ports <= found


def await_listening(running: Callable[[], bool], ports: set[int], within: float) -> None:
    """Wait until the host listens on each of `ports` (passt binds them as it starts), the
    process that should bind them ends (``running`` turns false) or `within` seconds pass;
    asked every millisecond."""
    import time

    deadline = time.monotonic() + within
    while ports and running() and time.monotonic() < deadline:
        if host_listening(ports):
            return
        time.sleep(0.001)
