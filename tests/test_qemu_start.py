"""runner.start_qemu: the paused QEMU start that `wasmkiln run` (kvm + passt) and
bench/first_response.py share. QEMU starts with -S and a QMP monitor on a socketpair and is
let go once the caller's ``ready`` returns; whatever fails on the way, neither end of the
pair stays open in this process and no QEMU is left running. Checked with the real
qemu-system-x86_64 (a bare microvm: it only has to come up paused and answer QMP)."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from wasmkiln.pyhook.run.runner import QEMU, start_qemu

RUNNING_NS = 2_000_000
"""CPU time that only a running guest uses within 5 s (a paused QEMU: ~0.15 ms)."""
BARE = [QEMU, "-M", "microvm", "-nodefaults", "-no-user-config", "-display", "none"]


def _fds() -> set[str]:
    return set(os.listdir("/proc/self/fd"))


def _cpu_ns(pid: int) -> int:
    """CPU time of all of pid's threads (schedstat), ns."""
    return sum(int(t.read_text().split()[0]) for t in Path(f"/proc/{pid}/task").glob("*/schedstat"))


def _children() -> set[int]:
    pid = os.getpid()
    text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    return {int(c) for c in text.split()}


def test_a_failed_start_closes_both_ends_of_the_monitor(tmp_path: Path) -> None:
    called: list[bool] = []
    before = _fds()
    with pytest.raises(OSError):
        start_qemu([str(tmp_path / "no-such-qemu")], (), lambda: called.append(True))
    assert _fds() == before, "a socketpair end leaked when QEMU could not start"
    assert not called, "ready was waited for although nothing started"


@pytest.mark.skipif(shutil.which(QEMU) is None, reason=f"{QEMU} is not installed")
def test_a_failed_release_kills_the_paused_qemu() -> None:
    before, children = _fds(), _children()

    def not_ready() -> None:
        raise RuntimeError("passt did not come up")

    with pytest.raises(RuntimeError, match="passt did not come up"):
        start_qemu(BARE, (), not_ready, stdin=subprocess.DEVNULL)
    assert _fds() == before
    assert _children() == children, "the paused QEMU was left behind"


@pytest.mark.skipif(shutil.which(QEMU) is None, reason=f"{QEMU} is not installed")
def test_a_released_qemu_runs_and_the_monitor_is_closed() -> None:
    """After start_qemu the guest runs: QEMU's threads keep using CPU time (the bare
    machine's vCPU executes its firmware; a paused QEMU uses none once up), and we hold no
    end of the monitor."""
    before = _fds()
    order: list[str] = []
    proc = start_qemu(BARE, (), lambda: order.append("ready"), stdin=subprocess.DEVNULL)
    try:
        assert order == ["ready"]
        assert proc.poll() is None, f"QEMU exited with {proc.returncode}"
        assert _fds() == before
        # Running, the bare machine's vCPU takes ~5 ms of CPU a second (its firmware, timer
        # interrupts); paused, QEMU's helper threads take ~0.03 ms a second.
        first = _cpu_ns(proc.pid)
        deadline = time.monotonic() + 5.0  # a loaded machine may not run it at once
        while _cpu_ns(proc.pid) - first < RUNNING_NS and time.monotonic() < deadline:
            time.sleep(0.05)
        used = _cpu_ns(proc.pid) - first
        assert used >= RUNNING_NS, f"QEMU used {used} ns of CPU in 5 s: still paused?"
    finally:
        proc.kill()
        proc.wait()
    assert proc.returncode == -9
