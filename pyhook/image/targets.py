"""The target registry: cargo-style triples `<arch>-<platform>`.

A target says which runtime library an image links with and how it runs. The
list is data so that `wasmkiln targets`, the build and the runner agree.
"""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_TARGET = "x86_64-kvm"

CRANELIFT_ARCHES = ("x86_64",)
"""What the Cranelift backend can generate code for: PyPI cranelift-py is built for the host ISA
only (its TargetIsa refuses aarch64 with "Support for this target is disabled")."""

CROSS_DEV_BACKEND = "llvm-O0"
"""The dev profile's backend where Cranelift cannot go: LLVM's fastest setting, whose code
passes the spec suite (docs/spec-runner.md)."""


@dataclass(frozen=True)
class Target:
    triple: str
    arch: str
    platform: str  # "kvm" (a VM image) or "spt" (a sandboxed Linux process)
    description: str
    supported: bool = True
    why_not: str = ""
    build_packages: str = ""  # Debian packages the runtime's build needs beyond the README's
    qemu: str = "qemu-system-x86_64"  # kvm targets: the QEMU that runs the image
    qemu_package: str = "qemu-system-x86"

    @property
    def image_suffix(self) -> str:
        return ".img" if self.platform == "kvm" else ".spt"

    def backend_for(self, backend: str, *, explicit: bool) -> str:
        """The backend that compiles for this target when `backend` is asked for: a profile's
        Cranelift (explicit=False) becomes CROSS_DEV_BACKEND where Cranelift cannot generate
        code; an explicit `--backend cranelift` there is refused (TargetError)."""
        if backend != "cranelift" or self.arch in CRANELIFT_ARCHES:
            return backend
        if explicit:
            raise TargetError(
                f"target {self.triple}: the Cranelift backend generates x86_64 "
                f"code only (cranelift-py is built for the host ISA); use "
                f"--backend {CROSS_DEV_BACKEND} (the dev profile's) or llvm"
            )
        return CROSS_DEV_BACKEND


TARGETS: dict[str, Target] = {
    t.triple: t
    for t in (
        Target("x86_64-kvm", "x86_64", "kvm", "PVH ELF for QEMU microvm / Firecracker"),
        Target("x86_64-spt", "x86_64", "spt", "static Linux process under a seccomp filter"),
        Target(
            "aarch64-kvm",
            "aarch64",
            "kvm",
            "Linux arm64 Image for QEMU virt (TCG)",
            build_packages="gcc-aarch64-linux-gnu",
            qemu="qemu-system-aarch64",
            qemu_package="qemu-system-arm",
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
    if target.build_packages and not runtime_built(target):
        raise TargetError(
            f"target {triple}: its runtime was not built (no cross compiler at "
            f"install): apt-get install {target.build_packages} "
            f"{target.qemu_package}, then pip install wasmkiln again"
        )
    return target


def runtime_built(target: Target) -> bool:
    """Whether the installed runtime has this target (a cross target's needs its compiler at
    install time, cmake/cross-aarch64.cmake). True when no runtime is found at all: that
    problem is reported, with its own fix, where the runtime is used."""
    from .runtime import RuntimeNotFound, runtime_dir

    try:
        return (runtime_dir() / target.triple / "target.json").is_file()
    except RuntimeNotFound:
        return True
