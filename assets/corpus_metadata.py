"""Metadata helpers shared by the corpus assets: Markdown tables, embedded PNGs, GX outcomes."""

from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence
from typing import Any

import dagster as dg
import pyarrow as pa

from sap_llm_core.corpus.quality.gx_suites import CheckOutcome


def md_table(rows: Sequence[Mapping[str, Any]], columns: Sequence[str] | None = None) -> str:
    if not rows:
        return "_(no rows)_"
    columns = list(columns or rows[0].keys())
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for row in rows:
        cells = [str(row.get(c, "")).replace("|", "\\|").replace("\n", " ")[:80] for c in columns]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def counts_table(counts: Mapping[str, Mapping[str, Any]], key: str = "name") -> str:
    return md_table([{key: name, **values} for name, values in sorted(counts.items())])


def preview(table: pa.Table, limit: int = 5) -> dg.MetadataValue:
    rows = []
    for row in table.slice(0, limit).to_pylist():
        rows.append(
            {
                "id": row["id"],
                "source": row["source"],
                "document_type": row["document_type"],
                "language": row["language"],
                "words": len(row["words"] or []),
                "text": (row["ocr_text"] or "")[:60],
            }
        )
    return dg.MetadataValue.md(md_table(rows))


def png(data: bytes, title: str) -> str:
    return f"**{title}**\n\n![{title}](data:image/png;base64,{base64.b64encode(data).decode()})"


def gx_result(outcome: CheckOutcome, asset_key: str, blocking_note: str = "") -> dg.AssetCheckResult:
    """A Dagster check result from a GX checkpoint run, with every expectation's offending counts."""
    table = md_table(
        [
            {
                "expectation": e["expectation"],
                "column": e["column"],
                "success": e["success"],
                "unexpected_count": e["unexpected_count"],
                "examples": ", ".join(e["partial_unexpected_list"][:5]),
            }
            for e in outcome.expectations
        ]
    )
    return dg.AssetCheckResult(
        asset_key=asset_key,
        passed=outcome.success,
        severity=dg.AssetCheckSeverity.ERROR,
        metadata={
            "checkpoint": outcome.checkpoint,
            "evaluated_rows": outcome.evaluated_rows,
            "unexpected_total": outcome.unexpected_total(),
            "failed_expectations": len(outcome.failed),
            "expectations": dg.MetadataValue.md(table + (f"\n\n{blocking_note}" if blocking_note else "")),
        },
    )
