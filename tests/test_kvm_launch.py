"""The kvm launch path up to the guest's first instruction (issue 13, kvm first response).

What it must keep doing (docs/performance.md "kvm first response: the launch path"):
- passt is started after QEMU (QEMU's start is the longer one; passt's fork came first and
  added to the first answer), and QEMU is let go only once passt listens on the published
  ports;
- the guest's address is given on its command line (no DHCP on the way to the first answer);
- the wait for passt's ports asks sock_diag for listening sockets only: reading
  /proc/net/tcp, whose length grows with every socket of the host (~150 ms for the 41,000
  TIME_WAIT sockets a connection-per-request benchmark leaves), is only the fallback.
Checked with the real qemu-system-x86_64 (a bare microvm, as tests/test_qemu_start.py) and
the real passt.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest

from wasmkiln.pyhook.run import listening, runner
from wasmkiln.pyhook.run.netopts import NetOptions

BARE = [runner.QEMU, "-M", "microvm", "-nodefaults", "-no-user-config", "-display", "none"]


def _children() -> dict[int, str]:
    """This process's children: pid -> the name of the program it runs. A child spawned by
    vfork lets its parent go on before exec renames it, so a child still named as this process
    is read again for up to a second."""
    pid = os.getpid()
    ours = Path(f"/proc/{pid}/comm").read_text().strip()
    kids = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    out = {}
    for k in kids:
        try:
            for _ in range(100):
                name = Path(f"/proc/{k}/comm").read_text().strip()
                if name != ours:
                    break
                time.sleep(0.01)
            out[int(k)] = name
        except OSError:
            pass  # ended meanwhile
    return out


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_listening_ports_are_the_kernels_listeners_only() -> None:
    """sock_diag answers what /proc/net/tcp says about listeners, IPv4 and IPv6, and nothing
    about sockets that are bound but not listening or connected."""
    with socket.socket() as lis, socket.socket() as bound, socket.socket() as client:
        lis.bind(("127.0.0.1", 0))
        lis.listen()
        bound.bind(("127.0.0.1", 0))
        client.connect(lis.getsockname())
        conn, _ = lis.accept()
        with conn:
            ports = listening.listening_tcp_ports()
            if ports is None:
                pytest.skip("netlink sock_diag is refused here (the /proc fallback is used)")
            assert lis.getsockname()[1] in ports
            assert bound.getsockname()[1] not in ports
            assert client.getsockname()[1] not in ports
            assert ports == listening.listening_tcp_ports_proc()
    if socket.has_ipv6:
        with socket.socket(socket.AF_INET6) as six:
            try:
                six.bind(("::1", 0))
            except OSError:
                return  # no IPv6 loopback on this host
            six.listen()
            assert six.getsockname()[1] in (listening.listening_tcp_ports() or set())


def test_waiting_for_passts_ports_does_not_read_proc(monkeypatch: pytest.MonkeyPatch) -> None:
    """The wait returns once the port listens without one read of /proc/net/tcp (which
    would make it cost ~150 ms a try on a host with many sockets)."""
    if listening.listening_tcp_ports() is None:
        pytest.skip("netlink sock_diag is refused here (the /proc fallback is used)")

    real_read_text = Path.read_text

    def read_text(self: Path, *args: object, **kwargs: object) -> str:
        if str(self).startswith("/proc/net/tcp"):
            raise AssertionError(f"{self} was read")
        return real_read_text(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(Path, "read_text", read_text)
    with socket.socket() as lis:
        lis.bind(("127.0.0.1", 0))
        lis.listen()
        port = lis.getsockname()[1]
        assert listening.host_listening({port})
        sleeper = subprocess.Popen(["sleep", "5"])
        try:
            runner._await_listening(sleeper, {port})  # noqa: SLF001
            assert sleeper.poll() is None, "the wait ran to its deadline instead of returning"
        finally:
            sleeper.kill()
            sleeper.wait()


@pytest.mark.skipif(shutil.which(runner.QEMU) is None, reason=f"{runner.QEMU} is not installed")
@pytest.mark.skipif(shutil.which("passt") is None, reason="passt is not installed")
def test_run_kvm_starts_passt_after_qemu_and_releases_it_once_passt_listens(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    port = _free_port()
    before = _children()
    seen: dict[str, object] = {}

    def run_qemu(image: Path, opts: runner.RunOptions, net_fd: int | None, build, ready):
        seen["cmdline"] = runner.kvm_cmdline(opts)
        seen["net_fd"] = net_fd

        def when_qemu_is_up() -> None:
            kids = set(_children().values()) - set(before.values())
            seen["started before passt"] = sorted(kids)
            ready()
            seen["passt listening at release"] = listening.host_listening({port})

        proc = runner.start_qemu(BARE, (), when_qemu_is_up, stdin=subprocess.DEVNULL)
        seen["running after"] = sorted(set(_children().values()) - set(before.values()))
        proc.kill()
        proc.wait()
        return 0

    monkeypatch.setattr(runner, "_run_qemu", run_qemu)
    net = NetOptions.parse([f"127.0.0.1:{port}:80"], [], None, None)
    opts = runner.RunOptions(accel="tcg", net=net, net_backend="passt")
    assert runner.run_kvm(tmp_path / "unused.kvm", opts) == 0
    assert seen["started before passt"] == ["qemu-system-x86"], seen
    assert seen["passt listening at release"] is True
    # passt re-executes itself as passt.avx2 where the CPU has AVX2
    assert [n.split(".")[0] for n in seen["running after"]] == ["passt", "qemu-system-x86"], seen  # type: ignore[attr-defined]
    assert "net.ip=" in str(seen["cmdline"]), "no address at boot: the guest would ask DHCP"
    assert isinstance(seen["net_fd"], int)
    assert _children() == before, "passt was left running after the run"
    assert not listening.host_listening({port})


@pytest.mark.skipif(shutil.which(runner.QEMU) is None, reason=f"{runner.QEMU} is not installed")
def test_a_slirp_run_gives_the_guest_its_address_at_boot(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """QEMU's own user network (--net-backend slirp) has no helper to wait for, and the
    guest starts with slirp's usual address instead of asking slirp's DHCP."""
    seen: dict[str, object] = {}

    def run_qemu(image: Path, opts: runner.RunOptions, net_fd: int | None, build, ready):
        seen["cmdline"] = runner.kvm_cmdline(opts)
        seen["netdev"] = opts.net.qemu_args(net_fd)
        seen["ready"], seen["net_fd"] = ready, net_fd
        return 0

    monkeypatch.setattr(runner, "_run_qemu", run_qemu)
    net = NetOptions.parse([f"127.0.0.1:{_free_port()}:80"], [], None, None)
    opts = runner.RunOptions(accel="tcg", net=net, net_backend="slirp")
    assert runner.run_kvm(tmp_path / "unused.kvm", opts) == 0
    assert seen["ready"] is None and seen["net_fd"] is None, seen
    assert "net.ip=10.0.2.15/24" in str(seen["cmdline"]), seen
    assert "net.gw=10.0.2.2" in str(seen["cmdline"]), seen
    netdev = str(seen["netdev"])
    assert "net=10.0.2.0/24" in netdev and "-10.0.2.15:80" in netdev, netdev
