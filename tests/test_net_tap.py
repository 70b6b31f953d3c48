"""`wasmkiln run --tap IFNAME`: the NIC on a host tap interface, for both targets.

The test makes its own tap interface (root only: `ip tuntap add`), gives the host end an
address and serves examples/http-static from the guest at another address of that network:
no passt or slirp in the path, so the bytes fetched came through the tap device.
"""

from __future__ import annotations

import os
import random
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from guest_programs import compile_c
from http_guests import HTTP_STATIC_SOURCE, build_image, launch, skip_reason, wasmkiln_cli
from http_guests import fetch as get


def _why_no_tap() -> str | None:
    if os.geteuid() != 0:
        return "tap interfaces need root (CAP_NET_ADMIN)"
    if not Path("/dev/net/tun").exists():
        return "/dev/net/tun is missing"
    if shutil.which("ip") is None:
        return "the `ip` command (iproute2) is missing"
    return None


@pytest.fixture(scope="module")
def tap() -> Iterator[tuple[str, str, str]]:
    """(interface, host address, guest address) on a fresh tap interface."""
    why = _why_no_tap()
    if why:
        pytest.skip(why)
    name = f"wkt{os.getpid() % 100000}"
    net = f"10.{random.randint(200, 250)}.{random.randint(0, 255)}"
    for argv in (
        ["ip", "tuntap", "add", "dev", name, "mode", "tap"],
        ["ip", "addr", "add", f"{net}.1/24", "dev", name],
        ["ip", "link", "set", name, "up"],
    ):
        proc = subprocess.run(argv, capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            subprocess.run(["ip", "link", "del", name], capture_output=True, check=False)
            pytest.skip(
                f"cannot set up a tap interface here: {' '.join(argv)}: {proc.stderr.strip()}"
            )
    try:
        yield name, f"{net}.1", f"{net}.2"
    finally:
        subprocess.run(["ip", "link", "del", name], capture_output=True, check=False)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("tap-site")
    (root / "index.html").write_bytes(b"<p>over a tap</p>\n" * 30)
    (root / "one.bin").write_bytes(os.urandom(1 << 20))
    return root


def fetch(addr: str, path: str) -> tuple[int, bytes]:
    return get(addr, 80, path)


@pytest.mark.parametrize("target", ["x86_64-spt", "x86_64-kvm"])
def test_serves_over_a_tap(
    target: str, tap: tuple[str, str, str], site: Path, tmp_path: Path
) -> None:
    runner = target.split("-")[1]
    if runner == "kvm" and skip_reason("kvm"):
        pytest.skip(skip_reason("kvm") or "")
    name, host, guest = tap
    image = build_image(compile_c(HTTP_STATIC_SOURCE), site, tmp_path / f"s.{runner}", target)
    cmd = [
        *wasmkiln_cli(),
        "run",
        "--tap",
        name,
        "--ip",
        f"{guest}/24",
        "--gateway",
        host,
        "-p",
        "80:80",
        str(image),
    ]
    with launch(cmd, runner, 80, timeout=120):
        assert fetch(guest, "/") == (200, (site / "index.html").read_bytes())
        status, body = fetch(guest, "/one.bin")
        assert status == 200 and body == (site / "one.bin").read_bytes()
        assert fetch(guest, "/missing")[0] == 404


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--tap", "wk-no-such0", "-p", "80:80"], "--tap wk-no-such0: no such interface"),
        (["--tap", "wk0", "-p", "8080:80"], "no port forwarding on a tap interface"),
        (["--tap", "bad/name"], "--tap bad/name: not an interface name"),
    ],
)
def test_tap_errors_are_one_line(argv: list[str], message: str, tmp_path: Path) -> None:
    image = tmp_path / "hello.spt"
    hello = Path(__file__).resolve().parent.parent / "pyhook" / "examples" / "hello.wasm"
    subprocess.run(
        [*wasmkiln_cli(), "build", str(hello), "--target", "x86_64-spt", "-o", str(image)],
        check=True,
        capture_output=True,
    )
    proc = subprocess.run(
        [*wasmkiln_cli(), "run", *argv, str(image)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 2 and message in proc.stderr, proc.stderr
    assert proc.stderr.count("\n") == 1
