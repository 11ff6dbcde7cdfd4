"""The pictures of an evaluation: confusion matrix, reliability (calibration) curve and per-stage
latency histograms, as PNG bytes (written beside the report and inlined in the Dagster UI)."""

from __future__ import annotations

import base64
import io
from collections.abc import Mapping, Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np


def _png(fig) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=90, bbox_inches="tight", metadata={"Software": None})
    plt.close(fig)
    return buffer.getvalue()


def markdown_image(png: bytes, title: str) -> str:
    return f"![{title}](data:image/png;base64,{base64.b64encode(png).decode()})"


def confusion_matrix_png(gold: Sequence[str], predicted: Sequence[str], title: str) -> bytes:
    """Row-normalised confusion matrix; counts printed in the cells so rare classes stay readable."""
    labels = sorted(set(gold) | set(predicted))
    index = {label: i for i, label in enumerate(labels)}
    counts = np.zeros((len(labels), len(labels)), dtype=int)
    for g, p in zip(gold, predicted, strict=True):
        counts[index[g], index[p]] += 1
    rates = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
    size = max(4.0, 0.45 * len(labels) + 2)
    fig, ax = plt.subplots(figsize=(size + 1, size))
    image = ax.imshow(rates, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(len(labels)), labels, rotation=60, ha="right", fontsize=7)
    ax.set_yticks(range(len(labels)), labels, fontsize=7)
    for i in range(len(labels)):
        for j in range(len(labels)):
            if counts[i, j]:
                colour = "white" if rates[i, j] > 0.6 else "black"
                ax.text(j, i, str(counts[i, j]), ha="center", va="center", fontsize=6, color=colour)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title)
    fig.colorbar(image, ax=ax, fraction=0.046)
    return _png(fig)


def calibration_png(bins: Sequence[Mapping], ece: float, title: str) -> bytes:
    """Reliability diagram from ``reliability_bins`` output: accuracy vs confidence per bin."""
    fig, ax = plt.subplots(figsize=(4.5, 4.5))
    used = [b for b in bins if b["count"]]
    ax.plot([0, 1], [0, 1], linestyle="--", color="grey", label="perfect calibration")
    if used:
        centres = [(b["low"] + b["high"]) / 2 for b in used]
        ax.bar(centres, [b["accuracy"] for b in used], width=0.09, alpha=0.7, label="accuracy")
        ax.plot([b["confidence"] for b in used], [b["accuracy"] for b in used], "o-", color="C1")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("confidence")
    ax.set_ylabel("accuracy")
    ax.set_title(f"{title} (ECE {ece:.3f})")
    ax.legend(loc="upper left", fontsize=8)
    return _png(fig)


def latency_histograms_png(seconds_by_stage: Mapping[str, Sequence[float]], title: str) -> bytes:
    """One histogram per stage, in milliseconds, with p50/p95 marked."""
    stages = [s for s, values in seconds_by_stage.items() if len(values)]
    cols = min(4, max(1, len(stages)))
    rows = max(1, -(-len(stages) // cols))
    fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 2.4 * rows), squeeze=False)
    for ax in axes.flat[len(stages) :]:
        ax.axis("off")
    for ax, stage in zip(axes.flat, stages, strict=False):
        ms = np.asarray(seconds_by_stage[stage], dtype=float) * 1000
        ax.hist(ms, bins=30, color="C0")
        for q, colour in ((50, "C1"), (95, "C3")):
            ax.axvline(np.percentile(ms, q), color=colour, linestyle="--", label=f"p{q}")
        ax.set_title(stage, fontsize=9)
        ax.set_xlabel("ms", fontsize=8)
        ax.tick_params(labelsize=7)
    axes.flat[0].legend(fontsize=7)
    fig.suptitle(title)
    fig.tight_layout()
    return _png(fig)
