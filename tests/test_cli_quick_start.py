"""`wasmkiln run [--env E] [-p P] [--listen L] IMAGE [-- ARGS]` of an x86_64-spt image starts
from cli/entry.py without the rest of the CLI (run/spt_direct.py). It must be indistinguishable
from the full CLI's run (cli/main.py, runner.run_spt): the same spt argv, output, exit codes, trap
status and messages, for every option it takes; and it must really leave the heavy modules
unloaded. Command lines and images it does not handle go to the full CLI."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from guest_programs import compile_fixture
from http_guests import free_port
from wkcli import CLI, FULL_CLI, TRAP_EXIT, built_fixture, quick_and_full, wasmkiln

ENTRY = [sys.executable, "-m", "wasmkiln.pyhook.cli"]  # the console script's main()
FULL = FULL_CLI
_both = quick_and_full


def _image(name: str, tmp_path: Path, *flags: str) -> Path:
    return built_fixture(name, "x86_64-spt", tmp_path / f"{name}.spt", *flags)


def test_the_tests_call_the_entry_point() -> None:
    assert CLI == ENTRY


@pytest.mark.parametrize(
    ("fixture", "guest_args", "code"),
    [("hello", ["a", "b c"], 0), ("exit", ["7"], 7), ("trap_unreachable", [], TRAP_EXIT)],
)
def test_same_as_the_full_cli(
    fixture: str, guest_args: list[str], code: int, tmp_path: Path
) -> None:
    image = _image(fixture, tmp_path)
    quick, full = _both("run", str(image), *(["--", *guest_args] if guest_args else []))
    assert (quick.returncode, quick.stdout, quick.stderr) == (
        full.returncode,
        full.stdout,
        full.stderr,
    )
    assert quick.returncode == code, quick.stderr
    if fixture == "hello":
        assert quick.stdout == "hello, a!\nhello, b c!\n"


def test_a_closed_pipe_ends_the_guest_as_in_the_full_cli(tmp_path: Path) -> None:
    """Python ignores SIGPIPE; the guest must get the default back (as subprocess's children
    do), so writing to a closed stdout ends it with SIGPIPE in both."""
    image = _image("hello", tmp_path)
    many = [str(i) for i in range(20000)]  # far more output than a pipe holds
    ends = []
    for cli in (ENTRY, FULL):
        proc = subprocess.Popen(
            [*cli, "run", str(image), "--", *many],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        assert proc.stdout is not None and proc.stderr is not None
        proc.stdout.read(10)
        proc.stdout.close()
        err = proc.stderr.read().decode()
        ends.append((proc.wait(timeout=60), err))
    died = "wasmkiln: error: the guest process died: it crashed (SIGPIPE)\n"
    assert ends[0] == ends[1] == (141, died)


@pytest.mark.parametrize("with_options", [False, True])
def test_loads_no_more_than_the_image_needs(with_options: bool, tmp_path: Path) -> None:
    image = _image("hello", tmp_path)
    options = []
    if with_options:
        options = ["--env", "GREETING=hi", "-p", f"127.0.0.1:{free_port()}:80"]
        options += ["--listen", f"127.0.0.1:{free_port()}"]
    probe = (
        "import sys\n"
        "from wasmkiln.pyhook.cli.entry import main\n"
        f"code = main(['run', *{options!r}, {str(image)!r}])\n"
        "heavy = ('argparse', 'dataclasses', 'inspect', 'pathlib', 'subprocess', 'typing',\n"
        "         'wasmkiln.pyhook.run.runner', 'wasmkiln.pyhook.run.netopts',\n"
        "         'wasmkiln.pyhook.cli.main')\n"
        "print('loaded:', [m for m in heavy if m in sys.modules], 'exit', code)\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=False
    )
    said = "hello, world!\nhi\n" if with_options else "hello, world!\n"
    assert proc.stdout == f"{said}loaded: [] exit 0\n", proc.stdout + proc.stderr


def test_what_it_leaves_to_the_full_cli(tmp_path: Path) -> None:
    """An option it does not take, a module, an image of another target, a missing file: the
    full CLI runs them (and gives its errors)."""
    from wasmkiln.pyhook.cli.entry import _quick_run
    from wasmkiln.pyhook.run.spt_direct import plain_spt_info

    hello = _image("hello", tmp_path)
    (tmp_path / "p").mkdir()
    served = _image("hello", tmp_path / "p", "-p", "18080:80")
    kvm = tmp_path / "hello.img"
    assert wasmkiln("build", str(compile_fixture("hello")), "-o", str(kvm)).returncode == 0
    assert plain_spt_info(str(hello)) is not None
    assert plain_spt_info(str(served)) is not None  # its recorded port is published quickly too
    assert plain_spt_info(str(kvm)) is None
    assert _quick_run(["run", "--accel", "kvm", str(hello)]) is None
    assert _quick_run(["run", "--env", "K=V", "--timeout", "9", str(hello)]) is None
    assert _quick_run(["run", "--env", str(hello)]) is None  # argparse: IMAGE is the value
    assert _quick_run(["run", "--en", "K=V", str(hello)]) is None  # argparse's abbreviation
    assert _quick_run(["run", str(hello), "extra"]) is None  # argparse reads options there
    assert _quick_run(["run", str(hello), "--env", "K=V"]) is None
    assert _quick_run(["run", str(compile_fixture("hello"))]) is None
    assert _quick_run(["run", str(tmp_path / "missing.spt")]) is None
    missing = subprocess.run(
        [*ENTRY, "run", str(tmp_path / "missing.spt")], capture_output=True, text=True, check=False
    )
    assert missing.returncode == 2
    assert missing.stderr == f"wasmkiln: error: {tmp_path / 'missing.spt'}: no such file\n"


def test_the_options_it_takes_are_split_as_argparse_does() -> None:
    from wasmkiln.pyhook.cli.entry import quick_options

    argv = ["run", "--env", "A=1", "--env=B=2", "-p", "8080:80", "-p=9:90", "--publish", "7:70"]
    argv += ["--listen", "127.0.0.1:81", "--listen=127.0.0.1:82", "x.spt", "--", "a", "--env"]
    values = {"env": ["A=1", "B=2"], "publish": ["8080:80", "9:90", "7:70"]}
    values["listen"] = ["127.0.0.1:81", "127.0.0.1:82"]
    assert quick_options(argv) == ("x.spt", values, ["a", "--env"])
    assert quick_options(["run", "-p", "-1:80", "x.spt"]) is None  # argparse: an option
    assert quick_options(["run", "-p8080:80", "x.spt"]) is None  # argparse's glued form: full CLI


def _spt_argvs(
    monkeypatch: pytest.MonkeyPatch, argv: list[str]
) -> tuple[list[str] | None, list[str]]:
    """The spt process's argv (without the image) the quick start and the full CLI build for
    `argv`; the quick start's is None when it leaves the command line to the full CLI."""
    import os

    from wasmkiln.pyhook.cli import entry, main
    from wasmkiln.pyhook.run import runner, spt_direct

    quick: list[list[str]] = []

    def fake_spawn(path: str, args: list[str], env: object, **kw: object) -> int:
        quick.append(args[1:])
        raise OSError("not started")  # then the full CLI runs it too

    full: list[list[str]] = []

    def fake_run(args: list[str], **kw: object) -> subprocess.CompletedProcess[bytes]:
        full.append(args[1:])
        return subprocess.CompletedProcess(args, 0)

    monkeypatch.setattr(spt_direct.os, "posix_spawnp", fake_spawn)
    monkeypatch.setattr(runner.subprocess, "run", fake_run)
    assert entry.main(argv) == 0
    assert len(full) == 1, full
    fds = set(os.listdir("/proc/self/fd"))
    assert main.main(argv) == 0  # the full CLI alone (entry's fallback closed the quick fds)
    assert set(os.listdir("/proc/self/fd")) == fds  # both closed their listeners
    assert full[0] == full[1]
    return (quick[0] if quick else None), full[0]


@pytest.mark.parametrize(
    "options",
    [
        [],
        ["--env", "GREETING=hi there", "--env=K=V=W"],
        ["-p", "127.0.0.1:{0}:80"],
        ["--listen", "127.0.0.1:{0}", "-p", "{1}:81", "--env", "A=B", "--publish=127.0.0.1:{2}:82"],
    ],
)
def test_the_spt_argv_is_the_full_clis(
    options: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    image = _image("hello", tmp_path)
    ports = [free_port() for _ in range(3)]
    argv = ["run", *(o.format(*ports) for o in options), str(image), "--", "a", "b"]
    quick, full = _spt_argvs(monkeypatch, argv)
    assert quick == full


def test_recorded_ports_are_published_as_by_the_full_cli(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    port = free_port()
    image = _image("hello", tmp_path, "-p", f"127.0.0.1:{port}:80")
    quick, full = _spt_argvs(monkeypatch, ["run", str(image)])
    assert quick == full
    assert "net.publish=0.0.0.0:80" in full
    other = free_port()  # a run's own port replaces the recorded one, in both
    quick, full = _spt_argvs(monkeypatch, ["run", "-p", f"{other}:90", str(image)])
    assert quick == full
    assert "net.publish=0.0.0.0:90" in full and "net.publish=0.0.0.0:80" not in full


def test_what_needs_the_full_runner(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An image linked without networking is refused by the full runner: the quick start
    declines it. A module that opens its own sockets gets the host's sockets from both
    (runner.spt_net_backend), the same arguments."""
    from wasmkiln.pyhook.run import spt_direct

    image = _image("hello", tmp_path)
    info = spt_direct.plain_spt_info(str(image))
    assert info is not None
    port = free_port()
    monkeypatch.setattr(spt_direct, "plain_info", lambda _, __: {**info, "network": False})
    assert spt_direct.quick_spt_run(str(image), [], [f"{port}:80"], [], []) is None
    monkeypatch.setattr(spt_direct, "plain_info", lambda _, __: {**info, "own_sockets": True})
    quick, full = _spt_argvs(monkeypatch, ["run", "-p", f"{port}:80", str(image)])
    assert quick == full and "host" in full


@pytest.mark.parametrize(
    "options",
    [
        ["--env", "NOVALUE"],
        ["-p", "99999:80"],
        ["-p", "1:2:3:4"],
        ["-p", "300.1.1.1:8080:80"],
        ["--listen", "8080"],
        ["-p", "{0}:80", "-p", "{0}:81"],
        ["-p", "{0}:80", "--listen", "127.0.0.1:80"],
        ["-p", "127.0.0.1:{1}:80"],  # a port taken by this test
    ],
)
def test_errors_are_the_full_clis(options: list[str], tmp_path: Path) -> None:
    import socket

    image = _image("hello", tmp_path)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        ports = [free_port(), taken.getsockname()[1]]
        quick, full = _both("run", *(o.format(*ports) for o in options), str(image))
    assert quick.returncode == full.returncode == 2, quick.stderr
    assert quick.stderr == full.stderr
    assert quick.stderr.startswith("wasmkiln: error: ") and quick.stderr.count("\n") == 1


def test_options_run_as_in_the_full_cli(tmp_path: Path) -> None:
    image = _image("hello", tmp_path)
    port = free_port()
    args = ("run", "--env", "GREETING=hi", "-p", f"127.0.0.1:{port}:80", str(image), "--", "x")
    quick, full = _both(*args)
    assert (quick.returncode, quick.stdout, quick.stderr) == (0, "hello, x!\nhi\n", "")
    assert (full.returncode, full.stdout, full.stderr) == (0, "hello, x!\nhi\n", "")


def test_the_full_cli_builds_only_the_invoked_commands_parser() -> None:
    """Every command's parser costs start-up time: a command line builds its own alone, and
    `wasmkiln --help` (no command) still lists them all."""
    import argparse

    from wasmkiln.pyhook.cli.main import COMMANDS, _parser

    def commands(p: argparse.ArgumentParser) -> list[str]:
        sub = next(a for a in p._actions if isinstance(a, argparse._SubParsersAction))
        return list(sub.choices)

    assert commands(_parser()) == list(COMMANDS)
    for name in COMMANDS:
        assert commands(_parser(name)) == [name]
    helped = subprocess.run([*ENTRY, "--help"], capture_output=True, text=True, check=False)
    assert helped.returncode == 0
    assert all(f"\n    {name} " in helped.stdout for name in COMMANDS), helped.stdout


def test_a_closed_pipe_ends_the_full_cli_quietly() -> None:
    """`wasmkiln targets | head -1`: the reader left before the output was written; no
    traceback (it was one before), the exit status a SIGPIPE'd guest's."""
    proc = subprocess.Popen([*ENTRY, "targets"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()
    err = proc.stderr.read().decode()
    assert (proc.wait(timeout=60), err) == (141, "")
