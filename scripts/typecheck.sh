#!/usr/bin/env bash
# Type-check wasmkiln's Python code with mypy ([tool.mypy] in pyproject.toml): the packages
# wasmkiln.bridge and wasmkiln.pyhook, the tests and the benchmarks. Extra arguments go to mypy.
#
# bridge/ and pyhook/ become wasmkiln.bridge and wasmkiln.pyhook only through the wheel's
# mapping (pyproject.toml wheel.packages) and scikit-build-core's editable finder, which mypy
# does not follow; so mypy runs in build/mypy-root, where wasmkiln/bridge and wasmkiln/pyhook
# are symbolic links to the source folders (paths in its messages start with wasmkiln/).
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
python="${PYTHON:-$repo/.venv/bin/python}"
root="$repo/build/mypy-root"
mkdir -p "$root/wasmkiln"
ln -sfn "$repo/bridge" "$root/wasmkiln/bridge"
ln -sfn "$repo/pyhook" "$root/wasmkiln/pyhook"
cd "$root"
mapfile -t files < <(cd "$repo" && ls tests/*.py tests/wasi/*.py bench/*.py bench/linuxvm/*.py)
exec "$python" -m mypy --config-file "$repo/pyproject.toml" --cache-dir "$repo/build/mypy-cache" \
  wasmkiln/bridge wasmkiln/pyhook "${files[@]/#/$repo/}" "$@"
