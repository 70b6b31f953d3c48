"""An spt guest waiting in poll(2) survives a stop and a continue (SIGSTOP, SIGCONT, as a
job-control shell or a debugger does): the kernel resumes the poll with restart_syscall,
which the seccomp filter must allow, or the sandbox kills the process with SIGSYS."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest
from guest_programs import compile_c
from http_guests import HTTP_STATIC_SOURCE, build_image, fetch, skip_reason, start


def _spt_pid(wrapper: int) -> int:
    """The spt process `wasmkiln run` (pid `wrapper`) started: its only child besides passt."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmd = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        if ppid == wrapper and b"--net" in cmd and not cmd.startswith(b"passt"):
            return int(entry.name)
    raise AssertionError("no spt process under the runner")


def test_stop_and_continue_while_waiting(tmp_path: Path) -> None:
    why = skip_reason("spt")
    if why:
        pytest.skip(why)
    site = tmp_path / "site"
    site.mkdir()
    (site / "index.html").write_bytes(b"<p>still here</p>\n")
    image = build_image(compile_c(HTTP_STATIC_SOURCE), site, tmp_path / "s.spt", "x86_64-spt")
    with start("spt", image=image) as server:
        time.sleep(0.3)  # let it reach its idle poll
        pid = _spt_pid(server.proc.pid)
        os.kill(pid, signal.SIGSTOP)
        time.sleep(0.3)
        os.kill(pid, signal.SIGCONT)
        time.sleep(0.3)
        assert server.alive(), server.stderr()
        assert fetch("127.0.0.1", server.port, "/") == (200, b"<p>still here</p>\n")
