"""Training data for the language models: the ``corpus_splits`` contract read through
:func:`sap_llm_core.training.data.load_split` (which validates every row and names bad record ids),
plus the extraction-specific filter: only records with ADC ground truth are examples for this task.
"""

from __future__ import annotations

from sap_llm_core.models.base_lm.formatting import adc_json
from sap_llm_core.schema import DocumentRecord
from sap_llm_core.storage import ArtifactStore
from sap_llm_core.training.data import TrainingDataError, data_version, load_split

__all__ = ["TrainingDataError", "data_version", "extraction_records", "load_split"]


def extraction_records(store: ArtifactStore, split: str, limit: int | None = None) -> list[DocumentRecord]:
    """Records of ``split`` that carry ADC ground truth (header / line items); none at all fails.

    The whole split is validated first, so a schema violation anywhere fails before any training.
    """
    records = load_split(store, split)
    usable = [r for r in records if adc_json(r) is not None]
    if not usable:
        raise TrainingDataError(
            f"split {split!r} has {len(records)} record(s) but none with ADC ground truth "
            "(header / line_items): nothing to train or evaluate the language models on"
        )
    return usable[:limit] if limit else usable
