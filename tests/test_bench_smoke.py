"""Smoke runs of the benchmarks (bench/compute.py, boot.py, http.py, soak.py; --quick).

Benchmarks never run in the default suite: they take minutes, set up their own venv
(bench/.venv, wasmtime 36 + matplotlib from PyPI), download Debian's kernel for the Linux-VM
baseline and need QEMU. Set WASMKILN_BENCH=1 to run these.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

BENCH = Path(__file__).resolve().parent.parent / "bench"

pytestmark = pytest.mark.skipif(
    os.environ.get("WASMKILN_BENCH") != "1", reason="benchmarks run only with WASMKILN_BENCH=1"
)


def _run(script: str, ratios: bool = True) -> dict[str, Any]:
    proc = subprocess.run(
        [sys.executable, str(BENCH / script), "--quick"],
        capture_output=True,
        text=True,
        timeout=1200,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "| " in proc.stdout, proc.stdout  # printed a table
    name = script.removesuffix(".py")
    data: dict[str, Any] = json.loads((BENCH / "results" / f"{name}.json").read_text())
    assert data["quick"] is True
    if ratios:
        assert isinstance(data["ratios"], dict) and data["ratios"]
    return data


def test_compute_quick() -> None:
    data = _run("compute.py")
    rows = data["rows"]
    assert isinstance(rows, dict)
    # Our kernels ran natively and under wasmtime with checked outputs.
    assert rows["sha256"]["runners"]["native"]["median_wall_ms"] is not None
    assert rows["sha256"]["runners"]["wasmtime"]["median_wall_ms"] is not None
    assert rows["sha256"]["runners"]["wasmkiln-cranelift"]["median_wall_ms"] is not None
    assert "cranelift/wasmtime" in data["ratios"]["sha256"]
    # The SIMD kernels: v128 in every .wasm, checked outputs on every runner, their own group
    # with issue 16's targets read off its geomean.
    simd = data["simd"]
    assert simd["kernels"] and set(simd["targets"]) == {"cranelift/wasmtime", "llvm/wasmtime"}
    for name in simd["kernels"]:
        assert rows[name]["group"] == "simd" and rows[name]["wasm_simd_ops"] > 0
        for runner in ("native", "wasmtime", "wasmkiln-cranelift"):
            assert rows[name]["runners"][runner]["median_wall_ms"] is not None, (name, runner)
    assert simd["geomean"]["cranelift/wasmtime"] is not None


def test_boot_quick() -> None:
    data = _run("boot.py")
    cases = data["cases"]
    assert isinstance(cases, dict)
    assert cases["hello: wasmkiln spt process"]["median_ms"] is not None
    assert cases["hello: wasmkiln kvm, QEMU microvm TCG"]["median_ms"] is not None
    assert data["least_memory_mb"]["hello: wasmkiln kvm"] is not None


def test_http_quick() -> None:
    data = _run("http.py")
    medians = data["medians"]
    # Every row served every file in both connection modes, and the headline ratios
    # were computed for both.
    for row in ("wasmkiln-kvm", "linux-vm-wasmtime", "wasmkiln-spt", "wasmtime-host", "nginx-host"):
        for mode in ("keep-alive", "close"):
            assert all(m["rps"] > 0 for m in medians[row][mode].values()), (row, mode)
    for mode in ("keep-alive", "close"):
        for key in (
            "wasmkiln-kvm / linux-vm-wasmtime, 612 B",
            "wasmkiln-spt / wasmtime-host, 1 MiB",
            "wasmkiln-spt / nginx-host, 64 KiB",
        ):
            assert data["ratios"][f"{key}, {mode}"] is not None, (key, mode)
    assert (BENCH / "results" / "http.png").stat().st_size > 0


def test_soak_quick() -> None:
    """Every runner and mode was loaded in intervals, memory was sampled at the start and the
    end, and the verdict was computed (whether the targets are met is the report's business:
    the smoke run checks the measuring, not the guest)."""
    data = _run("soak.py", ratios=False)
    assert set(data["runs"]) == {"spt, keep-alive", "spt, close", "kvm, keep-alive", "kvm, close"}
    for key, run in data["runs"].items():
        assert len(run["intervals"]) == 3 and all(i["rps"] > 0 for i in run["intervals"]), key
        assert run["memory"][0]["at"] == "start" and run["memory"][-1]["at"] == "end", key
        assert run["memory"][0]["guest_rss"] > 0, key
        assert set(run["verdict"]) == {
            "no_socket_errors",
            "no_non_2xx",
            "memory_within_1mib",
            "still_answers",
        }, key
    assert (BENCH / "results" / "soak.png").stat().st_size > 0
