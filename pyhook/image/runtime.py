"""Find the installed C runtime (the unikernel libraries, headers and linker scripts).

CMake installs the runtime into the wheel at ``wasmkiln/_runtime/`` (``WK_RUNTIME_INSTALL_DIR``),
one folder per target triple (``x86_64-kvm/``, ``x86_64-spt/``, each with its static library,
``link.ld`` and ``target.json``) plus ``include/``. Where that folder ends up depends on how
wasmkiln was installed, which is why finding it is a function and not a constant:

- ``pip install .``: next to the Python code, ``site-packages/wasmkiln/_runtime``.
- ``pip install -e .`` (scikit-build-core "redirect" mode): the Python code stays in the source
  tree but the CMake-installed files land in ``site-packages/wasmkiln/_runtime``; the ``wasmkiln``
  namespace package's ``__path__`` lists both places.
- ``WASMKILN_RUNTIME_DIR``: an explicit override, for a runtime built by hand with CMake
  (``cmake --install BUILD --prefix P`` gives ``P/wasmkiln/_runtime``) or a cross-built one.
"""

from __future__ import annotations

import importlib.util
import json
import os
from pathlib import Path

__all__ = [
    "ENV_VAR",
    "NO_NETWORK",
    "RuntimeNotFound",
    "installed_targets",
    "runtime_dir",
    "target_dir",
    "target_has_network",
]

ENV_VAR = "WASMKILN_RUNTIME_DIR"
"""Environment variable that, when set, names the runtime folder and skips the search."""

_RUNTIME_NAME = "_runtime"
_TARGET_MARKER = "target.json"


NO_NETWORK = (
    "this wasmkiln was built without networking (lwIP's source was missing: the build could "
    "not fetch it, or was told not to); to get it, `pip install` wasmkiln again where Debian's "
    "apt sources are reachable (the build fetches lwIP unless WASMKILN_FETCH_LWIP=OFF), or run "
    "`bash scripts/fetch-lwip.sh build/lwip-src` in its source tree first"
)
"""The end of every refusal that a missing network stack causes: what happened, how to fix it."""


class RuntimeNotFound(Exception):
    """The C runtime (or one target of it) is not installed where wasmkiln looks.

    This is an installation problem, not a user-input problem, so the message says how to fix the
    installation rather than what was wrong with the arguments.
    """


def _candidates() -> list[Path]:
    """Folders that may hold ``_runtime``, most specific first, without duplicates.

    The sibling of this package covers the regular install; the namespace package's search
    locations cover the editable install, whose Python files live in the source tree while the
    CMake-installed files live in site-packages.
    """
    found: list[Path] = [Path(__file__).resolve().parents[2] / _RUNTIME_NAME]
    try:
        spec = importlib.util.find_spec("wasmkiln")
    except (ImportError, ValueError):
        spec = None
    if spec is not None and spec.submodule_search_locations is not None:
        found.extend(Path(p) / _RUNTIME_NAME for p in spec.submodule_search_locations)
    unique: list[Path] = []
    for path in found:
        if path not in unique:
            unique.append(path)
    return unique


def runtime_dir() -> Path:
    """Return the folder of the installed C runtime.

    ``WASMKILN_RUNTIME_DIR`` wins when set (and must then exist: a typo should not silently fall
    back to another runtime). Otherwise the installed ``wasmkiln/_runtime`` is searched for.

    Raises:
        RuntimeNotFound: no runtime folder was found; the message says what was searched.
    """
    override = os.environ.get(ENV_VAR)
    if override:
        path = Path(override).expanduser()
        if not path.is_dir():
            raise RuntimeNotFound(
                f"{ENV_VAR}={override!r} is not a folder; unset it to use the installed runtime, "
                "or point it at a folder holding one subfolder per target (x86_64-kvm, ...)"
            )
        return path.resolve()

    searched = _candidates()
    for path in searched:
        if path.is_dir():
            return path
    where = "\n  ".join(str(p) for p in searched)
    raise RuntimeNotFound(
        "the wasmkiln C runtime (wasmkiln/_runtime) is not installed; "
        "run `pip install .` (or `pip install -e .`) from the wasmkiln source tree, "
        f"which builds it with CMake, or set {ENV_VAR}. Searched:\n  {where}"
    )


def installed_targets() -> list[str]:
    """Return the target triples whose runtime is installed, sorted (e.g. ``x86_64-kvm``)."""
    root = runtime_dir()
    return sorted(p.name for p in root.iterdir() if (p / _TARGET_MARKER).is_file())


def target_dir(triple: str) -> Path:
    """Return the runtime folder of one target: its library, ``link.ld`` and ``target.json``.

    Raises:
        ValueError: ``triple`` is not a plain folder name (it must not reach outside the runtime).
        RuntimeNotFound: the runtime is missing, or was built without this target; the message
            lists the targets that are installed.
    """
    if not triple or "/" in triple or triple.startswith("."):
        raise ValueError(f"not a target triple: {triple!r}")
    root = runtime_dir()
    path = root / triple
    if (path / _TARGET_MARKER).is_file():
        return path
    have = ", ".join(installed_targets()) or "none"
    raise RuntimeNotFound(
        f"target {triple!r} is not in the installed runtime at {root} (installed: {have}); "
        "run `pip install .` again if it should be, or choose one of the installed targets"
    )


def target_has_network(triple: str) -> bool:
    """Whether the target's runtime has a network stack: CMake writes ``"network"`` into the
    installed ``target.json`` (false when lwIP's source was missing at build time). A runtime
    from before that key existed counts as networked: nothing can be said about it."""
    spec = json.loads((target_dir(triple) / _TARGET_MARKER).read_text())
    return bool(spec.get("network", True))
