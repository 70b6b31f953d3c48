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

What cannot fit is refused here, before booting (`refusal`), with the message the guest would
print after a boot sized for it: memory 0 as a memory32 takes its pages from the kernel heap,
which spans at most 4 GiB (core/alloc_core.c), so 65536 initial pages never fit; every
memory, that one included, lies in the one RAM range the runtime gets (platform/kvm/
start_kvm.c: the largest), and QEMU's x86_64 machines split RAM around the PCI hole under
4 GiB (`ram_ranges`). The default size counts that split, so a memory64 larger than the
RAM under the hole gets RAM above 4 GiB.

`wasmkiln run`'s quick start of kvm images (run/kvm_direct.py) sizes its guests here too, so
this module loads neither dataclasses nor pathlib nor the runner (GuestMemory is a named tuple,
as portspec.PortForward, for the same reason: dataclasses imports inspect, milliseconds of
every start).
"""

from __future__ import annotations

import math
import os
from collections import namedtuple

from ..image.elf import load_end

TYPE_CHECKING = False  # mypy takes it as typing's; typing is not imported (see above)
if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = [
    "DEFAULT_MEMORY_MB",
    "RESERVED_MB",
    "GuestMemory",
    "guest_memory",
    "memory_mb",
    "ram_ranges",
]

DEFAULT_MEMORY_MB = 128
"""Guest RAM (QEMU -m) unless the run says otherwise. The image itself needs ~12 MiB (hello runs
in 12, an HTTP server in 32; docs/performance.md "Memory"): the rest is for linear memory and the
kernel heap (files written, network buffers). 128 MiB is Firecracker's default too; QEMU only
backs the pages a guest touches, so a larger -m costs the host nothing until used."""

MIB = 1 << 20
GIB = 1 << 30
WASM_PAGE = 64 << 10
KERNEL_HEAP_MAX = 1 << 32
"""core/alloc_core.c MAX_ORDER: the kernel heap spans at most 4 GiB, a 256th of it its bitmap."""
STACK = 8 * MIB
"""platform/kvm/start_kvm.c STACK_SIZE: the bottom of the runtime's RAM range."""


def ram_ranges(mb: int, machine: str) -> list[int]:
    """The guest's RAM ranges in bytes, as QEMU 7.2 lays out `-m mb`: x86_64's machines keep
    the PCI hole under 4 GiB free, so RAM past `low` (microvm: 3 GiB; q35: 2 GiB once RAM
    reaches 2.75 GiB) continues at 4 GiB; aarch64's virt (any other machine) has one range."""
    size = mb * MIB
    low = {"microvm": 3 * GIB, "q35": 2 * GIB if size >= 0xB000_0000 else size}.get(machine, size)
    return [size] if size <= low else [low, size - low]


RESERVED_MB = 9
"""What the platform and the runtime take besides the image and linear memory: the 8 MiB
stack with its guard page, the runtime heap and the page tables (a hello image, whose image
and linear memory are 3.0 MiB, boots in 12 MiB and not in 11: docs/performance.md "Least
memory")."""

SMALL_IMAGE_MB = 4
"""A small image's loaded image and linear memory, rounded up: the runtime alone is ~3 MiB
(hello: 2.94 MiB and one 64 KiB page, 3 Dec), so a few KiB more of runtime move it across a
MiB. The default memory is what such an image gets; larger ones get the same headroom above
their least."""


class GuestMemory(namedtuple("GuestMemory", "image boot_module linear guarded", defaults=[0])):
    """What a kvm image needs, in bytes, from its file, its info and the boot module. (A named
    tuple: see the module's doc.)"""

    __slots__ = ()
    image: int  # the highest address the loader writes (the image is loaded at 1 MiB)
    boot_module: int  # the folders handed over at boot (`run IMAGE --dir`), 0 if none
    linear: int  # the module's initial linear memory
    guarded: int  # of which memory 0's, when a memory32 (pages from the kernel heap); 0

    @property
    def least_mb(self) -> int:
        """Below this the guest cannot start (or cannot instantiate the module)."""
        return math.ceil((self.image + self.boot_module + self.linear) / MIB) + RESERVED_MB

    @property
    def suggested_mb(self) -> int:
        """The least plus the headroom the default gives a small image; at least the default."""
        return self.suggested_for("microvm")

    def suggested_for(self, machine: str) -> int:
        """suggested_mb on `machine`: when what the image needs does not fit under the PCI hole,
        the RAM there plus all of it, so that the range above 4 GiB holds it."""
        headroom = DEFAULT_MEMORY_MB - (SMALL_IMAGE_MB + RESERVED_MB)
        mb = max(DEFAULT_MEMORY_MB, self.least_mb + headroom)
        ranges = ram_ranges(mb, machine)
        if len(ranges) > 1 and max(ranges) < (self.least_mb + headroom) * MIB:
            mb = ranges[0] // MIB + self.least_mb + headroom
        return mb

    def refusal(self, mb: int, machine: str) -> str | None:
        """Why the module's initial memories cannot fit in a guest of `mb` MiB, else None.
        Upper bounds only (the guest checks exactly): a refusal here is never a run lost."""
        room = max(ram_ranges(mb, machine)) - STACK
        if room < self.image + MIB:  # the platform's own "not enough memory" comes first
            return None
        heap = min(room, KERNEL_HEAP_MAX) * 255 // 256  # less its bitmap
        if self.guarded > heap:
            pages, why = self.guarded // WASM_PAGE, "memory 0 takes its pages from the kernel heap"
            if heap >= KERNEL_HEAP_MAX * 255 // 256:
                why += ", at most 4 GiB"
        elif self.linear > room:
            pages, why = self.linear // WASM_PAGE, "all memories lie in one RAM range"
        else:
            return None
        return (
            f"memory of {pages} pages does not fit in the machine's memory ({why}; "
            f"{mb} MiB of RAM gives it {room // MIB} MiB)"
        )

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


def guest_memory(
    image: str | os.PathLike[str],
    info: dict[str, object],
    boot_module: str | os.PathLike[str] | None,
) -> GuestMemory:
    """What `image` (whose info section is `info`) needs, with `boot_module` if given."""
    pages, guarded = info.get("memory_pages", 0), info.get("guard_pages", 0)
    return GuestMemory(
        image=load_end(image) or os.stat(image).st_size,
        boot_module=os.stat(boot_module).st_size if boot_module is not None else 0,
        linear=pages * WASM_PAGE if isinstance(pages, int) else 0,
        guarded=guarded * WASM_PAGE if isinstance(guarded, int) else 0,
    )


def memory_mb(
    image: str | os.PathLike[str],
    info: dict[str, object],
    boot_module: str | os.PathLike[str] | None,
    asked: int | None,
    warn: Callable[[str], None] | None = None,
    machine: str = "microvm",
) -> int:
    """The `-m` of a run on QEMU's `machine`: `asked` when given (with a one-line warning
    through `warn` when it is under what the image needs), else what the image needs with
    headroom. Raises RunError (exit status 1) when the module's initial memories cannot fit."""
    need = guest_memory(image, info, boot_module)
    mb = need.suggested_for(machine) if asked is None else asked
    refused = need.refusal(mb, machine)
    if refused is not None:
        from .runner import RunError

        raise RunError(refused, 1)
    if asked is not None and asked < need.least_mb and warn is not None:
        warn(
            f"warning: --memory {asked} MiB is less than this image needs to start, "
            f"{need.least_mb} MiB ({need.describe()}); the guest will likely fail"
        )
    return mb
