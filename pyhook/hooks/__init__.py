"""Build hooks: the manifest (wasmkiln.toml) and what the PEP 517 backend and CMake share."""
