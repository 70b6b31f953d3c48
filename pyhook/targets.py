"""The target registry: cargo-style triples `<arch>-<platform>`.

A target says which runtime library an image links with and how it runs. The
list is data so that `wasmkiln targets`, the build and the runner agree.
"""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_TARGET = "x86_64-kvm"


@dataclass(frozen=True)
class Target:
    triple: str
    arch: str
    platform: str  # "kvm" (a VM image) or "spt" (a sandboxed Linux process)
    description: str
    supported: bool = True
    why_not: str = ""

    @property
    def image_suffix(self) -> str:
        return ".img" if self.platform == "kvm" else ".spt"


TARGETS: dict[str, Target] = {
    t.triple: t
    for t in (
        Target("x86_64-kvm", "x86_64", "kvm", "PVH ELF for QEMU microvm / Firecracker"),
        Target("x86_64-spt", "x86_64", "spt", "static Linux process under a seccomp filter"),
        Target(
            "aarch64-kvm",
            "aarch64",
            "kvm",
            "Linux arm64 Image for QEMU virt",
            supported=False,
            why_not="aarch64 is not supported yet: it needs the LLVM backend (cross) and an "
            "aarch64 platform layer",
        ),
    )
}


class TargetError(Exception):
    """An unknown or unsupported target was asked for."""


def get_target(triple: str) -> Target:
    target = TARGETS.get(triple)
    if target is None:
        known = ", ".join(TARGETS)
        raise TargetError(f"unknown target {triple!r} (known targets: {known})")
    if not target.supported:
        raise TargetError(f"target {triple}: {target.why_not}")
    return target
