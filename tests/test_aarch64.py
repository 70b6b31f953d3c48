"""aarch64-kvm: images cross-built on this x86_64 machine and booted by qemu-system-aarch64
(virt, TCG): the image's format, the code objects, what the toolchain refuses, a manifest
building several targets. The same checks as x86_64 run in the shared files: the fixtures
(test_run.py), --dir at run time (test_wasi_options.py), the wasi-testsuite
(test_wasi_suite.py), the spec suite on AArch64 code (test_spec.py), http-static over
virtio-net (test_http_static.py), real programs (test_real.py).

Boot tests need qemu-system-aarch64 (Debian: qemu-system-arm) and the aarch64 runtime, built at
install when gcc-aarch64-linux-gnu is there; they skip, saying which, when either is missing.
"""

from __future__ import annotations

import os
import shutil
import struct
import subprocess
import sys
from pathlib import Path

import pytest
from guest_programs import compile_fixture
from wkcli import wasmkiln

from wasmkiln.pyhook.image.runtime import runtime_dir
from wasmkiln.pyhook.image.targets import TARGETS, runtime_built

TARGET = "aarch64-kvm"
HAVE_RUNTIME = runtime_built(TARGETS[TARGET])


def _need_runtime() -> None:
    if not HAVE_RUNTIME:
        pytest.skip(
            "the aarch64-kvm runtime was not built (Debian: gcc-aarch64-linux-gnu, "
            "then pip install again)"
        )


def _need_qemu() -> None:
    _need_runtime()
    if shutil.which("qemu-system-aarch64") is None:
        pytest.skip("qemu-system-aarch64 is not installed (Debian: qemu-system-arm)")


@pytest.fixture(scope="module")
def images() -> dict[str, Path]:
    return {}


def _image(images: dict[str, Path], tmp: Path, fixture: str) -> Path:
    if fixture not in images:
        out = tmp / f"{fixture}-{TARGET}.img"
        proc = wasmkiln("build", str(compile_fixture(fixture)), "--target", TARGET, "-o", str(out))
        assert proc.returncode == 0, proc.stderr
        images[fixture] = out
    return images[fixture]


# ---- the image and the toolchain ---------------------------------------------------------


def test_image_is_an_arm64_image_with_its_info(
    images: dict[str, Path], tmp_path_factory: pytest.TempPathFactory
) -> None:
    """The Linux arm64 Image header QEMU's -kernel looks for: the branch, text_offset 2 MiB
    (link_aarch64.ld links at RAM + 2 MiB), image_size covering .bss and the stacks, the
    magic; and the build info `wasmkiln run IMAGE` reads without ELF sections."""
    _need_runtime()
    from wasmkiln.pyhook.image.imageinfo import read_image_info

    image = _image(images, tmp_path_factory.getbasetemp(), "hello")
    data = image.read_bytes()
    code0, _, text_offset, image_size, flags = struct.unpack_from("<IIQQQ", data, 0)
    assert code0 >> 26 == 0b000101  # B imm26
    assert text_offset == 0x200000
    assert image_size >= len(data) and image_size % 4096 == 0
    assert flags & 1 == 0  # little-endian
    assert data[56:60] == b"ARM\x64"
    assert (read_image_info(image) or {}).get("target") == TARGET


def test_code_objects_are_aarch64() -> None:
    """The LLVM backend emits AArch64 ELF objects for the target (e_machine 183), and a
    Cranelift backend is refused for it in the bridge too."""
    from wasmkiln.bridge.codegen import backend_named, generate
    from wasmkiln.bridge.decode import decode

    module = decode(compile_fixture("fib").read_bytes())
    for name in ("llvm-O0", "llvm"):
        obj = generate(module, backend_named(name, arch="aarch64"), jobs=1)[0]
        assert obj[:4] == b"\x7fELF" and struct.unpack_from("<H", obj, 18)[0] == 183
    with pytest.raises(ValueError, match="x86_64 code only"):
        backend_named("cranelift", arch="aarch64")


def test_targets_lists_backends_and_linker() -> None:
    proc = wasmkiln("targets")
    assert proc.returncode == 0, proc.stderr
    line = next(x for x in proc.stdout.splitlines() if x.startswith(TARGET))
    assert "dev=llvm-O0/release=llvm-tiered" in line
    assert ("aarch64-linux-gnu-gcc/ld" in line) == HAVE_RUNTIME, line


def test_missing_cross_runtime_is_refused_in_one_line(tmp_path: Path) -> None:
    """A runtime installed without the cross compiler (no aarch64-kvm folder): the target is
    refused with what to install, not a traceback; x86_64 still builds."""
    root = tmp_path / "runtime"
    shutil.copytree(runtime_dir(), root, ignore=shutil.ignore_patterns("aarch64-*"))
    env = {"WASMKILN_RUNTIME_DIR": str(root)}
    wasm = compile_fixture("hello")
    proc = wasmkiln("build", str(wasm), "--target", TARGET, "-o", str(tmp_path / "a.img"), env=env)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert "apt-get install gcc-aarch64-linux-gnu" in proc.stderr
    ok = wasmkiln("build", str(wasm), "-o", str(tmp_path / "x.img"), env=env)
    assert ok.returncode == 0, ok.stderr
    listed = wasmkiln("targets", env=env).stdout
    assert f"{TARGET}" in listed and "not yet (runtime not built" in listed


# ---- booting ------------------------------------------------------------------------------


def test_objects_have_no_trap_instructions_and_call26() -> None:
    """docs/abi.md "AArch64": traps are calls to builtins->trap, never BRK/UDF; calls to
    defined functions are direct (R_AARCH64_CALL26)."""
    objdump, readelf = shutil.which("llvm-objdump-14"), shutil.which("llvm-readelf-14")
    if objdump is None or readelf is None:
        pytest.skip("llvm-objdump-14/llvm-readelf-14 (Debian: llvm-14) are not installed")
    from wasmkiln.bridge.codegen import backend_named, generate
    from wasmkiln.bridge.decode import decode

    for fixture in ("trap_div", "trap_unreachable", "qsort"):
        module = decode(compile_fixture(fixture).read_bytes())
        obj = generate(module, backend_named("llvm", arch="aarch64"), jobs=1)[0]
        path = Path(os.environ.get("TMPDIR", "/tmp")) / f"wk-a64-{os.getpid()}.o"
        path.write_bytes(obj)
        try:
            text = subprocess.run(
                [objdump, "-d", str(path)], capture_output=True, text=True, check=True
            ).stdout
            relocs = subprocess.run(
                [readelf, "-r", str(path)], capture_output=True, text=True, check=True
            ).stdout
        finally:
            path.unlink()
        mnemonics = {
            line.split("\t")[1].split()[0]
            for line in text.splitlines()
            if line.count("\t") >= 2 and line.split("\t")[1].strip()
        }
        assert "bl" in mnemonics and not mnemonics & {"brk", "udf", "hlt"}, fixture
        assert "R_AARCH64_CALL26" in relocs


def test_x86_options_are_refused_in_one_line(tmp_path: Path) -> None:
    """x86_64-only choices with --target aarch64-kvm: a clean error, never a traceback."""
    _need_runtime()
    wasm = str(compile_fixture("hello"))
    cpu = wasmkiln(
        "build",
        wasm,
        "--target",
        TARGET,
        "--backend",
        "llvm",
        "--target-cpu",
        "x86-64-v3",
        "-o",
        str(tmp_path / "a.img"),
    )
    assert cpu.returncode != 0 and "Traceback" not in cpu.stderr
    assert "baseline only" in cpu.stderr
    wast = wasmkiln("wast", "--target", "aarch64", "--backend", "cranelift", str(tmp_path))
    assert wast.returncode == 2 and "x86_64 code only" in wast.stderr, wast.stderr
    if shutil.which("qemu-system-aarch64"):
        q35 = wasmkiln(
            "run",
            "--target",
            TARGET,
            "--machine",
            "q35",
            wasm,
            env={"XDG_CACHE_HOME": str(tmp_path)},
        )
        assert q35.returncode == 2 and "virt machine" in q35.stderr, q35.stderr


@pytest.mark.slow
def test_manifest_builds_every_target_cargo_style(tmp_path: Path) -> None:
    """One manifest, two targets: one `wasmkiln build` puts each image in
    target/<triple>/<profile>/, and the aarch64 one boots."""
    _need_qemu()
    shutil.copy(compile_fixture("hello"), tmp_path / "hello.wasm")
    (tmp_path / "wasmkiln.toml").write_text(
        '[[image]]\nname = "hello"\nwasm = "hello.wasm"\ntargets = ["x86_64-kvm", "aarch64-kvm"]\n'
    )
    proc = subprocess.run(
        [sys.executable, "-m", "wasmkiln.pyhook.cli.main", "build"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0 and "2 built, 0 fresh" in proc.stderr, proc.stderr
    for triple in ("x86_64-kvm", TARGET):
        assert (tmp_path / "target" / triple / "dev" / "hello.img").is_file()
    run = wasmkiln("run", str(tmp_path / "target" / TARGET / "dev" / "hello.img"), "--", "kiln")
    assert run.returncode == 0 and run.stdout == "hello, kiln!\n", run.stderr
    # --target, repeated, picks the targets of a manifest build (as cargo's does) ...
    again = subprocess.run(
        [
            sys.executable,
            "-m",
            "wasmkiln.pyhook.cli.main",
            "build",
            "--profile",
            "release",
            "--target",
            "x86_64-spt",
            "--target",
            TARGET,
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert again.returncode == 0 and "2 built, 0 fresh" in again.stderr, again.stderr
    assert (tmp_path / "target" / TARGET / "release" / "hello.img").is_file()
    assert (tmp_path / "target" / "x86_64-spt" / "release" / "hello.spt").is_file()
    # ... while one module makes one image.
    one = wasmkiln(
        "build", str(tmp_path / "hello.wasm"), "--target", "x86_64-kvm", "--target", TARGET
    )
    assert one.returncode == 2 and "give one --target" in one.stderr, one.stderr
