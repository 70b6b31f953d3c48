"""The command line: `wasmkiln` and its subcommands."""
