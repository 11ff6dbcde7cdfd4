"""``sap-llm corpus ...``: the corpus pipeline's steps for ``dvc repro`` and for people.

Each command is one asset of the Dagster graph and calls the very function its asset calls
(``sap_llm_core.corpus.pipeline``), with the defaults from ``params.yaml``; that is why ``dvc repro``
and a Dagster materialisation with the same params produce byte-identical files.
"""

from __future__ import annotations

import json
from typing import Annotated

import typer

corpus_app = typer.Typer(
    help="Corpus pipeline: sources, unified corpus, splits, statistics.", no_args_is_help=True
)

StorageRoot = Annotated[
    str | None, typer.Option("--storage-root", help="Override storage.root (a folder or fsspec URL).")
]


def _store(storage_root: str | None):
    from sap_llm_core.settings import get_settings
    from sap_llm_core.storage import ArtifactStore

    return ArtifactStore(storage_root or get_settings().storage.resolved_root())


def _spark():
    from sap_llm_core.corpus.spark.session import build_session
    from sap_llm_core.settings import get_settings

    return build_session(get_settings().spark)


def _report(manifest: dict, keys: tuple[str, ...]) -> None:
    typer.echo(json.dumps({k: manifest.get(k) for k in keys}, indent=2, sort_keys=True, default=str))


@corpus_app.command("public")
def public(storage_root: StorageRoot = None) -> None:
    """public_documents: FUNSD, CORD, SROIE, RVL-CDIP from their native folders."""
    from sap_llm_core.corpus.pipeline import build_public_documents
    from sap_llm_core.settings import get_settings

    manifest = build_public_documents(_store(storage_root), get_settings().public_data)
    _report(manifest, ("rows", "quarantined", "datasets", "data_version"))


@corpus_app.command("qorsync")
def qorsync(storage_root: StorageRoot = None) -> None:
    """qorsync_documents: extraction from $QORSYNC_DB_URI (0 rows and a reason when unset)."""
    from sap_llm_core.corpus.config import QorSyncSettings
    from sap_llm_core.corpus.pipeline import build_qorsync_documents
    from sap_llm_core.settings import get_settings

    manifest = build_qorsync_documents(_store(storage_root), get_settings().qorsync, QorSyncSettings.db_uri())
    _report(manifest, ("enabled", "reason", "mode", "rows", "quarantined", "watermark", "data_version"))


@corpus_app.command("label-studio")
def label_studio(storage_root: StorageRoot = None) -> None:
    """label_studio_annotations: push documents needing review, pull finished annotations."""
    from sap_llm_core.corpus.config import LabelStudioSettings
    from sap_llm_core.corpus.pipeline import build_label_studio_annotations
    from sap_llm_core.settings import get_settings

    manifest = build_label_studio_annotations(
        _store(storage_root),
        get_settings().label_studio,
        LabelStudioSettings.url(),
        LabelStudioSettings.token(),
    )
    _report(manifest, ("enabled", "reason", "pushed", "rows", "quarantined", "data_version"))


@corpus_app.command("unify")
def unify(storage_root: StorageRoot = None) -> None:
    """unified_corpus: union, normalise, dedupe, quality filters (Spark)."""
    from sap_llm_core.corpus.pipeline import build_unified_corpus
    from sap_llm_core.settings import get_settings

    manifest = build_unified_corpus(_spark(), _store(storage_root), get_settings().quality)
    _report(manifest, ("rows_in", "rows", "quarantined", "quarantined_by_stage", "data_version"))


@corpus_app.command("splits")
def splits(storage_root: StorageRoot = None) -> None:
    """corpus_splits: hash-based train/val/test (Spark)."""
    from sap_llm_core.corpus.pipeline import build_corpus_splits
    from sap_llm_core.settings import get_settings

    manifest = build_corpus_splits(_spark(), _store(storage_root), get_settings().splits)
    _report(manifest, ("rows", "counts", "data_version"))


@corpus_app.command("statistics")
def statistics(storage_root: StorageRoot = None) -> None:
    """corpus_statistics: statistics.json, splits.json, label_distribution.json, plots (Spark)."""
    from sap_llm_core.corpus.pipeline import build_corpus_statistics

    manifest = build_corpus_statistics(_spark(), _store(storage_root))
    _report(manifest, ("documents", "data_version"))


@corpus_app.command("gx-sync")
def gx_sync() -> None:
    """Write the GX suites, validation definitions and checkpoints under great_expectations/."""
    from sap_llm_core.corpus.quality.gx_suites import GX_ROOT, sync_project
    from sap_llm_core.settings import get_settings

    settings = get_settings()
    sync_project(settings.quality, settings.splits)
    typer.echo(f"GX project synced under {GX_ROOT}")
