"""Training data for the language models: the ``corpus_splits`` contract, read through
``sap_llm_core.training.data.load_split`` (part A's reader) when it is there.

The fallback below implements the same contract so the language models can train before that module
lands; once it does, it is the one used, and this file only adds the extraction-specific checks.
"""

from __future__ import annotations

from sap_llm_core.models.base_lm.formatting import adc_json
from sap_llm_core.schema import DOCUMENT_RECORD_SCHEMA, DocumentRecord
from sap_llm_core.storage import ArtifactStore

SPLITS_ASSET = "corpus_splits"

try:  # part A's reader (sap_llm_core/training/data.py)
    from sap_llm_core.training.data import TrainingDataError, load_split  # type: ignore[attr-defined]
except ImportError:  # pragma: no cover - exercised only before part A is merged
    from pydantic import ValidationError

    class TrainingDataError(ValueError):  # type: ignore[no-redef]
        """Training data that cannot be trained on: schema violations, empty or missing splits."""

    def load_split(store: ArtifactStore, split: str, limit: int | None = None) -> list[DocumentRecord]:  # type: ignore[no-redef]
        """All records of one split, validated; raises naming the bad record ids."""
        manifest = store.read_manifest(SPLITS_ASSET)
        files = (manifest.get("files") or {}).get(split)
        if files is None:
            raise TrainingDataError(f"{store.url(SPLITS_ASSET, 'manifest.json')} lists no {split!r} split")
        names = DOCUMENT_RECORD_SCHEMA.names
        records: list[DocumentRecord] = []
        bad: list[str] = []
        for entry in files:
            table = store.read_table(SPLITS_ASSET, entry["path"])
            missing = [n for n in names if n not in table.column_names]
            if missing:
                raise TrainingDataError(f"{store.url(SPLITS_ASSET, entry['path'])} lacks columns {missing}")
            for row in table.select(names).to_pylist():
                try:
                    records.append(DocumentRecord.model_validate(row))
                except ValidationError as exc:
                    first = exc.errors()[0]
                    loc = ".".join(map(str, first["loc"]))
                    bad.append(f"{row.get('id') or '<no id>'} ({loc}: {first['msg']})")
        if bad:
            shown = "; ".join(bad[:20]) + (f"; ... {len(bad) - 20} more" if len(bad) > 20 else "")
            raise TrainingDataError(f"{len(bad)} record(s) in split {split!r} violate the schema: {shown}")
        if not records:
            raise TrainingDataError(
                f"split {split!r} of {store.url(SPLITS_ASSET)} is empty: nothing to train or evaluate on"
            )
        return records[:limit] if limit is not None else records


def data_version(store: ArtifactStore) -> str:
    return str(store.read_manifest(SPLITS_ASSET).get("data_version", ""))


def extraction_records(store: ArtifactStore, split: str, limit: int | None = None) -> list[DocumentRecord]:
    """Records of ``split`` that carry ADC ground truth; a split with none of them fails clearly.

    Schema violations (bad JSON ground truth, boxes, spans) already fail in ``load_split`` with ids.
    """
    records = load_split(store, split)
    usable = [r for r in records if adc_json(r) is not None]
    if not usable:
        raise TrainingDataError(
            f"split {split!r} has {len(records)} record(s) but none with ADC ground truth "
            "(header / line_items): nothing to train or evaluate the language models on"
        )
    return usable[:limit] if limit else usable
