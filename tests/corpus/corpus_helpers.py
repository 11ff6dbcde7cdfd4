"""Helpers shared by the corpus tests (imported as a module; pytest puts this folder on sys.path)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pyarrow as pa

from sap_llm_core.corpus.records_io import records_table, write_record_asset
from sap_llm_core.schema import DOCUMENT_RECORD_SCHEMA, QUARANTINE_SCHEMA, DocumentRecord
from sap_llm_core.storage import ArtifactStore

FIXTURES = Path(__file__).resolve().parent / "fixtures"
REPO_ROOT = Path(__file__).resolve().parents[2]
PUBLIC = REPO_ROOT.parent / "shared" / "public-datasets"


def write_source(store: ArtifactStore, asset: str, records: list[DocumentRecord] | pa.Table) -> dict:
    table = records if isinstance(records, pa.Table) else records_table(records)
    return write_record_asset(store, asset, table, QUARANTINE_SCHEMA.empty_table(), shard_rows=500)


def empty_sources(store: ArtifactStore, *assets: str) -> None:
    for asset in assets:
        write_record_asset(
            store, asset, DOCUMENT_RECORD_SCHEMA.empty_table(), QUARANTINE_SCHEMA.empty_table()
        )


def copy_fixture(name: str, target: Path) -> Path:
    shutil.copytree(FIXTURES / name, target / name)
    return target / name
