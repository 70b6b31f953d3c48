"""Ports and folders an image carries from its build: `build -p/--listen/--dir` and the
manifest's `listen`/`publish`/`dirs`, so that a plain `wasmkiln run IMAGE` serves.

Runs on x86_64-spt (a process; passt carries the frames), where a server starts in well under
a second; the recording itself is target-independent (the image's info section), and kvm
serving is covered by tests/test_http_static.py.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from guest_programs import compile_c
from http_guests import HTTP_STATIC_SOURCE, free_port, launch, skip_reason, wasmkiln_cli
from http_guests import fetch as get
from wkcli import wasmkiln

TARGET = "x86_64-spt"


@pytest.fixture(scope="module")
def wasm() -> Path:
    why = skip_reason("spt")
    if why:
        pytest.skip(why)
    return compile_c(HTTP_STATIC_SOURCE)


def fetch(port: int, path: str = "/") -> tuple[int, bytes]:
    return get("127.0.0.1", port, path, timeout=30)


def refused(port: int) -> bool:
    try:
        fetch(port)
    except OSError:
        return True
    return False


def test_build_records_ports_and_a_run_overrides_them(wasm: Path, tmp_path: Path) -> None:
    site = tmp_path / "site"
    site.mkdir()
    (site / "index.html").write_bytes(b"<p>recorded</p>\n" * 40)
    baked, given = free_port(), free_port()
    image = tmp_path / "server.spt"
    built = wasmkiln(
        "build",
        str(wasm),
        "--target",
        TARGET,
        "--dir",
        f"{site}::/",
        "-p",
        f"127.0.0.1:{baked}:80",
        "-o",
        str(image),
    )
    assert built.returncode == 0, built.stderr
    shown = wasmkiln("inspect", str(image))
    assert f"publish: ['127.0.0.1:{baked}:80']" in shown.stdout, shown.stdout

    with launch([*wasmkiln_cli(), "run", str(image)], "spt", baked):
        assert fetch(baked) == (200, (site / "index.html").read_bytes())
    with launch(
        [*wasmkiln_cli(), "run", "--listen", f"127.0.0.1:{given}", str(image)], "spt", given
    ):
        assert fetch(given) == (200, (site / "index.html").read_bytes())
        assert refused(baked), "the run's own port must replace the recorded one"


def test_manifest_packs_dirs_and_publishes_listen(wasm: Path, tmp_path: Path) -> None:
    port = free_port()
    shutil.copy(wasm, tmp_path / "server.wasm")
    (tmp_path / "www").mkdir()
    page = tmp_path / "www" / "index.html"
    page.write_bytes(b"<p>first</p>\n")
    (tmp_path / "wasmkiln.toml").write_text(f"""
[[image]]
name = "site"
wasm = "server.wasm"
targets = ["{TARGET}"]
dirs = ["www::/"]
listen = ["127.0.0.1:{port}"]
""")
    first = wasmkiln("build", cwd=tmp_path)
    assert first.returncode == 0 and "1 built" in first.stderr, first.stderr
    assert "warning" not in first.stderr, first.stderr
    image = tmp_path / "target" / TARGET / "dev" / "site.spt"
    with launch([*wasmkiln_cli(), "run", str(image)], "spt", port):
        assert fetch(port) == (200, b"<p>first</p>\n")

    assert "0 built, 1 fresh" in wasmkiln("build", cwd=tmp_path).stderr
    page.write_bytes(b"<p>second, longer</p>\n")  # a packed file changed: rebuild
    again = wasmkiln("build", cwd=tmp_path)
    assert "1 built, 0 fresh" in again.stderr, again.stderr
    with launch([*wasmkiln_cli(), "run", str(image)], "spt", port):
        assert fetch(port) == (200, b"<p>second, longer</p>\n")


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--listen", "8080"], "--listen 8080: want ADDR:PORT"),
        (["-p", "80:99999"], "port must be 1..65535"),
        (["-p", "8080:80", "-p", "8080:81"], "host port *:8080 given twice"),
    ],
)
def test_bad_recorded_ports_fail_the_build(
    wasm: Path, tmp_path: Path, argv: list[str], message: str
) -> None:
    out = tmp_path / "x.spt"
    proc = wasmkiln("build", str(wasm), "--target", TARGET, *argv, "-o", str(out))
    assert proc.returncode == 2 and message in proc.stderr, proc.stderr
    assert proc.stderr.count("\n") == 1 and not out.exists()


def test_manifest_port_and_dir_errors_name_the_line(tmp_path: Path) -> None:
    for body, message in [
        ('listen = ["nowhere:80"]', "wasmkiln.toml:5: --listen nowhere:80: 'nowhere' is not"),
        ('publish = ["1:2:3:4"]', "wasmkiln.toml:5: -p 1:2:3:4: want"),
        ('dirs = ["::/x"]', "wasmkiln.toml:5: dirs entry takes HOST or HOST::GUEST"),
    ]:
        (tmp_path / "wasmkiln.toml").write_text(
            f'\n[[image]]\nname = "a"\nwasm = "a.wasm"\n{body}\n'
        )
        proc = wasmkiln("build", cwd=tmp_path)
        assert proc.returncode == 2 and message in proc.stderr, (body, proc.stderr)


def test_cmake_dir_and_listen(wasm: Path, tmp_path: Path) -> None:
    """wasmkiln_add_image(... DIR ... LISTEN ...): the folder is packed, the port recorded,
    and a change to a packed file rebuilds the image."""
    cli = Path(sys.executable).parent / "wasmkiln"
    if shutil.which("cmake") is None or shutil.which("ninja") is None or not cli.exists():
        pytest.skip("cmake, ninja or the installed wasmkiln command is missing")
    port = free_port()
    shutil.copy(wasm, tmp_path / "server.wasm")
    (tmp_path / "www").mkdir()
    page = tmp_path / "www" / "index.html"
    page.write_bytes(b"<p>cmake</p>\n")
    (tmp_path / "CMakeLists.txt").write_text(
        "cmake_minimum_required(VERSION 3.20)\nproject(t NONE)\nfind_package(wasmkiln REQUIRED)\n"
        f"wasmkiln_add_image(site WASM server.wasm TARGET {TARGET} DIR www::/ "
        f"LISTEN 127.0.0.1:{port})\n"
    )
    cmake_dir = subprocess.run(
        [str(cli), "cmake-dir"], capture_output=True, text=True, check=True
    ).stdout.strip()
    build = tmp_path / "b"
    for argv in (
        [
            "cmake",
            "-S",
            str(tmp_path),
            "-B",
            str(build),
            "-G",
            "Ninja",
            f"-Dwasmkiln_DIR={cmake_dir}",
            f"-DWASMKILN_EXECUTABLE={cli}",
        ],
        ["cmake", "--build", str(build)],
    ):
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=600, check=False)
        assert proc.returncode == 0, proc.stdout + proc.stderr
    image = build / "site.spt"
    with launch([*wasmkiln_cli(), "run", str(image)], "spt", port):
        assert fetch(port) == (200, b"<p>cmake</p>\n")
    page.write_bytes(b"<p>cmake, again</p>\n")
    proc = subprocess.run(
        ["cmake", "--build", str(build)], capture_output=True, text=True, timeout=600, check=False
    )
    assert proc.returncode == 0 and "wasmkiln: image site" in proc.stdout, proc.stdout
    with launch([*wasmkiln_cli(), "run", str(image)], "spt", port):
        assert fetch(port) == (200, b"<p>cmake, again</p>\n")
