"""`wasmkiln run` start-up: what the CLI adds to running a built image directly (issue 13).

    python bench/cli_startup.py [--reps N] [--compare LABEL=WASMKILN ...] [--no-server]

tests/fixtures/hello.c built for x86_64-spt (hello.spt) and timed from just before the fork to
the exit being reaped, as
- the image run directly (`./hello.spt`: the floor);
- `python -c print('hello')` with this interpreter (the floor of any Python command);
- `wasmkiln run hello.spt` (the console script next to this interpreter: the quick start of
  pyhook/cli/entry.py, which loads no more than the image's info needs);
- `wasmkiln run --env K=V hello.spt` (an option the quick start takes);
- `wasmkiln run --accel auto hello.spt` (an option it does not: the full CLI, argparse and the
  runner);
- `wasmkiln run hello.wasm` (the module: the full CLI finds the image in the cache);
- `wasmkiln run -p H:80 hello.spt` (the quick start binding a host listener; hello ignores it);
- with --compare LABEL=WASMKILN, `WASMKILN run hello.spt` and `run -p` of another install
  (another checkout's venv/bin/wasmkiln: a before and an after in the same run).
And a server's first HTTP 200 (bench/first_response.py's clock and probe: examples/http-static
with its site packed, from just before the first fork to the first 200 of a GET retried every
millisecond), the image launched as the runner launches it without Python, against `wasmkiln run
-p` of it, for x86_64-spt (on the host's own sockets) and x86_64-kvm (QEMU; slirp, its default
back end since 3 Dec (night), and passt):
- spt directly: the listener bound, then the process with the runner's `--net host` argv;
- `wasmkiln run -p H:80 server.spt` (the quick start: cli/entry.py, run/spt_direct.py);
- `wasmkiln run -p H:80 --net-backend host server.spt` (the same run through the full CLI,
  which takes every option the quick start does not);
- kvm directly: QEMU with the runner's argv on slirp (the row kvm's "added" is measured
  from), and passt with a paused QEMU, released when passt listens;
- kvm directly, probed from launch, one session: the same launch measured as `wasmkiln run`'s
  rows are (probes from the launch, QEMU in the prober's session: _kvm_direct_probed_from_launch);
- `wasmkiln run -p H:80 server.img` (the quick start: cli/entry.py, run/kvm_direct.py);
- `wasmkiln run -p H:80 --accel ACCEL server.img` (the same run through the full CLI and the
  runner: ACCEL is what auto resolves to here, an option the quick start does not take);
- with --compare, `WASMKILN run -p H:80 server.spt` and `... server.img` of the other install.
And, for the kvm rows through `wasmkiln run` (and main's with --compare), the CPU time of the
wasmkiln process itself (/proc/PID/schedstat: on-CPU ns, its children not included) from its
start to the first 200, when it only waits for QEMU: what Python costs a kvm run, a figure a
loaded machine stretches far less than wall time.
Launches are interleaved (one of every row, then the next round) so a burst of load from
elsewhere lands on all rows; figures are medians, and "added" is a row's median minus the
image's. Each launch also gives its CPU time (user + system of the command and the children
it waited for: the guest, QEMU), which a loaded machine stretches far less than wall time.
.pyc files are used as an installed wasmkiln uses them: PYTHONDONTWRITEBYTECODE is removed
from the children's environment and one untimed round writes them first.

Output: two tables and bench/results/cli_startup.json (samples and medians per row).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import time
from pathlib import Path
from typing import Any

import benchlib as bl

WORK = bl.CACHE / "cli_startup"
HELLO_C = bl.REPO / "tests" / "fixtures" / "hello.c"
sys.path.insert(0, str(bl.REPO / "tests"))  # http_guests, for first_response


def _console_script() -> str:
    here = Path(sys.executable).parent / "wasmkiln"
    found = str(here) if here.exists() else shutil.which("wasmkiln")
    if found is None:
        raise bl.BenchError("no wasmkiln console script next to this Python or on PATH")
    return found


def _timed(cmd: list[str], env: dict[str, str], says: bytes = b"hello") -> tuple[float, float]:
    """(wall, CPU) ms: wall from just before the fork to the exit being reaped; CPU the user +
    system time of the command and every child it waited for (wait4's rusage), which a loaded
    machine stretches far less. BenchError unless it exits 0 having printed ``says``."""
    import subprocess

    t0 = time.perf_counter()
    proc = subprocess.Popen(
        cmd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    out, err = proc.stdout.read(), proc.stderr.read()  # type: ignore[union-attr]
    _, status, usage = os.wait4(proc.pid, 0)
    wall = (time.perf_counter() - t0) * 1000.0
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0 or says not in out:
        raise bl.BenchError(f"{' '.join(cmd)}: exit {proc.returncode}: {err[-300:]!r}")
    return wall, (usage.ru_utime + usage.ru_stime) * 1000.0


def main() -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--reps", type=int, default=30, help="launches per row (default 30)")
    ap.add_argument(
        "--compare",
        action="append",
        default=[],
        metavar="LABEL=WASMKILN",
        help="another wasmkiln console script to time `run hello.spt` with in the same run",
    )
    ap.add_argument("--no-server", action="store_true", help="leave out the first-response rows")
    args = ap.parse_args()
    import subprocess

    WORK.mkdir(parents=True, exist_ok=True)
    wasm = WORK / "hello.wasm"
    subprocess.run(
        ["clang-14", "--target=wasm32-wasi", "-O2", str(HELLO_C), "-o", str(wasm)], check=True
    )
    image = WORK / "hello.spt"
    bl.wasmkiln_build(wasm, "x86_64-spt", image)
    wk = _console_script()
    from http_guests import free_port

    publish = f"127.0.0.1:{free_port()}:80"  # hello never accepts: the listener is all it costs
    rows: dict[str, list[str]] = {
        "hello.spt directly": [str(image)],
        "python -c print('hello')": [sys.executable, "-c", "print('hello')"],
        "wasmkiln run hello.spt (quick start)": [wk, "run", str(image)],
        "wasmkiln run --env K=V hello.spt (quick start)": [wk, "run", "--env", "K=V", str(image)],
        "wasmkiln run --accel auto hello.spt (full CLI)": [
            wk,
            "run",
            "--accel",
            "auto",
            str(image),
        ],
        "wasmkiln run hello.wasm (cached image)": [wk, "run", "--target", "x86_64-spt", str(wasm)],
        "wasmkiln run -p hello.spt (quick start)": [wk, "run", "-p", publish, str(image)],
    }
    for spec in args.compare:
        label, sep, exe = spec.partition("=")
        if not sep or not Path(exe).is_file():
            raise bl.BenchError(f"--compare {spec!r}: want LABEL=WASMKILN with an existing file")
        rows[f"{label}: wasmkiln run hello.spt"] = [exe, "run", str(image)]
        rows[f"{label}: wasmkiln run -p hello.spt"] = [exe, "run", "-p", publish, str(image)]
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    for cmd in rows.values():  # untimed: .pyc files, the image cache, the page cache
        _timed(cmd, env)
    load_before = os.getloadavg()
    samples: dict[str, list[float]] = {label: [] for label in rows}
    cpu: dict[str, list[float]] = {label: [] for label in rows}
    for rep in range(args.reps):
        for label, cmd in rows.items():
            wall, used = _timed(cmd, env)
            samples[label].append(wall)
            cpu[label].append(used)
        if rep % 10 == 9:
            bl.say(f"round {rep + 1}/{args.reps}")
    load_after = os.getloadavg()
    floor = bl.median(samples["hello.spt directly"])
    cpu_floor = bl.median(cpu["hello.spt directly"])
    medians = {label: bl.median(s) for label, s in samples.items()}
    cpu_medians = {label: bl.median(s) for label, s in cpu.items()}
    out: dict[str, Any] = {
        "machine": bl.machine_facts(),
        "reps": args.reps,
        "load_before": load_before,
        "load_after": load_after,
        "rows": {
            label: {
                "cmd": rows[label],
                "samples_ms": samples[label],
                "median_ms": medians[label],
                "added_ms": medians[label] - floor,
                "cpu_samples_ms": cpu[label],
                "cpu_median_ms": cpu_medians[label],
                "cpu_added_ms": cpu_medians[label] - cpu_floor,
            }
            for label in rows
        },
    }
    if not args.no_server:
        out["first_response"] = _first_responses(wk, args.reps, args.compare)
        out["python_cpu"] = _python_cpu(wk, args.reps, args.compare)
    bl.write_results("cli_startup", out)
    t = bl.Table(
        f"hello (x86_64-spt): ms from fork to exit and CPU ms (user + system, the command and "
        f"its children), median (min-max) of {args.reps} interleaved launches; added = median "
        f"- the image's; load average (1 min) {load_before[0]:.2f} before, "
        f"{load_after[0]:.2f} after",
        ["command", "wall median (min-max)", "wall added", "CPU median (min-max)", "CPU added"],
    )
    for label, s in samples.items():
        t.rows.append(
            [
                label,
                f"{bl.fmt(medians[label])} ({bl.fmt(min(s))}-{bl.fmt(max(s))})",
                bl.fmt(medians[label] - floor),
                f"{bl.fmt(cpu_medians[label])} ({bl.fmt(min(cpu[label]))}-"
                f"{bl.fmt(max(cpu[label]))})",
                bl.fmt(cpu_medians[label] - cpu_floor),
            ]
        )
    print(t.render())
    if not args.no_server:
        print(_first_response_table(out["first_response"], args.reps).render())
        print(_python_cpu_table(out["python_cpu"], args.reps).render())
    return 0


def serving(cmd: list[str], port: int, env: dict[str, str] | None = None) -> Any:
    """`cmd` (a server on `port`, in its own session) started and answering index.html: its
    Popen, for the caller to measure and then kill (os.killpg); BenchError if no answer."""
    import subprocess

    import first_response as fr

    proc = subprocess.Popen(
        cmd,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + fr.TIMEOUT_S
        while not fr._answered(port, "index.html", 1.0):  # noqa: SLF001
            if proc.poll() is not None or time.monotonic() > deadline:
                raise bl.BenchError(f"{' '.join(cmd)}: no answer")
            time.sleep(0.001)
    except BaseException:
        os.killpg(proc.pid, 9)
        proc.wait()
        raise
    return proc


def _python_cpu(wk: str, reps: int, compare: list[str]) -> dict[str, Any]:
    """The wasmkiln process's own CPU ms to the first 200 of server.kvm (the docstring)."""
    from http_guests import free_port

    h = bl.http_bench()
    accel = h.runner_choices()[0]
    image = str(WORK / "server.kvm")
    rows: dict[str, list[str]] = {
        "wasmkiln run -p server.img (quick start)": [wk, "run"],
        "wasmkiln run -p --accel server.img (full CLI)": [wk, "run", "--accel", accel],
    }
    for spec in compare:
        label, _, exe = spec.partition("=")
        rows[f"{label}: wasmkiln run -p server.img"] = [exe, "run"]
    samples: dict[str, list[float]] = {label: [] for label in rows}
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    load_before = os.getloadavg()
    for _ in range(reps):
        for label, cmd in rows.items():
            port = free_port()
            proc = serving([*cmd, "-p", f"127.0.0.1:{port}:{h.GUEST_PORT}", image], port, env)
            try:
                with open(f"/proc/{proc.pid}/schedstat") as f:
                    samples[label].append(int(f.read().split()[0]) / 1e6)
            finally:
                os.killpg(proc.pid, 9)
                proc.wait()
    return {
        "reps": reps,
        "load_before": load_before,
        "load_after": os.getloadavg(),
        "rows": {
            label: {"samples_ms": s, "median_ms": bl.median(s)} for label, s in samples.items()
        },
    }


def _python_cpu_table(res: dict[str, Any], reps: int) -> bl.Table:
    t = bl.Table(
        f"server.kvm: CPU ms of the wasmkiln process itself (children not included) from its "
        f"start to the first HTTP 200, median (min-max) of {reps}; load average (1 min) "
        f"{res['load_before'][0]:.2f} before, {res['load_after'][0]:.2f} after",
        ["command", "CPU median (min-max)"],
    )
    for label, r in res["rows"].items():
        s = r["samples_ms"]
        t.rows.append([label, f"{bl.fmt(r['median_ms'])} ({bl.fmt(min(s))}-{bl.fmt(max(s))})"])
    return t


def _first_responses(wk: str, reps: int, compare: list[str]) -> dict[str, Any]:
    """Launch to the first HTTP 200, each row `reps` times, interleaved (see the docstring)."""
    import first_response as fr

    h = bl.http_bench()
    wasm, site = h.build_server(), h.make_site()
    images = {kind: WORK / f"server.{kind}" for kind in ("spt", "kvm")}
    for kind, image in images.items():
        bl.wasmkiln_build(wasm, f"x86_64-{kind}", image, ["--dir", f"{site}::/"])
    accel = h.runner_choices()[0]

    def via(exe: str, *flags: str, kind: str = "spt") -> Any:
        def start(port: int, tmp: Path) -> list[Any]:
            publish = f"127.0.0.1:{port}:{h.GUEST_PORT}"
            return [fr._popen([exe, "run", "-p", publish, *flags, str(images[kind])], tmp)]

        return start

    kvm_flags = ("--accel", accel)
    rows = [
        fr.Row(
            "spt on host sockets directly", fr.spt_host_direct_start(images["spt"], h.GUEST_PORT)
        ),
        fr.Row("wasmkiln run -p server.spt (quick start)", via(wk)),
        fr.Row(
            "wasmkiln run -p --net-backend host server.spt (full CLI)",
            via(wk, "--net-backend", "host"),
        ),
        fr.Row(
            f"kvm directly (QEMU {accel.upper()} + slirp, the default back end)",
            fr.kvm_direct_start(images["kvm"], accel, 128, h.GUEST_PORT, launch="slirp"),
        ),
        fr.Row(
            f"kvm directly (QEMU {accel.upper()} + passt)",
            fr.kvm_direct_start(images["kvm"], accel, 128, h.GUEST_PORT),
        ),
        fr.Row(
            f"kvm directly, probed from launch, one session (QEMU {accel.upper()} + passt)",
            _kvm_direct_probed_from_launch(images["kvm"], accel, h.GUEST_PORT),
        ),
        fr.Row("wasmkiln run -p server.img (quick start)", via(wk, kind="kvm")),
        fr.Row("wasmkiln run -p --accel server.img (full CLI)", via(wk, *kvm_flags, kind="kvm")),
    ]
    for spec in compare:
        label, _, exe = spec.partition("=")
        rows.append(fr.Row(f"{label}: wasmkiln run -p server.spt", via(exe)))
        rows.append(fr.Row(f"{label}: wasmkiln run -p server.img", via(exe, kind="kvm")))
    for row in rows:  # untimed: .pyc files, the page cache
        fr.time_one(row, "index.html")
    load_before = os.getloadavg()
    fr.measure(rows, reps, reps)
    load_after = os.getloadavg()
    return {
        "reps": reps,
        "load_before": load_before,
        "load_after": load_after,
        "rows": {
            r.label: {
                "samples_ms": r.samples,
                "median_ms": bl.median(r.samples) if r.samples else None,
                "failures": r.failures,
            }
            for r in rows
        },
    }


def _kvm_direct_probed_from_launch(image: Path, accel: str, guest_port: int) -> Any:
    """The kvm direct row's launch (the runner's argv and order: QEMU paused, then passt,
    QEMU released once passt listens) as `wasmkiln run` gets it, in two ways the direct row
    differs from it: the probes start at the launch (the wait for passt and the release run
    in a thread; the direct row probes only after the release), and QEMU stays in the
    prober's session (the direct row gives it its own, and with the kernel's autogroup
    scheduling a session is one share of the CPU: on a loaded machine QEMU alone in one
    competes better than QEMU, passt and the wasmkiln process sharing one, as in a
    `wasmkiln run`). passt needs no reaping here: it quits when QEMU, killed at the row's
    end, closes the other end of its socket."""
    import socket
    import subprocess
    import threading

    import first_response as fr

    from wasmkiln.pyhook.run import runner

    def start(port: int, tmp: Path) -> list[Any]:
        net = fr._passt_net(port, guest_port)  # noqa: SLF001
        opts = runner.RunOptions(accel=accel, net=net, program_name="server")
        passt = runner.PasstAfterQemu(net)
        flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT
        outs = (os.open(tmp / "server.log", flags), os.open(tmp / "server.log", flags))
        (tmp / "control").touch()
        cmd = runner.qemu_command(image, opts, tmp / "control", outs, passt.nic_fd)
        monitor, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            qemu = subprocess.Popen(
                [*cmd, *runner.paused_args(theirs.fileno())],
                pass_fds=(*outs, passt.nic_fd, theirs.fileno()),
                stdin=subprocess.DEVNULL,
                process_group=0,  # (killed by group) in the prober's session: see the doc
            )
        finally:
            for fd in (*outs, passt.nic_fd):
                os.close(fd)
            theirs.close()

        def release() -> None:
            try:
                runner.release_paused(qemu, monitor, passt.ready)
            finally:
                monitor.close()

        threading.Thread(target=release, daemon=True).start()
        return [qemu]

    return start


def _first_response_table(res: dict[str, Any], reps: int) -> bl.Table:
    """Medians, and what `wasmkiln run` adds to the image launched directly of its target."""
    rows = res["rows"]
    t = bl.Table(
        f"examples/http-static: ms from launch to the first HTTP 200, median (min-max) of "
        f"{reps} interleaved launches; added = median - the same target's direct launch; load "
        f"average (1 min) {res['load_before'][0]:.2f} before, {res['load_after'][0]:.2f} after",
        ["command", "median (min-max)", "added", "failures"],
    )
    floors = {
        kind: next(
            (r["median_ms"] for label, r in rows.items() if label.startswith(f"{kind} ")), None
        )
        for kind in ("spt", "kvm")
    }
    for label, r in rows.items():
        s = r["samples_ms"]
        kind = "kvm" if "kvm" in label or "server.img" in label else "spt"
        floor = floors[kind]
        added = r["median_ms"] - floor if s and floor is not None else None
        t.rows.append(
            [
                label,
                f"{bl.fmt(r['median_ms'])} ({bl.fmt(min(s))}-{bl.fmt(max(s))})" if s else "-",
                bl.fmt(added),
                str(len(r["failures"])),
            ]
        )
    return t


if __name__ == "__main__":
    bl.run_script(main)
