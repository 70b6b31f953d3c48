"""--target-cpu / a profile's target-cpu: LLVM code for an x86-64 level above the baseline.

The claim under test: such an image computes what the baseline image computes, on spt and on
kvm (whose boot code must turn on the AVX state for VEX-encoded code to run), and a level the
host lacks is refused with one line before anything starts.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from guest_programs import compile_c
from wkcli import wasmkiln

from wasmkiln.bridge.cpu import CPU_LEVELS, cpu_level, host_level, missing_flags

REPO = Path(__file__).resolve().parent.parent
MATMUL = REPO / "bench" / "kernels" / "matmul.c"  # double loops LLVM vectorises


def _cpuinfo(*levels: str, drop: str = "") -> str:
    flags = [f for lv in levels for f in CPU_LEVELS[lv].flags if f != drop]
    return f"processor\t: 0\nflags\t\t: fpu sse sse2 {' '.join(flags)}\n"


def test_levels_from_cpuinfo() -> None:
    v2 = _cpuinfo("x86-64-v2")
    v3 = _cpuinfo("x86-64-v2", "x86-64-v3")
    assert host_level(v2) == "x86-64-v2" and host_level(v3) == "x86-64-v3"
    assert missing_flags("x86-64-v3", v2) == list(CPU_LEVELS["x86-64-v3"].flags)
    assert missing_flags("x86-64-v3", _cpuinfo("x86-64-v2", "x86-64-v3", drop="bmi2")) == ["bmi2"]
    assert host_level(_cpuinfo("x86-64-v2", "x86-64-v3", drop="avx2")) == "x86-64-v2"
    assert cpu_level("baseline") == "x86-64-v2" and cpu_level("native") == host_level()
    with pytest.raises(ValueError, match="unknown target-cpu 'znver4'"):
        cpu_level("znver4")


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--backend", "llvm", "--target-cpu", "znver4"], "unknown target-cpu 'znver4'"),
        (["--target-cpu", "x86-64-v3"], "target-cpu 'x86-64-v3' needs the LLVM backend"),
    ],
)
def test_bad_target_cpu_is_one_line(tmp_path: Path, argv: list[str], message: str) -> None:
    wasm = compile_c(MATMUL)
    out = tmp_path / "x.spt"
    proc = wasmkiln("build", str(wasm), "--target", "x86_64-spt", *argv, "-o", str(out))
    assert proc.returncode == 2 and message in proc.stderr, proc.stderr
    assert proc.stderr.count("\n") == 1 and not out.exists()


def test_profile_target_cpu_needs_llvm(tmp_path: Path) -> None:
    (tmp_path / "wasmkiln.toml").write_text(
        '[[image]]\nname = "a"\nwasm = "a.wasm"\n\n'
        '[profile.fast]\ninherits = "dev"\ntarget-cpu = "native"\n'
    )
    proc = wasmkiln("build", "--profile", "fast", cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    assert "profile 'fast': target-cpu 'native' needs the LLVM backend" in proc.stderr


@pytest.mark.parametrize("target", ["x86_64-spt", "x86_64-kvm"])
def test_v3_image_computes_what_the_baseline_computes(target: str, tmp_path: Path) -> None:
    if missing_flags("x86-64-v3"):
        pytest.skip(f"this host lacks x86-64-v3 ({' '.join(missing_flags('x86-64-v3'))})")
    if target == "x86_64-kvm" and shutil.which("qemu-system-x86_64") is None:
        pytest.skip("qemu-system-x86_64 is not installed")
    wasm = compile_c(MATMUL)
    outputs = []
    for cpu in ("baseline", "x86-64-v3"):
        image = tmp_path / f"mm-{cpu}.img"
        built = wasmkiln(
            "build",
            str(wasm),
            "--target",
            target,
            "--backend",
            "llvm",
            "--target-cpu",
            cpu,
            "-o",
            str(image),
        )
        assert built.returncode == 0, built.stderr
        if cpu != "baseline":
            shown = wasmkiln("inspect", str(image)).stdout
            assert f"cpu: {cpu}" in shown, shown
            if shutil.which("objdump"):  # the code really uses AVX registers
                dump = subprocess.run(
                    ["objdump", "-d", str(image)], capture_output=True, text=True, check=True
                ).stdout
                assert "%ymm" in dump
        run = wasmkiln("run", str(image), "--", "96")
        assert run.returncode == 0, run.stderr
        outputs.append(next(ln for ln in run.stdout.splitlines() if ln.startswith("checksum")))
    assert outputs[0] == outputs[1]
