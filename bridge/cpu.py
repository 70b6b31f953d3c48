"""Which x86-64 CPU an image's code may assume: the psABI micro-architecture levels.

An image is built once and run elsewhere (another host, QEMU's emulated CPU), so the code it
carries must not use instructions its CPU lacks: the default is the `baseline` level. A user who
knows where images run can ask for more (`target-cpu` in a profile, `--target-cpu`), as wasmtime
does implicitly by compiling on the host that runs the module: `native` is the highest level
this build host has. Levels, not LLVM CPU names, because a level is a fixed set of features
that a runner can check against the CPU it will start the image on (pyhook/run/runner.py), and that
check must not need LLVM.

The feature lists are the x86-64 psABI's, spelled as Linux's /proc/cpuinfo flags (what the check
reads); `abm` is how Linux names LZCNT.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "BASELINE",
    "CPU_LEVELS",
    "CpuLevel",
    "check_backend",
    "cpu_level",
    "host_level",
    "missing_flags",
]


@dataclass(frozen=True)
class CpuLevel:
    name: str  # what target-cpu says, and LLVM's CPU name for it
    flags: tuple[str, ...]  # /proc/cpuinfo flags it needs beyond the level below


CPU_LEVELS: dict[str, CpuLevel] = {
    level.name: level
    for level in (
        # v2, not v1: without SSE4.1, ceil/floor/trunc/nearest become libm calls.
        CpuLevel("x86-64-v2", ("cx16", "lahf_lm", "popcnt", "sse4_1", "sse4_2", "ssse3")),
        CpuLevel(
            "x86-64-v3", ("avx", "avx2", "bmi1", "bmi2", "f16c", "fma", "abm", "movbe", "xsave")
        ),
        CpuLevel("x86-64-v4", ("avx512f", "avx512bw", "avx512cd", "avx512dq", "avx512vl")),
    )
}
BASELINE = "x86-64-v2"


def cpu_level(name: str) -> str:
    """The level `name` stands for ("baseline", "native" or a level); ValueError otherwise."""
    if name == "baseline":
        return BASELINE
    if name == "native":
        return host_level()
    if name not in CPU_LEVELS:
        raise ValueError(f"unknown target-cpu {name!r} (baseline, native, {', '.join(CPU_LEVELS)})")
    return name


def check_backend(cpu: str, backend: str) -> str:
    """The level `cpu` names, when `backend` (a name of codegen.BACKENDS) can generate code
    for it; ValueError otherwise. Cranelift, as cranelift-py exposes it, sets no ISA flags, so
    it takes the baseline only. The one rule, for the CLI and profiles (checked before any
    compiling) and for codegen."""
    level = cpu_level(cpu)
    if cpu != "baseline" and not backend.startswith("llvm"):
        raise ValueError(
            f"target-cpu {cpu!r} needs the LLVM backend (--backend llvm or the "
            "release profile): Cranelift here generates baseline code only"
        )
    return level


def _flags(cpuinfo: str) -> set[str]:
    for line in cpuinfo.splitlines():
        if line.startswith("flags"):
            return set(line.partition(":")[2].split())
    return set()


def missing_flags(level: str, cpuinfo: str | None = None) -> list[str]:
    """The flags `level` needs that this host's CPU (or the given /proc/cpuinfo text) lacks."""
    have = _flags(Path("/proc/cpuinfo").read_text() if cpuinfo is None else cpuinfo)
    need: list[str] = []
    for lv in CPU_LEVELS.values():
        need += lv.flags
        if lv.name == level:
            break
    return [f for f in need if f not in have]


def host_level(cpuinfo: str | None = None) -> str:
    """The highest level this host supports (the baseline if it lacks even that)."""
    best = BASELINE
    for name in CPU_LEVELS:
        if not missing_flags(name, cpuinfo):
            best = name
    return best
