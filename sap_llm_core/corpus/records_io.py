"""Read and write record assets in the layout every corpus asset shares (the one the lead's
``synthetic_documents`` uses): ``<asset>/shards/shard-NNNNN.parquet`` with ``DOCUMENT_RECORD_SCHEMA``,
``<asset>/quarantine/quarantine-NNNNN.parquet`` and ``<asset>/manifest.json`` written last, listing
every shard with its row count and SHA-256 and a ``data_version`` derived from those hashes.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from typing import Any

import pyarrow as pa

from sap_llm_core.schema import DOCUMENT_RECORD_SCHEMA, QUARANTINE_SCHEMA, DocumentRecord, QuarantineRecord
from sap_llm_core.storage import ArtifactStore


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def data_version(hashes: Iterable[str]) -> str:
    """One version for an asset: SHA-256 over its files' hashes in manifest order (first 16 hex)."""
    digest = hashlib.sha256()
    for value in hashes:
        digest.update(value.encode())
        digest.update(b"\n")
    return digest.hexdigest()[:16]


def records_table(records: Sequence[DocumentRecord]) -> pa.Table:
    rows = sorted((r.model_dump() for r in records), key=lambda row: row["id"])
    return pa.Table.from_pylist(rows, schema=DOCUMENT_RECORD_SCHEMA)


def quarantine_table(rows: Sequence[QuarantineRecord]) -> pa.Table:
    data = sorted((q.model_dump() for q in rows), key=lambda row: (row["id"], row["stage"], row["reason"]))
    return pa.Table.from_pylist(data, schema=QUARANTINE_SCHEMA)


def write_sharded(
    store: ArtifactStore, asset: str, folder: str, table: pa.Table, shard_rows: int, prefix: str = "shard"
) -> list[dict[str, Any]]:
    """Write ``table`` as fixed-size Parquet shards; returns manifest entries (path, rows, sha256)."""
    store.remove(asset, folder)
    entries: list[dict[str, Any]] = []
    for number, start in enumerate(range(0, max(table.num_rows, 1), shard_rows)):
        if table.num_rows == 0 and folder != "quarantine":
            chunk = table  # one empty shard keeps the schema readable downstream
        elif table.num_rows == 0:
            break
        else:
            chunk = table.slice(start, shard_rows)
        name = f"{prefix}-{number:05d}.parquet"
        store.write_table(chunk, asset, folder, name)
        entries.append(
            {
                "path": f"{folder}/{name}",
                "rows": chunk.num_rows,
                "sha256": sha256_bytes(store.read_bytes(asset, folder, name)),
            }
        )
    return entries


def write_record_asset(
    store: ArtifactStore,
    asset: str,
    records: pa.Table,
    quarantine: pa.Table,
    extra: dict[str, Any] | None = None,
    shard_rows: int = 5000,
) -> dict[str, Any]:
    """Shards + quarantine + manifest (last). Returns the manifest."""
    store.remove(asset, MANIFEST_NAME)
    shards = write_sharded(store, asset, "shards", records, shard_rows)
    quarantined = write_sharded(store, asset, "quarantine", quarantine, shard_rows, prefix="quarantine")
    manifest = {
        "asset": asset,
        "rows": records.num_rows,
        "quarantined": quarantine.num_rows,
        "shards": shards,
        "quarantine": quarantined,
        "data_version": data_version(e["sha256"] for e in shards + quarantined),
        **(extra or {}),
    }
    store.write_manifest(asset, manifest)
    return manifest


MANIFEST_NAME = "manifest.json"


def shard_paths(store: ArtifactStore, asset: str, key: str = "shards") -> list[str]:
    """Filesystem paths of an asset's shards, from its manifest (so a half-written asset is invisible)."""
    manifest = store.read_manifest(asset)
    return [store.path(asset, entry["path"]) for entry in manifest.get(key, [])]


def read_record_asset(store: ArtifactStore, asset: str) -> pa.Table:
    tables = [store.read_table(asset, e["path"]) for e in store.read_manifest(asset).get("shards", [])]
    tables = [t.cast(DOCUMENT_RECORD_SCHEMA) for t in tables]
    return pa.concat_tables(tables) if tables else DOCUMENT_RECORD_SCHEMA.empty_table()


def read_quarantine(store: ArtifactStore, asset: str) -> pa.Table:
    tables = [store.read_table(asset, e["path"]) for e in store.read_manifest(asset).get("quarantine", [])]
    return pa.concat_tables(tables) if tables else QUARANTINE_SCHEMA.empty_table()
