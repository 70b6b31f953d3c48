"""`python -m wasmkiln.pyhook.cli`: the same as the `wasmkiln` command."""

import sys

from .main import main

sys.exit(main())
