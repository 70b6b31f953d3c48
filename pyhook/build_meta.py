"""PEP 517 build backend `wasmkiln.pyhook.build_meta`: a Python wheel that carries images.

An application project says, in its pyproject.toml:

    [build-system]
    requires = ["wasmkiln", "setuptools>=61"]
    build-backend = "wasmkiln.pyhook.build_meta"

and declares images in `[tool.wasmkiln]` (or a wasmkiln.toml next to it; manifest.py). Every
hook is the standard backend's (setuptools, or hatchling with `build-backend = "hatchling"` in
the manifest); building a wheel then also

1. builds the declared images (manifest_build.build_manifest, profile `wheel-profile`, default
   release; `-C wasmkiln-profile=dev` overrides), reusing `target/` when nothing changed;
2. adds them to the finished wheel in a generated package (`images-package`, default
   `<distribution>_images`) with an `images.json` index and an `__init__.py` whose `run(name,
   args)` boots them through wasmkiln's runner (launch.py);
3. adds a console entry point for every image with `script = "NAME"`;
4. retags the wheel `py3-none-linux_x86_64` when it holds an x86_64-spt image (a Linux
   process); kvm images run under QEMU on any host, so a wheel with only those stays `any`.

Post-processing the wheel, instead of configuring each backend to include the files, works the
same for every backend and cannot be undone by the project's own packaging settings.
`prepare_metadata_for_build_wheel` is deliberately not defined: pip then takes the metadata
from the finished wheel, so it includes the added entry points (pyproject_hooks keeps that
wheel and does not build it twice).

Failures end as one `wasmkiln: error: ...` line and exit status 1 instead of a traceback from
inside pip's build subprocess.
"""

from __future__ import annotations

import base64
import hashlib
import importlib
import json
import os
import re
import sys
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from email.parser import HeaderParser
from pathlib import Path
from types import ModuleType
from typing import Any

from .hooks.manifest import MANIFEST_NAME as WASMKILN_TOML
from .hooks.manifest import PYPROJECT, Manifest, load_manifest

__all__ = [
    "build_editable",
    "build_sdist",
    "build_wheel",
    "get_requires_for_build_editable",
    "get_requires_for_build_sdist",
    "get_requires_for_build_wheel",
]

_BACKENDS = {
    # manifest name -> (PEP 517 module, requirement to install when it is missing)
    "setuptools": ("setuptools.build_meta", "setuptools>=61"),
    "hatchling": ("hatchling.build", "hatchling"),
}
PROFILE_SETTING = "wasmkiln-profile"
"""`pip wheel . -C wasmkiln-profile=dev`: build the images with another profile."""

ConfigSettings = dict[str, Any] | None


class _Failure(Exception):
    pass


@contextmanager
def _clean_errors() -> Iterator[None]:
    """Turn every user-level failure into one line on stderr and exit status 1."""
    from wasmkiln.bridge.errors import WasmError

    from .hooks.manifest import ManifestError
    from .hooks.manifest_build import BuildError
    from .image.image import ImageError
    from .image.profiles import ProfileError
    from .image.runtime import RuntimeNotFound
    from .image.targets import TargetError

    try:
        yield
    except (
        _Failure,
        ManifestError,
        BuildError,
        ProfileError,
        TargetError,
        WasmError,
        ImageError,
        RuntimeNotFound,
    ) as e:
        print(f"wasmkiln: error: {e}", file=sys.stderr, flush=True)
        raise SystemExit(1) from None


def _manifest() -> Manifest:
    here = Path.cwd()
    if (here / WASMKILN_TOML).is_file():
        return load_manifest(here / WASMKILN_TOML)
    return load_manifest(here / PYPROJECT)


def _backend_choice() -> str:
    """The standard backend's name, read cheaply (get_requires runs before anything else)."""
    try:
        return _manifest().build_backend
    except Exception:  # reported properly by build_wheel; requirements must not fail here
        return "setuptools"


def _inner() -> ModuleType:
    module, requirement = _BACKENDS[_backend_choice()]
    try:
        return importlib.import_module(module)
    except ImportError:
        raise _Failure(
            f"the build backend {module} is not installed: add {requirement!r} to "
            "[build-system] requires"
        ) from None


def _strip(config_settings: ConfigSettings) -> ConfigSettings:
    if not config_settings:
        return config_settings
    return {k: v for k, v in config_settings.items() if k != PROFILE_SETTING}


def _requires(hook: str, config_settings: ConfigSettings) -> list[str]:
    module, requirement = _BACKENDS[_backend_choice()]
    try:
        backend = importlib.import_module(module)
    except ImportError:
        return [requirement]  # the frontend installs it, then calls the build hook
    get = getattr(backend, hook, None)
    return list(get(_strip(config_settings))) if get else []


# ---- the wheel -----------------------------------------------------------------------------
def _record_hash(data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"sha256={digest}"


def _zip_time() -> tuple[int, int, int, int, int, int]:
    import time

    epoch = int(os.environ.get("SOURCE_DATE_EPOCH", "315532800"))  # 1980-01-01: zip's minimum
    return time.gmtime(max(epoch, 315532800))[:6]


def _normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "_", name).lower()


def _init_py(dist: str, package: str, scripts: dict[str, str]) -> str:
    lines = [
        f'"""Images built by wasmkiln for {dist}.',
        "",
        "Generated by wasmkiln.pyhook.build_meta: DO NOT EDIT (rebuild the wheel instead).",
        f"`run(name, args)` boots one (see images.json); `{package}.launcher` has the rest.",
        '"""',
        "",
        "from wasmkiln.pyhook.run.launch import Launcher",
        "",
        "launcher = Launcher(__name__)",
        "run = launcher.run",
        "",
    ]
    for func, image in scripts.items():
        lines += ["", f"def {func}() -> int:", f"    return launcher.main({image!r})", ""]
    return "\n".join(lines)


def _add_entry_points(text: str, scripts: dict[str, str]) -> str:
    """Merge console scripts into an entry_points.txt (an INI file, kept as text)."""
    new = [f"{script} = {target}" for script, target in scripts.items()]
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if line.strip() == "[console_scripts]":
            lines[i + 1 : i + 1] = new
            return "\n".join(lines) + "\n"
    if lines and lines[-1].strip():
        lines.append("")
    return "\n".join([*lines, "[console_scripts]", *new]) + "\n"


def _retag(wheel_text: str, filename: str) -> tuple[str, str]:
    """Make a pure wheel platform-specific (linux_x86_64); other wheels keep their tags."""
    tags = [
        line.split(":", 1)[1].strip() for line in wheel_text.splitlines() if line.startswith("Tag:")
    ]
    if not tags or not all(t.endswith("-none-any") for t in tags):
        return wheel_text, filename
    pythons = sorted({t.split("-")[0] for t in tags})
    new_tags = [f"{p}-none-linux_x86_64" for p in pythons]
    kept = [
        line for line in wheel_text.splitlines() if line.strip() and not line.startswith("Tag:")
    ]
    kept = [
        "Root-Is-Purelib: false" if line.startswith("Root-Is-Purelib:") else line for line in kept
    ]
    text = "\n".join(kept + [f"Tag: {t}" for t in new_tags]) + "\n"
    stem = filename[: -len(".whl")]
    parts = stem.split("-")
    return text, "-".join([*parts[:-3], ".".join(pythons), "none", "linux_x86_64"]) + ".whl"


def _pack_images(wheel: Path, manifest: Manifest, profile: str, log: Callable[[str], None]) -> Path:
    from .hooks.manifest_build import build_manifest

    with zipfile.ZipFile(wheel) as zin:
        names = zin.namelist()
        dist_info = next(
            n.split("/")[0]
            for n in names
            if n.count("/") == 1 and n.endswith(".dist-info/METADATA")
        )
        metadata = HeaderParser().parsestr(zin.read(f"{dist_info}/METADATA").decode())
    dist = metadata["Name"]
    requires = [
        _normalize(re.split(r"[\s;<>=!~\[(]", r, maxsplit=1)[0])
        for r in metadata.get_all("Requires-Dist") or []
    ]
    if "wasmkiln" not in requires:
        raise _Failure(
            f"{dist} ships wasmkiln images, which run through wasmkiln: add "
            f'"wasmkiln" to [project] dependencies in {PYPROJECT}'
        )
    package = manifest.images_package or f"{_normalize(dist)}_images"
    if any(n.startswith(f"{package}/") for n in names):
        raise _Failure(
            f"the wheel already has a package {package!r}; choose another "
            "images-package in the manifest"
        )

    built = build_manifest(manifest, profile=profile, log=log)
    files: dict[str, bytes] = {}
    index: list[dict[str, object]] = []
    scripts: dict[str, str] = {}
    functions: dict[str, str] = {}
    linux_process = False
    for spec in manifest.images:
        mine = [b for b in built if b.name == spec.name]
        entry_files: dict[str, str] = {}
        for b in mine:
            fname = f"{spec.name}.{b.target}{b.path.suffix}"
            files[f"{package}/{fname}"] = b.path.read_bytes()
            entry_files[b.target] = fname
            linux_process |= b.target.endswith("-spt")
        index.append(
            {
                "name": spec.name,
                "files": entry_files,
                "args": list(spec.args),
                "env": [f"{k}={v}" for k, v in spec.env],
                "dirs": list(spec.dirs),
                "listen": list(spec.listen),
                "publish": list(spec.publish),
                "profile": profile,
            }
        )
        if spec.script:
            func = "main_" + re.sub(r"\W", "_", spec.name)
            functions[func] = spec.name
            scripts[spec.script] = f"{package}:{func}"
    files[f"{package}/images.json"] = (
        json.dumps({"version": 1, "images": index}, indent=1) + "\n"
    ).encode()
    files[f"{package}/__init__.py"] = _init_py(dist, package, functions).encode()

    out_name = wheel.name
    tmp = wheel.with_suffix(".wasmkiln-tmp")
    when = _zip_time()
    record: list[str] = []
    with zipfile.ZipFile(wheel) as zin, zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as zout:

        def put(name: str, data: bytes, mode: int = 0o644) -> None:
            info = zipfile.ZipInfo(name, when)
            info.external_attr = (mode | 0o100000) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            zout.writestr(info, data)
            record.append(f"{name},{_record_hash(data)},{len(data)}")

        for name, data in sorted(files.items()):
            mode = 0o755 if name.endswith(".spt") else 0o644
            put(name, data, mode)
        had_entry_points = False
        for item in zin.infolist():
            if item.filename == f"{dist_info}/RECORD":
                continue
            data = zin.read(item)
            if item.filename == f"{dist_info}/entry_points.txt" and scripts:
                data = _add_entry_points(data.decode(), scripts).encode()
                had_entry_points = True
            elif item.filename == f"{dist_info}/top_level.txt":
                data = data.rstrip(b"\n") + f"\n{package}\n".encode()
            elif item.filename == f"{dist_info}/WHEEL" and linux_process:
                text, out_name = _retag(data.decode(), wheel.name)
                data = text.encode()
            if item.filename.startswith(f"{dist_info}/"):
                put(item.filename, data, (item.external_attr >> 16) & 0o777 or 0o644)
            else:
                zout.writestr(item, data)
                record.append(f"{item.filename},{_record_hash(data)},{len(data)}")
        if scripts and not had_entry_points:
            put(f"{dist_info}/entry_points.txt", _add_entry_points("", scripts).encode())
        record.append(f"{dist_info}/RECORD,,")
        info = zipfile.ZipInfo(f"{dist_info}/RECORD", when)
        info.external_attr = 0o100644 << 16
        info.compress_type = zipfile.ZIP_DEFLATED
        zout.writestr(info, "\n".join(record) + "\n")
    wheel.unlink()
    final = wheel.with_name(out_name)
    tmp.replace(final)
    log(f"packed {len(built)} image(s) into {final.name} (package {package})")
    return final


def _build(
    kind: str, wheel_directory: str, config_settings: ConfigSettings, metadata_directory: str | None
) -> str:
    def log(msg: str) -> None:
        print(f"wasmkiln: {msg}", file=sys.stderr, flush=True)

    with _clean_errors():
        manifest = _manifest()
        profile = str((config_settings or {}).get(PROFILE_SETTING) or manifest.wheel_profile)
        manifest.profile(profile)  # an unknown profile fails before the backend runs
        hook = getattr(_inner(), kind)
        name = hook(wheel_directory, _strip(config_settings), metadata_directory)
        return _pack_images(Path(wheel_directory) / name, manifest, profile, log).name


# ---- PEP 517 / PEP 660 hooks ---------------------------------------------------------------
def get_requires_for_build_wheel(config_settings: ConfigSettings = None) -> list[str]:
    return _requires("get_requires_for_build_wheel", config_settings)


def get_requires_for_build_sdist(config_settings: ConfigSettings = None) -> list[str]:
    return _requires("get_requires_for_build_sdist", config_settings)


def get_requires_for_build_editable(config_settings: ConfigSettings = None) -> list[str]:
    return _requires("get_requires_for_build_editable", config_settings)


def build_wheel(
    wheel_directory: str,
    config_settings: ConfigSettings = None,
    metadata_directory: str | None = None,
) -> str:
    return _build("build_wheel", wheel_directory, config_settings, metadata_directory)


def build_editable(
    wheel_directory: str,
    config_settings: ConfigSettings = None,
    metadata_directory: str | None = None,
) -> str:
    """The editable wheel carries the images too (as built now: rebuild after changing the
    module, as after changing a C extension)."""
    return _build("build_editable", wheel_directory, config_settings, metadata_directory)


def build_sdist(sdist_directory: str, config_settings: ConfigSettings = None) -> str:
    """Delegated as is: the sdist must carry the sources the manifest builds from (for
    setuptools, list them in MANIFEST.in; hatchling includes the project's files)."""
    with _clean_errors():
        return _inner().build_sdist(sdist_directory, _strip(config_settings))
