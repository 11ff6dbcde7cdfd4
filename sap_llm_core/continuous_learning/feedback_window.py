"""Which corrections are new since the last retrain, and whether there are enough to retrain.

The sensor keeps a cursor (the newest correction it has counted: ``created_at`` + id). A window is
the corrections after the cursor; its ``run_key`` is derived from the first and last correction in
it, so the same window can never trigger two retrains, and a later window always has another key.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

# Which model a correction teaches: field corrections retrain extraction and field detection,
# routing corrections retrain the router.
MODELS_BY_KIND: dict[str, tuple[str, ...]] = {
    "field_correction": ("language_decoder", "vision_encoder"),
    "routing_correction": ("reasoning_engine",),
}


@dataclass(frozen=True)
class Cursor:
    created_at: dt.datetime | None = None
    last_id: str = ""

    def to_json(self) -> str:
        return json.dumps(
            {"created_at": self.created_at.isoformat() if self.created_at else None, "last_id": self.last_id}
        )

    @classmethod
    def from_json(cls, text: str | None) -> Cursor:
        if not text:
            return cls()
        data = json.loads(text)
        created = dt.datetime.fromisoformat(data["created_at"]) if data.get("created_at") else None
        return cls(created, data.get("last_id", ""))


@dataclass
class FeedbackWindow:
    corrections: list[dict[str, Any]]
    start: Cursor
    end: Cursor
    counts_by_model: dict[str, int] = field(default_factory=dict)

    @property
    def run_key(self) -> str:
        ids = "|".join(c["_id"] for c in self.corrections)
        return "feedback-" + hashlib.sha256(ids.encode()).hexdigest()[:16]

    def models_due(self, thresholds: dict[str, int]) -> list[str]:
        """Models whose new-correction count reached their threshold (a missing threshold: never)."""
        return sorted(m for m, n in self.counts_by_model.items() if n >= thresholds.get(m, 10**9))


def _after(cursor: Cursor, row: dict[str, Any]) -> bool:
    if cursor.created_at is None:
        return True
    created = row["created_at"] if row["created_at"].tzinfo else row["created_at"].replace(tzinfo=dt.UTC)
    return (created, row["_id"]) > (cursor.created_at, cursor.last_id)


def window_since(corrections: list[dict[str, Any]], cursor: Cursor) -> FeedbackWindow:
    """Corrections (oldest first, as the PMG returns them) strictly after ``cursor``."""
    new = [c for c in corrections if _after(cursor, c)]
    counts: Counter[str] = Counter()
    for c in new:
        for model in MODELS_BY_KIND.get(c["kind"], ()):
            counts[model] += 1
    end = cursor
    if new:
        last = new[-1]
        created = (
            last["created_at"] if last["created_at"].tzinfo else last["created_at"].replace(tzinfo=dt.UTC)
        )
        end = Cursor(created, last["_id"])
    return FeedbackWindow(new, cursor, end, dict(sorted(counts.items())))
