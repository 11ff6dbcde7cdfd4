"""An evaluation's outputs in one object: metrics, the targets they were held to, breakdown tables,
failure examples and plots; written as ``metrics.json``, ``report.md``, ``*.png`` and
``predictions.jsonl`` into the evaluation asset's folder."""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from sap_llm_core.registry.policy import Target
from sap_llm_core.storage import ArtifactStore

METRICS_FILE = "metrics.json"
REPORT_FILE = "report.md"
PREDICTIONS_FILE = "predictions.jsonl"


@dataclass(frozen=True)
class TargetOutcome:
    metric: str
    value: float | None
    target: Target

    @property
    def passed(self) -> bool:
        return self.value is not None and math.isfinite(self.value) and self.target.met(self.value)

    def row(self) -> list[str]:
        value = "missing" if self.value is None else f"{self.value:.4f}"
        verdict = "PASS" if self.passed else "FAIL"
        return [self.metric, value, f"{self.target.direction} {self.target.threshold}", verdict]


def held_to(metrics: Mapping[str, float], targets: Iterable[Target]) -> list[TargetOutcome]:
    return [TargetOutcome(t.metric, metrics.get(t.metric), t) for t in targets]


def table(headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    def cell(value: Any) -> str:
        if isinstance(value, float):
            return f"{value:.4f}"
        return str(value).replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def percentile(values: Sequence[float], q: float) -> float:
    return float(np.percentile(values, q)) if len(values) else float("nan")


def prf(tp: int, predicted: int, gold: int) -> tuple[float, float, float]:
    precision = tp / predicted if predicted else 0.0
    recall = tp / gold if gold else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return precision, recall, f1


def group_accuracy(rows: Sequence[Mapping[str, Any]], key: str, flags: Sequence[str]) -> list[list[Any]]:
    """Per value of ``key``: document count and the mean of each boolean flag (None = not applicable)."""
    groups: dict[str, list[Mapping[str, Any]]] = {}
    for row in rows:
        groups.setdefault(str(row.get(key)), []).append(row)
    out = []
    for name in sorted(groups):
        members = groups[name]
        cells: list[Any] = [name, len(members)]
        for flag in flags:
            values = [bool(r[flag]) for r in members if r.get(flag) is not None]
            cells.append(sum(values) / len(values) if values else "-")
        out.append(cells)
    return out


@dataclass
class EvaluationReport:
    name: str
    title: str
    metrics: dict[str, float]
    targets: list[TargetOutcome] = field(default_factory=list)
    sections: list[tuple[str, str]] = field(default_factory=list)  # (heading, markdown)
    plots: dict[str, bytes] = field(default_factory=dict)  # file stem -> PNG
    predictions: list[dict[str, Any]] = field(default_factory=list)
    context: dict[str, Any] = field(default_factory=dict)  # what was evaluated (model version, data)

    @property
    def passed(self) -> bool:
        return all(t.passed for t in self.targets)

    def failed_targets(self) -> list[str]:
        return [t.metric for t in self.targets if not t.passed]

    def markdown(self, plots: str = "links") -> str:
        """``plots``: ``links`` (files beside report.md), ``inline`` (base64) or ``none``."""
        from sap_llm_core.evaluation.plots import markdown_image

        verdict = "all targets met" if self.passed else f"targets missed: {', '.join(self.failed_targets())}"
        parts = [f"# {self.title}", "", f"**{verdict}**", ""]
        if self.context:
            parts += [table(["evaluated", "value"], sorted(self.context.items())), ""]
        if self.targets:
            parts += [
                "## Targets",
                "",
                table(["metric", "value", "target", "result"], [t.row() for t in self.targets]),
                "",
            ]
        parts += ["## Metrics", "", table(["metric", "value"], sorted(self.metrics.items())), ""]
        for heading, body in self.sections:
            parts += [f"## {heading}", "", body, ""]
        if self.plots and plots != "none":
            parts += ["## Plots", ""]
            for stem, png in self.plots.items():
                parts += [markdown_image(png, stem) if plots == "inline" else f"![{stem}]({stem}.png)", ""]
        return "\n".join(parts)

    def write(self, store: ArtifactStore, asset: str) -> dict[str, str]:
        """All files of the report into the asset's folder; returns their URLs by kind."""
        payload = {
            "name": self.name,
            "passed": self.passed,
            "metrics": self.metrics,
            "targets": {t.metric: {"value": t.value, "passed": t.passed} for t in self.targets},
            "context": self.context,
        }
        store.write_json(payload, asset, METRICS_FILE)
        store.write_bytes(self.markdown().encode(), asset, REPORT_FILE)
        for stem, png in self.plots.items():
            store.write_bytes(png, asset, f"{stem}.png")
        lines = "".join(json.dumps(p, sort_keys=True, default=str) + "\n" for p in self.predictions)
        store.write_bytes(lines.encode(), asset, PREDICTIONS_FILE)
        return {
            "metrics": store.url(asset, METRICS_FILE),
            "report": store.url(asset, REPORT_FILE),
            "predictions": store.url(asset, PREDICTIONS_FILE),
            **{stem: store.url(asset, f"{stem}.png") for stem in self.plots},
        }
