"""Fixtures of the corpus pipeline tests: data folders, one Spark session, source assets."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from corpus_helpers import FIXTURES, PUBLIC, empty_sources, write_source

from sap_llm_core.corpus.textgen import text_table
from sap_llm_core.settings import get_settings
from sap_llm_core.storage import ArtifactStore


@pytest.fixture
def fixtures() -> Path:
    return FIXTURES


@pytest.fixture
def public_root() -> Path:
    if not PUBLIC.is_dir():
        pytest.skip(f"shared public datasets not present at {PUBLIC}")
    return PUBLIC


@pytest.fixture(scope="session")
def spark() -> Iterator:
    """One local[2] session for the whole run (a JVM start costs seconds)."""
    from sap_llm_core.corpus.spark.session import build_session

    settings = get_settings().spark.model_copy(
        update={"master": "local[2]", "shuffle_partitions": 2, "driver_memory": "2g"}
    )
    session = build_session(settings)
    yield session


@pytest.fixture
def store(tmp_path: Path) -> ArtifactStore:
    root = tmp_path / "data"
    root.mkdir()
    return ArtifactStore(str(root))


@pytest.fixture
def synthetic_store(store: ArtifactStore) -> ArtifactStore:
    """A store whose four source assets exist: 600 text-only synthetic records, the rest empty."""
    write_source(store, "synthetic_documents", text_table(600, seed=1))
    empty_sources(store, "public_documents", "qorsync_documents", "label_studio_annotations")
    return store
