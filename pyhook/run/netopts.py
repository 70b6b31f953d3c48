"""Network options of `wasmkiln run`: published ports, listeners, a static address.

Two ways to give a guest a TCP port, each a forward from the host and a preopened listener:

- ``--listen ADDR:PORT`` is wasmtime's ``tcplisten``: clients connect to
  ADDR:PORT on the host; the guest listens on the same PORT, on a listener preopened at fd 3
  onwards, *before* the --dir preopens, as wasmtime lays them out (``net.listen=``).
- ``-p [HOSTADDR:]HOSTPORT:GUESTPORT`` is the container runners' publish:
  the host's HOSTPORT (all addresses unless HOSTADDR) reaches GUESTPORT. Its listener comes
  *after* the --dir preopens (``net.publish=``): wasi-libc stops its preopen scan at the first
  fd that is no directory, so a listener first would hide every directory from the program.
  A module that opens its own sockets (WasmEdge's or WAMR's calls) and binds GUESTPORT
  takes the preopened listener over (unikernel/wasi/sock_ext_wasi.c).

The guest gets one listener per distinct guest port, in the order given.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field, replace
from pathlib import Path

from . import qemulaunch
from .portspec import (
    NetOptionError,
    PortForward,
    host_listeners,
    ipv4,
    parse_forwards,
    port_number,
    spt_host_args,
)

__all__ = [
    "PASST_DNS",
    "PASST_GATEWAY",
    "PASST_GUEST_IP",
    "NetOptionError",
    "NetOptions",
    "PortForward",
]

PASST_GUEST_IP, PASST_GATEWAY, PASST_DNS = (
    qemulaunch.PASST_GUEST_IP,
    qemulaunch.PASST_GATEWAY,
    qemulaunch.PASST_DNS,
)  # the guest's address behind passt when the run names none (NetOptions.for_passt)


RESOLV_CONF = Path("/etc/resolv.conf")


def host_nameserver(resolv: Path = RESOLV_CONF) -> str | None:
    """The first IPv4 `nameserver` of the host's resolv.conf as "A.B.C.D:53" (the guest's
    name lookups on spt's host sockets go there, as the host's own do), or None. IPv6
    servers are passed over: the guest's DNS setting (net.dns=) is IPv4."""
    try:
        text = resolv.read_text(errors="replace")
    except OSError:
        return None
    for line in text.splitlines():
        words = line.split()
        if len(words) >= 2 and words[0] == "nameserver":
            try:
                return f"{ipaddress.IPv4Address(words[1])}:53"
            except ValueError:
                continue
    return None


def _check_tap(name: str, forwards: list[PortForward]) -> None:
    """A tap interface puts the guest on the host's own network: nothing translates ports,
    so a published port must be the guest's port, reached at the guest's address."""
    if not re.fullmatch(r"[A-Za-z0-9_.-]{1,15}", name):
        raise NetOptionError(
            f"--tap {name}: not an interface name (1-15 letters, digits, '.', '_', '-')"
        )
    for f in forwards:
        if f.host_port != f.guest_port:
            raise NetOptionError(
                f"--tap {name}: no port forwarding on a tap interface (host port "
                f"{f.host_port} -> guest {f.guest_port}); clients reach the guest's own "
                f"address, so publish the same port, e.g. -p {f.guest_port}:{f.guest_port}"
            )


@dataclass
class NetOptions:
    forwards: list[PortForward] = field(default_factory=list)
    ip: str | None = None  # "A.B.C.D/N": static address (else DHCP)
    gateway: str | None = None  # "A.B.C.D"
    nic: bool = False  # a NIC even without forwards (outgoing connections)
    dns: str | None = None  # "A.B.C.D:PORT": the DNS server (else DHCP's)
    tap: str | None = None  # a host tap interface the NIC is plugged into (no passt/slirp)
    passt_dns_forward: bool = False  # for_passt's default DNS: passt forwards PASST_DNS

    @property
    def wanted(self) -> bool:
        return bool(self.forwards or self.ip or self.nic or self.dns or self.tap)

    def listen_ports(self) -> list[int]:
        """qemulaunch.listen_ports: the guest ports whose listener comes before the directories."""
        return qemulaunch.listen_ports(self.forwards)

    def publish_ports(self) -> list[int]:
        """qemulaunch.publish_ports: the guest ports whose listener comes after them."""
        return qemulaunch.publish_ports(self.forwards)

    @classmethod
    def parse(
        cls,
        publish: list[str],
        listen: list[str],
        ip: str | None,
        gateway: str | None,
        nic: bool = False,
        dns: str | None = None,
        tap: str | None = None,
    ) -> NetOptions:
        forwards = parse_forwards(publish, listen)
        if ip is not None:
            try:
                iface = ipaddress.IPv4Interface(ip if "/" in ip else f"{ip}/24")
            except ValueError:
                raise NetOptionError(f"--ip {ip}: want A.B.C.D[/N]") from None
            ip = f"{iface.ip}/{iface.network.prefixlen}"
        if gateway is not None:
            if ip is None:
                raise NetOptionError("--gateway needs --ip (without --ip the guest uses DHCP)")
            gateway = ipv4(gateway, "--gateway")
        if dns is not None:
            addr, _, port = dns.partition(":")
            dns = f"{ipv4(addr, '--dns')}:{port_number(port or '53', f'--dns {dns}')}"
        if tap is not None:
            _check_tap(tap, forwards)
        return cls(forwards, ip, gateway, nic, dns, tap)

    def kvm_tokens(self) -> list[str]:
        """The kernel command-line tokens (qemulaunch.net_tokens)."""
        return qemulaunch.net_tokens(self.forwards, self.ip, self.gateway, self.dns)

    def qemu_args(self, net_fd: int | None = None, machine: str = "microvm") -> list[str]:
        """QEMU's NIC: virtio-net, modern, over virtio-mmio (microvm) or virtio-pci (q35, with
        no option ROM: the guest needs no network boot), on one of three back ends.

        ``net_fd`` is the NIC's host end the runner opened: with ``tap``, the tap device
        (``-netdev tap``); else one end of a socketpair whose other end passt holds (see
        passt_args: ``-netdev stream``, and the forwards are passt's). Without it: QEMU's
        built-in slirp with ``hostfwd`` (kvm's default; the runner raises its listeners'
        backlog of 1, docs/network.md "Back ends")."""
        device = qemulaunch.nic_device_args(machine)
        if net_fd is not None and self.tap:
            return ["-netdev", f"tap,id=n0,fd={net_fd}", *device]
        if net_fd is not None:
            return qemulaunch.stream_netdev_args(net_fd, machine)
        return qemulaunch.slirp_netdev_args(self.forwards, self.ip, self.gateway, machine)

    def spt_args(self, fd: int) -> list[str]:
        """The spt process's arguments: its frames socket (or tap device) and the same
        settings as kvm."""
        args = ["--net", f"{'tap' if self.tap else 'fd'}={fd}"]
        for token in self.kvm_tokens():
            args += ["--net", token]
        return args

    def host_listeners(self) -> list[PortForward]:
        """portspec.host_listeners of these forwards: the spt listeners in the guest's order."""
        return host_listeners(self.forwards)

    def spt_host_args(self, fds: list[int], resolv: Path = RESOLV_CONF) -> list[str]:
        """portspec.spt_host_args: the spt process's arguments for the host's sockets, and
        with --net or --dns the grant to reach out (``outbound``: the sandbox then allows
        socket() and connect()) with the DNS server: --dns's, else the host's first IPv4
        nameserver (host_nameserver), none when it has none (a lookup then fails)."""
        args = spt_host_args(self.forwards, fds)
        if self.outbound:
            args += ["--net", "outbound"]
            dns = self.dns or host_nameserver(resolv)
            if dns:
                args += ["--net", f"net.dns={dns}"]
        return args

    @property
    def outbound(self) -> bool:
        """The guest reaches out (--net, --dns): spt's host sockets grant it then."""
        return bool(self.nic or self.dns)

    def for_passt(self) -> NetOptions:
        """These settings with an address for the guest when the run gave none, told to passt
        and to the guest alike: the guest then starts with it, instead of asking passt's DHCP
        (two round trips on the way to the first answer). slirp's layout, so the gateway
        10.0.2.2 reaches the host's loopback on every back end; DNS goes to 10.0.2.3, which
        passt forwards to the host's resolver (`--dns-forward`)."""
        if self.ip is not None:
            return self
        return replace(
            self,
            ip=PASST_GUEST_IP,
            gateway=PASST_GATEWAY,
            dns=self.dns or f"{PASST_DNS}:53",
            passt_dns_forward=self.dns is None,
        )

    def passt_args(self, fd: int) -> list[str]:
        """passt on the other end of the frames socket (spt's, or QEMU's ``-netdev stream``
        on kvm): the forwards, and the static address when there is one (passt's DHCP then
        hands out the same): qemulaunch.passt_argv."""
        return qemulaunch.passt_argv(
            fd, self.forwards, self.ip, self.gateway, self.passt_dns_forward
        )
