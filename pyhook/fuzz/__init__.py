"""Differential fuzzing against wasmtime: valid modules (binaryen) and garbage inputs."""
