"""Run the images a wheel carries: the code behind an application's console entry points.

build_meta packs an application's images into a generated package of its wheel (by default
`<distribution>_images`) together with `images.json` (which images, for which targets, with
which default arguments and environment) and an `__init__.py` that only makes a `Launcher`.
The logic lives here, in wasmkiln, so that installed applications pick up runner fixes by
upgrading wasmkiln, and generated code stays a few lines.
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from ..image.imageinfo import NetDefaults, read_image_info
from ..image.targets import TargetError, get_target
from .guestmem import memory_mb
from .netopts import NetOptionError, NetOptions
from .runner import RunError, RunOptions, run_image

__all__ = ["INDEX", "TARGET_ENV", "Launcher", "PackedImage"]

INDEX = "images.json"
"""The index build_meta writes next to the images (format version 1)."""

TARGET_ENV = "WASMKILN_TARGET"
"""Picks which of an image's targets an entry point runs (default: the first declared)."""


@dataclass(frozen=True)
class PackedImage:
    name: str
    files: dict[str, str]  # target triple -> file name in the package
    args: list[str]
    env: list[str]  # "KEY=VALUE"
    dirs: list[str]  # as declared: packed into the image at build time
    listen: list[str]  # as declared: recorded in the image, published by run()


class Launcher:
    """The images of one generated package, and how to run them."""

    def __init__(self, package: str) -> None:
        self.package = package

    def _folder(self) -> Path:
        # Wheels install as plain files, so the package's folder is a real directory.
        return Path(str(resources.files(self.package)))

    def images(self) -> dict[str, PackedImage]:
        data = json.loads((self._folder() / INDEX).read_text())
        return {
            entry["name"]: PackedImage(
                entry["name"],
                dict(entry["files"]),
                list(entry["args"]),
                list(entry["env"]),
                list(entry.get("dirs", [])),
                list(entry.get("listen", [])),
            )
            for entry in data["images"]
        }

    def path(self, name: str, target: str | None = None) -> tuple[Path, str]:
        """The file of image `name` for `target` (default: $WASMKILN_TARGET, else the first)."""
        images = self.images()
        if name not in images:
            raise RunError(
                f"{self.package} has no image {name!r} (it has: {', '.join(images) or 'none'})", 2
            )
        image = images[name]
        triple = target or os.environ.get(TARGET_ENV) or next(iter(image.files))
        if triple not in image.files:
            raise RunError(
                f"image {name!r} was not built for {triple} (built for: "
                f"{', '.join(image.files)}); unset {TARGET_ENV} or pick one of those",
                2,
            )
        return self._folder() / image.files[triple], triple

    def run(
        self,
        name: str,
        args: list[str] | None = None,
        *,
        env: list[str] | None = None,
        target: str | None = None,
        timeout: float | None = None,
    ) -> int:
        """Run image `name` with its declared arguments followed by `args`; return the guest's
        exit code. Raises RunError (or TargetError) when it cannot run."""
        image = self.images().get(name)
        path, triple = self.path(name, target)
        assert image is not None
        info = read_image_info(path) or {}
        baked = NetDefaults.from_info(info)
        try:
            net = NetOptions.parse(list(baked.publish), list(baked.listen), None, None)
        except NetOptionError as e:  # checked at build; only a hand-edited image gets here
            raise RunError(f"image {name!r}: {e}", 2) from None
        opts = RunOptions(
            args=[*image.args, *(args or [])],
            env=[*image.env, *(env or [])],
            timeout=timeout,
            program_name=name,
            net=net,
        )
        chosen = get_target(triple)
        if chosen.platform == "kvm":  # sized from what the image needs (pyhook/run/guestmem.py)
            machine = "microvm" if chosen.arch == "x86_64" else "virt"
            opts.memory_mb = memory_mb(path, info, None, None, machine=machine)
        return run_image(path, chosen, opts, info)

    def main(self, name: str) -> int:
        """A console entry point: guest arguments from the command line, errors as one line."""
        prog = Path(sys.argv[0]).name or name
        try:
            return self.run(name, sys.argv[1:])
        except RunError as e:
            print(f"{prog}: error: {e}", file=sys.stderr)
            return e.exit_code
        except TargetError as e:
            print(f"{prog}: error: {e}", file=sys.stderr)
            return 2
        except KeyboardInterrupt:
            return 130
