"""wasmkiln's user-facing layer: the CLI, build hooks, the target registry and the runtime finder.

It stays thin on purpose: every command parses its arguments and delegates to the same library
API (wasmkiln.bridge for compiling, the installed C runtime for linking) that build hooks call,
so the CLI and programmatic use cannot drift apart.
"""
