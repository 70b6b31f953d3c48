"""The ports of `wasmkiln run -p/--listen`: what a spec means, the checks on a run's set of
forwards, and, for spt on the host's own sockets, the listeners and the spt process's arguments.

The one implementation of these options, for netopts.NetOptions (the full CLI, the runner, the
manifest) and for `wasmkiln run`'s quick start (run/spt_direct.py). It loads no dataclasses
(whose import, with inspect, and class creation cost several milliseconds of every start) and
imports ipaddress and socket only when a spec or a listener needs them.
"""

from __future__ import annotations

from collections import namedtuple


class NetOptionError(ValueError):
    """A malformed network option; the message names the option."""


def port_number(text: str, what: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= 65535:
        raise NetOptionError(f"{what}: port must be 1..65535, got {text!r}")
    return int(text)


def ipv4(text: str, what: str) -> str:
    """`text` as ipaddress.IPv4Address writes it, or NetOptionError. A dotted quad already in
    that form (four decimal bytes, no leading zeros) is returned without loading ipaddress
    (a millisecond of `wasmkiln run -p 127.0.0.1:H:G`)."""
    octets = text.split(".")
    if len(octets) == 4 and all(
        o.isascii() and o.isdigit() and len(o) <= 3 and int(o) <= 255 and (o == "0" or o[0] != "0")
        for o in octets
    ):
        return text
    import ipaddress

    try:
        return str(ipaddress.IPv4Address(text))
    except ValueError:
        raise NetOptionError(f"{what}: {text!r} is not an IPv4 address") from None


class PortForward(
    namedtuple("PortForward", "host_addr host_port guest_port wasmtime_layout", defaults=[False])
):
    """Host HOST_ADDR:HOST_PORT (empty address: all) -> guest GUEST_PORT; wasmtime_layout:
    --listen's, its listener before the directories. (A named tuple: see the module's doc.)"""

    __slots__ = ()
    host_addr: str
    host_port: int
    guest_port: int
    wasmtime_layout: bool

    @classmethod
    def publish(cls, spec: str) -> PortForward:
        """``-p [HOSTADDR:]HOSTPORT:GUESTPORT``."""
        parts = spec.split(":")
        if len(parts) == 2:
            addr = ""
        elif len(parts) == 3:
            addr = ipv4(parts[0], f"-p {spec}")
        else:
            raise NetOptionError(f"-p {spec}: want [HOSTADDR:]HOSTPORT:GUESTPORT, e.g. 8080:80")
        return cls(addr, port_number(parts[-2], f"-p {spec}"), port_number(parts[-1], f"-p {spec}"))

    @classmethod
    def listen(cls, spec: str) -> PortForward:
        """``--listen ADDR:PORT`` (wasmtime's tcplisten)."""
        addr, sep, port = spec.rpartition(":")
        if not sep or not addr:
            raise NetOptionError(f"--listen {spec}: want ADDR:PORT, e.g. 127.0.0.1:8080")
        p = port_number(port, f"--listen {spec}")
        return cls(ipv4(addr, f"--listen {spec}"), p, p, True)


def parse_forwards(publish: list[str], listen: list[str]) -> list[PortForward]:
    """A run's -p and --listen specs as forwards (--listen's first), checked as a set: no host
    port twice, at most 16 guest ports (the guest's listener table)."""
    forwards = [PortForward.listen(s) for s in listen]
    forwards += [PortForward.publish(s) for s in publish]
    seen: set[tuple[str, int]] = set()
    for f in forwards:
        key = (f.host_addr, f.host_port)
        if key in seen:
            raise NetOptionError(f"host port {f.host_addr or '*'}:{f.host_port} given twice")
        seen.add(key)
    if len({f.guest_port for f in forwards}) > 16:
        raise NetOptionError("at most 16 distinct guest ports can be listened on")
    return forwards


def host_listeners(forwards: list[PortForward]) -> list[PortForward]:
    """With the host's own sockets (spt, --net-backend host), one listening socket per
    forward, in the guest's fd order: --listen's, then -p's. Nothing translates ports
    there, so two forwards to one guest port would be two listeners the guest cannot
    tell apart: refused."""
    early = [f for f in forwards if f.wasmtime_layout]
    late = [f for f in forwards if not f.wasmtime_layout]
    ports = [f.guest_port for f in early + late]
    if len(set(ports)) != len(ports):
        raise NetOptionError("two forwards to one guest port need a NIC: add --net-backend passt")
    return early + late


def bind_host_listeners(forwards: list[PortForward]) -> list[int]:
    """The listening sockets of --net-backend host, bound on the host now (so a taken port
    fails here, in one line), in host_listeners() order; NetOptionError if one cannot be."""
    import _socket as socket  # not socket.py: its enums cost milliseconds of every start
    import os

    fds: list[int] = []
    try:
        for f in host_listeners(forwards):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            fds.append(s.fileno())
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                s.bind((f.host_addr or "0.0.0.0", f.host_port))
            except OSError as e:
                raise NetOptionError(
                    f"cannot listen on {f.host_addr or '*'}:{f.host_port}: {e.strerror}"
                ) from None
            s.listen(socket.SOMAXCONN)
            s.detach()
    except BaseException:
        for fd in fds:
            os.close(fd)
        raise
    return fds


def spt_host_args(forwards: list[PortForward], fds: list[int]) -> list[str]:
    """The spt process's arguments for the host's sockets: the listeners' tokens and
    their descriptors (fds[i] is host_listeners()[i]'s socket)."""
    args = ["--net", "host"]
    for f, fd in zip(host_listeners(forwards), fds, strict=True):
        where = "publish" if not f.wasmtime_layout else "listen"
        args += ["--net", f"net.{where}=0.0.0.0:{f.guest_port}", "--net", f"hostfd={fd}"]
    return args
