"""Human-readable outputs of the language-model runs: metrics table, loss curve, weight sanity.

Kept out of ``assets/`` so the CLI, DVC and tests can produce the same files; no Dagster here.
"""

from __future__ import annotations

import base64
import io
import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

METRICS_FILE = "metrics.json"
LOSS_PLOT = "loss_curve.png"


def write_metrics(output_dir: str | Path, metrics: Mapping[str, Any]) -> Path:
    path = Path(output_dir) / METRICS_FILE
    path.write_text(json.dumps(dict(metrics), indent=2, sort_keys=True))
    return path


def loss_plot(
    history: Sequence[Mapping[str, Any]], title: str, output_dir: str | Path | None
) -> tuple[Path | None, str]:
    """The training-loss curve as PNG (saved when ``output_dir`` is given) and a Markdown image
    with an inline data URI, so the Dagster UI shows it even when the checkpoint is on a pod volume."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.5), dpi=80)
    ax.plot([h["step"] for h in history], [h["loss"] for h in history], marker=".")
    ax.set_xlabel("step")
    ax.set_ylabel("training loss")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    path = None
    if output_dir is not None:
        path = Path(output_dir) / LOSS_PLOT
        path.write_bytes(buffer.getvalue())
    data = base64.b64encode(buffer.getvalue()).decode()
    return path, f"![{title}](data:image/png;base64,{data})"


def windowed_history(history: Sequence[Mapping[str, Any]], windows: int = 4) -> list[list[float]]:
    """``[[step, mean loss], ...]`` over ``windows`` consecutive groups of logged points: what the run
    reports for the loss-decreased check, which compares the first and last point. A fine-tune that
    starts from a base already trained on the same text moves its loss little, and single logged
    points are noisy enough to hide that; quarter means are not (eighths still were: a README run on
    a busy machine failed the check on a curve going from 0.70 to 0.66)."""
    points = [(int(h["step"]), float(h["loss"])) for h in history if math.isfinite(float(h["loss"]))]
    if not points:
        return []
    size = max(1, math.ceil(len(points) / windows))
    out = []
    for start in range(0, len(points), size):
        chunk = points[start : start + size]
        out.append([chunk[-1][0], sum(loss for _, loss in chunk) / len(chunk)])
    return out
