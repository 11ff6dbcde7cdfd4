"""Promotion rules as data: per-model targets (``">= 0.95"``) and a regression tolerance.

Targets are parsed with a regular expression, never evaluated, so a params file cannot run code.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

_TARGET = re.compile(r"^\s*(>=|<=)\s*(-?\d+(?:\.\d+)?)\s*$")


@dataclass(frozen=True)
class Target:
    metric: str
    direction: str  # ">=" (higher is better) or "<=" (lower is better)
    threshold: float

    @classmethod
    def parse(cls, metric: str, text: str) -> Target:
        match = _TARGET.match(str(text))
        if not match:
            raise ValueError(f"target for {metric!r} must look like '>= 0.95' or '<= 0.05', got {text!r}")
        return cls(metric, match.group(1), float(match.group(2)))

    def met(self, value: float) -> bool:
        return value >= self.threshold if self.direction == ">=" else value <= self.threshold

    def regression(self, challenger: float, champion: float) -> float:
        """How much worse the challenger is than the champion (positive = worse)."""
        return champion - challenger if self.direction == ">=" else challenger - champion


@dataclass
class Decision:
    promote: bool
    reasons: list[str] = field(default_factory=list)

    @property
    def summary(self) -> str:
        return ("promoted: " if self.promote else "rejected: ") + "; ".join(self.reasons)


def parse_targets(spec: dict[str, str]) -> list[Target]:
    return [Target.parse(metric, text) for metric, text in sorted(spec.items())]


def decide(
    challenger: dict[str, float], champion: dict[str, float] | None, targets: list[Target], tolerance: float
) -> Decision:
    """Promote only if every target is met and no target metric is worse than the champion's by more
    than ``tolerance``. A missing or non-finite metric is a failure, never a pass."""
    reasons: list[str] = []
    ok = True
    for target in targets:
        value = challenger.get(target.metric)
        if value is None or not math.isfinite(value):
            ok = False
            reasons.append(f"{target.metric} missing")
            continue
        if not target.met(value):
            ok = False
            reasons.append(f"{target.metric} {value:.4f} misses target {target.direction} {target.threshold}")
        if champion and target.metric in champion:
            worse = target.regression(value, champion[target.metric])
            if worse > tolerance:
                ok = False
                reasons.append(
                    f"{target.metric} {value:.4f} is {worse:.4f} worse than champion "
                    f"{champion[target.metric]:.4f} (tolerance {tolerance})"
                )
    if ok:
        reasons.append(
            "all targets met" + (", not worse than the champion" if champion else ", no champion yet")
        )
    return Decision(ok, reasons)
