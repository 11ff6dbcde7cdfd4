"""Great Expectations (1.x) suites and checkpoints of the corpus, run as Dagster asset checks.

The suites are declared here, in code, from the same ``quality`` params the pipeline uses, and
``sync_project`` writes them as a GX file project under ``great_expectations/gx/`` (expectation
suites, validation definitions, checkpoints -- committed, so a reviewer sees them as GX JSON). Each
check runs its checkpoint on a pandas frame derived from the asset and reports the offending counts.

Checkpoints and what they guard (all blocking: a corpus failing them must not reach training):

* ``unified_corpus_required``: required fields not null, document type in the allowed set.
* ``unified_corpus_unique``: no duplicate content hash, no duplicate id.
* ``unified_corpus_coverage``: annotation coverage >= 80% where the record has text ground truth.
* ``corpus_splits_class_share``: no document type above 30% (+ tolerance) of any split.
* ``corpus_splits_proportions``: split fractions within tolerance of 70/15/15.
* ``corpus_splits_leakage``: no content hash or near-duplicate group in more than one split.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from sap_llm_core.corpus.config import QualitySettings, SplitSettings
from sap_llm_core.corpus.document_types import ALLOWED_DOCUMENT_TYPES

GX_ROOT = Path(__file__).resolve().parents[3] / "great_expectations"
DATASOURCE = "sap_llm_corpus"
REQUIRED_COLUMNS = ("id", "source", "document_type", "language", "content_sha256")


@dataclass(frozen=True)
class CheckOutcome:
    """What a Dagster check needs: pass/fail and per-expectation offending counts."""

    checkpoint: str
    success: bool
    evaluated_rows: int
    expectations: list[dict[str, Any]]

    @property
    def failed(self) -> list[dict[str, Any]]:
        return [e for e in self.expectations if not e["success"]]

    def unexpected_total(self) -> int:
        return sum(int(e.get("unexpected_count") or 0) for e in self.expectations)


def _suites(quality: QualitySettings, splits: SplitSettings) -> dict[str, list[Any]]:
    import great_expectations as gx

    E = gx.expectations
    share_cap = min(1.0, quality.max_class_share + quality.class_share_tolerance)
    return {
        "unified_corpus_required": [
            *[E.ExpectColumnValuesToNotBeNull(column=c) for c in REQUIRED_COLUMNS],
            E.ExpectColumnValuesToBeInSet(column="document_type", value_set=list(ALLOWED_DOCUMENT_TYPES)),
        ],
        "unified_corpus_unique": [
            E.ExpectColumnValuesToBeUnique(column="content_sha256"),
            E.ExpectColumnValuesToBeUnique(column="id"),
        ],
        "unified_corpus_coverage": [
            E.ExpectColumnValuesToBeBetween(
                column="annotation_coverage", min_value=quality.min_annotation_coverage, max_value=1.0
            ),
        ],
        "corpus_splits_class_share": [
            E.ExpectColumnValuesToBeBetween(column="share", min_value=0.0, max_value=share_cap),
        ],
        "corpus_splits_proportions": [
            E.ExpectColumnValuesToBeBetween(
                column="deviation", min_value=0.0, max_value=quality.split_tolerance
            ),
            E.ExpectColumnValuesToBeInSet(column="split", value_set=["train", "val", "test"]),
        ],
        "corpus_splits_leakage": [
            E.ExpectColumnValuesToBeBetween(column="splits", min_value=1, max_value=1),
        ],
    }


def get_context(root: Path = GX_ROOT) -> Any:
    import great_expectations as gx

    logging.getLogger("great_expectations").setLevel(logging.ERROR)
    return gx.get_context(mode="file", project_root_dir=str(root))


def sync_project(quality: QualitySettings, splits: SplitSettings, root: Path = GX_ROOT) -> Any:
    """Create or update the GX project's suites, validation definitions and checkpoints (idempotent)."""
    import great_expectations as gx

    context = get_context(root)
    datasource = context.data_sources.add_or_update_pandas(DATASOURCE)
    for name, expectations in _suites(quality, splits).items():
        asset = next(
            (a for a in datasource.assets if a.name == name), None
        ) or datasource.add_dataframe_asset(name)
        batch = next(iter(asset.batch_definitions), None) or asset.add_batch_definition_whole_dataframe(
            "whole"
        )
        suite = context.suites.add_or_update(gx.ExpectationSuite(name=name, expectations=expectations))
        validation = context.validation_definitions.add_or_update(
            gx.ValidationDefinition(name=name, data=batch, suite=suite)
        )
        context.checkpoints.add_or_update(
            gx.Checkpoint(
                name=name,
                validation_definitions=[validation],
                result_format={"result_format": "SUMMARY", "partial_unexpected_count": 10},
            )
        )
    return context


def _signature(expectations: list[Any]) -> list[tuple[str, str]]:
    items = []
    for e in expectations:
        config = e.configuration if hasattr(e, "configuration") else e
        kwargs = {k: v for k, v in config.kwargs.items() if k not in ("batch_id",)}
        items.append((config.type, json.dumps(kwargs, sort_keys=True, default=str)))
    return sorted(items)


def in_sync(context: Any, quality: QualitySettings, splits: SplitSettings) -> bool:
    """Whether the committed suites already say what the params say (ids and metadata ignored)."""
    try:
        for name, expectations in _suites(quality, splits).items():
            stored = context.suites.get(name)
            if _signature(stored.expectations) != _signature(expectations):
                return False
            context.checkpoints.get(name)
    except Exception:  # a missing suite or checkpoint: GX raises several store-specific errors
        return False
    return True


def run_checkpoint(
    name: str, frame: pd.DataFrame, quality: QualitySettings, splits: SplitSettings, root: Path = GX_ROOT
) -> CheckOutcome:
    """Run one committed checkpoint on ``frame``.

    The project is re-synced only when params changed, so running checks does not rewrite the
    committed GX files (GX gives suites fresh ids on every write).
    """
    context = get_context(root)
    if not in_sync(context, quality, splits):
        context = sync_project(quality, splits, root)
    result = context.checkpoints.get(name).run(batch_parameters={"dataframe": frame})
    expectations: list[dict[str, Any]] = []
    for run in result.run_results.values():
        for item in run.results:
            config = item.expectation_config
            details = item.result or {}
            expectations.append(
                {
                    "expectation": config.type,
                    "column": config.kwargs.get("column"),
                    "success": bool(item.success),
                    "unexpected_count": int(details.get("unexpected_count") or 0),
                    "unexpected_percent": float(details.get("unexpected_percent") or 0.0),
                    "partial_unexpected_list": [
                        str(v) for v in (details.get("partial_unexpected_list") or [])
                    ][:10],
                }
            )
    return CheckOutcome(name, bool(result.success), len(frame), expectations)


# --- frames the split checkpoints validate ----------------------------------------------------------
def class_share_frame(index: pd.DataFrame) -> pd.DataFrame:
    counts = index.groupby(["split", "document_type"]).size().rename("count").reset_index()
    counts["share"] = counts["count"] / counts.groupby("split")["count"].transform("sum")
    return counts.sort_values(["split", "document_type"]).reset_index(drop=True)


def proportions_frame(index: pd.DataFrame, splits: SplitSettings) -> pd.DataFrame:
    total = max(len(index), 1)
    rows = []
    for split in ("train", "val", "test"):
        fraction = int((index["split"] == split).sum()) / total
        target = getattr(splits, split)
        rows.append(
            {"split": split, "fraction": fraction, "target": target, "deviation": abs(fraction - target)}
        )
    return pd.DataFrame(rows)


def leakage_frame(index: pd.DataFrame) -> pd.DataFrame:
    """One row per content hash and per near-duplicate group with the number of splits it is in."""
    by_hash = index.groupby("content_sha256")["split"].nunique().rename("splits").reset_index()
    by_hash.insert(0, "key", "content_sha256:" + by_hash.pop("content_sha256"))
    by_group = index.groupby("near_duplicate_group")["split"].nunique().rename("splits").reset_index()
    by_group.insert(0, "key", "near_duplicate_group:" + by_group.pop("near_duplicate_group"))
    return pd.concat([by_hash, by_group], ignore_index=True)
