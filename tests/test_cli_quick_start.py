"""`wasmkiln run IMAGE` of a plain x86_64-spt image starts from cli/entry.py without the rest of
the CLI (run/spt_direct.py). It must be indistinguishable from the full CLI's run (cli/main.py,
runner.run_spt): the same output, exit codes, trap status and messages; and it must really leave
the heavy modules unloaded. Command lines and images it does not handle go to the full CLI."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from guest_programs import compile_fixture
from wkcli import CLI, TRAP_EXIT, wasmkiln

ENTRY = [sys.executable, "-m", "wasmkiln.pyhook.cli"]  # the console script's main()
FULL = [sys.executable, "-m", "wasmkiln.pyhook.cli.main"]


def _image(name: str, tmp_path: Path, *flags: str) -> Path:
    out = tmp_path / f"{name}.spt"
    proc = wasmkiln(
        "build", str(compile_fixture(name)), "--target", "x86_64-spt", *flags, "-o", str(out)
    )
    assert proc.returncode == 0, proc.stderr
    return out


def _both(*args: str) -> tuple[subprocess.CompletedProcess[str], ...]:
    return tuple(
        subprocess.run([*cli, *args], capture_output=True, text=True, timeout=120, check=False)
        for cli in (ENTRY, FULL)
    )


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


def test_loads_no_more_than_the_image_needs(tmp_path: Path) -> None:
    image = _image("hello", tmp_path)
    probe = (
        "import sys\n"
        "from wasmkiln.pyhook.cli.entry import main\n"
        f"code = main(['run', {str(image)!r}])\n"
        "heavy = ('argparse', 'dataclasses', 'inspect', 'pathlib', 'subprocess', 'typing',\n"
        "         'wasmkiln.pyhook.run.runner', 'wasmkiln.pyhook.cli.main')\n"
        "print('loaded:', [m for m in heavy if m in sys.modules], 'exit', code)\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=False
    )
    assert proc.stdout.endswith("loaded: [] exit 0\n"), proc.stdout + proc.stderr
    assert proc.stdout.startswith("hello, world!"), proc.stdout


def test_what_it_leaves_to_the_full_cli(tmp_path: Path) -> None:
    """An option, a module, an image with recorded ports or of another target, a missing file:
    the full CLI runs them (and gives its errors)."""
    from wasmkiln.pyhook.cli.entry import _quick_run
    from wasmkiln.pyhook.run.spt_direct import plain_spt_info

    hello = _image("hello", tmp_path)
    (tmp_path / "p").mkdir()
    served = _image("hello", tmp_path / "p", "-p", "18080:80")
    kvm = tmp_path / "hello.img"
    assert wasmkiln("build", str(compile_fixture("hello")), "-o", str(kvm)).returncode == 0
    assert plain_spt_info(str(hello)) is not None
    assert plain_spt_info(str(served)) is None  # the runner publishes its port
    assert plain_spt_info(str(kvm)) is None
    assert _quick_run(["run", "--env", "K=V", str(hello)]) is None
    assert _quick_run(["run", str(hello), "extra"]) is None  # argparse reads options there
    assert _quick_run(["run", str(compile_fixture("hello"))]) is None
    assert _quick_run(["run", str(tmp_path / "missing.spt")]) is None
    missing = subprocess.run(
        [*ENTRY, "run", str(tmp_path / "missing.spt")], capture_output=True, text=True, check=False
    )
    assert missing.returncode == 2
    assert missing.stderr == f"wasmkiln: error: {tmp_path / 'missing.spt'}: no such file\n"
