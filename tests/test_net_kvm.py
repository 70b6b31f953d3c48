"""The kvm platform's virtio-net driver and the lwIP network layer, alone.

tests/net_kvm/net_kvm_test.c is a stand-in ``wk_main`` that serves HTTP over
wk/net.h. It is linked, as tests/kvm_platform does, against a scratch CMake
build of platform/kvm + net/ (+ core/string_core.c for memcpy & co., core/alloc_core.c for
lwIP's memory), booted
under QEMU microvm (TCG) with a slirp ``hostfwd`` from a free 127.0.0.1 port to
guest port 80 (``restrict=on``: the guest can reach nothing but slirp; the UDP echo
case needs ``restrict=off``, see qemu_command), and
fetched with http.client: small, 1 MiB and 10 MiB bodies, several requests on
one keep-alive connection, several connections in a row, many at once.
Throughput is printed (pytest -s shows it).

Skips with the reason when the lwIP source is absent (scripts/fetch-lwip.sh
build/lwip-src, or WK_LWIP_SOURCE_DIR=DIR) or a tool is missing.

    python3 tests/test_net_kvm.py [--build DIR]   # the same checks, verbose; or build only
"""

from __future__ import annotations

import concurrent.futures
import http.client
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
UNIKERNEL = REPO / "unikernel"
KVM_DIR = UNIKERNEL / "platform" / "kvm"
TEST_C = REPO / "tests" / "net_kvm" / "net_kvm_test.c"
LWIP_DIR = Path(os.environ.get("WK_LWIP_SOURCE_DIR", REPO / "build" / "lwip-src"))
QEMU = "qemu-system-x86_64"
PAT = bytes(range(251))
STATIC = "net.ip=10.0.2.15/24 net.gw=10.0.2.2"


def skip_reason() -> str | None:
    missing = [t for t in (QEMU, "gcc", "cmake", "ninja") if shutil.which(t) is None]
    if missing:
        return f"needs {', '.join(missing)}"
    if not (LWIP_DIR / "src" / "core" / "tcp.c").exists():
        return (
            f"no lwIP source in {LWIP_DIR} (run: bash scripts/fetch-lwip.sh build/lwip-src, "
            "or set WK_LWIP_SOURCE_DIR)"
        )
    return None


def kernel_flags() -> list[str]:
    text = (UNIKERNEL / "CMakeLists.txt").read_text()
    m = re.search(r"set\(WK_FREESTANDING_FLAGS(.*?)\)", text, re.S)
    assert m, "WK_FREESTANDING_FLAGS not found in unikernel/CMakeLists.txt"
    return m.group(1).split()


def build(work: Path) -> Path:
    """Build the test image in work; returns its path."""
    proj = work / "proj"
    proj.mkdir(parents=True, exist_ok=True)
    flags = " ".join(kernel_flags())
    (proj / "CMakeLists.txt").write_text(f"""\
cmake_minimum_required(VERSION 3.20)
project(wk_net_kvm_test C ASM)
set(CMAKE_C_STANDARD 11)
set(CMAKE_C_STANDARD_REQUIRED ON)
set(CMAKE_C_EXTENSIONS OFF)
set(WK_FREESTANDING_FLAGS {flags})
function(wk_layer name)
  target_compile_options(${{name}} PRIVATE ${{WK_FREESTANDING_FLAGS}})
  target_include_directories(${{name}} PRIVATE {UNIKERNEL}/include)
endfunction()
add_subdirectory({KVM_DIR} kvm)
add_subdirectory({UNIKERNEL}/net net)
if(NOT WK_NET_HAVE_LWIP)
  message(FATAL_ERROR "lwIP not found")
endif()
add_library(wk_test_string OBJECT {UNIKERNEL}/core/string_core.c)
wk_layer(wk_test_string)
target_compile_options(wk_test_string PRIVATE -fno-tree-loop-distribute-patterns)
# lwIP's heap and pools are the core's kernel heap (core/alloc_core.c, wk_malloc).
add_library(wk_test_alloc OBJECT {UNIKERNEL}/core/alloc_core.c)
wk_layer(wk_test_alloc)
target_include_directories(wk_test_alloc PRIVATE {UNIKERNEL}/core)
add_library(wasmkiln-net-test STATIC
  $<TARGET_OBJECTS:wk_plat_kvm> ${{WK_NET_OBJECTS_NIC}} $<TARGET_OBJECTS:wk_test_string>
  $<TARGET_OBJECTS:wk_test_alloc>)
""")
    bld = work / "build"
    subprocess.run(
        ["cmake", "-S", proj, "-B", bld, "-G", "Ninja", f"-DLWIP_SOURCE_DIR={LWIP_DIR}"],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    subprocess.run(["ninja", "-C", bld], check=True, stdout=subprocess.DEVNULL)
    obj = work / "test.o"
    subprocess.run(
        [
            "gcc",
            "-std=c11",
            *kernel_flags(),
            f"-I{UNIKERNEL}/include",
            f"-I{UNIKERNEL}/core",
            "-c",
            TEST_C,
            "-o",
            obj,
        ],
        check=True,
    )
    target = json.loads((KVM_DIR / "target.json").read_text())
    ldflags = [f.replace("{dir}", str(KVM_DIR)) for f in target["ldflags"]]
    image = work / "net_kvm_test.elf"
    subprocess.run(
        [
            "gcc",
            *ldflags,
            obj,
            "-Wl,--whole-archive",
            bld / "libwasmkiln-net-test.a",
            "-Wl,--no-whole-archive",
            "-o",
            image,
        ],
        check=True,
    )
    return image


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


MACHINE = "microvm,pit=on,rtc=on,acpi=off"


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def qemu_command(
    image: Path,
    append: str,
    port: int,
    work: Path,
    machine: str = MACHINE,
    udp_port: int | None = None,
    extra: tuple[str, ...] = (),
    passt_fd: int | None = None,
) -> list[str]:
    """platform/kvm/README.md's command line plus a virtio-net device on slirp (and
    ``extra``, QEMU arguments such as a filter-dump of the NIC's frames).

    With udp_port, a UDP hostfwd to guest port 7 too, and restrict=off: libslirp's restricted
    mode drops the guest's UDP replies to a hostfwd (TCP is not affected). The test kernel
    only ever answers its peer (127.0.0.1, seen as 10.0.2.2), so nothing leaves the machine.

    With passt_fd, the NIC is on `-netdev stream` over that socket (passt at its other end
    forwards the ports) and reports a 9000-byte MTU, as `wasmkiln run` has it.
    """
    restrict = "off" if udp_port else "on"
    netdev = (
        f"user,id=n0,restrict={restrict},hostfwd=tcp:127.0.0.1:{port}-:80"
        + (f",hostfwd=udp:127.0.0.1:{udp_port}-:7" if udp_port else "")
        if passt_fd is None
        else f"stream,id=n0,server=off,addr.type=fd,addr.str={passt_fd}"
    )
    # With passt, the NIC reports a 9000-byte MTU, as `wasmkiln run` asks (netopts.qemu_args).
    mtu = "" if passt_fd is None else ",host_mtu=9000"
    return [
        QEMU,
        "-M",
        machine,
        "-accel",
        "tcg",
        "-cpu",
        "max",
        "-m",
        "128",
        "-nodefaults",
        "-no-user-config",
        "-nographic",
        "-no-reboot",
        "-kernel",
        str(image),
        "-append",
        append,
        "-chardev",
        f"file,id=wkout,path={work / 'stdout'}",
        "-serial",
        "chardev:wkout",
        "-chardev",
        f"file,id=wkerr,path={work / 'stderr'}",
        "-device",
        "isa-serial,chardev=wkerr,index=1",
        "-chardev",
        f"file,id=wkctl,path={work / 'control'}",
        "-device",
        "isa-serial,chardev=wkctl,index=2",
        "-device",
        "isa-debug-exit,iobase=0xf4,iosize=4",
        "-netdev",
        netdev,
        "-global",
        "virtio-mmio.force-legacy=false",
        "-device",
        f"virtio-net-device,netdev=n0{mtu}",
        *extra,
    ]


LISTEN_BACKLOG = 128  # QEMU's hostfwd listener's, instead of libslirp's 1 (widen_backlog)


class Guest:
    """A booted test kernel: its port, its output files, and QEMU."""

    def __init__(
        self,
        image: Path,
        work: Path,
        append: str,
        machine: str = MACHINE,
        udp: bool = False,
        extra: tuple[str, ...] = (),
        passt: bool = False,
    ) -> None:
        """passt: the NIC's frames go to passt over a socketpair (`-netdev stream`, the
        kvm default of `wasmkiln run`), which forwards the ports, instead of slirp."""
        self.work = work
        for name in ("stdout", "stderr", "control"):
            (work / name).write_bytes(b"")
        self.port = free_port()
        self.udp_port = free_udp_port() if udp else None
        self.passt: subprocess.Popen[bytes] | None = None
        fds: tuple[int, ...] = ()
        if passt:
            ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
            self.passt = subprocess.Popen(
                ["passt", "--foreground", "--quiet", "--fd", str(theirs.fileno())]
                + ["--tcp-ports", f"127.0.0.1/{self.port}:80", "--udp-ports"]
                + [f"127.0.0.1/{self.udp_port}:7" if self.udp_port else "none"]
                + ["--address", "10.0.2.15", "--netmask", "24", "--gateway", "10.0.2.2"],
                stdin=subprocess.DEVNULL,
                pass_fds=(theirs.fileno(),),
            )
            theirs.close()
            fds = (ours.fileno(),)
        self.cmd = qemu_command(
            image, append, self.port, work, machine, self.udp_port, extra, fds[0] if fds else None
        )
        self.proc = subprocess.Popen(self.cmd, stdin=subprocess.DEVNULL, pass_fds=fds)
        if passt:
            ours.close()
        self.backlog_error: str | None = "not widened"  # widen_backlog's answer

    def __enter__(self) -> Guest:
        return self

    def __exit__(self, *exc: object) -> None:
        """Whatever the test did, QEMU (and passt) do not outlive it."""
        for proc in (self.proc, self.passt):
            if proc is not None and proc.poll() is None:
                proc.kill()
                proc.wait()

    def out(self) -> str:
        return (self.work / "stdout").read_text(errors="replace")

    def err(self) -> str:
        return (self.work / "stderr").read_text(errors="replace")

    def wait_line(self, pattern: str, timeout: float = 30.0) -> re.Match[str]:
        t0 = time.monotonic()
        while time.monotonic() - t0 < timeout:
            m = re.search(pattern, self.out())
            if m:
                return m
            if self.proc.poll() is not None:
                break
            time.sleep(0.02)
        raise AssertionError(
            f"no {pattern!r} from the guest; stdout={self.out()!r} "
            f"stderr={self.err()!r} status={self.proc.poll()}"
        )

    def widen_backlog(self) -> str | None:
        """Give slirp's hostfwd listener a real backlog; None, or why it could not.

        libslirp listens with a backlog of 1. A burst of connects overflows that accept
        queue: the host kernel drops SYNs (the client resends 1 s later, then 3, 7, 15 s)
        and, worse, the handshake's last ACK, so a client that believes it is connected
        sends its request into a half-open connection and waits for the kernel's SYN-ACK
        retransmissions (1, 2, 4, 8, 16 s): a response "stalls" ~50 s or never comes, with
        the guest idle (docs/network.md "slirp's listen backlog"). listen() again on the
        same socket only raises the queue's bound, so a duplicate of QEMU's descriptor
        (pidfd_getfd: QEMU is our child, same user) is enough; nothing else changes. The
        runner does the same for `wasmkiln run` (pyhook/run/slirp_backlog.py), used here.
        """
        from wasmkiln.pyhook.run.slirp_backlog import BacklogError, raise_backlog

        try:
            raise_backlog(self.proc.pid, {self.port}, LISTEN_BACKLOG)
        except BacklogError as e:
            return str(e)
        return None

    def connect(self) -> http.client.HTTPConnection:
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)

    def stop(self) -> int | None:
        """Ask the guest to exit (GET /exit); returns its exit code (control line)."""
        if self.proc.poll() is None:
            try:
                c = self.connect()
                c.request("GET", "/exit")
                assert c.getresponse().read() == b"bye"
                c.close()
                self.proc.wait(timeout=30)
            except (OSError, AssertionError, subprocess.TimeoutExpired):
                self.proc.kill()
                self.proc.wait()
        m = re.search(r"exit (-?\d+)", (self.work / "control").read_text(errors="replace"))
        return int(m.group(1)) if m else None


def fetch(conn: http.client.HTTPConnection, n: int) -> float:
    """GET /n on conn, check the body; returns the seconds it took."""
    t0 = time.perf_counter()
    conn.request("GET", f"/{n}")
    r = conn.getresponse()
    body = r.read()
    dt = time.perf_counter() - t0
    assert r.status == 200, r.status
    assert len(body) == n, (len(body), n)
    want = (PAT * (n // len(PAT) + 1))[:n]
    assert body == want, "body bytes differ"
    return dt


@pytest.fixture(scope="module")
def image(tmp_path_factory: pytest.TempPathFactory) -> Path:
    reason = skip_reason()
    if reason:
        print(f"test_net_kvm: skipped: {reason}")
        pytest.skip(reason)
    return build(tmp_path_factory.mktemp("netkvm"))


@pytest.fixture()
def guest(image: Path, tmp_path: Path) -> Iterator[Guest]:
    with Guest(image, tmp_path, f"arg=net_kvm_test arg=120 {STATIC}") as g:
        g.wait_line(r"listening port 80")
        g.backlog_error = g.widen_backlog()
        if g.backlog_error:
            print(f"test_net_kvm: slirp's listener keeps its backlog of 1: {g.backlog_error}")
        yield g


def _arp_requests(pcap: Path) -> list[tuple[str, str]]:
    """(sender IP, target IP) of each ARP request in a pcap file (QEMU's filter-dump)."""
    import struct

    try:
        data = pcap.read_bytes()
    except OSError:
        return []
    out, off = [], 24  # the file header
    while off + 16 <= len(data):
        incl = struct.unpack_from("<I", data, off + 8)[0]
        frame = data[off + 16 : off + 16 + incl]
        off += 16 + incl
        if len(frame) >= 42 and frame[12:14] == b"\x08\x06" and frame[20:22] == b"\x00\x01":
            out.append((".".join(map(str, frame[28:32])), ".".join(map(str, frame[38:42]))))
    return out


def test_the_gateways_mac_is_asked_for_at_boot(image: Path, tmp_path: Path) -> None:
    """With its address given at boot, the guest asks for the gateway's MAC before any
    client comes (stack_lwip.c): the first client's SYN-ACK then needs no ARP round trip
    (lwIP does not learn the MAC from the SYN; docs/performance.md "kvm first response")."""
    dump = tmp_path / "frames.pcap"
    filter_dump = ("-object", f"filter-dump,id=dump,netdev=n0,file={dump}")
    with Guest(image, tmp_path, f"arg=net_kvm_test arg=120 {STATIC}", extra=filter_dump) as g:
        g.wait_line(r"listening port 80")
        deadline = time.monotonic() + 10.0  # the frame left before the line; QEMU writes it
        while ("10.0.2.15", "10.0.2.2") not in _arp_requests(dump):
            assert time.monotonic() < deadline, (
                f"no ARP request for the gateway: {_arp_requests(dump)}"
            )
            time.sleep(0.05)
        assert g.stop() == 0


def test_static_address_and_small_responses(guest: Guest) -> None:
    guest.wait_line(r"net up ip=10\.0\.2\.15/24")
    c = guest.connect()
    for n in (0, 1, 100, 1460, 1461, 4096, 65536, 100000):
        fetch(c, n)  # one keep-alive connection
    c.close()
    for _ in range(5):  # connections in a row
        c = guest.connect()
        fetch(c, 612)
        fetch(c, 612)
        c.close()
    c = guest.connect()
    c.request("GET", "/nonsense")
    assert c.getresponse().status == 400
    c.close()
    assert guest.stop() == 0, guest.err()
    assert re.search(r"served \d+ requests", guest.out())


def test_throughput_1mib_10mib(guest: Guest) -> None:
    c = guest.connect()
    fetch(c, 1 << 20)  # warm-up (TCG translates the hot paths once)
    for size, label in ((1 << 20, "1 MiB"), (10 << 20, "10 MiB")):
        times = [fetch(c, size) for _ in range(3)]
        best = min(times)
        print(
            f"\nnet_kvm (TCG, slirp): {label}: best {size / best / 1e6:.1f} MB/s "
            f"({', '.join(f'{size / t / 1e6:.1f}' for t in times)} MB/s)"
        )
    c.close()
    assert guest.stop() == 0, guest.err()


def test_concurrent_connections(guest: Guest) -> None:
    """64 connections, 32 at once: each connect completes at once (a connect that took
    ~1 s was a SYN the host dropped from a full accept queue, widen_backlog) and every
    body is whole. Where the backlog could not be widened, connections are opened one at
    a time (each until its first answer), so slirp's queue of 1 never overflows."""
    gate = threading.Semaphore(1 if guest.backlog_error else 64)

    def one(i: int) -> float:
        c = guest.connect()
        try:
            with gate:
                t0 = time.perf_counter()
                c.connect()
                took = time.perf_counter() - t0
                fetch(c, 1000 + i)
            fetch(c, 20000)
        finally:
            c.close()
        return took

    with concurrent.futures.ThreadPoolExecutor(max_workers=32) as pool:
        connects = list(pool.map(one, range(64)))
    assert max(connects) < 0.9, (
        f"a connect took {max(connects):.2f} s: a SYN dropped by a full accept queue"
    )
    # A client that disconnects mid-transfer does not stop the server.
    c = guest.connect()
    c.request("GET", f"/{8 << 20}")
    r = c.getresponse()
    r.read(1000)
    c.close()
    c = guest.connect()
    fetch(c, 50000)
    c.close()
    assert guest.stop() == 0, guest.err()


def qemu_cpu_seconds(pid: int) -> float:
    """User + system CPU time of a running process, from /proc (all its threads)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def test_idle_guest_halts_and_wakes_on_a_connection(guest: Guest) -> None:
    """With nothing to do the server waits in wk_net_wait: the vCPU halts until the NIC's
    interrupt or a timer instead of spinning, so QEMU uses little host CPU (spinning took
    a whole core's worth, 50-100% by the machine's load); a connection then wakes it."""
    c = guest.connect()
    fetch(c, 612)  # the first request: TCG has translated the paths, DHCP/ARP are done
    time.sleep(0.5)
    c0, t0 = qemu_cpu_seconds(guest.proc.pid), time.monotonic()
    time.sleep(2.0)
    share = (qemu_cpu_seconds(guest.proc.pid) - c0) / (time.monotonic() - t0)
    print(f"\nnet_kvm: idle guest: QEMU used {share * 100:.1f}% of a core")
    assert share < 0.25, f"an idle guest kept {share * 100:.0f}% of a core busy"
    dt = fetch(c, 612)  # on the open connection: its segment wakes the halted vCPU
    c.close()
    c = guest.connect()
    dt = max(dt, fetch(c, 5000))  # and a new connection
    c.close()
    assert dt < 1.0, f"a request to a halted guest took {dt:.3f} s"
    assert guest.stop() == 0, guest.err()


def test_udp_echo(image: Path, tmp_path: Path) -> None:
    with Guest(image, tmp_path, f"arg=net_kvm_test arg=60 {STATIC}", udp=True) as guest:
        guest.wait_line(r"listening port 80")
        udp_echo(guest)
        assert guest.stop() == 0, guest.err()


def _frame_lengths(pcap: Path, ip: str) -> tuple[list[int], list[int]]:
    """Lengths of the IPv4 frames in a pcap file (QEMU's filter-dump) from ip, and to it."""
    import struct

    addr = socket.inet_aton(ip)
    data, sent, received, off = pcap.read_bytes(), [], [], 24
    while off + 16 <= len(data):
        incl = struct.unpack_from("<I", data, off + 8)[0]
        frame = data[off + 16 : off + 16 + incl]
        off += 16 + incl
        if len(frame) >= 34 and frame[12:14] == b"\x08\x00":
            if frame[26:30] == addr:
                sent.append(incl)
            elif frame[30:34] == addr:
                received.append(incl)
    return sent, received


def test_jumbo_frames_through_passt(image: Path, tmp_path: Path) -> None:
    """Behind passt the NIC reports a 9000-byte MTU (host_mtu=9000; virtio_net.h): bodies
    leave in frames of up to 9014 bytes (TX descriptor chains) and an 8000-byte datagram comes
    in as one frame over several mergeable RX buffers and goes back as one: no IP fragments,
    every byte checked. A 1 MiB body and the UDP echo are checked end to end, and the frames
    seen on the NIC (QEMU's filter-dump) prove their size: with the MTU at 1500 none is longer
    than 1514 bytes."""
    if shutil.which("passt") is None:
        pytest.skip("needs passt (Debian: apt install passt)")
    dump = tmp_path / "frames.pcap"
    filter_dump = ("-object", f"filter-dump,id=dump,netdev=n0,file={dump},maxlen=65536")
    append = f"arg=net_kvm_test arg=120 {STATIC}"
    with Guest(image, tmp_path, append, udp=True, extra=filter_dump, passt=True) as g:
        g.wait_line(r"listening port 80")
        c = g.connect()
        for n in (100, 8946, 8947, 20000, 1 << 20):  # one segment, just over, several, many
            fetch(c, n)
        c.close()
        udp_echo(g, (8000,))
        # Longer than the MTU: passt hands it over as one 20,042-byte frame (10 RX buffers),
        # which the guest drops whole and goes on echoing. (Whether the buffers after the
        # first were taken as frames does not show here: such garbage is dropped by lwIP.)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.sendto(bytes(20000), ("127.0.0.1", g.udp_port))
        udp_echo(g, (8000, 100))
        assert g.stop() == 0, g.err()
    sent, received = _frame_lengths(dump, "10.0.2.15")
    assert max(sent) == 9014, f"longest frame sent {max(sent)}"  # TCP's full segments
    assert 8042 in sent and 8042 in received, "the datagram did not travel as one frame"
    assert 20042 in received, f"no oversized frame reached the NIC: {max(received)}"


def udp_echo(guest: Guest, sizes: tuple[int, ...] = (1, 100, 1472, 2000)) -> None:
    """Datagrams of each size to guest port 7 and back, byte for byte."""
    assert guest.udp_port is not None
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(2)
        for i, size in enumerate(sizes):
            msg = bytes((i + k) % 256 for k in range(size))
            for _ in range(5):  # UDP: retry a lost datagram, bounded
                s.sendto(msg, ("127.0.0.1", guest.udp_port))
                try:
                    data, _ = s.recvfrom(65536)
                    break
                except TimeoutError:
                    continue
            else:
                raise AssertionError(f"no echo for a {size}-byte datagram")
            assert data == msg


def test_dhcp(image: Path, tmp_path: Path) -> None:
    with Guest(image, tmp_path, "arg=net_kvm_test arg=60") as g:
        g.wait_line(r"net up ip=10\.0\.2\.15/24")
        g.wait_line(r"listening port 80")
        c = g.connect()
        fetch(c, 5000)
        c.close()
        assert g.stop() == 0, g.err()


def test_probe_without_cmdline_tokens(image: Path, tmp_path: Path) -> None:
    """auto-kernel-cmdline=off: no virtio_mmio.device= token, the microvm window is probed."""
    with Guest(
        image,
        tmp_path,
        f"arg=net_kvm_test arg=60 {STATIC}",
        machine=MACHINE + ",auto-kernel-cmdline=off",
    ) as g:
        g.wait_line(r"listening port 80")
        c = g.connect()
        fetch(c, 3000)
        c.close()
        assert g.stop() == 0, g.err()


def test_bad_net_command_line(image: Path, tmp_path: Path) -> None:
    with Guest(image, tmp_path, "arg=net_kvm_test net.ip=10.0.2.300/24") as g:
        g.proc.wait(timeout=30)
    assert "net.ip=" in g.err()
    assert re.search(r"exit 125", (tmp_path / "control").read_text())


# ---- wasmkiln run: machines and network back ends (examples/http-static) -------------------


def test_qemu_command_machines_and_back_ends(tmp_path: Path) -> None:
    """What `wasmkiln run` asks of QEMU: virtio-mmio on microvm (acpi=off, so the devices and
    their IRQs are on the command line), virtio-pci on q35, slirp or a passt stream socket."""
    from wasmkiln.pyhook.run.netopts import NetOptions
    from wasmkiln.pyhook.run.runner import RunOptions, qemu_command

    net = NetOptions.parse(["8080:80"], [], None, None)
    micro = qemu_command(tmp_path / "img", RunOptions(net=net), tmp_path / "ctl")
    assert micro[micro.index("-M") + 1].endswith(",acpi=off")
    assert "virtio-net-device,netdev=n0" in micro
    assert micro[micro.index("-netdev") + 1].startswith("user,id=n0,hostfwd=tcp::8080-:80")
    q35 = qemu_command(
        tmp_path / "img", RunOptions(net=net, machine="q35"), tmp_path / "ctl", net_fd=7
    )
    assert q35[q35.index("-M") + 1] == "q35"
    assert "virtio-net-pci,netdev=n0,disable-legacy=on,romfile=,host_mtu=9000" in q35  # passt
    assert q35[q35.index("-netdev") + 1] == ("stream,id=n0,server=off,addr.type=fd,addr.str=7")
    assert "-nographic" not in q35  # SeaBIOS would write to COM1, the guest's stdout
    assert net.passt_args(5)[:5] == ["passt", "--foreground", "--quiet", "--fd", "5"]
    assert "8080:80" in net.passt_args(5)


@pytest.fixture(scope="module")
def http_static(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """examples/http-static as an x86_64-kvm image, with a site of random files packed in."""
    if shutil.which(QEMU) is None:
        pytest.skip(f"needs {QEMU}")
    from guest_programs import compile_c
    from http_guests import HTTP_STATIC_SOURCE, build_image

    site = tmp_path_factory.mktemp("site")
    (site / "index.html").write_bytes(b"<p>" + os.urandom(300).hex().encode() + b"</p>\n")
    (site / "one.bin").write_bytes(os.urandom(1 << 20))
    wasm = compile_c(HTTP_STATIC_SOURCE)
    return build_image(
        wasm, site, tmp_path_factory.mktemp("img") / "server.kvm", "x86_64-kvm"
    ), site


@pytest.mark.slow
@pytest.mark.parametrize(
    "machine,backend", [("q35", "auto"), ("microvm", "slirp"), ("microvm", "passt")]
)
def test_http_static_machines(http_static: tuple[Path, Path], machine: str, backend: str) -> None:
    """http-static on q35 (virtio-pci with MSI-X: the NIC's interrupt wakes the halted vCPU),
    on microvm over slirp, and over passt (the NIC reports a 9000-byte MTU: the 1 MiB file
    leaves in jumbo frames): files fetched byte for byte, a 404, and an idle guest that keeps
    QEMU nearly quiet."""
    from http_guests import start

    image, site = http_static
    if backend == "passt" and shutil.which("passt") is None:
        pytest.skip("needs passt (Debian: apt install passt)")
    with start(
        "kvm", image=image, site=site, run_flags=["--machine", machine, "--net-backend", backend]
    ) as srv:
        c = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=60)
        for name in ("index.html", "one.bin"):
            c.request("GET", f"/{name}")
            r = c.getresponse()
            body = r.read()
            assert r.status == 200 and body == (site / name).read_bytes(), (name, r.status)
        c.request("GET", "/missing.txt")
        r = c.getresponse()
        r.read()
        assert r.status == 404
        qemu = [
            int(p)
            for p in subprocess.run(
                ["pgrep", "-P", str(srv.proc.pid), "qemu"], capture_output=True, text=True
            ).stdout.split()
        ]
        assert qemu, "no QEMU child of wasmkiln run"
        c0, t0 = qemu_cpu_seconds(qemu[0]), time.monotonic()
        time.sleep(1.5)
        share = (qemu_cpu_seconds(qemu[0]) - c0) / (time.monotonic() - t0)
        print(f"\nhttp-static on {machine}/{backend}: idle QEMU {share * 100:.1f}% of a core")
        assert share < 0.25, f"an idle guest kept {share * 100:.0f}% of a core busy"
        c.request("GET", "/index.html")  # wakes the halted guest
        assert c.getresponse().read() == (site / "index.html").read_bytes()
        c.close()
        assert srv.alive(), srv.stderr()


def main() -> int:
    import argparse

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--build",
        type=Path,
        metavar="DIR",
        help="only build the test image in DIR (to boot it by hand)",
    )
    args = ap.parse_args()
    reason = skip_reason()
    if reason:
        print(f"skipped: {reason}")
        return 0
    if args.build:
        print(build(args.build))
        return 0
    return pytest.main([__file__, "-s", "-q"])


if __name__ == "__main__":
    sys.exit(main())
