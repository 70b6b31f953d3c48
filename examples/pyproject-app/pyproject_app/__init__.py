"""pyproject-app: the Python side of an application whose real work runs in a wasmkiln image.

The image itself comes from the generated package `pyproject_app_images` (wasmkiln's build
backend adds it to the wheel); Python code runs it with `pyproject_app_images.run(name, args)`.
"""

from __future__ import annotations

import sys


def count_main() -> int:
    """`app-greet-count NAME...`: boot the greeter once per name, to show programmatic use."""
    import pyproject_app_images

    status = 0
    for name in sys.argv[1:]:
        status |= pyproject_app_images.run("greeter", [name])
    return status
