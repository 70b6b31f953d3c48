"""`python -m wasmkiln.pyhook.cli`: the same as the `wasmkiln` command."""

import sys

from .entry import main

sys.exit(main())
