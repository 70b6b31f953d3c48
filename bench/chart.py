"""Draw the chart a benchmark script described: `python chart.py RESULTS.json OUT.png`.

Runs in bench/.venv (matplotlib lives there, not in wasmkiln's venv). The JSON's "chart" object
says what to draw, so this file knows nothing about any one benchmark:
    {"title": str, "ylabel": str, "log": bool, "reference": float | null,
     "groups": [str, ...], "series": {name: [value | null, ...]}}
one bar per series inside each group; `reference` draws a dashed horizontal line (1.0 for
ratios).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (after the backend is chosen)


def main(src: Path, out: Path) -> int:
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
    if len(sys.argv) != 3:
        print("usage: chart.py RESULTS.json OUT.png", file=sys.stderr)
        sys.exit(2)
    sys.exit(main(Path(sys.argv[1]), Path(sys.argv[2])))
