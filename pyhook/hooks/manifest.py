"""The project manifest: which images a project builds, from what, and how they run.

A manifest is `wasmkiln.toml`, or the `[tool.wasmkiln]` table of a `pyproject.toml` (the same
keys either way; docs/build-hooks.md is the reference):

    [[image]]
    name = "hello"
    wasm = "build/hello.wasm"              # the module (relative to the manifest's folder)
    command = "clang-14 --target=wasm32-wasi -O2 src/hello.c -o {wasm}"   # optional: builds it
    inputs = ["src/*.c"]                   # optional: what the command reads (skip if unchanged)
    args = ["alice"]                       # default guest arguments (packaged entry points)
    env = { GREETING = "hi" }
    targets = ["x86_64-kvm"]
    dirs = ["site::/"]                     # packed into the image, preopened as /
    listen = [8080]                        # ports `wasmkiln run IMAGE` publishes by default
    script = "app-serve"                   # console entry point in a wheel (build_meta)
    invoke = "run"                         # a reactor's export to run instead of _start

    [profile.small]
    inherits = "release"

Mistakes are reported with the file and line, because a manifest is edited by hand: tomllib
gives the position of syntax errors, and for unknown keys or wrong types this module finds the
line itself (tomllib keeps no positions), so `wasmkiln.toml:7: unknown key 'nmae' in [[image]]
(did you mean 'name'?)` points where the typo is.
"""

from __future__ import annotations

import difflib
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from ..image.imageinfo import NetDefaults
from ..image.oci import OciError, OciOptions
from ..image.pack import DirMapping, PackError
from ..image.profiles import (
    BUILTIN_PROFILES,
    DEFAULT_PROFILE,
    Profile,
    ProfileError,
    resolve_profile,
)
from ..image.targets import DEFAULT_TARGET, TARGETS
from ..run.netopts import NetOptionError, NetOptions

__all__ = [
    "ImageSpec",
    "Manifest",
    "ManifestError",
    "find_manifest",
    "load_manifest",
]

MANIFEST_NAME = "wasmkiln.toml"
PYPROJECT = "pyproject.toml"

TOP_KEYS = {"image", "profile", "build-backend", "images-package", "wheel-profile", "target-dir"}
IMAGE_KEYS = {
    "name",
    "wasm",
    "command",
    "inputs",
    "args",
    "env",
    "targets",
    "dirs",
    "listen",
    "publish",
    "script",
    "invoke",
    "oci",
}
PROFILE_KEYS = {
    "inherits",
    "backend",
    "opt-level",
    "trap-unknown-imports",
    "debug",
    "target-cpu",
    "pipeline",
}
BUILD_BACKENDS = ("setuptools", "hatchling")
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
_SCRIPT_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
_PACKAGE_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class ManifestError(Exception):
    """A manifest that cannot be used; the message starts with `file:line:` when the line is
    known, like a compiler's, so editors and people can jump to it."""


@dataclass(frozen=True)
class ImageSpec:
    """One declared image."""

    name: str
    wasm: Path  # absolute
    command: str | list[str] | None = None
    inputs: tuple[str, ...] = ()  # glob patterns relative to the manifest's folder
    args: tuple[str, ...] = ()
    env: tuple[tuple[str, str], ...] = ()
    targets: tuple[str, ...] = (DEFAULT_TARGET,)
    dirs: tuple[str, ...] = ()  # "HOST[::GUEST]", HOST relative to the manifest's folder
    listen: tuple[str, ...] = ()  # "ADDR:PORT" (a bare port P is stored as "0.0.0.0:P")
    publish: tuple[str, ...] = ()  # "[HOSTADDR:]HOSTPORT:GUESTPORT"
    script: str | None = None
    invoke: str | None = None  # a reactor's export, run instead of _start (bridge/invoke.py)
    oci: OciOptions | None = None  # also write the x86_64-kvm image as an OCI image (urunc)
    line: int | None = None  # where the [[image]] starts, for messages

    def dir_mappings(self, root: Path) -> list[DirMapping]:
        """The folders packed into the image, their hosts made absolute from `root`."""
        out = []
        for spec in self.dirs:
            m = DirMapping.parse(spec)
            out.append(DirMapping(root / m.host, m.guest))
        return out

    @property
    def net(self) -> NetDefaults:
        return NetDefaults(self.publish, self.listen)


@dataclass
class Manifest:
    path: Path
    root: Path  # the manifest's folder: relative paths and commands start here
    images: list[ImageSpec] = field(default_factory=list)
    profiles: dict[str, dict[str, object]] = field(default_factory=dict)
    build_backend: str = "setuptools"
    images_package: str | None = None
    wheel_profile: str = "release"
    target_dir: Path = Path("target")  # absolute after loading

    def profile(self, name: str = DEFAULT_PROFILE) -> Profile:
        return resolve_profile(name, self.profiles)

    def image(self, name: str) -> ImageSpec:
        for spec in self.images:
            if spec.name == name:
                return spec
        known = ", ".join(s.name for s in self.images) or "none"
        raise ManifestError(f"{self.path}: no image named {name!r} (declared: {known})")


# ---- finding lines -------------------------------------------------------------------------
_HEADER_RE = re.compile(r"^\s*(\[\[?)\s*([^\]]+?)\s*\]\]?\s*(#.*)?$")
_KEY_PART_RE = re.compile(r'"([^"]*)"|\'([^\']*)\'|([^.\s]+)')


def _split_key(text: str) -> tuple[str, ...]:
    return tuple(a or b or c for a, b, c in _KEY_PART_RE.findall(text))


class _Lines:
    """Find the line of a key in TOML text, which tomllib does not report.

    Table headers are read line by line; a key is looked for in the body of its table (the
    `index`-th `[[...]]` for arrays of tables), then as a sub-table header, then anywhere. It
    can miss in exotic layouts (inline tables spread over lines); then the message has no line.
    """

    def __init__(self, text: str, prefix: tuple[str, ...]) -> None:
        self.lines = text.splitlines()
        self.prefix = prefix
        self.headers: list[tuple[int, tuple[str, ...], bool]] = []  # (line index, name, array)
        for i, line in enumerate(self.lines):
            m = _HEADER_RE.match(line)
            if m and not line.lstrip().startswith("#"):
                self.headers.append((i, _split_key(m.group(2)), m.group(1) == "[["))

    def _body(self, table: tuple[str, ...], index: int | None) -> range | None:
        full = self.prefix + table
        if not full:
            end = self.headers[0][0] if self.headers else len(self.lines)
            return range(0, end)
        matches = [k for k, (_, name, _) in enumerate(self.headers) if name == full]
        if index is not None:
            matches = [k for k in matches if self.headers[k][2]]
            if index >= len(matches):
                return None
            matches = [matches[index]]
        if not matches:
            return None
        k = matches[0]
        start = self.headers[k][0] + 1
        end = self.headers[k + 1][0] if k + 1 < len(self.headers) else len(self.lines)
        return range(start, end)

    def table(self, table: tuple[str, ...], index: int | None = None) -> int | None:
        body = self._body(table, index)
        return body.start if body is not None and body.start > 0 else None

    def key(self, table: tuple[str, ...], key: str, index: int | None = None) -> int | None:
        k = re.escape(key)
        pattern = re.compile(rf"""^\s*(?:{k}|"{k}"|'{k}')\s*[=.]""")
        body = self._body(table, index)
        if body is not None:
            for i in body:
                if pattern.match(self.lines[i]):
                    return i + 1
        full = self.prefix + table + (key,)
        for i, name, _ in self.headers:
            if name[: len(full)] == full:
                return i + 1
        anywhere = re.compile(rf"""(?:^|[\s{{,]){re.escape(key)}\s*=""")
        for i, line in enumerate(self.lines):
            if anywhere.search(line):
                return i + 1
        return None


# ---- loading -------------------------------------------------------------------------------
class _Checker:
    """Type checks with file:line messages."""

    def __init__(self, path: Path, lines: _Lines) -> None:
        self.path = path
        self.lines = lines

    def fail(self, msg: str, line: int | None) -> ManifestError:
        where = f"{self.path}:{line}" if line else str(self.path)
        return ManifestError(f"{where}: {msg}")

    def unknown(
        self,
        data: dict,
        allowed: set[str],
        table: tuple[str, ...],
        shown: str,
        index: int | None = None,
    ) -> None:
        for key in data:
            if key in allowed:
                continue
            hint = difflib.get_close_matches(key, sorted(allowed), n=1)
            did = (
                f" (did you mean {hint[0]!r}?)"
                if hint
                else f" (known: {', '.join(sorted(allowed))})"
            )
            raise self.fail(
                f"unknown key {key!r} in {shown}{did}", self.lines.key(table, key, index)
            )

    def string(self, value: object, what: str, line: int | None) -> str:
        if not isinstance(value, str) or not value:
            raise self.fail(f"{what} must be a non-empty string", line)
        return value

    def strings(self, value: object, what: str, line: int | None) -> tuple[str, ...]:
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise self.fail(f"{what} must be a list of strings", line)
        return tuple(value)


def _image(
    c: _Checker, raw: object, index: int, root: Path, seen: set[str], scripts: set[str]
) -> ImageSpec:
    table = ("image",)
    shown = f"[[image]] #{index + 1}"
    if not isinstance(raw, dict):
        raise c.fail(f"{shown} must be a table", c.lines.key((), "image"))
    c.unknown(raw, IMAGE_KEYS, table, shown, index)

    def line(key: str) -> int | None:
        return c.lines.key(table, key, index)

    start = c.lines.table(table, index)
    if "name" not in raw:
        raise c.fail(f'{shown} has no name (name = "...")', start)
    name = c.string(raw["name"], "name", line("name"))
    if not _NAME_RE.match(name):
        raise c.fail(
            f"image name {name!r} may hold letters, digits, '-', '_' and '.' only", line("name")
        )
    if name in seen:
        raise c.fail(f"two images are named {name!r}", line("name"))
    seen.add(name)
    shown = f"image {name!r}"
    if "wasm" not in raw:
        raise c.fail(
            f'{shown} says no wasm = "path/to/module.wasm" (the module, or what its '
            "command produces)",
            start,
        )
    wasm = root / c.string(raw["wasm"], "wasm", line("wasm"))
    command: str | list[str] | None = None
    if "command" in raw:
        value = raw["command"]
        if isinstance(value, str) and value.strip():
            command = value
        elif isinstance(value, list) and value and all(isinstance(v, str) for v in value):
            command = list(value)
        else:
            raise c.fail(
                "command must be a shell command (a string) or an argv list of strings",
                line("command"),
            )
    inputs = c.strings(raw.get("inputs", []), "inputs", line("inputs"))
    if inputs and command is None:
        raise c.fail(
            "inputs only mean something with a command (they say when to rerun it)", line("inputs")
        )
    env_raw = raw.get("env", {})
    if not isinstance(env_raw, dict) or not all(isinstance(v, str) for v in env_raw.values()):
        raise c.fail('env must be a table of strings, e.g. env = { GREETING = "hi" }', line("env"))
    targets = c.strings(raw.get("targets", [DEFAULT_TARGET]), "targets", line("targets"))
    if not targets:
        raise c.fail("targets must name at least one target", line("targets"))
    for t in targets:
        if t not in TARGETS:
            hint = difflib.get_close_matches(t, list(TARGETS), n=1)
            did = f" (did you mean {hint[0]!r}?)" if hint else ""
            raise c.fail(
                f"unknown target {t!r}{did}; known targets: {', '.join(TARGETS)}", line("targets")
            )
    listen_raw = raw.get("listen", [])
    if not isinstance(listen_raw, list) or not all(
        isinstance(p, (int, str)) and not isinstance(p, bool) for p in listen_raw
    ):
        raise c.fail('listen must be a list of ports or "ADDR:PORT" strings', line("listen"))
    listen = tuple(f"0.0.0.0:{p}" if isinstance(p, int) else p for p in listen_raw)
    publish = c.strings(raw.get("publish", []), "publish", line("publish"))
    try:  # the run's own check, now: a typo fails the manifest, not a later run
        NetOptions.parse(list(publish), list(listen), None, None)
    except NetOptionError as e:
        raise c.fail(str(e), line("listen" if "listen" in raw else "publish")) from None
    dirs = c.strings(raw.get("dirs", []), "dirs", line("dirs"))
    for d in dirs:
        try:
            DirMapping.parse(d)
        except PackError as e:
            raise c.fail(str(e).replace("--dir", "dirs entry"), line("dirs")) from None
    script = None
    if "script" in raw:
        script = c.string(raw["script"], "script", line("script"))
        if not _SCRIPT_RE.match(script):
            raise c.fail(f"script {script!r} is not a valid command name", line("script"))
        if script in scripts:
            raise c.fail(f"two images declare script {script!r}", line("script"))
        scripts.add(script)
    oci = None
    if "oci" in raw:
        try:
            oci = OciOptions.from_manifest(raw["oci"])
        except OciError as e:
            raise c.fail(str(e), line("oci")) from None
        if "x86_64-kvm" not in targets:
            raise c.fail("oci packs the image's x86_64-kvm build: add it to targets", line("oci"))
    return ImageSpec(
        name=name,
        wasm=wasm,
        command=command,
        inputs=inputs,
        args=c.strings(raw.get("args", []), "args", line("args")),
        env=tuple((str(k), v) for k, v in env_raw.items()),
        targets=targets,
        dirs=dirs,
        listen=listen,
        publish=publish,
        script=script,
        invoke=c.string(raw["invoke"], "invoke", line("invoke")) if "invoke" in raw else None,
        oci=oci,
        line=start,
    )


def _profiles(c: _Checker, raw: object) -> dict[str, dict[str, object]]:
    if not isinstance(raw, dict):
        raise c.fail(
            "profile must be a table of profiles ([profile.NAME])", c.lines.key((), "profile")
        )
    out: dict[str, dict[str, object]] = {}
    for name, table in raw.items():
        where = ("profile", name)
        if not isinstance(table, dict):
            raise c.fail(f"[profile.{name}] must be a table", c.lines.key(("profile",), name))
        c.unknown(table, PROFILE_KEYS, where, f"[profile.{name}]")
        out[name] = dict(table)
    # Resolve each one now, so a bad profile is reported at load time with its line.
    for name in out:
        try:
            resolve_profile(name, out)
        except ProfileError as e:  # add the position
            raise c.fail(str(e), c.lines.table(("profile", name))) from None
    return out


def _parse(path: Path, text: str, data: dict, prefix: tuple[str, ...]) -> Manifest:
    lines = _Lines(text, prefix)
    c = _Checker(path, lines)
    shown = "[tool.wasmkiln]" if prefix else "the manifest"
    c.unknown(data, TOP_KEYS, (), shown)
    root = path.parent.resolve()
    m = Manifest(path=path, root=root)
    images = data.get("image", [])
    if not isinstance(images, list):
        raise c.fail(
            "image must be an array of tables: write [[image]], not [image]", lines.key((), "image")
        )
    seen: set[str] = set()
    scripts: set[str] = set()
    m.images = [_image(c, raw, i, root, seen, scripts) for i, raw in enumerate(images)]
    if "profile" in data:
        m.profiles = _profiles(c, data["profile"])
    if "build-backend" in data:
        backend = data["build-backend"]
        if backend not in BUILD_BACKENDS:
            raise c.fail(
                f"build-backend must be one of {', '.join(BUILD_BACKENDS)}, not {backend!r}",
                lines.key((), "build-backend"),
            )
        m.build_backend = backend
    if "images-package" in data:
        pkg = c.string(data["images-package"], "images-package", lines.key((), "images-package"))
        if not _PACKAGE_RE.match(pkg):
            raise c.fail(
                f"images-package {pkg!r} is not a Python package name",
                lines.key((), "images-package"),
            )
        m.images_package = pkg
    if "wheel-profile" in data:
        line = lines.key((), "wheel-profile")
        m.wheel_profile = c.string(data["wheel-profile"], "wheel-profile", line)
        if m.wheel_profile not in m.profiles and m.wheel_profile not in BUILTIN_PROFILES:
            raise c.fail(f"wheel-profile {m.wheel_profile!r} is not a profile", line)
    target_dir = c.string(
        data.get("target-dir", "target"), "target-dir", lines.key((), "target-dir")
    )
    m.target_dir = root / target_dir
    return m


def load_manifest(path: Path) -> Manifest:
    """Read and check a manifest (`wasmkiln.toml` or a `pyproject.toml`).

    Raises:
        ManifestError: unreadable, invalid TOML, unknown keys, wrong types, unknown targets
            or profiles; the message carries `path:line` where the line is known.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise ManifestError(f"cannot read {path}: {e.strerror}") from None
    except UnicodeDecodeError:
        raise ManifestError(f"{path}: not UTF-8 text") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        msg = str(e)
        m = re.search(r"\(at line (\d+), column (\d+)\)$", msg)
        if m:
            msg = msg[: m.start()].rstrip()
            raise ManifestError(f"{path}:{m.group(1)}:{m.group(2)}: invalid TOML: {msg}") from None
        raise ManifestError(f"{path}: invalid TOML: {msg}") from None
    if path.name == MANIFEST_NAME:
        return _parse(path, text, data, ())
    tool = data.get("tool", {}).get("wasmkiln") if isinstance(data.get("tool"), dict) else None
    if not isinstance(tool, dict):
        raise ManifestError(f"{path} has no [tool.wasmkiln] table")
    return _parse(path, text, tool, ("tool", "wasmkiln"))


def _declares_wasmkiln(pyproject: Path) -> bool:
    try:
        text = pyproject.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return False
    # A cheap test first: most pyproject.toml files are not ours and need no parse.
    return re.search(r"^\s*\[+\s*tool\.wasmkiln\b", text, re.MULTILINE) is not None


def find_manifest(start: Path) -> Path | None:
    """The manifest for `start` (a folder): `wasmkiln.toml`, else a `pyproject.toml` with
    `[tool.wasmkiln]`, in `start` or the nearest parent that has one, as cargo looks for
    Cargo.toml; None if there is none."""
    here = start.resolve()
    for folder in (here, *here.parents):
        candidate = folder / MANIFEST_NAME
        if candidate.is_file():
            return candidate
        candidate = folder / PYPROJECT
        if candidate.is_file() and _declares_wasmkiln(candidate):
            return candidate
    return None
