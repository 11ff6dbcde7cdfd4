"""Quality checks over the stored synthetic corpus. They re-read the shards from storage and
re-validate, so they catch a broken writer or an edited file, not just a broken generator."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import pyarrow as pa
from pydantic import ValidationError

from sap_llm_core.schema import DOCUMENT_RECORD_SCHEMA, DocumentRecord
from sap_llm_core.storage import ArtifactStore
from sap_llm_core.synthetic.config import GeneratorConfig
from sap_llm_core.synthetic.corpus import ASSET
from sap_llm_core.synthetic.validation import amount_problems, span_problems

MAX_EXAMPLES = 5


@dataclass
class CheckOutcome:
    passed: bool
    description: str
    metadata: dict = field(default_factory=dict)


def load_table(store: ArtifactStore, manifest: dict) -> pa.Table:
    tables = [store.read_table(ASSET, s["path"]) for s in manifest["shards"]]
    return pa.concat_tables(tables) if tables else DOCUMENT_RECORD_SCHEMA.empty_table()


def load_quarantine(store: ArtifactStore, manifest: dict) -> pa.Table:
    tables = [store.read_table(ASSET, s["quarantine_path"]) for s in manifest["shards"]]
    return pa.concat_tables(tables) if tables else None


def check_schema(table: pa.Table) -> CheckOutcome:
    if not table.schema.equals(DOCUMENT_RECORD_SCHEMA):
        return CheckOutcome(
            False, "Arrow schema differs from the unified record schema", {"schema": str(table.schema)}
        )
    invalid: list[str] = []
    for row in table.to_pylist():
        try:
            DocumentRecord.model_validate(row)
        except ValidationError as exc:
            invalid.append(f"{row['id']}: {exc.errors()[0]['msg']}")
    return CheckOutcome(
        not invalid,
        f"{len(invalid)} of {table.num_rows} rows fail the record model",
        {"invalid_rows": len(invalid), "examples": invalid[:MAX_EXAMPLES]},
    )


def check_coverage(table: pa.Table, config: GeneratorConfig) -> CheckOutcome:
    types = Counter(table.column("document_type").to_pylist())
    languages = Counter(table.column("language").to_pylist())
    # A type is only required where the requested size gives it at least one document.
    expected_types = {t for t, share in config.mix.items() if share * config.num_documents >= 1}
    missing_types = sorted(expected_types - set(types))
    missing_languages = (
        sorted(set(config.languages) - set(languages)) if table.num_rows >= len(config.languages) else []
    )
    return CheckOutcome(
        not missing_types and not missing_languages,
        f"{len(types)} types and {len(languages)} languages present",
        {
            "missing_types": missing_types,
            "missing_languages": missing_languages,
            "types_present": len(types),
            "languages_present": len(languages),
        },
    )


def _records(table: pa.Table) -> list[DocumentRecord]:
    return [DocumentRecord.model_validate(row) for row in table.to_pylist()]


def check_amounts(table: pa.Table) -> CheckOutcome:
    failures = [(r.id, p) for r in _records(table) for p in amount_problems(r)]
    return CheckOutcome(
        not failures,
        f"{len(failures)} amount inconsistencies",
        {"inconsistent": len(failures), "examples": [f"{i}: {p}" for i, p in failures[:MAX_EXAMPLES]]},
    )


def check_ground_truth_in_words(table: pa.Table) -> CheckOutcome:
    records = _records(table)
    values = sum(len(r.field_spans) for r in records)
    failures = [(r.id, p) for r in records for p in span_problems(r)]
    return CheckOutcome(
        not failures,
        f"{values - len(failures)} of {values} ground-truth values found in the words",
        {
            "values": values,
            "not_found": len(failures),
            "examples": [f"{i}: {p}" for i, p in failures[:MAX_EXAMPLES]],
        },
    )


def check_unique_ids(table: pa.Table) -> CheckOutcome:
    counts = Counter(table.column("id").to_pylist())
    duplicates = sorted(i for i, c in counts.items() if c > 1)
    return CheckOutcome(
        not duplicates,
        f"{len(duplicates)} duplicate ids",
        {"duplicates": len(duplicates), "examples": duplicates[:MAX_EXAMPLES]},
    )


def check_counts_conserved(table: pa.Table, quarantine: pa.Table | None, manifest: dict) -> CheckOutcome:
    quarantined = quarantine.num_rows if quarantine is not None else 0
    ok = manifest["requested"] == table.num_rows + quarantined == manifest["kept"] + manifest["quarantined"]
    return CheckOutcome(
        ok,
        f"requested {manifest['requested']} = kept {table.num_rows} + quarantined {quarantined}",
        {"requested": manifest["requested"], "kept": table.num_rows, "quarantined": quarantined},
    )
