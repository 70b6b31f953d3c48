"""C guest programs built to wasm32-wasi, and what running them must give.

The guest programs live in ``tests/fixtures/*.c`` and are compiled at test time with Debian's
``clang-14 --target=wasm32-wasi -O2`` (its wasi sysroot comes from the ``wasi-libc`` and
``libclang-rt-14-dev-wasm32`` packages). Compiled modules are cached in ``tests/.cache/`` under a
key made of the source, the flags and the compiler's version, so a session compiles each program
at most once and an edited source or a new compiler never reuses a stale module.

``FIXTURE_CASES`` is the expected behaviour of each program, pinned against wasmtime (see
``test_fixtures_wasmtime.py``). Every runner of ours (the kvm image and the spt process) is held
to the same table, so a difference is a bug in wasmkiln, not a matter of opinion.

This is a plain module rather than part of conftest.py so that test files in any subfolder can
``from guest_programs import FIXTURE_CASES`` for ``parametrize`` (pytest puts ``tests/`` on
``sys.path``), while ``import conftest`` would be ambiguous once a subfolder has its own.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from functools import cache
from pathlib import Path
from typing import NamedTuple

import pytest

TESTS_DIR = Path(__file__).resolve().parent
FIXTURES_DIR = TESTS_DIR / "fixtures"
CACHE_DIR = TESTS_DIR / ".cache"

CLANG = os.environ.get("WASMKILN_TEST_CLANG", "clang-14")
"""The C compiler for guest programs; the variable exists for machines with another name."""

CFLAGS = ("--target=wasm32-wasi", "-O2", "-Wall", "-Wextra", "-Werror")


class FixtureCase(NamedTuple):
    """One run of a fixture program and everything it must produce.

    ``exit_code`` is the guest's exit status when it finishes, or None when it traps. ``trap`` is
    None for a normal exit, or a substring that the trap message must contain; the substrings
    are the WebAssembly spec's trap names (as in its ``assert_trap`` tests), which wasmtime's
    messages also contain, so wasmkiln's messages can be held to them too. ``stdout`` is
    everything the guest writes to fd 1, compared exactly (the trap fixtures flush before they
    trap, so their output does not depend on whether a runtime treats stdout as a terminal).
    """

    fixture: str
    args: tuple[str, ...]
    env: dict[str, str]
    stdout: str
    exit_code: int | None
    trap: str | None

    @property
    def id(self) -> str:
        """A short test id: the fixture name and its arguments."""
        return "-".join((self.fixture, *self.args)) if self.args else self.fixture


TRAP_DIV = "integer divide by zero"
TRAP_OOB = "out of bounds memory access"
TRAP_UNREACHABLE = "unreachable"

FIXTURE_CASES: list[FixtureCase] = [
    FixtureCase("hello", (), {}, "hello, world!\n", 0, None),
    FixtureCase(
        "hello",
        ("alice", "bob"),
        {"GREETING": "good morning"},
        "hello, alice!\nhello, bob!\ngood morning\n",
        0,
        None,
    ),
    FixtureCase("fib", ("25",), {}, "fib(25) = 75025\n", 0, None),
    FixtureCase("trap_div", (), {}, "dividing 100 by 0\n", None, TRAP_DIV),
    FixtureCase("trap_div", ("4",), {}, "dividing 100 by 4\nresult 25\n", 0, None),
    FixtureCase("trap_oob", (), {}, "loading from 0xfffffff0\n", None, TRAP_OOB),
    FixtureCase("trap_unreachable", (), {}, "about to trap\n", None, TRAP_UNREACHABLE),
    # 32 blocks of 1 MiB filled with 1..32: the checksum is 256 sampled bytes per block times
    # the sum of 1..32 (= 528). The page count is the guest allocator's doing (512 pages of
    # blocks plus the initial memory and dlmalloc's overhead), so every runtime must report it.
    FixtureCase(
        "grow",
        ("32",),
        {},
        "allocated 32 MiB\nchecksum 135168\nmemory pages 514\n",
        0,
        None,
    ),
    # The same program built natively with gcc prints the same sorted line.
    FixtureCase(
        "qsort",
        ("pear", "apple", "fig"),
        {},
        "words: apple fig pear\n"
        "sorted: -471 -455 -448 -413 -264 -132 -90 -73 -2 9 195 256 258 375 385 390\n",
        0,
        None,
    ),
    FixtureCase("exit", ("0",), {}, "", 0, None),
    FixtureCase("exit", ("1",), {}, "", 1, None),
    FixtureCase("exit", ("42",), {}, "", 42, None),
]


@cache
def _clang_version() -> str | None:
    """The compiler's version banner (part of the cache key), or None if it is not installed."""
    if shutil.which(CLANG) is None:
        return None
    result = subprocess.run([CLANG, "--version"], capture_output=True, text=True, check=False)
    return result.stdout.strip() if result.returncode == 0 else None


def _cache_key(source: Path, version: str, extra_flags: tuple[str, ...] = ()) -> str:
    digest = hashlib.sha256()
    flags = " ".join((*CFLAGS, *extra_flags))
    for part in (source.read_bytes(), flags.encode(), version.encode()):
        digest.update(part)
        digest.update(b"\0")
    return digest.hexdigest()[:16]


def compile_fixture(name: str) -> Path:
    """Compile ``tests/fixtures/<name>.c`` to wasm32-wasi once and return the cached module.

    Skips the calling test (with the reason in pytest's summary) when clang-14 or the wasi
    sysroot is missing: those come from system packages (`bash .ci/run` installs them), and a
    machine without them can still run every other test. Any other compile error fails loudly.
    """
    source = FIXTURES_DIR / f"{name}.c"
    if not source.is_file():
        raise FileNotFoundError(f"no fixture source {source}")
    return compile_c(source)


def compile_c(source: Path, extra_flags: tuple[str, ...] = ()) -> Path:
    """Compile any one-file C program (an example's, say) as compile_fixture does;
    extra_flags (e.g. -msimd128) are added to CFLAGS and to the cache key."""
    name = source.stem
    version = _clang_version()
    if version is None:
        pytest.skip(f"{CLANG} not found: install clang-14, lld-14, wasi-libc (bash .ci/run does)")
    target = CACHE_DIR / f"{name}-{_cache_key(source, version, extra_flags)}.wasm"
    if target.is_file():
        return target
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    # Compile to a private name, then rename: concurrent sessions never see a partial module.
    partial = target.with_suffix(f".{os.getpid()}.tmp")
    result = subprocess.run(
        [CLANG, *CFLAGS, *extra_flags, str(source), "-o", str(partial)],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        partial.unlink(missing_ok=True)
        missing_sysroot = (
            "'stdio.h' file not found" in result.stderr
            or "unable to find library -lc" in result.stderr
            or "libclang_rt.builtins-wasm32.a" in result.stderr
        )
        if missing_sysroot:
            pytest.skip(
                f"{CLANG} cannot build wasm32-wasi programs: install wasi-libc and "
                f"libclang-rt-14-dev-wasm32 ({result.stderr.strip().splitlines()[0]})"
            )
        raise RuntimeError(f"compiling {source.name} failed:\n{result.stderr}")
    os.replace(partial, target)
    return target


def wasmtime_stdout(wasm: Path, folder: Path) -> str:
    """Run a WASI command module's `_start` in the `wasmtime` package (the reference) and
    return what it wrote to stdout; an exit with status 0 counts as a normal end."""
    wasmtime = pytest.importorskip("wasmtime")
    engine = wasmtime.Engine()
    linker = wasmtime.Linker(engine)
    linker.define_wasi()
    wasi = wasmtime.WasiConfig()
    wasi.stdout_file = str(folder / "stdout")
    store = wasmtime.Store(engine)
    store.set_wasi(wasi)
    instance = linker.instantiate(store, wasmtime.Module.from_file(engine, str(wasm)))
    try:
        instance.exports(store)["_start"](store)
    except wasmtime.ExitTrap as e:
        assert e.code == 0, f"the reference run exited with {e.code}"
    return (folder / "stdout").read_text()
