"""Bad input ends in one clear `wasmkiln: error:` line, never a traceback."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from wkcli import wasmkiln


def _clean_error(proc: subprocess.CompletedProcess[str], *needles: str) -> None:
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr, proc.stderr
    assert "wasmkiln: error:" in proc.stderr, proc.stderr
    for needle in needles:
        assert needle in proc.stderr, proc.stderr


def _wat(tmp_path: Path, text: str) -> Path:
    if shutil.which("wat2wasm") is None:
        pytest.skip("wat2wasm (Debian: wabt) is not installed")
    src = tmp_path / "m.wat"
    src.write_text(text)
    out = tmp_path / "m.wasm"
    subprocess.run(["wat2wasm", str(src), "-o", str(out)], check=True)
    return out


def test_garbage_module(tmp_path: Path) -> None:
    bad = tmp_path / "bad.wasm"
    bad.write_bytes(b"\0asm\x01\0\0\0\x01\xff\xff")
    proc = wasmkiln("build", str(bad), "-o", str(tmp_path / "x.img"))
    _clean_error(proc, "malformed module")
    assert not (tmp_path / "x.img").exists()


def test_truncated_module_is_not_a_module(tmp_path: Path) -> None:
    bad = tmp_path / "bad.img"
    bad.write_bytes(b"hello")
    _clean_error(wasmkiln("run", str(bad)), "neither a Wasm module nor a wasmkiln image")


def test_invalid_module_names_function(tmp_path: Path) -> None:
    wasm = tmp_path / "m.wasm"
    # (func (result i32) i64.const 0): valid binary, type mismatch
    wasm.write_bytes(bytes.fromhex("0061736d010000000105016000017f030201000a0601040042000b"))
    proc = wasmkiln("build", str(wasm), "-o", str(tmp_path / "x.img"))
    _clean_error(proc, "invalid module", "function 0", "type mismatch")


def test_missing_imports_are_listed(tmp_path: Path) -> None:
    wasm = _wat(
        tmp_path,
        """(module
      (import "env" "frobnicate" (func (param i32)))
      (import "wasi_snapshot_preview1" "fd_write" (func (param i64)))
      (func (export "_start")))""",
    )
    proc = wasmkiln("build", str(wasm), "-o", str(tmp_path / "x.img"))
    _clean_error(proc, "2 import(s)", "env.frobnicate", "wasi_snapshot_preview1.fd_write")


def test_unknown_target(tmp_path: Path) -> None:
    wasm = _wat(tmp_path, '(module (func (export "_start")))')
    _clean_error(wasmkiln("build", str(wasm), "--target", "mips-kvm"), "unknown target")
    _clean_error(
        wasmkiln("build", str(wasm), "--target", "aarch64-kvm", "--backend", "cranelift"),
        "x86_64 code only",
        "--backend llvm-O0",
    )


def test_missing_file() -> None:
    _clean_error(wasmkiln("build", "/nonexistent/x.wasm"), "cannot read")


def test_bad_env_flag(tmp_path: Path) -> None:
    wasm = _wat(tmp_path, '(module (func (export "_start")))')
    _clean_error(wasmkiln("run", "--env", "NOEQUALS", str(wasm)), "KEY=VALUE")


def test_targets_lists_both_x86_64_targets() -> None:
    proc = wasmkiln("targets")
    assert proc.returncode == 0
    assert "x86_64-kvm" in proc.stdout and "x86_64-spt" in proc.stdout


def test_inspect_module_lists_imports_and_exports() -> None:
    example = Path(__file__).resolve().parent.parent / "pyhook" / "examples" / "hello.wasm"
    proc = wasmkiln("inspect", str(example))
    assert proc.returncode == 0, proc.stderr
    assert "wasi_snapshot_preview1.fd_write" in proc.stdout
    assert "[provided]" in proc.stdout and "_start" in proc.stdout
