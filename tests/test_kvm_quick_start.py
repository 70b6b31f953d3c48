"""`wasmkiln run [--env E] [-p P] [--listen L] IMAGE [-- ARGS]` of an x86_64-kvm image starts
from cli/entry.py without the rest of the CLI (run/kvm_direct.py), as spt images do
(tests/test_cli_quick_start.py). It must be indistinguishable from the full CLI's run
(cli/main.py, runner.run_kvm): the same QEMU argv (kvm's default back end, QEMU's slirp),
output, exit codes and messages; command lines and images it does not handle go to the full
CLI; and, started without a fork for a preexec_fn, a SIGKILLed `wasmkiln run` (quick start or
full CLI, passt's back end too) still leaves neither QEMU nor passt running. Checked with the
real QEMU (TCG) and passt."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.parse
from pathlib import Path

import pytest
from guest_programs import compile_c
from http_guests import HTTP_STATIC_SOURCE, build_image, fetch, free_port
from wkcli import TRAP_EXIT, built_fixture, quick_and_full

from wasmkiln.pyhook.run import kvm_direct, qemulaunch, runner

ENTRY = [sys.executable, "-m", "wasmkiln.pyhook.cli"]  # the console script's main()

needs_qemu = pytest.mark.skipif(
    shutil.which(runner.QEMU) is None, reason=f"{runner.QEMU} is not installed"
)


def _image(name: str, tmp_path: Path, *flags: str) -> Path:
    return built_fixture(name, "x86_64-kvm", tmp_path / f"{name}.img", *flags)


@pytest.mark.parametrize(
    "text", ["main", "a b", "K=V w/ spaces", "100%", "é ü ∑", "tab\tnew\nline", "~._-:=,+/"]
)
def test_the_command_lines_encoding_is_urllibs(text: str) -> None:
    assert qemulaunch.quote(text) == urllib.parse.quote(text, safe=qemulaunch.SAFE)


RUNS = {"hello": (["a", "b c"], 0), "exit": (["7"], 7), "trap_unreachable": ([], TRAP_EXIT)}
"""Guests, their arguments and the exit status each ends with."""


@needs_qemu
@pytest.mark.parametrize("fixture", sorted(RUNS))
def test_same_output_and_exit_as_the_full_cli(fixture: str, tmp_path: Path) -> None:
    guest_args, code = RUNS[fixture]
    image = _image(fixture, tmp_path)
    assert kvm_direct.plain_kvm_info(str(image)) is not None
    runs = quick_and_full("run", "--env", "GREETING=hi", str(image), "--", *guest_args)
    seen = [(r.returncode, r.stdout, r.stderr) for r in runs]
    assert seen[0] == seen[1]
    assert seen[0][0] == code, seen
    if fixture == "hello":
        assert seen[0][1] == "hello, a!\nhello, b c!\nhi\n"


def _normalized(argv: list[str]) -> list[str]:
    """An argv with its descriptor numbers and the control file's path left out (they differ
    between any two runs)."""
    text = "\n".join(argv)
    text = re.sub(r"/proc/\d+/fd/\d+", "CONTROL", text)
    text = re.sub(r"(fd=|addr\.str=|--fd\n)\d+", r"\1N", text)
    return text.split("\n")


def _argvs(
    monkeypatch: pytest.MonkeyPatch, argv: list[str]
) -> tuple[list[list[str]], list[list[str]]]:
    """(the quick start's, the full CLI's) QEMU argvs for `argv`, neither started."""
    from wasmkiln.pyhook.cli import entry
    from wasmkiln.pyhook.cli.main import main as full_main

    quick: list[list[str]] = []

    def spawn(cmd: list[str], fds: tuple[int, ...], stdin_null: bool = False) -> int | None:
        quick.append(cmd)
        return None  # "could not start": the quick start declines

    monkeypatch.setattr(kvm_direct, "spawn", spawn)
    assert entry._quick_run(argv) is None  # noqa: SLF001
    full: list[list[str]] = []

    def start_qemu(cmd: list[str], pass_fds: tuple[int, ...], ready=None, **popen) -> None:
        full.append([*cmd, *([] if ready is None else qemulaunch.paused_args(0))])
        raise OSError(1, "not started")

    monkeypatch.setattr(runner, "start_qemu", start_qemu)
    full_main(argv)
    return [_normalized(c) for c in quick], [_normalized(c) for c in full]


@needs_qemu
@pytest.mark.parametrize(
    "options",
    [
        "",
        "--env A=B --env C=d%e",
        "-p 127.0.0.1:{0}:80",
        "--listen 127.0.0.1:{0} -p {1}:81 --publish=127.0.0.1:{2}:82",
    ],
)
def test_the_qemu_argv_is_the_full_clis(
    options: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Option sets the quick start takes (as one string each: split at spaces)."""
    ports = [free_port() for _ in range(3)]
    image = _image("hello", tmp_path)
    argv = ["run", *options.format(*ports).split(), str(image), "--", "a", "b c"]
    quick, full = _argvs(monkeypatch, argv)
    assert len(quick) == 1 and quick[0][1:4] == ["--pdeathsig", "KILL", "--"], quick
    assert quick[0][0].endswith("/setpriv")
    assert quick == full  # setpriv in both: the runner starts QEMU the same way
    assert quick[0][4] == runner.QEMU


def test_the_passt_argv_is_the_runners() -> None:
    from wasmkiln.pyhook.run.netopts import NetOptions

    net = NetOptions.parse(["127.0.0.1:8080:80"], ["127.0.0.1:9000"], None, None).for_passt()
    forwards = net.forwards
    assert net.passt_args(5) == qemulaunch.passt_argv(
        5, forwards, qemulaunch.PASST_GUEST_IP, qemulaunch.PASST_GATEWAY, True
    )
    assert "--netmask" in net.passt_args(5) and "24" in net.passt_args(5)


@needs_qemu
def test_what_it_leaves_to_the_full_cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Options it does not take (another back end among them), an image built for a CPU
    level, a host without setpriv (the runner forks for the death signal), a runtime without
    networking: the full CLI runs them (and gives its errors)."""
    from wasmkiln.pyhook.cli.entry import _quick_run

    image = _image("hello", tmp_path)
    info = kvm_direct.plain_kvm_info(str(image))
    assert info is not None
    for options in (
        ["--accel", "tcg"],
        ["--memory", "64"],
        ["--timeout", "9"],
        ["--net-backend", "passt", "-p", "8080:80"],
    ):
        assert _quick_run(["run", *options, str(image)]) is None
    port = free_port()
    from wasmkiln.pyhook.image import infojson

    monkeypatch.setattr(infojson, "read_image_info", lambda _: {**info, "cpu": "x86-64-v3"})
    assert kvm_direct.plain_kvm_info(str(image)) is None  # runner.check_cpu's case
    monkeypatch.setattr(infojson, "read_image_info", lambda _: {**info, "network": False})
    assert kvm_direct.quick_kvm_run(str(image), [], [f"{port}:80"], [], []) is None
    monkeypatch.undo()
    real_which = qemulaunch.which
    monkeypatch.setattr(qemulaunch, "which", lambda n: None if n == "setpriv" else real_which(n))
    assert kvm_direct.quick_kvm_run(str(image), [], [f"{port}:80"], [], []) is None
    monkeypatch.undo()
    assert kvm_direct.quick_kvm_run(str(image), ["NOVALUE"], [], [], []) is None
    assert kvm_direct.quick_kvm_run(str(image), [], ["99999:80"], [], []) is None


def _descendants(pid: int) -> dict[int, str]:
    """The processes under `pid`: pid -> name."""
    out: dict[int, str] = {}
    todo = [pid]
    while todo:
        p = todo.pop()
        try:
            kids = Path(f"/proc/{p}/task/{p}/children").read_text().split()
        except OSError:
            continue
        for k in map(int, kids):
            try:
                out[k] = Path(f"/proc/{k}/comm").read_text().strip()
            except OSError:
                continue
            todo.append(k)
    return out


def _comm(pid: int) -> str | None:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return None


def _answers(port: int) -> bool:
    try:
        return fetch("127.0.0.1", port, "/index.html", timeout=2)[0] == 200
    except OSError:
        return False


def _alive(pid: int) -> bool:
    """Whether `pid` still runs (a zombie waiting for its new parent to reap it does not)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


RUNNERS = {
    "quick start": ([], ["qemu-system-x86"]),
    "full CLI": (["--accel", "tcg"], ["qemu-system-x86"]),
    "full CLI, passt": (["--net-backend", "passt"], ["passt", "qemu-system-x86"]),
}
"""How `wasmkiln run -p` is started (its extra options) and the processes it then runs."""


@needs_qemu
@pytest.mark.parametrize("how", sorted(RUNNERS))
def test_a_killed_run_leaves_nothing_behind(how: str, tmp_path: Path) -> None:
    """SIGKILL `wasmkiln run -p` of a serving guest (its first answer seen): QEMU (and passt)
    end too (QEMU by its death signal, passt when QEMU's end of its socket closes)."""
    flags, expected = RUNNERS[how]
    if "passt" in expected and shutil.which("passt") is None:
        pytest.skip("passt is not installed")
    site = tmp_path / "site"
    site.mkdir()
    (site / "index.html").write_bytes(b"<p>hi</p>\n")
    image = build_image(compile_c(HTTP_STATIC_SOURCE), site, tmp_path / "server.img", "x86_64-kvm")
    port = free_port()
    proc = subprocess.Popen(
        [*ENTRY, "run", *flags, "-p", f"127.0.0.1:{port}:80", str(image)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    kids: dict[int, str] = {}
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            kids = _descendants(proc.pid)
            names = sorted(n.split(".")[0] for n in kids.values())
            if names == expected and _answers(port):
                break
            time.sleep(0.05)
        else:
            pytest.fail(f"no answer from the guest: {kids}")
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        deadline = time.monotonic() + 10
        while any(_alive(k) for k in kids) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not [kids[k] for k in kids if _alive(k)], "left running after SIGKILL"
    finally:  # whatever the outcome, nothing of this test is left running
        for k, name in {**kids, **_descendants(proc.pid)}.items():
            if _alive(k) and _comm(k) == name:  # (not a reused pid)
                os.kill(k, signal.SIGKILL)
        if proc.poll() is None:
            proc.kill()
            proc.wait()


@pytest.mark.parametrize(
    "text",
    [
        "127.0.0.1",
        "0.0.0.0",
        "255.255.255.255",
        "10.0.2.15",
        "256.1.1.1",
        "01.2.3.4",
        "1.2.3",
        "1.2.3.4.5",
        "1.2.3.-4",
        "a.b.c.d",
        "1.2.3.4 ",
        "١.2.3.4",
        "",
        "1..2.3",
        "001.2.3.4",
    ],
)
def test_ipv4_without_ipaddress_is_ipaddresss(text: str) -> None:
    """portspec.ipv4's quick path (no ipaddress import) accepts what ipaddress accepts and
    gives its form; anything else gets ipaddress's own verdict."""
    import ipaddress

    from wasmkiln.pyhook.run.portspec import NetOptionError, ipv4

    try:
        want: str | None = str(ipaddress.IPv4Address(text))
    except ValueError:
        want = None
    try:
        got: str | None = ipv4(text, "-p")
    except NetOptionError:
        got = None
    assert got == want


HEAVY = (
    "argparse", "dataclasses", "inspect", "pathlib", "subprocess", "typing", "tempfile",
    "shutil", "ctypes", "ipaddress", "urllib.parse", "socket", "wasmkiln.pyhook.run.runner",
    "wasmkiln.pyhook.run.netopts", "wasmkiln.pyhook.cli.main",
)  # fmt: skip
"""What the full CLI loads and the kvm quick start must not before QEMU starts (each costs
milliseconds; slirp_backlog's ctypes and socket come after, while the guest boots)."""


@needs_qemu
def test_it_loads_none_of_the_full_clis_modules(tmp_path: Path) -> None:
    image = _image("hello", tmp_path)
    argv = ["run", "--env", "GREETING=hi", "-p", f"127.0.0.1:{free_port()}:80", str(image)]
    probe = "\n".join(
        [
            "import sys",
            "from wasmkiln.pyhook.cli.entry import main",
            "from wasmkiln.pyhook.run import kvm_direct",
            "spawn, seen = kvm_direct.spawn, []",
            "kvm_direct.spawn = lambda *a, **k: seen.append(set(sys.modules)) or spawn(*a, **k)",
            f"code = main({argv!r})",
            f"print('exit', code, 'loaded', sorted(set({HEAVY!r}) & seen[0]))",
        ]
    )
    run = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, check=False
    )
    assert run.stdout == "hello, world!\nhi\nexit 0 loaded []\n", run.stdout + run.stderr


@pytest.mark.parametrize(
    "interface", ["10.0.2.15/24", "192.168.7.9/16", "10.1.2.3/32", "1.2.3.4/0"]
)
def test_the_slirp_network_without_ipaddress_is_ipaddresss(interface: str) -> None:
    import ipaddress

    want = str(ipaddress.IPv4Interface(interface).network)
    assert qemulaunch.ipv4_network(interface) == want
