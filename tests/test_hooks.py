"""Build hooks, the fast part: profiles, manifests (and their error lines), manifest builds that
skip unchanged work, the CMake package's files, and the wheel post-processing helpers.

The slow end-to-end runs (pip wheel of examples/pyproject-app in a fresh venv, CMake build of
examples/cmake-app) are in test_hooks_packaging.py.
"""

from __future__ import annotations

import importlib.metadata
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from wkcli import wasmkiln

from wasmkiln.pyhook import build_meta
from wasmkiln.pyhook.hooks.manifest import ManifestError, find_manifest, load_manifest
from wasmkiln.pyhook.image.imageinfo import read_image_info
from wasmkiln.pyhook.image.profiles import (
    BUILTIN_PROFILES,
    RELEASE_BACKEND,
    ProfileError,
    resolve_profile,
)

REPO = Path(__file__).resolve().parent.parent
HELLO_WAT = REPO / "pyhook" / "examples" / "hello.wat"


def _manifest(tmp_path: Path, text: str, name: str = "wasmkiln.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def _error(path: Path) -> str:
    with pytest.raises(ManifestError) as info:
        load_manifest(path)
    return str(info.value)


def _need(tool: str, package: str) -> None:
    if shutil.which(tool) is None:
        pytest.skip(f"{tool} (Debian: {package}) is not installed")


# ---- profiles ------------------------------------------------------------------------------
def test_builtin_profiles_and_the_release_mapping() -> None:
    assert resolve_profile("dev").backend == "cranelift"
    assert resolve_profile("release").backend == RELEASE_BACKEND
    assert resolve_profile("release").opt_level == 2
    assert set(BUILTIN_PROFILES) == {"dev", "release"}


def test_custom_profiles_inherit() -> None:
    custom = {
        "small": {"inherits": "fast", "opt-level": 1},
        "fast": {"inherits": "release", "trap-unknown-imports": True},
    }
    small = resolve_profile("small", custom)
    assert (small.name, small.opt_level, small.unknown_imports) == ("small", 1, "trap")
    with pytest.raises(ProfileError, match="loops"):
        resolve_profile("a", {"a": {"inherits": "b"}, "b": {"inherits": "a"}})
    with pytest.raises(ProfileError, match="inherits"):
        resolve_profile("x", {"x": {"opt-level": 1}})
    with pytest.raises(ProfileError, match="not available"):
        resolve_profile("x", {"x": {"inherits": "dev", "backend": "v8"}})
    with pytest.raises(ProfileError, match="unknown profile 'nope'"):
        resolve_profile("nope")


# ---- manifests -----------------------------------------------------------------------------
def test_manifest_reads_every_key(tmp_path: Path) -> None:
    m = load_manifest(
        _manifest(
            tmp_path,
            """
[[image]]
name = "web"
wasm = "out/web.wasm"
command = ["make", "{wasm}"]
inputs = ["src/*.c"]
args = ["-v"]
env = { MODE = "prod" }
targets = ["x86_64-kvm", "x86_64-spt"]
dirs = ["www::/"]
listen = [8080, "0.0.0.0:8443"]
script = "web-serve"
""",
        )
    )
    (spec,) = m.images
    assert spec.wasm == tmp_path.resolve() / "out/web.wasm"
    assert spec.command == ["make", "{wasm}"] and spec.env == (("MODE", "prod"),)
    assert spec.listen == ("0.0.0.0:8080", "0.0.0.0:8443") and spec.script == "web-serve"
    assert spec.dirs == ("www::/",) and spec.net.info() == {"listen": list(spec.listen)}
    (mapping,) = spec.dir_mappings(tmp_path)
    assert mapping.host == tmp_path / "www" and mapping.guest == "/"
    assert m.target_dir == tmp_path.resolve() / "target"


def test_typo_in_second_image_names_its_line(tmp_path: Path) -> None:
    path = _manifest(
        tmp_path,
        '[[image]]\nname = "a"\nwasm = "a.wasm"\n\n[[image]]\nwasm = "b.wasm"\nnmae = "b"\n',
    )
    assert _error(path) == (f"{path}:7: unknown key 'nmae' in [[image]] #2 (did you mean 'name'?)")


def test_typo_in_pyproject_tool_table_names_its_line(tmp_path: Path) -> None:
    path = _manifest(
        tmp_path,
        """[project]
name = "x"

[tool.wasmkiln]
wheel-profil = "dev"

[[tool.wasmkiln.image]]
name = "a"
wasm = "a.wasm"
""",
        "pyproject.toml",
    )
    msg = _error(path)
    assert msg.startswith(f"{path}:5: unknown key 'wheel-profil' in [tool.wasmkiln]"), msg
    assert "did you mean 'wheel-profile'" in msg


def test_typo_in_profile_and_unknown_target(tmp_path: Path) -> None:
    path = _manifest(
        tmp_path, '[[image]]\nname = "a"\nwasm = "a.wasm"\n[profile.fast]\ninherit = "release"\n'
    )
    assert f"{path}:5: unknown key 'inherit' in [profile.fast]" in _error(path)
    path = _manifest(tmp_path, '[[image]]\nname = "a"\nwasm = "a.wasm"\ntargets = ["x86_64-kmv"]\n')
    msg = _error(path)
    assert msg.startswith(f"{path}:4: unknown target 'x86_64-kmv'")
    assert "did you mean 'x86_64-kvm'" in msg


def test_toml_syntax_error_and_wrong_types_have_lines(tmp_path: Path) -> None:
    path = _manifest(tmp_path, '[[image]]\nname = "a"\nwasm = "a.wasm\n')
    assert re.match(rf"{re.escape(str(path))}:3:\d+: invalid TOML", _error(path))
    path = _manifest(tmp_path, '[[image]]\nname = "a"\nwasm = "a.wasm"\nargs = "-v"\n')
    assert _error(path) == f"{path}:4: args must be a list of strings"
    path = _manifest(tmp_path, '[image]\nname = "a"\n')
    assert "write [[image]], not [image]" in _error(path)


def test_find_manifest_walks_up_and_skips_foreign_pyprojects(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text("[tool.wasmkiln]\n")
    inner = tmp_path / "pkg" / "deep"
    inner.mkdir(parents=True)
    (tmp_path / "pkg" / "pyproject.toml").write_text('[project]\nname = "other"\n')
    assert find_manifest(inner) == (tmp_path / "pyproject.toml").resolve()
    (inner / "wasmkiln.toml").write_text("")
    assert find_manifest(inner) == (inner / "wasmkiln.toml").resolve()


# ---- wasmkiln build (no module) ------------------------------------------------------------
@pytest.fixture()
def wat_project(tmp_path: Path) -> Path:
    """A project whose module is built from WAT by its manifest command."""
    _need("wat2wasm", "wabt")
    shutil.copy(HELLO_WAT, tmp_path / "hello.wat")
    (tmp_path / "wasmkiln.toml").write_text("""
[[image]]
name = "hello"
command = ["wat2wasm", "hello.wat", "-o", "{wasm}"]
wasm = "target/wasm/hello.wasm"
inputs = ["*.wat"]
targets = ["x86_64-spt"]
listen = [8080]
""")
    return tmp_path


def test_manifest_build_skips_unchanged_work(wat_project: Path) -> None:
    first = wasmkiln("build", cwd=wat_project)
    assert first.returncode == 0, first.stderr
    assert "1 built, 0 fresh" in first.stderr
    image = wat_project / "target" / "x86_64-spt" / "dev" / "hello.spt"
    assert (read_image_info(image) or {}).get("listen") == ["0.0.0.0:8080"]  # for `wasmkiln run`
    run = subprocess.run([str(image)], capture_output=True, text=True, timeout=30)
    assert run.returncode == 0 and "hello" in run.stdout.lower(), run
    mtime = image.stat().st_mtime_ns

    again = wasmkiln("build", cwd=wat_project)
    assert "0 built, 1 fresh" in again.stderr and "running wat2wasm" not in again.stderr
    assert image.stat().st_mtime_ns == mtime

    other = wasmkiln("build", "--profile", "release", cwd=wat_project)
    assert "1 built" in other.stderr
    assert (wat_project / "target" / "x86_64-spt" / "release" / "hello.spt").is_file()

    wat = wat_project / "hello.wat"
    wat.write_text(wat.read_text() + ";; a comment changes the input, not the module\n")
    comment = wasmkiln("build", cwd=wat_project)
    assert "running wat2wasm" in comment.stderr and "0 built, 1 fresh" in comment.stderr
    wat.write_text(wat.read_text().replace('"hello, "', '"howdy, "'))
    changed = wasmkiln("build", cwd=wat_project)
    assert "running wat2wasm" in changed.stderr and "1 built, 0 fresh" in changed.stderr
    run = subprocess.run([str(image), "--", "kiln"], capture_output=True, text=True, timeout=30)
    assert "howdy, kiln!" in run.stdout, run
    stamp = wat_project / "target" / "x86_64-spt" / "dev" / ".fingerprint" / "hello.json"
    keys = set(json.loads(stamp.read_text()))
    assert {"wasm", "compiler", "runtime", "target", "profile"} <= keys


def test_manifest_build_errors_are_one_line(wat_project: Path) -> None:
    proc = wasmkiln("build", "--target", "mips-kvm", cwd=wat_project)
    assert proc.returncode != 0 and "unknown target 'mips-kvm'" in proc.stderr
    proc = wasmkiln("build", "--profile", "fastest", cwd=wat_project)
    assert proc.returncode == 2 and "unknown profile 'fastest'" in proc.stderr
    proc = wasmkiln("build", "--image", "nope", cwd=wat_project)
    assert "no image named 'nope' (declared: hello)" in proc.stderr
    assert "Traceback" not in proc.stderr
    proc = wasmkiln("build", cwd=Path("/"))  # no manifest in / (or above it)
    assert proc.returncode == 2 and "no wasmkiln.toml" in proc.stderr


def test_missing_wasm_toolchain_is_named(tmp_path: Path) -> None:
    (tmp_path / "wasmkiln.toml").write_text(
        '[[image]]\nname = "a"\nwasm = "a.wasm"\n'
        'command = ["clang-99-nonexistent", "--target=wasm32-wasi", "a.c", "-o", "{wasm}"]\n'
    )
    proc = wasmkiln("build", cwd=tmp_path)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert "needs 'clang-99-nonexistent', which is not installed" in proc.stderr
    assert "apt-get install clang-14 lld-14 wasi-libc" in proc.stderr
    (tmp_path / "wasmkiln.toml").write_text(  # the same through a shell command
        '[[image]]\nname = "a"\nwasm = "a.wasm"\ncommand = "wasi-clang a.c -o {wasm}"\n'
    )
    proc = wasmkiln("build", cwd=tmp_path)
    assert "needs 'wasi-clang', which is not installed" in proc.stderr


def test_unprovided_import_names_the_image(tmp_path: Path) -> None:
    _need("wat2wasm", "wabt")
    (tmp_path / "m.wat").write_text(
        '(module (import "env" "frobnicate" (func (param i32))) (func (export "_start")))'
    )
    subprocess.run(
        ["wat2wasm", str(tmp_path / "m.wat"), "-o", str(tmp_path / "m.wasm")], check=True
    )
    (tmp_path / "wasmkiln.toml").write_text('[[image]]\nname = "svc"\nwasm = "m.wasm"\n')
    proc = wasmkiln("build", cwd=tmp_path)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert "image 'svc' (m.wasm for x86_64-kvm)" in proc.stderr
    assert "env.frobnicate" in proc.stderr


# ---- CMake package files -------------------------------------------------------------------
def test_cmake_dir_holds_the_package() -> None:
    for argv in (["cmake-dir"], ["--cmake-dir"]):
        proc = wasmkiln(*argv)
        assert proc.returncode == 0, proc.stderr
        folder = Path(proc.stdout.strip())
        assert (folder / "wasmkilnConfig.cmake").is_file()
        assert (folder / "wasm32-wasi.cmake").is_file()


def test_cmake_package_version_is_the_python_version() -> None:
    text = (REPO / "pyhook" / "cmake" / "wasmkilnConfigVersion.cmake").read_text()
    version = re.search(r'set\(PACKAGE_VERSION "([^"]+)"\)', text)
    assert version is not None
    assert version.group(1) == importlib.metadata.version("wasmkiln"), (
        "pyhook/cmake/wasmkilnConfigVersion.cmake must carry pyproject.toml's version"
    )


# ---- build_meta helpers --------------------------------------------------------------------
def test_entry_points_merge() -> None:
    merged = build_meta._add_entry_points(
        "[console_scripts]\nold = a:b\n\n[gui_scripts]\n", {"app-serve": "x_images:main_x"}
    )
    assert merged.splitlines()[:3] == [
        "[console_scripts]",
        "app-serve = x_images:main_x",
        "old = a:b",
    ]
    assert build_meta._add_entry_points("", {"s": "m:f"}) == "[console_scripts]\ns = m:f\n"


def test_retag_only_pure_wheels() -> None:
    text, name = build_meta._retag(
        "Wheel-Version: 1.0\nRoot-Is-Purelib: true\nTag: py3-none-any\n", "app-1.0-py3-none-any.whl"
    )
    assert name == "app-1.0-py3-none-linux_x86_64.whl"
    assert "Tag: py3-none-linux_x86_64" in text and "Root-Is-Purelib: false" in text
    same = build_meta._retag("Tag: cp311-cp311-linux_x86_64\n", "a-1-cp311-cp311-linux_x86_64.whl")
    assert same[1] == "a-1-cp311-cp311-linux_x86_64.whl"
