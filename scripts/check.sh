#!/usr/bin/env bash
# The static checks, each fatal: what .ci/run and pre-commit (.pre-commit-config.yaml) run.
#
#   bash scripts/check.sh [lint] [format] [types] [c-format]    (default: all four)
#
#   lint      ruff check (rules: [tool.ruff] in pyproject.toml)
#   format    ruff format --check (fix: bash scripts/check.sh --fix format)
#   types     mypy: strict on bridge/, normal elsewhere (scripts/typecheck.sh)
#   c-format  clang-format-14 --dry-run --Werror over unikernel/'s C files but the generated
#             ones (style: unikernel/.clang-format; fix: bash scripts/check.sh --fix c-format)
#
# Every check runs even when an earlier one failed, so one run shows every problem; the exit
# status is 1 if any failed. Tools come from the venv (.venv: ruff and mypy are in the test
# extra) and Debian (clang-format-14; .ci/run installs it).
set -uo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
bin="${VENV:-$repo/.venv}/bin"
fix=0
if [[ "${1:-}" == "--fix" ]]; then
  fix=1
  shift
fi
checks=("$@")
((${#checks[@]})) || checks=(lint format types c-format)

# Generated files (their first lines say DO NOT EDIT, e.g. wk/abi_layout.h) are left as their
# generator writes them: tests compare them with it byte for byte.
c_files() { find unikernel -name '*.[ch]' -type f | sort | xargs grep -L 'DO NOT EDIT'; }

failed=()
for check in "${checks[@]}"; do
  case "$check" in
    lint) "$bin/ruff" check --quiet --output-format=concise . ;;
    format)
      if ((fix)); then
        "$bin/ruff" format --quiet .
      else
        "$bin/ruff" format --check --quiet .
      fi
      ;;
    types) PYTHON="$bin/python" bash scripts/typecheck.sh --no-error-summary ;;
    c-format)
      if ((fix)); then
        c_files | xargs clang-format-14 -i
      else
        c_files | xargs clang-format-14 --dry-run --Werror
      fi
      ;;
    *) echo "check: unknown check $check (lint, format, types, c-format)"; exit 2 ;;
  esac
  status=$?
  if ((status != 0)); then
    failed+=("$check")
    echo "check: $check failed"
  fi
done
if ((${#failed[@]})); then
  echo "check: failed: ${failed[*]}"
  exit 1
fi
echo "check: ${checks[*]}: ok"
