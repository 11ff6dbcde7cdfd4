"""Loaders for public datasets in their native formats, each returning records + quarantine rows."""

from __future__ import annotations

from sap_llm_core.corpus.config import PublicDataSettings
from sap_llm_core.corpus.loaders.common import LoadResult
from sap_llm_core.corpus.loaders.cord import load_cord
from sap_llm_core.corpus.loaders.funsd import load_funsd
from sap_llm_core.corpus.loaders.rvl_cdip import load_rvl_cdip
from sap_llm_core.corpus.loaders.sroie import load_sroie

LOADERS = {"funsd": load_funsd, "cord": load_cord, "sroie": load_sroie, "rvl_cdip": load_rvl_cdip}


def load_public(settings: PublicDataSettings) -> dict[str, LoadResult]:
    """Every enabled dataset, in a fixed order; a missing folder gives an empty result and a note."""
    results: dict[str, LoadResult] = {}
    for name in sorted(settings.enabled):
        folder = settings.folder(name)
        if not folder.is_dir():
            result = LoadResult(name)
            result.notes.append(f"{name}: folder {folder} does not exist; 0 documents")
            results[name] = result
            continue
        results[name] = LOADERS[name](folder, settings.max_documents_per_dataset)
    return results


__all__ = ["LOADERS", "LoadResult", "load_cord", "load_funsd", "load_public", "load_rvl_cdip", "load_sroie"]
