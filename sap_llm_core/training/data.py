"""Reading the ``corpus_splits`` asset: the training data contract every model trains on.

Layout: ``<root>/corpus_splits/manifest.json`` with ``"files": {"train": [{"path", "rows", "sha256"}],
"val": [...], "test": [...]}`` (paths relative to ``<root>/corpus_splits/``) and a ``"data_version"``.
Shards have at least the ``DOCUMENT_RECORD_SCHEMA`` columns. Every row is validated before any
training starts, so bad data fails fast with the record ids instead of mid-epoch.
"""

from __future__ import annotations

import hashlib

from pydantic import ValidationError

from sap_llm_core.schema import DOCUMENT_RECORD_SCHEMA, DocumentRecord
from sap_llm_core.storage import ArtifactStore

SPLITS_ASSET = "corpus_splits"
SPLITS = ("train", "val", "test")


class TrainingDataError(ValueError):
    """Training data that cannot be trained on: schema violations, empty or missing splits."""


def splits_manifest(store: ArtifactStore) -> dict:
    return store.read_manifest(SPLITS_ASSET)


def data_version(store: ArtifactStore) -> str:
    return str(splits_manifest(store).get("data_version", ""))


def load_split(store: ArtifactStore, split: str, limit: int | None = None) -> list[DocumentRecord]:
    """All records of one split, validated; raises :class:`TrainingDataError` naming bad record ids.

    ``limit`` keeps the first N rows (in manifest order), for quick runs and tests.
    """
    if split not in SPLITS:
        raise TrainingDataError(f"unknown split {split!r}; expected one of {SPLITS}")
    manifest = splits_manifest(store)
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
            raise TrainingDataError(
                f"{store.url(SPLITS_ASSET, entry['path'])} lacks schema columns {missing}"
            )
        for row in table.select(names).to_pylist():
            try:
                records.append(DocumentRecord.model_validate(row))
            except ValidationError as exc:
                first = exc.errors()[0]
                where = ".".join(map(str, first["loc"]))
                bad.append(f"{row.get('id') or '<no id>'} ({where}: {first['msg']})")
            if limit is not None and len(records) >= limit and not bad:
                return records
    if bad:
        shown = "; ".join(bad[:20]) + (f"; ... {len(bad) - 20} more" if len(bad) > 20 else "")
        raise TrainingDataError(f"{len(bad)} record(s) in split {split!r} violate the schema: {shown}")
    if not records:
        raise TrainingDataError(
            f"split {split!r} of {store.url(SPLITS_ASSET)} is empty: nothing to train or evaluate on"
        )
    return records


def hash_split(record_id: str, fractions: tuple[float, float] = (0.70, 0.85)) -> str:
    """Deterministic split of an id by its hash: stable when documents are added or reordered."""
    bucket = int(hashlib.sha256(record_id.encode("utf-8")).hexdigest()[:8], 16) / 0xFFFFFFFF
    return "train" if bucket < fractions[0] else "val" if bucket < fractions[1] else "test"


def write_hash_splits(store: ArtifactStore, records: list[DocumentRecord], source_version: str = "") -> dict:
    """Write the ``corpus_splits`` layout from records, split by id hash (70/15/15).

    For tests and the temporary stand-in asset only: the real ``corpus_splits`` asset (Spark,
    stratified, leakage-free) writes the same contract.
    """
    import hashlib

    from sap_llm_core.schema import records_to_table

    by_split: dict[str, list[DocumentRecord]] = {s: [] for s in SPLITS}
    for record in sorted(records, key=lambda r: r.id):
        by_split[hash_split(record.id)].append(record)
    files: dict[str, list[dict]] = {}
    digest = hashlib.sha256(source_version.encode())
    for split, rows in by_split.items():
        path = f"{split}/shard-00000.parquet"
        store.write_table(records_to_table(rows), SPLITS_ASSET, path)
        sha = hashlib.sha256(store.read_bytes(SPLITS_ASSET, path)).hexdigest()
        digest.update(sha.encode())
        files[split] = [{"path": path, "rows": len(rows), "sha256": sha}]
    manifest = {
        "asset": SPLITS_ASSET,
        "files": files,
        "counts": {s: len(r) for s, r in by_split.items()},
        "data_version": digest.hexdigest(),
        "method": "id-hash 70/15/15 (stand-in)",
    }
    store.write_manifest(SPLITS_ASSET, manifest)
    return manifest


def seeded_sample(records: list[DocumentRecord], limit: int, seed: int = 0) -> list[DocumentRecord]:
    """``limit`` records chosen by a seeded hash of their ids (all when ``limit`` is 0): the same
    documents every run, and a fair mix of sources and types rather than the first ids in order."""
    if not limit or limit >= len(records):
        return records
    return sorted(records, key=lambda r: hashlib.sha256(f"{seed}:{r.id}".encode()).hexdigest())[:limit]
