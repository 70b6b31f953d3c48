"""Building an image: compile a module with bridge, then link it with the runtime.

The link is done by the system C compiler driver (gcc or cc), because the
runtime is a static C library and the metadata object is C. Every tool failure
becomes an ImageError with the tool's own message.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from wasmkiln.bridge.cpu import BASELINE, cpu_level

from .imageinfo import INFO_SECTION, NetDefaults
from .pack import DirMapping, write_config
from .runtime import NO_NETWORK, target_dir
from .targets import Target

METADATA_CFLAGS = ["-O1", "-ffreestanding", "-fno-pie", "-fno-pic", "-mno-red-zone", "-fno-common"]


class ImageError(Exception):
    """The image could not be produced for a reason outside the module itself."""


@dataclass
class BuildResult:
    path: Path
    size: int
    instructions: int
    timings: dict[str, float] = field(default_factory=dict)


def c_compiler(spec: dict | None = None) -> str:
    """The C compiler driver that compiles the metadata and links: the system's (CC, gcc, cc),
    or the cross compiler a target's target.json names ("cc")."""
    spec = spec or {}
    cross = spec.get("cc")
    if cross:
        if shutil.which(cross[0]):
            return str(cross[0])
        raise ImageError(
            f"{cross[0]} is needed to link {spec.get('triple')} images: "
            f"apt-get install gcc-aarch64-linux-gnu"
        )
    for name in (os.environ.get("CC"), "gcc", "cc"):
        if name and shutil.which(name):
            return name
    raise ImageError("no C compiler found to link the image: install gcc (or set CC)")


def flat_image(elf: bytes) -> bytes:
    """The loadable segments of a linked ELF as one flat file from the lowest address, as a
    Linux arm64 Image is (QEMU's -kernel loads such a file whole, and only then does it pass
    -initrd). .bss is not in the file: the boot code zeroes it."""
    import struct

    if elf[:4] != b"\x7fELF" or elf[4] != 2:
        raise ImageError("the linker did not produce a 64-bit ELF")
    (phoff,) = struct.unpack_from("<Q", elf, 0x20)
    phentsize, phnum = struct.unpack_from("<HH", elf, 0x36)
    loads = []
    for i in range(phnum):
        p_type, _, p_offset, _, p_paddr, p_filesz = struct.unpack_from(
            "<IIQQQQ", elf, phoff + i * phentsize
        )
        if p_type == 1 and p_filesz:  # PT_LOAD
            loads.append((p_paddr, elf[p_offset : p_offset + p_filesz]))
    if not loads:
        raise ImageError("the linked image has no loadable segment")
    base = min(addr for addr, _ in loads)
    out = bytearray(max(addr - base + len(data) for addr, data in loads))
    for addr, data in loads:
        out[addr - base : addr - base + len(data)] = data
    return bytes(out)


def _run(cmd: list[str], what: str) -> None:
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise ImageError(
            f"{what} failed ({' '.join(cmd[:1])} exit {proc.returncode}):\n{proc.stderr.strip()}"
        )


def _info_c(
    target: Target,
    name: str,
    net: NetDefaults,
    cpu: str,
    pages: int,
    own_sockets: bool,
    network: bool,
    guard_pages: int = 0,
) -> str:
    """The image's info section: what `wasmkiln run` needs to know before it starts the image
    (its target, ports, CPU level, the linear memory it maps at start, in Wasm pages, from
    which pyhook/run/guestmem.py sizes a kvm guest, whether the module opens sockets of its own,
    from which runner.spt_net_backend picks a network, and whether it was linked without a
    network stack, which makes `run IMAGE -p` a refusal). `guard_pages`: memory 0's initial
    pages when it is a defined memory32, which kvm backs from a kernel heap of at most 4 GiB
    (guestmem refuses what cannot fit there before booting)."""
    extra: dict[str, object] = {"cpu": cpu} if cpu != BASELINE else {}
    if pages:
        extra["memory_pages"] = pages
    if guard_pages:
        extra["guard_pages"] = guard_pages
    if own_sockets:
        extra["own_sockets"] = True
    if not network:
        extra["network"] = False
    info = json.dumps({"target": target.triple, "module": name, "abi": 1, **net.info(), **extra})
    escaped = info.replace("\\", "\\\\").replace('"', '\\"')
    return (
        f'__attribute__((used, section("{INFO_SECTION}"))) '
        f'static const char wk_image_info[] = "{escaped}";\n'
    ) + _net_tokens_c(net)


def _net_tokens_c(net: NetDefaults) -> str:
    """The recorded ports as the kernel's own listener tokens (`wk_image_net_tokens`, read by
    the kvm platform when its command line names no listener): an image then serves its ports
    under a launcher that passes none, such as urunc (docs/kubernetes.md)."""
    if not (net.publish or net.listen):
        return ""
    from ..run.netopts import NetOptions

    tokens = NetOptions.parse(list(net.publish), list(net.listen), None, None).kvm_tokens()
    return f'const char wk_image_net_tokens[] = "{" ".join(tokens)}";\n'


def build_image(
    wasm: bytes,
    target: Target,
    out: Path,
    *,
    name: str = "main",
    backend: str = "cranelift",
    unknown_imports: str = "error",
    dirs: Sequence[DirMapping] = (),
    args: Sequence[str] = (),
    env: Sequence[str] = (),
    debug: bool = False,
    net: NetDefaults | None = None,
    cpu: str = "baseline",
    invoke: str | None = None,
) -> BuildResult:
    """Compile and link; the output appears only when everything succeeded.

    `invoke` names the export a reactor's image runs instead of `_start` (bridge/invoke.py).

    `dirs` are packed into the image as preopens; `args` and `env` are baked in
    (pyhook/image/pack.py); `net` is recorded in the image's info for `wasmkiln run`, and so is
    `cpu` (bridge/cpu.py) when it is above the baseline, for the runner to check. Without
    `debug` the runtime's DWARF is left out of the image (`--strip-debug`: symbols stay, so
    perf and crash addresses still resolve to functions): it was 70 % of a hello image
    and nothing at run time reads it."""
    from wasmkiln.bridge.compile import (  # loads Cranelift: only here
        SocketsUnavailable,
        bind_imports,
        compile_wasm,
    )
    from wasmkiln.bridge.hostfuncs import OPEN_SOCKET_SYMBOLS

    from .progress import terminal_progress

    if target.arch != "x86_64" and cpu != "baseline":
        raise ImageError(
            f"--target-cpu/target-cpu {cpu!r} names an x86-64 level; "
            f"{target.triple} images take the baseline only"
        )
    net = net or NetDefaults()
    tdir = target_dir(target.triple)
    spec = json.loads((tdir / "target.json").read_text())
    network = bool(spec.get("network", True))  # runtime.target_has_network
    if not network and (net.publish or net.listen):
        first = ([f"-p {p}" for p in net.publish] + [f"--listen {a}" for a in net.listen])[0]
        raise ImageError(f"{first} needs networking: {NO_NETWORK}")
    include = tdir.parent / "include"
    cc = c_compiler(spec)
    cflags = spec.get("cflags", METADATA_CFLAGS)
    # A progress line on a terminal, for long builds (pyhook/image/progress.py); None otherwise.
    with tempfile.TemporaryDirectory(prefix="wasmkiln-") as tmp, terminal_progress(name) as shown:
        work = Path(tmp)
        blob = work / "data.bin"
        try:
            compiled = compile_wasm(
                wasm,
                blob_path=str(blob),
                backend=backend,
                unknown_imports=unknown_imports,
                name=name,
                # Targets whose runtime reserves 4 GiB + guard for linear memory (target.json)
                # get code without the bounds checks the guard region catches.
                # WASMKILN_EXPLICIT_BOUNDS=1 keeps them (to measure what the guard region saves).
                memory_guard=bool(spec.get("memory_guard", False))
                and os.environ.get("WASMKILN_EXPLICIT_BOUNDS") != "1",
                cpu=cpu,
                sockets=network,
                arch=target.arch,
                progress=shown,
                invoke=invoke,
            )
        except SocketsUnavailable as e:
            raise ImageError(
                f"{name} imports socket calls ({', '.join(e.names)}): {NO_NETWORK}"
            ) from None
        if shown is not None:
            shown.step("linking")  # the metadata's C, then the link
        objects = [work / "code.o"]
        (work / "code.o").write_bytes(compiled.code)
        for i, extra in enumerate(compiled.extra_objects):
            objects.append(work / f"code{i + 1}.o")
            objects[-1].write_bytes(extra)
        blob.write_bytes(compiled.data_blob)
        own = not OPEN_SOCKET_SYMBOLS.isdisjoint(bind_imports(compiled.module, unknown_imports))
        mems = compiled.module.memories
        pages = sum(m.limits.min for m in mems)
        # memory 0 in the guard reservation: defined (no memory imported) and a memory32
        defined0 = bool(mems) and len(compiled.module.all_memories()) == len(mems)
        guard = mems[0].limits.min if defined0 and not mems[0].is64 else 0
        info = _info_c(target, name, net, cpu_level(cpu), pages, own, network, guard)
        (work / "meta.c").write_text(compiled.metadata_c + info)
        _run(
            [cc, "-c", *cflags, f"-I{include}", str(work / "meta.c"), "-o", str(work / "meta.o")],
            "compiling the module metadata",
        )
        config = write_config(work, dirs, args, env)  # packed dirs, baked args/env
        if config is not None:
            _run(
                [cc, "-c", *cflags, f"-I{include}", str(config), "-o", str(work / "config.o")],
                "compiling the image configuration",
            )
            objects.append(work / "config.o")
        lib = tdir / f"libwasmkiln-{target.triple}.a"
        tmp_out = work / "image"
        link_image(tdir, [*objects, work / "meta.o"], lib, tmp_out, debug=debug, cc=cc)
        out.parent.mkdir(parents=True, exist_ok=True)
        if spec.get("flat_image"):  # a Linux arm64 Image: the ELF's segments, flat
            tmp_out.write_bytes(flat_image(tmp_out.read_bytes()))
        shutil.copyfile(tmp_out, out)
        if target.platform == "spt":
            out.chmod(0o755)
    return BuildResult(out, out.stat().st_size, compiled.instructions, compiled.timings)


def link_image(
    tdir: Path,
    objects: Sequence[Path],
    library: Path,
    out: Path,
    *,
    debug: bool = True,
    cc: str | None = None,
) -> None:
    """Link `objects` and all of `library` into `out` with the ldflags of `tdir/target.json`
    (a target's runtime folder, or its source folder unikernel/platform/<p>: `{dir}` in the
    flags stands for it). Shared with tests/test_kvm_platform.py, which links the platform's
    stand-in test program exactly as images are linked."""
    spec = json.loads((tdir / "target.json").read_text())
    ldflags = [f.replace("{dir}", str(tdir)) for f in spec["ldflags"]]
    if not debug:
        ldflags.append("-Wl,--strip-debug")
    _run(
        [
            cc or c_compiler(spec),
            *ldflags,
            *map(str, objects),
            "-Wl,--whole-archive",
            str(library),
            "-Wl,--no-whole-archive",
            "-o",
            str(out),
        ],
        "linking the image",
    )
