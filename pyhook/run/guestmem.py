"""How much RAM a kvm guest gets: sized from what its image needs unless the user says.

A kvm guest's RAM (QEMU `-m`) holds, bottom up (unikernel/platform/kvm/README.md "Memory"):
the first MiB, the image as loaded (code, data, `.bss` and the folders packed at build time),
the 8 MiB stack and its guard, the runtime heap, and at the top the kernel heap from which
linear memory's pages, files written and network buffers come; a boot module (`run IMAGE
--dir`) sits near the top and is read in place. A fixed `-m` made a packed 300 MB folder crash
the guest (issue 14, bug 3). So `least_mb` adds up what is known before boot (the loaded
image, the boot module, the module's initial linear memory) plus `RESERVED_MB`, and a run gets
`suggested_mb`: that plus the headroom the default leaves a small image, never less than the
default. QEMU backs only the pages a guest touches, so the headroom costs the host nothing
until it is used.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ..image.elf import load_end
from .runner import DEFAULT_MEMORY_MB

__all__ = ["RESERVED_MB", "GuestMemory", "guest_memory", "memory_mb"]

MIB = 1 << 20
WASM_PAGE = 64 << 10

RESERVED_MB = 9
"""What the platform and the runtime take besides the image and linear memory: the 8 MiB
stack with its guard page, the runtime heap and the page tables (a hello image, whose image
and linear memory round to 3 MiB, boots in 12 MiB: docs/performance.md "Least memory")."""


@dataclass(frozen=True)
class GuestMemory:
    """What a kvm image needs, in bytes, from its file, its info and the boot module."""

    image: int  # the highest address the loader writes (the image is loaded at 1 MiB)
    boot_module: int  # the folders handed over at boot (`run IMAGE --dir`), 0 if none
    linear: int  # the module's initial linear memory

    @property
    def least_mb(self) -> int:
        """Below this the guest cannot start (or cannot instantiate the module)."""
        return math.ceil((self.image + self.boot_module + self.linear) / MIB) + RESERVED_MB

    @property
    def suggested_mb(self) -> int:
        """The least plus the headroom the default gives a small image; at least the default."""
        headroom = DEFAULT_MEMORY_MB - (3 + RESERVED_MB)
        return max(DEFAULT_MEMORY_MB, self.least_mb + headroom)

    def describe(self) -> str:
        def mib(n: int) -> str:
            return f"{n / MIB:.1f} MiB" if n < 10 * MIB else f"{n / MIB:.0f} MiB"

        parts = [f"image {mib(self.image)}"]
        if self.boot_module:
            parts.append(f"--dir files {mib(self.boot_module)}")
        if self.linear:
            parts.append(f"linear memory {mib(self.linear)}")
        parts.append(f"runtime {RESERVED_MB} MiB")
        return ", ".join(parts)


def guest_memory(image: Path, info: dict[str, object], boot_module: Path | None) -> GuestMemory:
    """What `image` (whose info section is `info`) needs, with `boot_module` if given."""
    pages = info.get("memory_pages", 0)
    return GuestMemory(
        image=load_end(image) or image.stat().st_size,
        boot_module=boot_module.stat().st_size if boot_module is not None else 0,
        linear=pages * WASM_PAGE if isinstance(pages, int) else 0,
    )


def memory_mb(
    image: Path,
    info: dict[str, object],
    boot_module: Path | None,
    asked: int | None,
    warn: Callable[[str], None] | None = None,
) -> int:
    """The `-m` of a run: `asked` when given (with a one-line warning through `warn` when it is
    under what the image needs), else what the image needs with headroom."""
    need = guest_memory(image, info, boot_module)
    if asked is None:
        return need.suggested_mb
    if asked < need.least_mb and warn is not None:
        warn(
            f"warning: --memory {asked} MiB is less than this image needs to start, "
            f"{need.least_mb} MiB ({need.describe()}); the guest will likely fail"
        )
    return asked
