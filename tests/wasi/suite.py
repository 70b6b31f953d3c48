"""The wasi-testsuite runner: build every test once per target, run it, compare.

The suite (WebAssembly/wasi-testsuite, prebuilt wasm32-wasip1 tests in C, Rust and
AssemblyScript) lives in ``../shared/testdata/wasi-testsuite`` relative to the repo root. Each
``NAME.wasm`` may have a ``NAME.json`` with ``args``, ``env``, ``root`` (a folder next to the
test, preopened as ``/``), ``exit_code`` and ``stdout``; missing fields take the defaults of the
suite's doc/specification.md. As in the suite's own runner, stdout is compared only when the
spec gives it (several Rust tests print diagnostics that no spec asks about).

Images are built through the CLI exactly as a user would (``wasmkiln build --dir ROOT::/``)
and cached in ``tests/.cache/wasi/`` under a key made of the module, the root folder's
fingerprint, the runtime libraries and wasmkiln's own Python sources, so an unchanged test is
built once. Runs go through ``wasmkiln run`` too; kvm images boot under QEMU TCG.

By hand::

    python tests/wasi/suite.py --target x86_64-spt            # the table and totals
    python tests/wasi/suite.py --target x86_64-kvm -k rust/path_
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SUITE_DIR = ROOT.parent / "shared" / "testdata" / "wasi-testsuite"
CACHE_DIR = ROOT / "tests" / ".cache" / "wasi"
LANGUAGES = ("c", "rust", "assemblyscript")
TARGETS = ("x86_64-spt", "x86_64-kvm", "aarch64-kvm")
RUN_TIMEOUT = 60.0

# Tests that do not pass, with the reason. Keys are "language/name"; the value says why.
# A known failure that starts passing is reported too, so this list stays exact.
KNOWN_FAILURES: dict[str, str] = {}


@dataclass(frozen=True)
class WasiTest:
    name: str  # "language/stem"
    wasm: Path
    args: tuple[str, ...] = ()
    env: tuple[tuple[str, str], ...] = ()
    root: Path | None = None
    exit_code: int = 0
    stdout: str | None = None  # None: not checked (the spec gives no `stdout`/`read`)


@dataclass
class Result:
    test: WasiTest
    target: str
    passed: bool
    why: str = ""
    stderr: str = ""
    times: dict[str, float] = field(default_factory=dict)


def discover(suite_dir: Path = SUITE_DIR) -> list[WasiTest]:
    tests = []
    for lang in LANGUAGES:
        folder = suite_dir / "tests" / lang / "testsuite" / "wasm32-wasip1"
        for wasm in sorted(folder.glob("*.wasm")):
            spec_path = wasm.with_suffix(".json")
            spec = json.loads(spec_path.read_text()) if spec_path.exists() else {}
            if "operations" in spec:  # the operation-based format: run + wait + read only
                ops = {op.get("type"): op for op in spec["operations"]}
                run, wait, read = ops.get("run", {}), ops.get("wait", {}), ops.get("read", {})
                spec = {**run, "exit_code": wait.get("exit_code", 0)}
                if read.get("id", "stdout") == "stdout" and "read" in ops:
                    spec["stdout"] = read.get("payload", "")
            root = spec.get("root")
            tests.append(
                WasiTest(
                    name=f"{lang}/{wasm.stem}",
                    wasm=wasm,
                    args=tuple(spec.get("args", ())),
                    env=tuple(spec.get("env", {}).items()),
                    root=(folder / root) if root else None,
                    exit_code=int(spec.get("exit_code", 0)),
                    stdout=spec.get("stdout"),
                )
            )
    return tests


def _wasmkiln(*args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "wasmkiln.pyhook.cli.main", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def _tool_key() -> str:
    """What else an image depends on: the runtime libraries and wasmkiln's Python code."""
    from wasmkiln.pyhook.image.runtime import RuntimeNotFound, target_dir

    h = hashlib.sha256()
    for target in TARGETS:
        try:
            folder = target_dir(target)
        except RuntimeNotFound:  # a cross target built without its compiler
            continue
        for lib in sorted(folder.glob("*.a")):
            h.update(lib.read_bytes())
    for code in ("bridge", "pyhook"):
        for src in sorted((ROOT / code).rglob("*.py")):
            h.update(src.read_bytes())
    return h.hexdigest()


def image_path(test: WasiTest, target: str, tool_key: str) -> Path:
    from wasmkiln.pyhook.image.pack import DirMapping, fingerprint

    h = hashlib.sha256(test.wasm.read_bytes())
    h.update(f"{target}\0{tool_key}\0".encode())
    if test.root is not None:
        h.update(fingerprint([DirMapping(test.root, "/")]).encode())
    stem = test.name.replace("/", "-")
    return CACHE_DIR / f"{stem}-{target}-{h.hexdigest()[:16]}.img"


def build(test: WasiTest, target: str, tool_key: str) -> tuple[Path | None, str]:
    """(image, "") or (None, the build's error)."""
    out = image_path(test, target, tool_key)
    if out.exists():
        return out, ""
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_suffix(f".{os.getpid()}.tmp")
    flags = ["--dir", f"{test.root}::/"] if test.root else []
    proc = _wasmkiln("build", str(test.wasm), "--target", target, "-o", str(partial), *flags)
    if proc.returncode != 0:
        partial.unlink(missing_ok=True)
        return None, proc.stderr.strip()
    os.replace(partial, out)
    for stale in out.parent.glob(out.name.rsplit("-", 1)[0] + "-*.img"):
        if stale != out:  # built by older tools: never used again
            stale.unlink(missing_ok=True)
    return out, ""


def run(test: WasiTest, target: str, image: Path) -> Result:
    env_flags = [f"--env={k}={v}" for k, v in test.env]
    try:
        proc = _wasmkiln("run", *env_flags, str(image), "--", *test.args, timeout=RUN_TIMEOUT)
    except subprocess.TimeoutExpired:
        return Result(test, target, False, f"no exit within {RUN_TIMEOUT:g} s")
    why = []
    if proc.returncode != test.exit_code:
        why.append(f"exit {proc.returncode}, expected {test.exit_code}")
    if test.stdout is not None and proc.stdout != test.stdout:
        why.append(f"stdout {proc.stdout[:200]!r}, expected {test.stdout[:200]!r}")
    return Result(test, target, not why, "; ".join(why), proc.stderr)


def run_suite(target: str, tests: Sequence[WasiTest], jobs: int | None = None) -> list[Result]:
    tool_key = _tool_key()
    jobs = jobs or os.cpu_count() or 2

    def one(test: WasiTest) -> Result:
        image, err = build(test, target, tool_key)
        if image is None:
            return Result(test, target, False, "build failed: " + err.splitlines()[-1], err)
        return run(test, target, image)

    with ThreadPoolExecutor(max_workers=jobs) as pool:
        return list(pool.map(one, tests))


def table(results: Iterable[Result]) -> str:
    """One line per test, then the totals, for one target."""
    results = list(results)
    lines = []
    target = results[0].target if results else "?"
    for r in results:
        known = r.test.name in KNOWN_FAILURES
        mark = "pass" if r.passed else ("known" if known else "FAIL")
        extra = "" if r.passed else f"  {r.why if not known else KNOWN_FAILURES[r.test.name]}"
        lines.append(f"  {mark:<5} {r.test.name}{extra}")
    passed = sum(r.passed for r in results)
    n_known = sum(not r.passed and r.test.name in KNOWN_FAILURES for r in results)
    failed = len(results) - passed - n_known
    by_lang = []
    for lang in LANGUAGES:
        rs = [r for r in results if r.test.name.startswith(lang + "/")]
        by_lang.append(f"{lang} {sum(r.passed for r in rs)}/{len(rs)}")
    lines.append(
        f"wasi-testsuite on {target}: {passed}/{len(results)} passed, {n_known} known "
        f"failures, {failed} unexpected failures ({', '.join(by_lang)})"
    )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--target", choices=TARGETS, action="append")
    p.add_argument("-k", default="", help="only tests whose name contains this")
    p.add_argument("-v", action="store_true", help="print the stderr of failures")
    args = p.parse_args(argv)
    if not SUITE_DIR.is_dir():
        print(f"no wasi-testsuite at {SUITE_DIR}", file=sys.stderr)
        return 2
    tests = [t for t in discover() if args.k in t.name]
    bad = 0
    for target in args.target or TARGETS:
        results = run_suite(target, tests)
        print(table(results))
        for r in results:
            if not r.passed and args.v:
                print(f"--- {r.test.name} stderr:\n{r.stderr[-3000:]}")
        bad += sum(not r.passed and r.test.name not in KNOWN_FAILURES for r in results)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
