"""Draw the chart a benchmark script described: `python chart.py RESULTS.json OUT.png`.

Runs in bench/.venv (matplotlib lives there, not in wasmkiln's venv). The JSON's "chart" object
says what to draw, so this file knows nothing about any one benchmark:
    {"title": str, "ylabel": str, "log": bool, "reference": float | null,
     "groups": [str, ...], "series": {name: [value | null, ...]}}
one bar per series inside each group; `reference` draws a dashed horizontal line (1.0 for
ratios).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def main(src: Path, out: Path) -> int:
    # Imported here, not at the top: `--help` (tests/test_bench_cli.py) works without it.
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # after the backend is chosen

    spec = json.loads(src.read_text())["chart"]
    groups: list[str] = spec["groups"]
    series: dict[str, list[float | None]] = spec["series"]
    width = 0.8 / max(1, len(series))
    inches = min(18.0, max(8.0, 0.12 * len(groups) * max(1, len(series)) + 2))
    fig, ax = plt.subplots(figsize=(inches, 5.5))
    for i, (name, values) in enumerate(series.items()):
        xs = [g + (i - (len(series) - 1) / 2) * width for g in range(len(groups))]
        ys = [v if v is not None else 0.0 for v in values]
        ax.bar(xs, ys, width=width, label=name)
    if spec.get("reference") is not None:
        ax.axhline(spec["reference"], color="black", linestyle="--", linewidth=0.8)
    if spec.get("log"):
        ax.set_yscale("log")
    ax.set_xticks(range(len(groups)))
    ax.set_xticklabels(groups, rotation=60, ha="right", fontsize=8)
    ax.set_ylabel(spec.get("ylabel", ""))
    ax.set_title(spec.get("title", ""), fontsize=10)
    ax.legend(fontsize=8)
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    return 0


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("results", type=Path, help="a benchmark's results JSON (its chart object)")
    ap.add_argument("out", type=Path, help="the PNG to write")
    a = ap.parse_args()
    sys.exit(main(a.results, a.out))
