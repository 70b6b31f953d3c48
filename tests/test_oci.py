"""`wasmkiln oci`: OCI images that urunc launches, checked along urunc's own launch path.

The image is validated by Debian's skopeo (the layout, the OCI archive and the docker archive)
and unpacked by umoci into a runtime bundle, where tests/urunc_launch.py finds the kernel and
the settings as urunc's config.go does. The kernel then boots with the exact QEMU argv urunc
builds for unikernelType mewz (the i440fx `pc` machine, a modern-only virtio-net-pci NIC, exit
through port 0x501), TCG instead of `-cpu host -enable-kvm` (/dev/kvm here is PVM), on a tap
in a network namespace the test creates, and answers ping and serves examples/http-static. The
Firecracker path (unikernelType unikraft: args and env on the command line, virtio-mmio,
i8042 reset) runs on QEMU microvm from the config urunc writes: Firecracker cannot be
installed here.
"""

from __future__ import annotations

import base64
import json
import os
import random
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from guest_programs import compile_c, compile_fixture
from http_guests import HTTP_STATIC_SOURCE
from urunc_launch import (
    firecracker_config,
    firecracker_on_microvm,
    mewz_cmdline,
    qemu_argv,
    unikernel_config,
    unikraft_cmdline,
)
from wkcli import need_target, wasmkiln

REPO = Path(__file__).resolve().parent.parent
SITE = REPO / "examples" / "http-static" / "site"
QEMU = "qemu-system-x86_64"


def oci(*argv: str | Path, check: bool = True) -> subprocess.CompletedProcess[str]:
    proc = wasmkiln("oci", *map(str, argv))
    if check and proc.returncode != 0:
        raise AssertionError(f"wasmkiln oci failed:\n{proc.stderr}")
    return proc


def need(*tools: str) -> None:
    missing = [t for t in tools if shutil.which(t) is None]
    if missing:
        pytest.skip(f"{', '.join(missing)} not installed (apt-get install {' '.join(missing)})")


@pytest.fixture(scope="module")
def server_wasm() -> Path:
    return compile_c(HTTP_STATIC_SOURCE)


@pytest.fixture(scope="module")
def http_oci(server_wasm: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """examples/http-static as an OCI layout (mewz on QEMU), site packed, port 80 baked in."""
    out = tmp_path_factory.mktemp("oci") / "http"
    oci(server_wasm, "--dir", f"{SITE}::/", "-p", "8080:80", "-o", out, "--tag", "web:v1")
    return out


def unpack(layout: Path, tag: str, bundle: Path) -> Path:
    need("umoci")
    subprocess.run(
        ["umoci", "unpack", "--image", f"{layout}:{tag}", str(bundle)],
        check=True,
        capture_output=True,
    )
    return bundle


# ---- the image ------------------------------------------------------------------------------
def test_layout_and_archives_pass_skopeo(http_oci: Path) -> None:
    need("skopeo")
    seen = json.loads(subprocess.check_output(["skopeo", "inspect", f"oci:{http_oci}:v1"]))
    labels = seen["Labels"]
    assert base64.b64decode(labels["com.urunc.unikernel.unikernelType"]) == b"mewz"
    assert base64.b64decode(labels["com.urunc.unikernel.hypervisor"]) == b"qemu"
    assert seen["Architecture"] == "amd64" and seen["Os"] == "linux"
    tar = http_oci.with_name("http.tar")
    for ref in (f"oci-archive:{tar}:v1", f"docker-archive:{tar}"):
        got = json.loads(subprocess.check_output(["skopeo", "inspect", ref]))
        assert got["Labels"] == labels, ref
    # The manifest carries the same keys, as annotations.
    index = json.loads((http_oci / "index.json").read_text())
    digest = index["manifests"][0]["digest"].split(":")[1]
    manifest = json.loads((http_oci / "blobs" / "sha256" / digest).read_text())
    assert manifest["annotations"] == labels
    docker = json.loads(subprocess.check_output(["tar", "-xOf", str(tar), "manifest.json"]))
    assert docker[0]["RepoTags"] == ["web:v1"]


def test_umoci_unpack_gives_what_urunc_reads(http_oci: Path, tmp_path: Path) -> None:
    bundle = unpack(http_oci, "v1", tmp_path / "bundle")
    conf = unikernel_config(bundle)
    assert conf["unikernelType"] == "mewz" and conf["hypervisor"] == "qemu"
    assert conf["useDMBlock"] == "false"
    kernel = bundle / "rootfs" / conf["binary"].lstrip("/")
    assert kernel.read_bytes()[:4] == b"\x7fELF"
    # urunc.json holds exactly the keys of the image's labels.
    spec = json.loads((bundle / "config.json").read_text())
    name = Path(conf["binary"]).stem  # the module's name
    assert spec["process"]["args"] == [name]  # containerd needs a command
    rootfs_keys = json.loads((bundle / "rootfs" / "urunc.json").read_text())
    assert all(k.startswith("com.urunc.unikernel.") for k in rootfs_keys)
    decoded = {k: base64.b64decode(v).decode() for k, v in rootfs_keys.items()}
    assert decoded["com.urunc.unikernel.binary"] == conf["binary"] == f"/unikernel/{name}.img"


def test_same_input_same_digest(server_wasm: Path, http_oci: Path, tmp_path: Path) -> None:
    again = tmp_path / "again"
    oci(server_wasm, "--dir", f"{SITE}::/", "-p", "8080:80", "-o", again, "--tag", "web:v1")
    assert (again / "index.json").read_bytes() == (http_oci / "index.json").read_bytes()
    assert again.with_name("again.tar").read_bytes() == http_oci.with_name("http.tar").read_bytes()
    other = tmp_path / "other"
    oci(server_wasm, "--dir", f"{SITE}::/", "-p", "8080:81", "-o", other, "--tag", "web:v1")
    assert (other / "index.json").read_bytes() != (http_oci / "index.json").read_bytes()


def test_an_image_is_packed_as_built(tmp_path: Path) -> None:
    hello = REPO / "pyhook" / "examples" / "hello.wasm"
    image = tmp_path / "hello.img"
    assert wasmkiln("build", str(hello), "-o", str(image)).returncode == 0
    oci(image, "-o", tmp_path / "h", "--hypervisor", "firecracker")
    bundle = unpack(tmp_path / "h", "latest", tmp_path / "b")
    conf = unikernel_config(bundle)
    assert (conf["unikernelType"], conf["hypervisor"]) == ("unikraft", "firecracker")
    assert (bundle / "rootfs" / conf["binary"].lstrip("/")).read_bytes() == image.read_bytes()


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--target", "x86_64-spt"], "oci packs x86_64-kvm images"),
        (["--tag", "Bad Tag"], "--tag 'Bad Tag'"),
        (["--tag", "UPPER:v1"], "image name 'UPPER'"),
        (["--env", "NOEQUALS"], "--env takes KEY=VALUE"),
        (["-p", "80:0"], "-p"),
    ],
)
def test_errors_are_one_line(argv: list[str], message: str, tmp_path: Path) -> None:
    hello = REPO / "pyhook" / "examples" / "hello.wasm"
    proc = oci(hello, "-o", tmp_path / "o", *argv, check=False)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("wasmkiln: error:") and message in lines[0]


def test_refuses_a_folder_that_is_not_a_layout(tmp_path: Path) -> None:
    (tmp_path / "o").mkdir()
    (tmp_path / "o" / "notes.txt").write_text("mine")
    proc = oci(REPO / "pyhook" / "examples" / "hello.wasm", "-o", tmp_path / "o", check=False)
    assert proc.returncode == 2 and "not an OCI image layout" in proc.stderr
    assert (tmp_path / "o" / "notes.txt").read_text() == "mine"


# ---- the launch path ----------------------------------------------------------------------
@dataclass
class Netns:
    name: str
    tap: str
    host: str
    guest: str

    def run(self, *argv: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["ip", "netns", "exec", self.name, *argv],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def popen(self, argv: list[str], out: Path) -> subprocess.Popen[bytes]:
        with out.open("wb") as f:
            return subprocess.Popen(
                ["ip", "netns", "exec", self.name, *argv],
                stdin=subprocess.DEVNULL,
                stdout=f,
                stderr=subprocess.STDOUT,
            )

    def get(self, path: str, dest: Path) -> int:
        """HTTP status of GET path from the guest (0: no connection), body into dest."""
        proc = self.run(
            "curl", "-s", "-m", "5", "-o", str(dest), "-w", "%{http_code}",
            f"http://{self.guest}{path}",
        )  # fmt: skip
        return int(proc.stdout or 0)


@pytest.fixture
def netns() -> Iterator[Netns]:
    """A fresh network namespace holding urunc's tap (tap0_urunc) with the host side's
    address: the pod's side of the network as urunc sets it up, without the veth."""
    if os.geteuid() != 0:
        pytest.skip("network namespaces and taps need root")
    if not Path("/dev/net/tun").exists():
        pytest.skip("/dev/net/tun is missing")
    need("ip", "ping", "curl", QEMU)
    name = f"wkoci{os.getpid() % 100000}"
    net = f"10.{random.randint(100, 199)}.{random.randint(0, 255)}"
    ns = Netns(name, "tap0_urunc", f"{net}.1", f"{net}.2")
    setup = [
        ["ip", "netns", "add", name],
        ["ip", "netns", "exec", name, "ip", "link", "set", "lo", "up"],
        ["ip", "netns", "exec", name, "ip", "tuntap", "add", "dev", ns.tap, "mode", "tap"],
        ["ip", "netns", "exec", name, "ip", "addr", "add", f"{ns.host}/24", "dev", ns.tap],
        ["ip", "netns", "exec", name, "ip", "link", "set", ns.tap, "up"],
    ]
    try:
        for argv in setup:
            proc = subprocess.run(argv, capture_output=True, text=True, check=False)
            if proc.returncode != 0:
                pytest.skip(f"cannot set up the namespace: {' '.join(argv)}: {proc.stderr}")
        yield ns
    finally:
        subprocess.run(["ip", "netns", "del", name], capture_output=True, check=False)


def serve_and_check(ns: Netns, argv: list[str], tmp_path: Path) -> tuple[float, str]:
    """Boot argv in the namespace; (seconds from launch to the first HTTP 200, console).
    Checks ping, every file of the site byte for byte, and a 404.

    The first GET waits for the server's "serving" line on the console: a SYN sent before the
    guest's NIC is up is retransmitted by the host only after 1 s, which would measure the
    host's TCP timer instead of the boot."""
    console = tmp_path / "console.txt"
    console.touch()
    t0 = time.perf_counter()
    proc = ns.popen(argv, console)
    try:
        body = tmp_path / "body"
        first = None
        while time.perf_counter() - t0 < 60 and proc.poll() is None:
            if b"serving" in console.read_bytes() and ns.get("/", body) == 200:
                first = time.perf_counter() - t0
                break
            time.sleep(0.005)
        assert first is not None, f"no HTTP response; console:\n{console.read_text('replace')}"
        assert body.read_bytes() == (SITE / "index.html").read_bytes()
        assert ns.get("/style.css", body) == 200
        assert body.read_bytes() == (SITE / "style.css").read_bytes()
        assert ns.get("/missing", body) == 404
        ping = ns.run("ping", "-c", "3", "-i", "0.2", "-W", "2", ns.guest)
        assert ping.returncode == 0 and " 0% packet loss" in ping.stdout, ping.stdout
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    return first, console.read_text(errors="replace")


@pytest.mark.slow
def test_urunc_qemu_mewz_serves_http_static(
    http_oci: Path, netns: Netns, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bundle = unpack(http_oci, "v1", tmp_path / "bundle")
    conf = unikernel_config(bundle)
    kernel = str(bundle / "rootfs" / conf["binary"].lstrip("/"))
    cmdline = mewz_cmdline(netns.guest, "255.255.255.0", netns.host)
    argv = qemu_argv(QEMU, kernel, netns.tap, cmdline, conf["unikernelType"])
    assert argv[argv.index("-append") + 1] == f"ip={netns.guest}/24 gateway={netns.host} "
    first, console = serve_and_check(netns, argv, tmp_path)
    assert "http-static: serving" in console  # stderr reached COM1 (urunc's one console)
    with capsys.disabled():
        print(f"\n[urunc qemu/mewz, TCG] launch to first HTTP response: {first * 1000:.0f} ms")


@pytest.mark.slow
def test_urunc_firecracker_config_serves_on_microvm(
    server_wasm: Path, netns: Netns, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    layout = tmp_path / "fc"
    oci(server_wasm, "--dir", f"{SITE}::/", "-p", "80:80", "-o", layout, "--hypervisor",
        "firecracker")  # fmt: skip
    bundle = unpack(layout, "latest", tmp_path / "bundle")
    conf = unikernel_config(bundle)
    assert conf["unikernelType"] == "unikraft"
    spec = json.loads((bundle / "config.json").read_text())
    # What urunc passes with this type: the container's args (Cmd, plus a pod's `args:`) and
    # env; `-v` makes http-static log each request line to stderr.
    args = [*spec["process"]["args"], "-v"]
    boot = unikraft_cmdline(args, [*spec["process"]["env"], "MODE=k8s"], netns.guest, netns.host)
    kernel = str(bundle / "rootfs" / conf["binary"].lstrip("/"))
    config = firecracker_config(kernel, netns.tap, "02:fc:00:00:00:02", boot)
    first, console = serve_and_check(netns, firecracker_on_microvm(QEMU, config), tmp_path)
    assert "GET /style.css" in console, console  # the -v from after `--` reached argv
    with capsys.disabled():
        print(f"\n[firecracker config on microvm, TCG] launch to first response: "
              f"{first * 1000:.0f} ms")  # fmt: skip


def test_exit_devices_and_env_under_urunc_lines(tmp_path: Path) -> None:
    """No network: urunc writes `ip=/24 gateway= ` (mewz) or an empty netdev.ip (unikraft).
    The guest's exit reaches QEMU through port 0x501 (status (code << 1) | 1) on urunc's mewz
    line, and through the i8042 reset (status 0) on the Firecracker stand-in; env.vars and the
    args after `--` reach the program."""
    need_target("x86_64-kvm")
    image = tmp_path / "hello.img"
    built = wasmkiln(
        "build", str(compile_fixture("hello")), "-o", str(image), "--env", "GREETING=baked"
    )
    assert built.returncode == 0, built.stderr
    mewz = qemu_argv(QEMU, str(image), "", mewz_cmdline("", "", ""), "mewz")
    proc = subprocess.run(mewz, capture_output=True, timeout=60, check=False)
    assert proc.returncode == 1, proc.stdout  # exit(0) through isa-debug-exit at 0x501
    assert b"hello, world!" in proc.stdout and b"baked" in proc.stdout, proc.stdout
    boot = unikraft_cmdline(["hello", "alice", "bob"], ["GREETING=from-env"], "", "")
    fc = firecracker_on_microvm(QEMU, firecracker_config(str(image), "", "", boot))
    fc = fc[: fc.index("-netdev")]  # no NIC: the container has no network
    proc = subprocess.run(fc, capture_output=True, timeout=60, check=False)
    assert proc.returncode == 0, proc.stdout  # the i8042 reset, with -no-reboot
    out = proc.stdout.decode()
    assert "hello, alice!" in out and "hello, bob!" in out, out
    assert "from-env" in out and "baked" not in out, out  # the run's env overrides the baked


def test_manifest_oci_key(tmp_path: Path) -> None:
    """`oci = {...}` in a manifest image: its x86_64-kvm build packed next to it, with the
    image's args and env baked in (urunc's mewz form passes none), fresh on a second build."""
    need_target("x86_64-kvm")
    shutil.copy(compile_fixture("hello"), tmp_path / "hello.wasm")
    (tmp_path / "wasmkiln.toml").write_text(
        '[[image]]\nname = "hello"\nwasm = "hello.wasm"\nargs = ["from", "k8s"]\n'
        'env = { GREETING = "baked" }\noci = { tag = "demo:v2" }\n'
    )

    def build() -> str:
        proc = wasmkiln("build", cwd=tmp_path)
        assert proc.returncode == 0, proc.stderr
        return proc.stderr

    assert "hello.oci (OCI layout)" in build()
    layout = tmp_path / "target" / "x86_64-kvm" / "dev" / "hello.oci"
    assert "fresh " + str(Path("target") / "x86_64-kvm" / "dev" / "hello.oci") in build().replace(
        str(tmp_path) + os.sep, ""
    )
    bundle = unpack(layout, "v2", tmp_path / "bundle")
    conf = unikernel_config(bundle)
    kernel = str(bundle / "rootfs" / conf["binary"].lstrip("/"))
    argv = qemu_argv(QEMU, kernel, "", mewz_cmdline("", "", ""), conf["unikernelType"])
    out = subprocess.run(argv, capture_output=True, timeout=60, check=False).stdout.decode()
    assert "hello, from!" in out and "hello, k8s!" in out and "baked" in out, out


def test_manifest_oci_errors(tmp_path: Path) -> None:
    (tmp_path / "wasmkiln.toml").write_text(
        '[[image]]\nname = "a"\nwasm = "a.wasm"\ntargets = ["x86_64-spt"]\noci = true\n'
        '[[image]]\nname = "b"\nwasm = "b.wasm"\noci = { monitor = "qemu" }\n'
    )
    proc = wasmkiln("build", cwd=tmp_path, timeout=60)
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert "oci packs the image's x86_64-kvm build" in proc.stderr


@pytest.mark.slow
def test_cmake_add_oci_image(tmp_path: Path) -> None:
    """wasmkiln_add_oci_image() packs a wasmkiln_add_image() for urunc; a second build has no
    work to do."""
    need("cmake", "ninja", "skopeo")
    wasmkiln = Path(sys.executable).parent / "wasmkiln"
    if not wasmkiln.is_file():
        pytest.skip(f"no wasmkiln command next to {sys.executable}")
    env = {**os.environ, "PATH": f"{wasmkiln.parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    shutil.copy(REPO / "pyhook" / "examples" / "hello.wasm", tmp_path / "hello.wasm")
    (tmp_path / "CMakeLists.txt").write_text(
        "cmake_minimum_required(VERSION 3.20)\nproject(t NONE)\n"
        "find_package(wasmkiln CONFIG REQUIRED)\n"
        "wasmkiln_add_image(hello-image WASM hello.wasm)\n"
        "wasmkiln_add_oci_image(hello-oci IMAGE hello-image HYPERVISOR firecracker TAG v3)\n"
    )
    cmake_dir = subprocess.check_output([str(wasmkiln), "cmake-dir"], text=True).strip()
    build = tmp_path / "b"
    steps = (
        ["cmake", "-S", str(tmp_path), "-B", str(build), "-G", "Ninja",
         f"-Dwasmkiln_DIR={cmake_dir}"],
        ["cmake", "--build", str(build)],
    )  # fmt: skip
    for argv in steps:
        proc = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=600)
        assert proc.returncode == 0, proc.stdout + proc.stderr
    seen = json.loads(
        subprocess.check_output(["skopeo", "inspect", f"oci:{build}/hello-oci.oci:v3"])
    )
    assert base64.b64decode(seen["Labels"]["com.urunc.unikernel.hypervisor"]) == b"firecracker"
    assert (build / "hello-oci.oci.tar").is_file()
    again = subprocess.run(steps[1], env=env, capture_output=True, text=True, timeout=600)
    assert "no work to do" in again.stdout, again.stdout


@pytest.mark.parametrize(
    ("append", "expected"),
    [
        # unikraft form: app name, env.vars (percent and = inside values), args after --
        ("hello env.vars=[ GREETING=50%=x ] netdev.ip=/24::8.8.8.8   -- a%b c", "hello, a%b!"),
        # urunc's form for Unikraft < 0.16.1
        (
            "hello netdev.ipv4_addr=10.0.0.2 netdev.ipv4_gw_addr=10.0.0.1 "
            "netdev.ipv4_subnet_mask=255.255.0.0  -- z",
            "hello, z!",
        ),
        ("ip=10.0.0.2/16 gateway=10.0.0.1 ", "hello, world!"),  # mewz form
        ("netdev.ipv4_addr=10.0.0.2 netdev.ipv4_subnet_mask=255.0.255.0", "wants a netmask"),
        ("ip=10.0.0.2/99 gateway=10.0.0.1 ", "prefix length must be 0..32"),
        ("netdev.ip=10.0.0.2/24:10.0.0.1:8.8.8.8:1.1.1.1:host", "hello, world!"),
        ("netdev.ip=10.0.0.2/24:10.0.0:8.8.8.8", "net.gw= wants A.B.C.D"),
    ],
)
def test_urunc_command_line_forms(append: str, expected: str, tmp_path: Path) -> None:
    """urunc's command lines reach the program (or are refused in one line on COM1, the one
    console there is), under the Firecracker stand-in without a NIC."""
    need_target("x86_64-kvm")
    config = firecracker_config(str(compile_hello(tmp_path)), "", "", append)
    argv = firecracker_on_microvm(QEMU, config)
    proc = subprocess.run(argv[: argv.index("-netdev")], capture_output=True, timeout=60)
    out = proc.stdout.decode(errors="replace")
    assert expected in out, out
    if expected.startswith("hello"):
        assert ("50%=x" in out) == ("GREETING" in append), out


def compile_hello(tmp_path: Path) -> Path:
    image = tmp_path / "hello.img"
    built = wasmkiln("build", str(compile_fixture("hello")), "-o", str(image))
    assert built.returncode == 0, built.stderr
    return image


def test_podman_loads_the_archive(http_oci: Path, tmp_path: Path) -> None:
    """`podman load` (private storage under tmp_path) takes the archive under its name."""
    need("podman")
    import tempfile

    # podman refuses a runroot path longer than 50 characters: a short one under /tmp.
    with tempfile.TemporaryDirectory(prefix="wkpod") as run:
        store = ["--root", str(tmp_path / "root"), "--runroot", run]
        podman = ["podman", *store, "--storage-driver", "vfs"]
        tar = http_oci.with_name("http.tar")
        proc = subprocess.run([*podman, "load", "-i", str(tar)], capture_output=True, text=True)
        assert proc.returncode == 0, proc.stderr
        assert "web:v1" in proc.stdout, proc.stdout
        listed = subprocess.run(
            [*podman, "image", "inspect", "web:v1"], capture_output=True, text=True, check=True
        )
    labels = json.loads(listed.stdout)[0]["Labels"]
    assert base64.b64decode(labels["com.urunc.unikernel.unikernelType"]) == b"mewz"
