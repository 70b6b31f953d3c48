"""The `wasmkiln` command: parse, delegate, and turn every failure into a message.

User errors (bad modules, missing imports, wrong flags, guest crashes) end as
one `wasmkiln: error: ...` line on stderr and a non-zero exit code; only a
fault of wasmkiln itself may show a traceback, and then it says so.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from ..image import imagecache
from ..image.imageinfo import NetDefaults, read_image_info
from ..image.profiles import (
    BACKENDS,
    BUILTIN_PROFILES,
    DEFAULT_PROFILE,
    ProfileError,
    resolve_profile,
)
from ..image.runtime import NO_NETWORK, RuntimeNotFound, target_has_network
from ..image.targets import DEFAULT_TARGET, TARGETS, Target, TargetError, get_target
from ..run.guestmem import memory_mb
from ..run.netopts import NetOptionError, NetOptions
from ..run.runner import (
    DEFAULT_MEMORY_MB,
    MACHINES,
    NET_BACKENDS,
    SPT_NET_BACKENDS,
    RunError,
    RunOptions,
    run_image,
)

if TYPE_CHECKING:
    from ..image.buildplan import BuildPlan
    from ..image.pack import DirMapping

# Running a built image must start fast (the guest itself starts in ~1 ms on spt): the
# compiler, the packer and the manifest reader are imported by the commands that use them.


def _say(msg: str) -> None:
    print(f"wasmkiln: {msg}", file=sys.stderr)


class UsageError(Exception):
    pass


def _read_wasm(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as e:
        raise UsageError(f"cannot read {path}: {e.strerror}") from None


def _default_example() -> tuple[bytes, str]:
    from importlib import resources

    data = resources.files("wasmkiln.pyhook").joinpath("examples/hello.wasm").read_bytes()
    return data, "hello"


def _unknown_imports(args: argparse.Namespace) -> str | None:
    """The policy the flags ask for; None: the profile's."""
    if args.trap_unknown_imports and args.default_values_unknown_imports:
        raise UsageError(
            "choose one of --trap-unknown-imports and --default-values-unknown-imports"
        )
    if args.default_values_unknown_imports:
        return "default"
    return "trap" if args.trap_unknown_imports else None


def _plan(args: argparse.Namespace, target: Target, net: NetDefaults | None = None) -> BuildPlan:
    """What `build MODULE` and `run MODULE` build: the profile resolved once, with the
    command line's overrides (built-in profiles only: a manifest's are for manifest builds).
    `build` also bakes its --arg, --env and ports in."""
    from ..image.buildplan import BuildPlan

    baked = args.command == "build"
    return BuildPlan.resolve(
        target,
        resolve_profile(args.profile),
        backend=args.backend,
        unknown_imports=_unknown_imports(args),
        debug=args.debug,
        cpu=args.target_cpu,
        dirs=_dirs(args),
        args=args.arg if baked else (),
        env=args.env if baked else (),
        net=net,
        invoke=args.invoke,
    )


def _dirs(args: argparse.Namespace) -> list[DirMapping]:
    from ..image.pack import DirMapping

    return [DirMapping.parse(d) for d in args.dir]


def _is_wasm(path: Path) -> bool:
    try:
        with path.open("rb") as f:
            return f.read(4) == b"\0asm"
    except OSError:
        return False


# ---- commands ---------------------------------------------------------------
def cmd_build_manifest(args: argparse.Namespace) -> int:
    """`wasmkiln build` with no module: build what the project's manifest declares."""
    from ..hooks.manifest import find_manifest, load_manifest
    from ..hooks.manifest_build import BuildError, build_manifest

    path = args.manifest_path or find_manifest(Path.cwd())
    if path is None:
        raise UsageError(
            "no module given, and no wasmkiln.toml (or pyproject.toml with "
            f"[tool.wasmkiln]) in {Path.cwd()} or its parents"
        )
    t0 = time.perf_counter()
    try:
        built = build_manifest(
            load_manifest(path),
            profile=args.profile,
            targets=args.target or None,
            images=args.image or None,
            log=_say,
        )
    except BuildError as e:  # a module or a command of the project failed: exit 1, like build
        _say(f"error: {e}")
        return 1
    fresh = sum(not b.rebuilt for b in built)
    _say(f"{len(built) - fresh} built, {fresh} fresh ({time.perf_counter() - t0:.2f} s)")
    return 0


def cmd_build(args: argparse.Namespace) -> int:
    if args.module is None:
        if args.output:
            raise UsageError(
                "-o names the image of one MODULE; a manifest build writes "
                "target/<triple>/<profile>/<name>"
            )
        if args.publish or args.listen:
            raise UsageError(
                "-p/--listen record the ports of one MODULE's image; a manifest "
                "declares them per image (listen = [...])"
            )
        if args.invoke:
            raise UsageError(
                "--invoke names the export of one MODULE's image; a manifest "
                'declares it per image (invoke = "NAME")'
            )
        return cmd_build_manifest(args)
    if args.image:
        raise UsageError("--image selects images of a manifest; it does not go with a module")
    net = _net_defaults(args.publish, args.listen)
    if args.target and len(args.target) > 1:
        raise UsageError(
            "one MODULE makes one image: give one --target (a manifest builds "
            "several, each into target/<triple>/<profile>/)"
        )
    target = get_target(args.target[0] if args.target else DEFAULT_TARGET)
    wasm = _read_wasm(args.module)
    name = args.module.stem
    out = args.output or args.module.with_suffix(target.image_suffix)
    t0 = time.perf_counter()
    for e in args.env:
        if "=" not in e:
            raise UsageError(f"--env takes KEY=VALUE, got {e!r}")
    result = _plan(args, target, net).build(wasm, out, name)
    elapsed = time.perf_counter() - t0
    _say(
        f"built {out} for {target.triple} ({result.size} bytes, {result.instructions} "
        f"instructions, {elapsed:.2f} s)"
    )
    return 0


def _net_defaults(publish: list[str], listen: list[str]) -> NetDefaults:
    """`build -p/--listen`, checked now so that a typo fails the build, not a later run."""
    try:
        NetOptions.parse(publish, listen, None, None)
    except NetOptionError as e:
        raise UsageError(str(e)) from None
    return NetDefaults(tuple(publish), tuple(listen))


def _image_for_run(args: argparse.Namespace) -> tuple[Path, Target, str, dict]:
    """The image to run (given, or built from a module into the cache) and its build info
    (imageinfo.read_image_info: recorded ports, CPU level, memory, own sockets)."""
    if args.image is None:
        wasm, name = _default_example()
    elif _is_wasm(args.image):
        wasm, name = _read_wasm(args.image), args.image.stem
    else:
        if not args.image.exists():
            raise UsageError(f"{args.image}: no such file")
        info = read_image_info(args.image)
        if info is None:
            raise UsageError(f"{args.image} is neither a Wasm module nor a wasmkiln image")
        if args.invoke:
            raise UsageError(
                f"--invoke is chosen when an image is built: run the module, or rebuild "
                f"{args.image} with `wasmkiln build --invoke {args.invoke}`"
            )
        if args.target and args.target != info.get("target"):
            raise UsageError(f"{args.image} was built for {info.get('target')}, not {args.target}")
        return args.image, get_target(info["target"]), info.get("module", args.image.stem), info
    target = get_target(args.target or DEFAULT_TARGET)
    plan = _plan(args, target)
    key = plan.cache_key(wasm, name)
    out = imagecache.use(
        f"{name}-{key}{target.image_suffix}", lambda path: plan.build(wasm, path, name)
    )
    return out, target, name, read_image_info(out) or {}


def _check_network(args: argparse.Namespace, net: NetOptions) -> None:
    """Refuse network options when the guest could have no network stack: a module about to be
    built for a runtime without one, or an image linked with such a runtime (its info says
    "network": false). Else the guest would start and die at its first socket call."""
    if not net.wanted:
        return
    given = [f"-p {p}" for p in args.publish] + [f"--listen {a}" for a in args.listen]
    given += [f"--{k} {v}" for k, v in (("ip", net.ip), ("tap", net.tap)) if v]
    option = (given or ["--net"])[0]
    if args.image is None or _is_wasm(args.image):
        if not target_has_network(get_target(args.target or DEFAULT_TARGET).triple):
            raise UsageError(f"{option} needs networking: {NO_NETWORK}")
        return
    info = read_image_info(args.image) if args.image.exists() else None
    if info is not None and info.get("network", True) is False:
        raise UsageError(
            f"{option} needs networking, and {args.image} was linked by a "
            "wasmkiln built without networking (no lwIP): rebuild the image with "
            "one that has it (see scripts/fetch-lwip.sh)"
        )


def cmd_run(args: argparse.Namespace) -> int:
    for e in args.env:
        if "=" not in e:
            raise UsageError(f"--env takes KEY=VALUE, got {e!r}")

    def net_options(publish: list[str], listen: list[str]) -> NetOptions:
        try:
            return NetOptions.parse(
                publish, listen, args.ip, args.gateway, args.net, dns=args.dns, tap=args.tap
            )
        except NetOptionError as e:
            raise UsageError(str(e)) from None

    if args.memory is not None and args.memory < 1:
        raise UsageError(f"--memory takes a size in MiB, got {args.memory}")
    net = net_options(args.publish, args.listen)  # checked before a module is compiled
    _check_network(args, net)
    image, target, name, info = _image_for_run(args)
    baked = NetDefaults.from_info(info)
    if not net.forwards and (baked.publish or baked.listen):  # the run names no port
        net = net_options(list(baked.publish), list(baked.listen))
    opts = RunOptions(
        args=list(args.args),
        env=list(args.env),
        accel=args.accel,
        timeout=args.timeout,
        program_name=name,
        net=net,
        net_backend=args.net_backend,
        machine=args.machine,
    )
    if not args.dir or args.image is None or _is_wasm(args.image):  # packed in the cached image
        return _boot(image, target, opts, args.memory, info)
    # A built image with --dir: the folders are packed now and handed to the guest at boot
    # (kvm: a PVH boot module; spt: a mapped file), replacing those packed at build time.
    import tempfile

    from ..image.pack import pack_dirs

    with tempfile.TemporaryDirectory(prefix="wasmkiln-dirs-") as tmp:
        opts.fs_image = Path(tmp) / "fs.bin"
        pack_dirs(_dirs(args), opts.fs_image)
        return _boot(image, target, opts, args.memory, info)


def _boot(image: Path, target: Target, opts: RunOptions, memory: int | None, info: dict) -> int:
    """run_image, a kvm guest's memory sized from what the image needs unless --memory says."""
    if target.platform == "kvm":
        machine = opts.machine if target.arch == "x86_64" else "virt"
        opts.memory_mb = memory_mb(image, info, opts.fs_image, memory, _say, machine)
    else:
        opts.spt_memory_mb = memory
    return run_image(image, target, opts, info)


def cmd_cache(args: argparse.Namespace) -> int:
    """`wasmkiln cache [list]`, `wasmkiln cache clean [--max-size SIZE]` (image/imagecache.py)."""
    folder = imagecache.cache_dir()
    limit = imagecache.max_size()
    if args.action == "clean":
        keep = 0 if args.max_size is None else imagecache.parse_size(args.max_size)
        removed = imagecache.evict(keep)
        imagecache.remove_partial()
        freed = imagecache.format_size(sum(c.size for c in removed))
        left = imagecache.entries()
        _say(f"removed {len(removed)} image(s), {freed}; {len(left)} left in {folder}")
        return 0
    if args.max_size is not None:
        raise UsageError("--max-size goes with `wasmkiln cache clean`")
    found = imagecache.entries()
    now = time.time()
    print(f"{'size':>10}  {'last used':>10}  image")
    for c in reversed(found):  # most recently used first
        print(f"{imagecache.format_size(c.size):>10}  {_age(now - c.used):>10}  {c.path.name}")
    total = imagecache.format_size(sum(c.size for c in found))
    print(
        f"{len(found)} image(s), {total} of {imagecache.format_size(limit)} "
        f"({imagecache.MAX_SIZE_ENV}) in {folder}"
    )
    return 0


def _age(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds / size:.0f} {unit} ago"
    return f"{max(seconds, 0):.0f} s ago"


def cmd_targets(args: argparse.Namespace) -> int:
    """One line per target: which backend compiles each built-in profile, which C compiler
    driver links (target.json's "cc", else the system's gcc; both link with GNU ld), and
    whether it can be used. A column holds no spaces (pyhook/cmake/wasmkilnConfig.cmake
    parses this)."""
    import json

    from ..image.runtime import RuntimeNotFound, target_dir

    print(f"{'target':<14} {'backends':<28} {'linker':<26} status")
    for t in TARGETS.values():
        backends = "/".join(
            f"{p}={t.backend_for(resolve_profile(p).compile_backend, explicit=False)}"
            for p in BUILTIN_PROFILES
        )
        try:
            spec = json.loads((target_dir(t.triple) / "target.json").read_text())
            linker = f"{spec.get('cc', ['gcc'])[0]}/ld"
            status = "default" if t.triple == DEFAULT_TARGET else "ok"
        except (RuntimeNotFound, ValueError, OSError):
            linker = "-"
            status = (
                "not yet"
                if not t.supported
                else f"not yet (runtime not built: apt-get install {t.build_packages or 'gcc'}"
                f" and reinstall)"
            )
        print(f"{t.triple:<14} {backends:<28} {linker:<26} {status}: {t.description}")
    return 0


def cmd_cmake_dir(args: argparse.Namespace) -> int:
    print(Path(__file__).resolve().parent.parent / "cmake")
    return 0


def cmd_inspect(args: argparse.Namespace) -> int:
    from .inspect import inspect_image, inspect_module

    if _is_wasm(args.file):
        inspect_module(_read_wasm(args.file), args.target or DEFAULT_TARGET)
        return 0
    if not args.file.exists():
        raise UsageError(f"{args.file}: no such file")
    if not inspect_image(args.file):
        raise UsageError(f"{args.file} is neither a Wasm module nor a wasmkiln image")
    return 0


def cmd_wast(args: argparse.Namespace) -> int:
    from wasmkiln.bridge.codegen import backend_named

    from ..image.targets import CROSS_DEV_BACKEND
    from ..spec.hostrt import HostError
    from ..spec.wast import main as wast_main  # loads cffi and the host runtime: only here

    arch = args.target or "x86_64"
    backend = args.backend or ("cranelift" if arch == "x86_64" else CROSS_DEV_BACKEND)
    try:
        backend_named(backend, arch=arch)  # an arch Cranelift cannot do: one line, not a crash
        return wast_main(args.paths, backend=backend, verbose=args.verbose, arch=arch)
    except (FileNotFoundError, ValueError, HostError) as e:
        raise UsageError(str(e)) from None


# ---- fuzz: differential (wasmtime) and garbage-input fuzzing, pyhook/fuzz/differential.py ----
def _add_fuzz_command(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from ..fuzz.differential import add_arguments

    f = sub.add_parser(
        "fuzz",
        help="differential fuzzing against wasmtime; garbage inputs",
        description="Generate modules with binaryen (wasm-opt -ttf), run each in "
        "wasmtime and in wasmkiln, compare every call; mismatches are saved with a "
        "reduced reproducer. With --garbage N, feed N hostile inputs to the "
        "decoder, validator and compiler instead. Last line: `N passed, N failed`.",
    )
    add_arguments(f)
    f.set_defaults(func=cmd_fuzz)


def cmd_fuzz(args: argparse.Namespace) -> int:
    from ..fuzz.differential import (  # wasmtime and the host runtime: only here
        FuzzError,
        run_from_args,
    )

    try:
        return run_from_args(args)
    except FuzzError as e:
        raise UsageError(str(e)) from None


# ---- oci: an OCI image for urunc (Kubernetes), pyhook/image/oci.py ----
def _add_oci_command(
    sub: argparse._SubParsersAction[argparse.ArgumentParser], *flag_groups: Callable[..., None]
) -> None:
    from ..image.oci import HYPERVISORS, UNIKERNEL_TYPES

    o = sub.add_parser(
        "oci",
        help="write an OCI image (layout + archive) that urunc runs",
        description="Build MODULE (as `build` does: its options, args, env, folders and "
        "ports baked in) or take a built x86_64-kvm IMAGE, and write it as an OCI image "
        "layout in DIR plus DIR.tar for docker/podman load, with urunc's settings "
        "(/urunc.json and annotations). Same input, same digest. See docs/kubernetes.md.",
    )
    o.add_argument("module", type=Path, metavar="MODULE|IMAGE")
    o.add_argument("-o", "--output", type=Path, required=True, metavar="DIR")
    o.add_argument("--hypervisor", choices=HYPERVISORS, default="qemu")
    o.add_argument(
        "--unikernel-type",
        choices=UNIKERNEL_TYPES,
        help="urunc's unikernelType, the command-line form urunc writes (default: mewz "
        "on qemu, unikraft on firecracker)",
    )
    o.add_argument("--tag", default="latest", metavar="[NAME:]TAG", help="default: latest")
    o.add_argument("--archive", type=Path, metavar="TAR", help="default: DIR.tar")
    bake, ports, compile_ = flag_groups
    bake(o)
    ports(o, "bake into the image: ")
    compile_(o, None)
    o.set_defaults(func=cmd_oci)


def cmd_oci(args: argparse.Namespace) -> int:
    from ..image.oci import cmd_oci as write

    return write(args)


# ---- parser -----------------------------------------------------------------
COMMANDS = ("build", "cmake-dir", "run", "inspect", "wast", "cache", "targets", "oci", "fuzz")


def _parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser of `command` alone, or of every command (None: `wasmkiln --help`, a command
    line with no known command). One command's is what a run needs: building all of them
    costs milliseconds of every start (and `fuzz`'s imports the fuzzers and wasmtime's
    helpers)."""
    p = argparse.ArgumentParser(
        prog="wasmkiln",
        description="Compile WASI modules ahead of time into unikernel images and run them.",
    )
    p.add_argument(
        "--cmake-dir",
        action="store_true",
        help="print the folder of wasmkiln's CMake package and exit (= cmake-dir)",
    )
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    def want(name: str) -> bool:
        return command is None or command == name

    def compile_flags(
        sp: argparse.ArgumentParser, default_target: str | None, several: bool = False
    ) -> None:
        if several:  # build: a manifest builds each target into target/<triple>/<profile>/
            sp.add_argument(
                "--target",
                action="append",
                help=f"target triple (default {DEFAULT_TARGET}, or the manifest's "
                "targets; see `wasmkiln targets`); repeat it to build a manifest's "
                "images for several targets",
            )
        else:
            sp.add_argument(
                "--target",
                default=default_target,
                help=f"target triple (default {DEFAULT_TARGET}; see `wasmkiln targets`)",
            )
        sp.add_argument(
            "--profile",
            default=DEFAULT_PROFILE,
            help=f"{' or '.join(BUILTIN_PROFILES)} (dev: fast compile; release: "
            "optimised), or a [profile.NAME] of the manifest",
        )
        sp.add_argument("--backend", choices=list(BACKENDS), help="override the profile's backend")
        sp.add_argument(
            "--trap-unknown-imports",
            action="store_true",
            help="link imports nothing provides as functions that trap when called",
        )
        sp.add_argument(
            "--default-values-unknown-imports",
            action="store_true",
            help="link imports nothing provides as functions that return zeros",
        )
        sp.add_argument(
            "--target-cpu",
            metavar="CPU",
            help="x86-64 level the code may assume (LLVM backend): baseline "
            "(x86-64-v2, the default), x86-64-v3, x86-64-v4, or native (this "
            "host's level); the image then refuses to start on a CPU without it",
        )
        sp.add_argument(
            "--debug",
            action="store_true",
            help="keep the runtime's debug info (DWARF) in the image; images are "
            "stripped of it by default",
        )
        sp.add_argument(
            "--invoke",
            metavar="NAME",
            help="run the export NAME (after _initialize, if exported) instead of _start, as "
            "wasmtime's --invoke: for reactors; its i32/i64 results are printed on stdout",
        )
        sp.add_argument(
            "--dir",
            action="append",
            default=[],
            metavar="HOST[::GUEST]",
            help="pack directory HOST into the image, preopened as GUEST "
            "(default: HOST); read-only on the host, writable in memory",
        )

    def port_flags(sp: argparse.ArgumentParser, baked: str) -> None:
        sp.add_argument(
            "-p",
            "--publish",
            action="append",
            default=[],
            metavar="[HOSTADDR:]HOSTPORT:GUESTPORT",
            help=f"{baked}forward a host TCP port to the guest, which gets a "
            "preopened listener on GUESTPORT (after the --dir preopens)",
        )
        sp.add_argument(
            "--listen",
            action="append",
            default=[],
            metavar="ADDR:PORT",
            help=f"{baked}wasmtime's tcplisten: a preopened listener on PORT (fd 3 "
            "onwards, before the --dir preopens, as wasmtime), reached at ADDR:PORT "
            "on the host",
        )

    def bake_flags(sp: argparse.ArgumentParser) -> None:
        sp.add_argument(
            "--arg",
            action="append",
            default=[],
            metavar="ARG",
            help="bake a guest argument into the image (before the run's arguments)",
        )
        sp.add_argument(
            "--env",
            action="append",
            default=[],
            metavar="KEY=VALUE",
            help="bake an environment variable into the image (a run's --env overrides)",
        )

    if want("build"):
        b = sub.add_parser(
            "build",
            help="compile a .wasm module (or the manifest's images)",
            description="Compile MODULE into an image; with no MODULE, build the "
            "images of the project's manifest (wasmkiln.toml, or [tool.wasmkiln] "
            "in pyproject.toml) into target/<triple>/<profile>/, skipping those "
            "whose inputs did not change.",
        )
        b.add_argument("module", type=Path, nargs="?")
        b.add_argument("-o", "--output", type=Path, help="image path (default: MODULE.img/.spt)")
        b.add_argument(
            "--manifest-path",
            type=Path,
            metavar="PATH",
            help="the manifest to build (default: found from the current folder up)",
        )
        b.add_argument(
            "--image",
            action="append",
            metavar="NAME",
            help="build only this image of the manifest (repeatable)",
        )
        bake_flags(b)
        port_flags(b, "record in the image, for runs that publish no port of their own: ")
        compile_flags(b, None, several=True)
        b.set_defaults(func=cmd_build)

    if want("cmake-dir"):
        c = sub.add_parser(
            "cmake-dir",
            help="print the folder of wasmkiln's CMake package",
            description="Print the folder holding wasmkilnConfig.cmake, for "
            "`cmake -Dwasmkiln_DIR=$(wasmkiln cmake-dir)`; the wasm32-wasi "
            "toolchain file is there too (wasm32-wasi.cmake).",
        )
        c.set_defaults(func=cmd_cmake_dir)

    if want("run"):
        r = sub.add_parser(
            "run",
            help="run an image, or build a module and run it",
            description="Run IMAGE (or build MODULE.wasm into a cached image and run "
            "it). With no argument, runs the built-in hello example.",
        )
        r.add_argument("image", type=Path, nargs="?", metavar="IMAGE|MODULE")
        r.add_argument("args", nargs="*", help="guest arguments (put them after --)")
        r.add_argument("--env", action="append", default=[], metavar="KEY=VALUE")
        r.add_argument(
            "--accel",
            choices=["auto", "tcg", "kvm"],
            default="auto",
            help="QEMU accelerator for kvm targets (auto: KVM only if hardware-backed)",
        )
        r.add_argument(
            "--memory",
            type=int,
            metavar="MIB",
            help="guest memory (kvm; default: what the image needs, its packed files "
            f"and the module's initial memory, plus headroom; at least {DEFAULT_MEMORY_MB}); "
            "spt: the region for the runtime and the memories besides memory 0 (default "
            "16448, 16 GiB + 64 MiB of address space, backed only where touched)",
        )
        r.add_argument("--timeout", type=float, metavar="SECONDS", help="stop the guest after this")
        port_flags(r, "")
        r.add_argument(
            "--ip",
            metavar="A.B.C.D[/N]",
            help="static guest IPv4 address (default: DHCP from slirp on kvm, passt on spt)",
        )
        r.add_argument("--gateway", metavar="A.B.C.D", help="default gateway (with --ip)")
        r.add_argument(
            "--dns",
            metavar="A.B.C.D[:PORT]",
            help="DNS server for name lookups (default: the one DHCP offers; spt's host "
            "sockets: the host's first nameserver)",
        )
        r.add_argument(
            "--net",
            action="store_true",
            help="let the guest reach out (connect, UDP, DNS) even without published ports",
        )
        r.add_argument(
            "--net-backend",
            choices=list(dict.fromkeys(NET_BACKENDS + SPT_NET_BACKENDS)),
            default="auto",
            help="kvm targets: QEMU's side of the NIC (passt or slirp; auto: slirp, "
            "with a listen backlog for the published ports). spt targets: host (the "
            "host's own sockets: the published ports, and with --net or --dns outgoing "
            "connections, UDP and DNS; the fastest) or passt (a NIC with lwIP and an "
            "address of its own); auto: host unless --ip or --gateway need a NIC",
        )
        r.add_argument(
            "--tap",
            metavar="IFNAME",
            help="plug the NIC into host tap interface IFNAME instead (root; create and "
            "address it first): no passt or slirp in the path, ports reached at the "
            "guest's own address (--ip, or DHCP on that network)",
        )
        r.add_argument(
            "--machine",
            choices=list(MACHINES),
            default="microvm",
            help="kvm targets: QEMU machine (microvm: virtio-mmio, no firmware, the "
            "fastest boot; q35: a PC with virtio-pci behind SeaBIOS)",
        )
        compile_flags(r, None)
        r.set_defaults(func=cmd_run)

    if want("inspect"):
        i = sub.add_parser(
            "inspect", help="show a module's or an image's imports, exports, sections"
        )
        i.add_argument("file", type=Path)
        i.add_argument("--target", help="check imports against this target")
        i.set_defaults(func=cmd_inspect)

    if want("wast"):
        w = sub.add_parser(
            "wast",
            help="run WebAssembly spec test scripts in-process",
            description="Run spec test scripts: wast2json output (.json next to "
            "its .wasm modules), folders of them, or .wast files (read directly; "
            "modules through the wasmtime package's wat2wasm). Prints a table per "
            "file and the line "
            "`N passed, N failed, N skipped`; exits 1 if anything failed.",
        )
        w.add_argument("paths", type=Path, nargs="+", metavar="PATH")
        w.add_argument(
            "--backend",
            choices=list(BACKENDS),
            help="compiler backend (default cranelift; llvm-O0 for aarch64)",
        )
        w.add_argument(
            "--target",
            choices=("x86_64", "aarch64"),
            help="the code's architecture (default x86_64); aarch64 runs the modules "
            "under qemu-aarch64 (hostrt_remote.py)",
        )
        w.add_argument("-v", "--verbose", action="store_true", help="list every failure")
        w.set_defaults(func=cmd_wast)

    if want("cache"):
        k = sub.add_parser(
            "cache",
            help="list or clean the images `run MODULE` caches",
            description="List the images `wasmkiln run MODULE.wasm` built and cached "
            "(most recently used first), or remove them. The cache keeps at most "
            f"{imagecache.MAX_SIZE_ENV} bytes (default "
            f"{imagecache.format_size(imagecache.DEFAULT_MAX_SIZE)}; K, M, G "
            "suffixes), dropping the least recently used images after each build.",
        )
        k.add_argument("action", nargs="?", choices=["list", "clean"], default="list")
        k.add_argument(
            "--max-size",
            metavar="SIZE",
            help="clean: keep the most recently used images up to SIZE (e.g. 500M) "
            "instead of removing all",
        )
        k.set_defaults(func=cmd_cache)

    if want("targets"):
        t = sub.add_parser("targets", help="list the targets")
        t.set_defaults(func=cmd_targets)
    if want("oci"):
        _add_oci_command(sub, bake_flags, port_flags, compile_flags)
    if want("fuzz"):  # its arguments come from the fuzzers' module, which loads wasmtime's
        _add_fuzz_command(sub)
    return p


def _loaded(module: str, name: str) -> tuple[type[Exception], ...]:
    """Error class `name` of `module` when that module is loaded, else none: an error of a
    module never imported cannot have been raised, so start-up need not import it."""
    loaded = sys.modules.get(module)
    return (getattr(loaded, name),) if loaded else ()


def _user_error_code(e: Exception) -> int | None:
    """The exit code of a user error (2: the command line; 1: the module or the build), or
    None for a fault of wasmkiln's own."""
    usage: tuple[type[Exception], ...] = (
        UsageError, TargetError, ProfileError, imagecache.CacheError,
        *_loaded("wasmkiln.pyhook.hooks.manifest", "ManifestError"),
        *_loaded("wasmkiln.pyhook.image.pack", "PackError"),
        *_loaded("wasmkiln.pyhook.image.oci", "OciError"),
        *_loaded("wasmkiln.pyhook.cli.main", "UsageError"),  # run as __main__, used by oci.py
    )  # fmt: skip
    failed: tuple[type[Exception], ...] = (
        RuntimeNotFound,
        *_loaded("wasmkiln.pyhook.image.image", "ImageError"),
        *_loaded("wasmkiln.bridge.errors", "WasmError"),
    )
    if isinstance(e, usage):
        return 2
    return 1 if isinstance(e, failed) else None


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv:
        argv = ["run"]
    parser = _parser(argv[0] if argv[0] in COMMANDS else None)
    # Everything after `--` belongs to the guest. Split it off before argparse sees it: with
    # an optional positional (IMAGE) and a `*` one (ARGS), argparse would otherwise reject
    # options given after IMAGE when `--` follows (`run app.img --env K=V -- a b`).
    guest: list[str] = []
    if argv[0] == "run" and "--" in argv:
        cut = argv.index("--")
        argv, guest = argv[:cut], argv[cut + 1 :]
    args = parser.parse_args(argv)
    if guest:
        args.args = [*args.args, *guest]
    if args.cmake_dir:
        return cmd_cmake_dir(args)
    if args.command is None:
        parser.print_help()
        return 2
    try:
        return args.func(args)
    except RunError as e:
        _say(f"error: {e}")
        return e.exit_code
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # `wasmkiln targets | head -1`: the reader left; nothing to say
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # for the exit's flush
        return 141  # as a guest ended by SIGPIPE (128 + 13)
    except Exception as e:
        code = _user_error_code(e)
        if code is None:
            raise
        _say(f"error: {e}")
        return code
    except BaseException as e:  # a Rust panic arrives as a BaseException (PanicException)
        if type(e).__name__ != "PanicException":
            raise
        _say(f"internal compiler error (Cranelift panicked): {e}; please report this module")
        return 70


if __name__ == "__main__":
    sys.exit(main())
