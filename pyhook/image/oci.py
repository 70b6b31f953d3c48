"""`wasmkiln oci`: an x86_64-kvm image as an OCI image that stock urunc launches.

urunc (github.com/urunc-dev/urunc) is the containerd runtime for unikernels: it reads the
`com.urunc.unikernel.*` keys of an image (base64 values) from the OCI runtime spec's
annotations or, since container engines do not pass image annotations on, from `/urunc.json`
in the image's root file system, then boots `binary` under the named monitor with a command line
in the form of `unikernelType` (docs/kubernetes.md pins the commit this follows). The kernel
understands urunc's mewz and unikraft forms (unikernel/platform/kvm/urunc_kvm.c); what urunc does
not pass (the mewz form carries only the address) is baked into the image: args, environment,
packed folders and the listening ports (`wk_image_net_tokens`).

Written with the standard library only, and reproducible: the same kernel and settings give the
same digests (entries sorted, fixed owners, modes and mtimes, gzip without name or time, JSON
with sorted keys and no timestamps), so a rebuilt image is recognised by registries and nodes as
the one they already hold. The CLI's parser imports this module for the option choices, so
gzip, tarfile and the compiler are imported where they are used.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import io
import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

__all__ = [
    "HYPERVISORS",
    "UNIKERNEL_TYPES",
    "OciError",
    "OciImage",
    "OciOptions",
    "UruncConfig",
    "pack_image",
    "write_oci",
]

HYPERVISORS = ("qemu", "firecracker")
UNIKERNEL_TYPES = ("mewz", "unikraft")
DEFAULT_TYPE = {"qemu": "mewz", "firecracker": "unikraft"}
"""mewz on QEMU: urunc's line for it has the modern virtio-net-pci NIC, `-no-reboot` and the exit
port. unikraft on Firecracker: its form also passes the container's args and environment (urunc's
Firecracker config ignores the type's QEMU options anyway)."""

KERNEL_DIR = "unikernel"
URUNC_JSON = "urunc.json"
KEY_PREFIX = "com.urunc.unikernel."

MEDIA_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
MEDIA_CONFIG = "application/vnd.oci.image.config.v1+json"
MEDIA_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
MEDIA_INDEX = "application/vnd.oci.image.index.v1+json"
EPOCH = 0  # every mtime in the layer; no `created` field anywhere (reproducibility)

_TAG = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")
_PART = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_REPO = re.compile(rf"(?:[A-Za-z0-9.-]+(?::[0-9]+)?/)?{_PART}(?:/{_PART})*")


class OciError(Exception):
    """A user error: bad tag or name, an output folder that is not ours."""


@dataclass(frozen=True)
class OciOptions:
    """How to pack: urunc's monitor and unikernel type, the tag ([NAME:]TAG). The CLI's
    `--hypervisor/--unikernel-type/--tag`, a manifest image's `oci` table."""

    hypervisor: str = "qemu"
    unikernel_type: str = "mewz"
    tag: str = "latest"

    @classmethod
    def of(cls, hypervisor: str, unikernel_type: str | None, tag: str) -> OciOptions:
        """Checked values; the unikernel type defaults by monitor (DEFAULT_TYPE)."""
        if hypervisor not in HYPERVISORS:
            raise OciError(f"hypervisor {hypervisor!r} is not one of {', '.join(HYPERVISORS)}")
        utype = unikernel_type or DEFAULT_TYPE[hypervisor]
        if utype not in UNIKERNEL_TYPES:
            raise OciError(f"unikernel type {utype!r} is not one of {', '.join(UNIKERNEL_TYPES)}")
        check_reference(*split_tag(tag, "wasmkiln-app"))
        return cls(hypervisor, utype, tag)

    @classmethod
    def from_manifest(cls, value: object) -> OciOptions:
        """A manifest's `oci = true` or `oci = { hypervisor = "...", unikernel-type = "...",
        tag = "..." }`. Raises OciError with what is wrong."""
        if value is True:
            return cls()
        keys = {"hypervisor", "unikernel-type", "tag"}
        if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
            raise OciError(
                'oci must be true or a table of strings, e.g. oci = { hypervisor = "qemu", '
                'tag = "v1" }'
            )
        unknown = sorted(set(value) - keys)
        if unknown:
            raise OciError(f"oci: unknown key {unknown[0]!r} (known: {', '.join(sorted(keys))})")
        return cls.of(
            value.get("hypervisor", "qemu"), value.get("unikernel-type"), value.get("tag", "latest")
        )


@dataclass(frozen=True)
class UruncConfig:
    """urunc's keys for one image (pkg/unikontainers/config.go's UnikernelConfig)."""

    unikernel_type: str
    hypervisor: str
    binary: str  # absolute path inside the root file system
    cmdline: str  # urunc's fallback when the container has no args (unikraft form)
    version: str

    def keys(self) -> dict[str, str]:
        """The keys with base64 values, as urunc decodes them (every key it reads is decoded,
        so even `useDMBlock` must be valid base64: "false" keeps urunc off devmapper)."""
        plain = {
            "unikernelType": self.unikernel_type,
            "hypervisor": self.hypervisor,
            "binary": self.binary,
            "cmdline": self.cmdline,
            "unikernelVersion": self.version,
            "useDMBlock": "false",
        }
        return {KEY_PREFIX + k: base64.b64encode(v.encode()).decode() for k, v in plain.items()}


@dataclass(frozen=True)
class Blob:
    media_type: str
    data: bytes
    digest: str = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "digest", "sha256:" + hashlib.sha256(self.data).hexdigest())

    def descriptor(self, **extra: object) -> dict[str, object]:
        return {
            "mediaType": self.media_type,
            "digest": self.digest,
            "size": len(self.data),
            **extra,
        }

    @property
    def path(self) -> str:
        return "blobs/sha256/" + self.digest.split(":", 1)[1]


@dataclass(frozen=True)
class OciImage:
    """What write_oci produced: the layout folder, the archive, digests and sizes."""

    layout: Path
    archive: Path
    reference: str  # NAME:TAG, as `docker load` names it
    manifest_digest: str
    layer_size: int  # compressed
    layer_uncompressed: int
    kernel_size: int
    image_size: int  # manifest + config + layer: what a registry stores


def _json(value: object) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":")).encode()


def check_reference(name: str, tag: str) -> None:
    """Refuse a repository name or tag that docker/containerd would refuse later."""
    if not _TAG.fullmatch(tag):
        raise OciError(
            f"--tag {tag!r}: a tag is [A-Za-z0-9_.-], at most 128, not starting with . or -"
        )
    if not _REPO.fullmatch(name):
        raise OciError(f"image name {name!r}: lowercase [a-z0-9] parts joined by . _ - or /")


def split_tag(spec: str, default_name: str) -> tuple[str, str]:
    """`--tag T`: TAG, or NAME:TAG (a `:` after the last `/`)."""
    name, sep, tag = spec.rpartition(":")
    if sep and "/" not in tag:
        return name, tag
    return default_name, spec


def containerd_name(name: str) -> str:
    """The fully qualified name containerd stores an image under (docker.io/library/NAME for a
    bare NAME), for `ctr import` and `nerdctl load` of the archive."""
    first, slash, _ = name.partition("/")
    if slash and ("." in first or ":" in first or first == "localhost"):
        return name
    return f"docker.io/{name}" if slash else f"docker.io/library/{name}"


def repo_name(module: str) -> str:
    """A repository name from a module name: lowercase, other characters as `-`."""
    name = re.sub(r"[^a-z0-9]+", "-", module.lower()).strip("-")
    return name or "wasmkiln-app"


def layer_tar(files: dict[str, tuple[bytes, int]]) -> bytes:
    """A tar of `files` (path -> (content, mode)) and their parent folders: sorted, owned by
    root, mtime EPOCH, ustar headers (no pax records carrying times or names of the host)."""
    import tarfile

    dirs = sorted({str(a) for p in files for a in Path(p).parents} - {"."})
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        entries: list[tuple[str, bytes | None, int]] = [(d, None, 0o755) for d in dirs]
        entries += [(p, data, mode) for p, (data, mode) in files.items()]
        for path, data, mode in sorted(entries, key=lambda e: e[0]):
            info = tarfile.TarInfo(path)
            info.mode, info.mtime, info.uid, info.gid = mode, EPOCH, 0, 0
            info.uname = info.gname = ""
            if data is None:
                info.type = tarfile.DIRTYPE
                tar.addfile(info)
            else:
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def gzip_stable(data: bytes) -> bytes:
    """gzip with no file name and mtime 0: the bytes depend on `data` (and zlib) only."""
    import gzip

    out = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=out, mtime=0, compresslevel=9) as gz:
        gz.write(data)
    return out.getvalue()


def write_oci(
    kernel: Path,
    layout: Path,
    *,
    name: str,
    tag: str,
    config: UruncConfig,
    cmd: list[str],
    ports: list[int],
    archive: Path | None = None,
) -> OciImage:
    """Write the OCI image layout `layout` and the archive (default: `layout` + ".tar") for
    `kernel`, tagged `tag` (index.json's ref.name) and `name:tag` (the archive's name for
    `docker load`, `podman load` and containerd's import).

    The root file system holds the kernel at `config.binary` and `/urunc.json`; the manifest
    carries the same keys as annotations, the config as labels. `cmd` becomes the config's Cmd:
    containerd refuses a container without one, and under the unikraft form urunc passes it as
    the program's name and arguments. `ports` are the guest ports (ExposedPorts)."""
    check_reference(name, tag)
    if layout.exists() and not layout.is_dir():
        raise OciError(f"{layout} exists and is not a folder")
    if layout.is_dir() and any(layout.iterdir()) and not (layout / "oci-layout").exists():
        raise OciError(f"{layout} is not empty and not an OCI image layout: not overwriting it")
    kernel_bytes = kernel.read_bytes()
    keys = config.keys()
    layer_raw = layer_tar(
        {
            config.binary.lstrip("/"): (kernel_bytes, 0o644),
            URUNC_JSON: (_json(keys) + b"\n", 0o644),
        }
    )
    layer = Blob(MEDIA_LAYER, gzip_stable(layer_raw))
    diff_id = "sha256:" + hashlib.sha256(layer_raw).hexdigest()
    image_config: dict[str, object] = {
        "Cmd": cmd,
        "Labels": keys,
        "WorkingDir": "/",
    }
    if ports:
        image_config["ExposedPorts"] = {f"{p}/tcp": {} for p in sorted(set(ports))}
    cfg = Blob(
        MEDIA_CONFIG,
        _json(
            {
                "architecture": "amd64",
                "os": "linux",
                "config": image_config,
                "rootfs": {"type": "layers", "diff_ids": [diff_id]},
                "history": [
                    {"created_by": f"wasmkiln oci ({config.unikernel_type}, {config.hypervisor})"}
                ],
            }
        ),
    )
    manifest = Blob(
        MEDIA_MANIFEST,
        _json(
            {
                "schemaVersion": 2,
                "mediaType": MEDIA_MANIFEST,
                "config": cfg.descriptor(),
                "layers": [layer.descriptor()],
                "annotations": keys,
            }
        ),
    )
    index = _json(
        {
            "schemaVersion": 2,
            "mediaType": MEDIA_INDEX,
            "manifests": [
                manifest.descriptor(
                    platform={"architecture": "amd64", "os": "linux"},
                    annotations={
                        "org.opencontainers.image.ref.name": tag,
                        "io.containerd.image.name": f"{containerd_name(name)}:{tag}",
                    },
                )
            ],
        }
    )
    oci_layout = _json({"imageLayoutVersion": "1.0.0"})
    docker_manifest = _json(
        [{"Config": cfg.path, "RepoTags": [f"{name}:{tag}"], "Layers": [layer.path]}]
    )
    blobs = (layer, cfg, manifest)

    # The layout folder: written fresh (an earlier layout there is replaced whole).
    import shutil

    for stale in ("blobs", "index.json", "oci-layout"):
        p = layout / stale
        if p.is_dir():
            shutil.rmtree(p)
        elif p.exists():
            p.unlink()
    (layout / "blobs" / "sha256").mkdir(parents=True, exist_ok=True)
    for b in blobs:
        (layout / b.path).write_bytes(b.data)
    (layout / "index.json").write_bytes(index)
    (layout / "oci-layout").write_bytes(oci_layout)

    # The archive: the same layout plus docker-archive's manifest.json, which `docker load`
    # before version 25 (and `podman load` as a docker-archive) read.
    archive = archive or layout.with_name(layout.name + ".tar")
    members = {"oci-layout": (oci_layout, 0o644), "index.json": (index, 0o644)}
    members["manifest.json"] = (docker_manifest, 0o644)
    for b in blobs:
        members[b.path] = (b.data, 0o644)
    archive.write_bytes(layer_tar(members))
    return OciImage(
        layout=layout,
        archive=archive,
        reference=f"{name}:{tag}",
        manifest_digest=manifest.digest,
        layer_size=len(layer.data),
        layer_uncompressed=len(layer_raw),
        kernel_size=len(kernel_bytes),
        image_size=sum(len(b.data) for b in blobs),
    )


# ---- the command ----------------------------------------------------------------------------
def cmd_oci(args: argparse.Namespace) -> int:
    """`wasmkiln oci MODULE|IMAGE -o DIR`: build MODULE as `wasmkiln build` would (its options,
    args, env, folders and ports baked in) or take a built x86_64-kvm IMAGE, and write it as an
    OCI image for urunc."""
    import tempfile

    from ..cli import main as cli
    from .buildplan import BuildPlan
    from .imageinfo import read_image_info
    from .profiles import resolve_profile
    from .targets import DEFAULT_TARGET, get_target

    target = get_target(args.target or DEFAULT_TARGET)
    if target.triple != "x86_64-kvm":
        raise cli.UsageError(
            f"oci packs x86_64-kvm images (what urunc boots under QEMU or Firecracker), "
            f"not {target.triple}"
        )
    options = OciOptions.of(args.hypervisor, args.unikernel_type, args.tag)
    if args.module.exists() and not cli._is_wasm(args.module):
        info = read_image_info(args.module)
        if info is None:
            raise cli.UsageError(f"{args.module} is neither a Wasm module nor a wasmkiln image")
        if info.get("target") != "x86_64-kvm":
            raise cli.UsageError(
                f"{args.module} was built for {info.get('target')}; oci packs x86_64-kvm images"
            )
        baked = [f"--{k}" for k in ("dir", "arg", "env", "publish", "listen") if getattr(args, k)]
        if baked:
            raise cli.UsageError(
                f"{baked[0]} is baked in at build time: give the module, or build "
                f"{args.module} with it"
            )
        name = str(info.get("module", args.module.stem))
        publish, listen = list(info.get("publish", ())), list(info.get("listen", ()))
        return _write(args, args.module, name, options, publish, listen, cli._say)
    wasm = cli._read_wasm(args.module)
    name = args.module.stem
    for e in args.env:
        if "=" not in e:
            raise cli.UsageError(f"--env takes KEY=VALUE, got {e!r}")
    net = cli._net_defaults(args.publish, args.listen)
    plan = BuildPlan.resolve(
        target,
        resolve_profile(args.profile),
        backend=args.backend,
        unknown_imports=cli._unknown_imports(args),
        debug=args.debug,
        cpu=args.target_cpu,
        dirs=cli._dirs(args),
        args=args.arg,
        env=args.env,
        net=net,
    )
    with tempfile.TemporaryDirectory(prefix="wasmkiln-oci-") as tmp:
        kernel = Path(tmp) / f"{name}.img"
        plan.build(wasm, kernel, name)
        return _write(args, kernel, name, options, args.publish, args.listen, cli._say)


def pack_image(
    kernel: Path,
    name: str,
    options: OciOptions,
    layout: Path,
    *,
    publish: Sequence[str] = (),
    listen: Sequence[str] = (),
    archive: Path | None = None,
) -> OciImage:
    """Write the x86_64-kvm image `kernel` of module `name` (its recorded ports `publish`,
    `listen`) as an OCI image for urunc: `wasmkiln oci` and a manifest's `oci` key."""
    from ..run.netopts import NetOptions
    from .buildplan import _installed_version

    net = NetOptions.parse(list(publish), list(listen), None, None)
    repo, tag = split_tag(options.tag, repo_name(name))
    config = UruncConfig(
        options.unikernel_type,
        options.hypervisor,
        f"/{KERNEL_DIR}/{name}.img",
        name,
        _installed_version(),
    )
    return write_oci(
        kernel,
        layout,
        name=repo,
        tag=tag,
        config=config,
        cmd=[name],
        ports=net.listen_ports() + net.publish_ports(),
        archive=archive,
    )


def describe(image: OciImage, options: OciOptions) -> str:
    """One line about a written image, for the CLI and the manifest build's log."""
    return (
        f"wrote {image.layout} (OCI layout) and {image.archive} ({image.reference}): "
        f"{options.unikernel_type} on {options.hypervisor}, manifest {image.manifest_digest}, "
        f"layer {image.layer_size} bytes gzip ({image.layer_uncompressed} tar, kernel "
        f"{image.kernel_size})"
    )


def _write(
    args: argparse.Namespace,
    kernel: Path,
    name: str,
    options: OciOptions,
    publish: Sequence[str],
    listen: Sequence[str],
    say: Callable[[str], None],
) -> int:
    image = pack_image(
        kernel, name, options, args.output, publish=publish, listen=listen, archive=args.archive
    )
    say(describe(image, options))
    return 0
