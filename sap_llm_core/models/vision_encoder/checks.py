"""Sanity checks on a saved vision encoder, shared by the asset checks and the tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sap_llm_core.models.vision_encoder import model as vem
from sap_llm_core.models.vision_encoder.metrics import accuracy
from sap_llm_core.models.vision_encoder.predict import predict
from sap_llm_core.storage import ArtifactStore
from sap_llm_core.training.checkpoint_checks import nonfinite_tensors  # noqa: F401 - re-exported
from sap_llm_core.training.data import load_split


def predict_held_out_batch(checkpoint: Path, store: ArtifactStore, size: int = 16) -> dict[str, Any]:
    """Load the checkpoint from disk (base + adapter + heads) and predict test documents."""
    model, tokenizer, meta = vem.load(checkpoint)
    records = load_split(store, "test", limit=size)
    predictions = predict(
        model,
        tokenizer,
        records,
        max_length=meta.get("max_length", 384),
        max_subtokens_per_word=meta.get("max_subtokens_per_word", 3),
    )
    valid = all(p.document_type in model.labels.document_types for p in predictions)
    return {
        "passed": len(predictions) == len(records) and valid,
        "documents": len(records),
        "batch_type_accuracy": accuracy(
            [r.document_type for r in records], [p.document_type for p in predictions]
        ),
        "fields_found": sum(len(p.fields(r.words)) for p, r in zip(predictions, records, strict=True)),
    }
