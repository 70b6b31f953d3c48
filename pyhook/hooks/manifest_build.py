"""Build what a manifest declares into `target/<triple>/<profile>/<name>.img|.spt`, like cargo.

Work whose inputs did not change is skipped. An image's inputs are written to a stamp
(`target/<triple>/<profile>/.fingerprint/<name>.json`): `BuildPlan.identity` (the module's
bytes, hashed; the compiler, wasmkiln's version and its sources, so a development checkout
rebuilds after an edit without a version bump; the target's installed runtime, so a reinstalled
runtime relinks; the target and every resolved choice) and the profile's name. A wasm
`command` reruns every build unless the image lists its `inputs`: then it reruns only when they
(or the command line) changed, or its output is gone. The CLI (`wasmkiln build` with no
module) and the PEP 517 hook (build_meta) both call `build_manifest`.
"""

from __future__ import annotations

import hashlib
import json
import shlex
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from wasmkiln.bridge.errors import WasmError

from ..image.buildplan import BuildPlan
from ..image.image import ImageError
from ..image.pack import PackError, fingerprint
from ..image.profiles import Profile, ProfileError
from ..image.targets import TargetError, get_target
from .manifest import ImageSpec, Manifest, ManifestError

__all__ = ["BuildError", "BuiltImage", "build_manifest"]

WASM_TOOLCHAIN_HINT = (
    "the C -> wasm32-wasi toolchain is Debian's clang-14 with lld-14, wasi-libc and "
    "libclang-rt-14-dev-wasm32 (apt-get install clang-14 lld-14 wasi-libc "
    "libclang-rt-14-dev-wasm32); WAT files need wabt (wat2wasm)"
)
_TOOLCHAIN_WORDS = ("clang", "wasm-ld", "wat2wasm", "wasi", "rustc", "zig")
_SYSROOT_SIGNS = ("wasm32-wasi", "crt1", "-lc", "stdio.h", "libclang_rt.builtins-wasm32")


class BuildError(Exception):
    """An image of the manifest could not be built; the message names the image."""


@dataclass(frozen=True)
class BuiltImage:
    name: str
    target: str
    profile: str
    path: Path
    rebuilt: bool  # False: the stamp matched and the image was left as it was
    spec: ImageSpec


def _sha256_files(paths: list[Path]) -> str:
    h = hashlib.sha256()
    for p in paths:
        h.update(str(p.name).encode() + b"\0")
        h.update(hashlib.sha256(p.read_bytes()).digest())
    return h.hexdigest()


# ---- the module ----------------------------------------------------------------------------
def _describe(command: str | list[str]) -> str:
    return command if isinstance(command, str) else shlex.join(command)


def _expand(command: str | list[str], wasm: Path) -> str | list[str]:
    """`{wasm}` in a command stands for the absolute path of the module it must write."""
    if isinstance(command, str):
        return command.replace("{wasm}", shlex.quote(str(wasm)))
    return [a.replace("{wasm}", str(wasm)) for a in command]


def _inputs_hash(manifest: Manifest, spec: ImageSpec) -> str:
    files: set[Path] = set()
    for pattern in spec.inputs:
        matched = sorted(p for p in manifest.root.glob(pattern) if p.is_file())
        if not matched:
            raise BuildError(
                f"image {spec.name!r}: inputs pattern {pattern!r} matches no file "
                f"in {manifest.root}"
            )
        files.update(matched)
    h = hashlib.sha256(_describe(spec.command or "").encode())
    h.update(_sha256_files(sorted(files)).encode())
    return h.hexdigest()


def _toolchain_failure(spec: ImageSpec, program: str, detail: str) -> BuildError:
    hint = f"; {WASM_TOOLCHAIN_HINT}" if any(w in program for w in _TOOLCHAIN_WORDS) else ""
    return BuildError(
        f"image {spec.name!r}: the wasm build command needs {program!r}, which is "
        f"not installed ({detail}){hint}"
    )


def _run_command(manifest: Manifest, spec: ImageSpec, log: Callable[[str], None]) -> None:
    assert spec.command is not None
    command = _expand(spec.command, spec.wasm)
    log(f"image {spec.name}: running {_describe(command)}")
    spec.wasm.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(command, list):
        if shutil.which(command[0]) is None and not (manifest.root / command[0]).is_file():
            raise _toolchain_failure(spec, command[0], "not found on PATH")
    try:
        proc = subprocess.run(
            command,
            shell=isinstance(command, str),
            cwd=manifest.root,
            capture_output=True,
            text=True,
        )
    except OSError as e:
        raise BuildError(f"image {spec.name!r}: cannot run its command: {e.strerror}") from None
    output = (proc.stderr + proc.stdout).strip()
    if proc.returncode == 127 and isinstance(command, str):  # the shell's "command not found"
        program = shlex.split(command)[0] if command.strip() else command
        raise _toolchain_failure(spec, program, output.splitlines()[-1] if output else "exit 127")
    if proc.returncode != 0:
        tail = "\n".join(output.splitlines()[-20:])
        hint = ""
        if any(s in output for s in _SYSROOT_SIGNS):
            hint = f"\n(if the wasi sysroot is missing: {WASM_TOOLCHAIN_HINT})"
        raise BuildError(
            f"image {spec.name!r}: its command failed (exit {proc.returncode}): "
            f"{_describe(command)}\n{tail}{hint}"
        )
    if output:
        log(output)


def _module_bytes(manifest: Manifest, spec: ImageSpec, log: Callable[[str], None]) -> bytes:
    if spec.command is not None:
        stamp = manifest.target_dir / ".fingerprint" / f"{spec.name}.command.json"
        inputs = _inputs_hash(manifest, spec) if spec.inputs else None
        fresh = (
            inputs is not None
            and spec.wasm.is_file()
            and stamp.is_file()
            and json.loads(stamp.read_text()).get("inputs") == inputs
        )
        if not fresh:
            _run_command(manifest, spec, log)
            if inputs is not None:
                stamp.parent.mkdir(parents=True, exist_ok=True)
                stamp.write_text(json.dumps({"inputs": inputs}) + "\n")
    try:
        data = spec.wasm.read_bytes()
    except OSError as e:
        made = " (its command did not write it)" if spec.command else ""
        raise BuildError(
            f"image {spec.name!r}: cannot read {spec.wasm}{made}: {e.strerror}"
        ) from None
    if data[:4] != b"\0asm":
        raise BuildError(
            f"image {spec.name!r}: {spec.wasm} is not a WebAssembly module "
            "(it does not start with \\0asm)"
        )
    return data


# ---- the image -----------------------------------------------------------------------------
def _stamp(spec: ImageSpec, wasm: bytes, plan: BuildPlan, profile: Profile) -> dict[str, object]:
    """What the image is built from (BuildPlan.identity) and the profile it was resolved from."""
    return {
        **plan.identity(wasm, spec.name),
        "profile": profile.name,
        "opt-level": profile.opt_level,
    }


def image_path(manifest: Manifest, spec: ImageSpec, triple: str, profile: str) -> Path:
    suffix = get_target(triple).image_suffix
    return manifest.target_dir / triple / profile / f"{spec.name}{suffix}"


def build_manifest(
    manifest: Manifest,
    *,
    profile: str = "dev",
    targets: list[str] | None = None,
    images: list[str] | None = None,
    log: Callable[[str], None] = lambda _msg: None,
) -> list[BuiltImage]:
    """Build the declared images (all, or those named in `images`) for their targets (or for
    `targets` instead), skipping each whose stamp matches. Returns one entry per image and
    target, in manifest order.

    Raises:
        ManifestError: an unknown profile or image name.
        BuildError: a command failed, a module is missing, a target is unknown or unsupported.
        BuildError also for an invalid module or a failed link (WasmError, ImageError, kept as
            __cause__), prefixed with the image's name.
        RuntimeNotFound: the runtime (or the target's part of it) is not installed.
    """
    try:
        prof = manifest.profile(profile)
    except ProfileError as e:
        raise ManifestError(f"{manifest.path}: {e}") from None
    chosen = [manifest.image(n) for n in images] if images else list(manifest.images)
    if not chosen:
        raise ManifestError(f"{manifest.path} declares no image ([[image]] tables)")
    for triple in targets or []:
        try:
            get_target(triple)
        except TargetError as e:
            raise BuildError(str(e)) from None
    built: list[BuiltImage] = []
    for spec in chosen:
        try:
            dirs = spec.dir_mappings(manifest.root)
            if dirs:
                fingerprint(dirs)  # a folder that is missing or cannot be read fails here
        except PackError as e:
            raise BuildError(f"image {spec.name!r}: {e}") from None
        wasm = _module_bytes(manifest, spec, log)
        for triple in targets or list(spec.targets):
            try:
                target = get_target(triple)
                plan = BuildPlan.resolve(target, prof, dirs=dirs, net=spec.net, invoke=spec.invoke)
            except (TargetError, ProfileError) as e:
                raise BuildError(f"image {spec.name!r}: {e}") from None
            out = image_path(manifest, spec, triple, prof.name)
            stamp_file = out.parent / ".fingerprint" / f"{spec.name}.json"
            stamp = _stamp(spec, wasm, plan, prof)
            old = None
            if stamp_file.is_file() and out.is_file():
                try:
                    old = json.loads(stamp_file.read_text())
                except (OSError, json.JSONDecodeError):
                    old = None
            if old == stamp:
                log(f"fresh {out}")
                built.append(BuiltImage(spec.name, triple, prof.name, out, False, spec))
                _oci(spec, triple, out, stamp, log, plan, wasm)
                continue
            stamp_file.unlink(missing_ok=True)  # a failed build must not look fresh later
            try:
                result = plan.build(wasm, out, spec.name)
            except (WasmError, ImageError, PackError) as e:  # say which image; message theirs
                raise BuildError(f"image {spec.name!r} ({spec.wasm.name} for {triple}): {e}") from e
            stamp_file.parent.mkdir(parents=True, exist_ok=True)
            stamp_file.write_text(json.dumps(stamp, indent=1) + "\n")
            log(f"built {out} ({result.size} bytes, {prof.describe()})")
            built.append(BuiltImage(spec.name, triple, prof.name, out, True, spec))
            _oci(spec, triple, out, stamp, log, plan, wasm)
    return built


def _oci(
    spec: ImageSpec,
    triple: str,
    image: Path,
    stamp: dict,
    log: Callable[[str], None],
    plan: BuildPlan,
    wasm: bytes,
) -> None:
    """The image's `oci` key: its x86_64-kvm build as an OCI layout NAME.oci/ and archive
    NAME.oci.tar next to it (docs/kubernetes.md), rewritten when the image or the options
    changed (a stamp, as for the image). urunc's mewz form passes no arguments, so the image's
    `args` and `env` (elsewhere the packaged entry points' defaults) are baked into the OCI
    image's kernel: then it is linked again, with them."""
    if spec.oci is None or triple != "x86_64-kvm":
        return
    import tempfile
    from dataclasses import asdict, replace

    from ..image.oci import describe, pack_image

    layout = image.parent / f"{spec.name}.oci"
    stamp_file = image.parent / ".fingerprint" / f"{spec.name}.oci.json"
    want = {"image": stamp, "oci": asdict(spec.oci)}
    if (layout / "index.json").is_file() and layout.with_name(f"{layout.name}.tar").is_file():
        try:
            if json.loads(stamp_file.read_text()) == want:
                log(f"fresh {layout}")
                return
        except (OSError, json.JSONDecodeError):
            pass
    stamp_file.unlink(missing_ok=True)
    with tempfile.TemporaryDirectory(prefix="wasmkiln-oci-") as tmp:
        kernel = image
        if spec.args or spec.env:
            baked = replace(plan, args=spec.args, env=tuple(f"{k}={v}" for k, v in spec.env))
            kernel = Path(tmp) / image.name
            baked.build(wasm, kernel, spec.name)
        packed = pack_image(
            kernel, spec.name, spec.oci, layout, publish=spec.publish, listen=spec.listen
        )
    stamp_file.write_text(json.dumps(want, indent=1) + "\n")
    log(describe(packed, spec.oci))
