"""A runtime without networking says so, and wasmkiln refuses what would need it.

The CMake configure fetches lwIP when its source is missing (WASMKILN_FETCH_LWIP); when it
cannot (no network, opted out), the runtime is built without a network stack and its installed
target.json says "network": false. Then `-p`, `--listen` and modules that import socket calls
are refused with one line that says how to get networking, instead of a guest that starts and
dies at its first accept ("Not a socket"). The refusals are tested against a copy of the
installed runtime whose target.json says false, which is what such a build installs
(test_cmake_configure_without_lwip checks that part).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from wkcli import wasmkiln as cli

from wasmkiln.pyhook.image.runtime import runtime_dir, target_has_network

REPO = Path(__file__).resolve().parent.parent
HELLO = REPO / "pyhook" / "examples" / "hello.wasm"
HINT = "scripts/fetch-lwip.sh"  # every refusal says how to get networking

# A preview1 socket call, and WasmEdge's sock_open (an extension name with its own signature).
SOCKET_MODULES = {
    "preview1": """(module
  (import "wasi_snapshot_preview1" "sock_accept" (func (param i32 i32 i32) (result i32)))
  (func (export "_start")))""",
    "wasmedge": """(module
  (import "wasi_snapshot_preview1" "sock_open" (func (param i32 i32 i32) (result i32)))
  (func (export "_start")))""",
}


def wasmkiln(*args: str, runtime: Path | None = None) -> subprocess.CompletedProcess[str]:
    """The CLI, with `runtime` (a build without lwIP) in place of the installed runtime."""
    return cli(*args, env={"WASMKILN_RUNTIME_DIR": str(runtime)} if runtime else None)


def refused(proc: subprocess.CompletedProcess[str], *needles: str) -> None:
    """One `wasmkiln: error:` line naming the cause and the fix, no traceback, no guest run."""
    assert proc.returncode != 0, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("wasmkiln: error: "), proc.stderr
    for needle in (*needles, "without networking", HINT):
        assert needle in lines[0], lines[0]


@pytest.fixture(scope="module")
def no_net_runtime(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The installed runtime, copied, with "network": false in each target.json."""
    copy = tmp_path_factory.mktemp("runtime") / "_runtime"
    shutil.copytree(runtime_dir(), copy)
    for spec_path in copy.glob("*/target.json"):
        spec = json.loads(spec_path.read_text())
        spec["network"] = False
        spec_path.write_text(json.dumps(spec))
    return copy


def socket_module(tmp_path: Path, kind: str) -> Path:
    if shutil.which("wat2wasm") is None:
        pytest.skip("wat2wasm (Debian: wabt) is not installed")
    src = tmp_path / f"{kind}.wat"
    src.write_text(SOCKET_MODULES[kind])
    out = tmp_path / f"{kind}.wasm"
    subprocess.run(["wat2wasm", str(src), "-o", str(out)], check=True)
    return out


def test_installed_runtime_has_networking() -> None:
    """What CI's `pip install -e .` gives (the build fetched lwIP): a networked runtime."""
    for triple in ("x86_64-spt", "x86_64-kvm"):
        assert target_has_network(triple), f"{triple}: the installed runtime has no network"


@pytest.mark.parametrize("target", ["x86_64-spt", "x86_64-kvm"])
@pytest.mark.parametrize("option", [["-p", "8080:80"], ["--listen", "127.0.0.1:8080"], ["--net"]])
def test_run_refuses_ports(no_net_runtime: Path, target: str, option: list[str]) -> None:
    proc = wasmkiln("run", "--target", target, *option, str(HELLO), runtime=no_net_runtime)
    refused(proc, option[0])
    assert "Hello" not in proc.stdout  # refused before anything ran


def test_build_refuses_ports(no_net_runtime: Path, tmp_path: Path) -> None:
    out = tmp_path / "h.spt"
    proc = wasmkiln(
        "build",
        "--target",
        "x86_64-spt",
        "-p",
        "8080:80",
        str(HELLO),
        "-o",
        str(out),
        runtime=no_net_runtime,
    )
    refused(proc, "-p 8080:80")
    assert not out.exists()


@pytest.mark.parametrize("kind,name", [("preview1", "sock_accept"), ("wasmedge", "sock_open")])
def test_socket_modules_refused(no_net_runtime: Path, tmp_path: Path, kind: str, name: str) -> None:
    """Even without ports, and even with --trap-unknown-imports: the calls could only fail."""
    wasm = socket_module(tmp_path, kind)
    refused(
        wasmkiln("run", "--target", "x86_64-spt", str(wasm), runtime=no_net_runtime),
        f"imports socket calls ({name})",
    )
    refused(
        wasmkiln(
            "build",
            "--target",
            "x86_64-spt",
            "--trap-unknown-imports",
            str(wasm),
            "-o",
            str(tmp_path / "x.spt"),
            runtime=no_net_runtime,
        ),
        name,
    )


def test_image_without_network(no_net_runtime: Path, tmp_path: Path) -> None:
    """A module without sockets still builds and runs; its image records that it has no
    network, so a later `run IMAGE -p`, whichever wasmkiln runs it, is refused."""
    image = tmp_path / "hello.spt"
    build = wasmkiln(
        "build", "--target", "x86_64-spt", str(HELLO), "-o", str(image), runtime=no_net_runtime
    )
    assert build.returncode == 0, build.stderr
    ran = wasmkiln("run", str(image))
    assert ran.returncode == 0 and "hello, world!" in ran.stdout, ran.stderr
    refused(wasmkiln("run", "-p", "8080:80", str(image)), "-p 8080:80", "linked by a wasmkiln")


def _configure(
    tmp_path: Path, lwip: Path, *options: str, path_prefix: Path | None = None
) -> tuple[str, dict]:
    """Configure the project (no build) and return CMake's output and the spt target.json
    it would install."""
    if shutil.which("cmake") is None or shutil.which("ninja") is None:
        pytest.skip("cmake and ninja are needed to configure the runtime")
    env = dict(os.environ)
    if path_prefix is not None:
        env["PATH"] = f"{path_prefix}{os.pathsep}{env['PATH']}"
    build = tmp_path / "build"
    proc = subprocess.run(
        [
            "cmake",
            "-S",
            str(REPO),
            "-B",
            str(build),
            "-G",
            "Ninja",
            f"-DLWIP_SOURCE_DIR={lwip}",
            *options,
        ],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    spec = json.loads((build / "unikernel" / "x86_64-spt" / "target.json").read_text())
    return proc.stdout + proc.stderr, spec


@pytest.mark.slow
def test_cmake_configure_without_lwip(tmp_path: Path) -> None:
    """Opted out: no fetch, no network stack, and target.json says so."""
    out, spec = _configure(tmp_path, tmp_path / "no-lwip", "-DWASMKILN_FETCH_LWIP=OFF")
    assert spec["network"] is False and spec["triple"] == "x86_64-spt"
    assert "building WITHOUT networking" in out and HINT in out
    assert "fetching lwIP" not in out
    assert not (tmp_path / "no-lwip").exists()


@pytest.mark.slow
def test_cmake_configure_fetch_fails(tmp_path: Path) -> None:
    """The fetch runs, fails (an apt-get that cannot reach anything), and the configure still
    succeeds, without networking, with a warning that shows apt's words and the fix."""
    fake = tmp_path / "bin"
    fake.mkdir()
    (fake / "apt-get").write_text("#!/bin/sh\necho 'E: offline (test)' >&2\nexit 100\n")
    (fake / "apt-get").chmod(0o755)
    out, spec = _configure(tmp_path, tmp_path / "lwip", path_prefix=fake)
    assert spec["network"] is False
    assert "fetching lwIP failed" in out and "E: offline (test)" in out and HINT in out


@pytest.mark.slow
def test_cmake_configure_with_lwip(tmp_path: Path) -> None:
    """With lwIP's source present (where the install fetched it), target.json says true."""
    lwip = REPO / "build" / "lwip-src"
    if not (lwip / "src" / "core" / "tcp.c").is_file():
        pytest.skip(f"no lwIP source in {lwip} (this install was not built from it)")
    _, spec = _configure(tmp_path, lwip)
    assert spec["network"] is True
