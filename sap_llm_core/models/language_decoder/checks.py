"""The adapter check of ``language_decoder``: load base + adapter from their folders and decode a few
held-out test documents with the constraint. Here, not in ``assets/``, so the CLI and tests run it too.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sap_llm_core.storage import ArtifactStore


def predict_held_out_batch(
    base_dir: str | Path, adapter_dir: str | Path, store: ArtifactStore, documents: int = 3
) -> dict[str, Any]:
    """``passed`` when every constrained output parses, is schema-compliant and copies every value
    from its document; the figures and the first output go into the check's metadata."""
    from sap_llm_core.models.language_decoder.extract import evaluate, load_extractor
    from sap_llm_core.models.lm_data import extraction_records

    extractor = load_extractor(base_dir, adapter_dir)
    known = extractor.schema.types
    records = [r for r in extraction_records(store, "test") if r.document_type in known][:documents]
    if not records:
        return {"passed": False, "problem": "no held-out test document of a type the model knows"}
    ev = evaluate(extractor, records, constrained=True)
    metrics = ev.metrics("batch")
    passed = (
        metrics["batch/valid_json"] == 1.0
        and metrics["batch/schema_compliance"] == 1.0
        and metrics["batch/hallucination_rate"] == 0.0
    )
    first = ev.examples[0]["output"][:500] if ev.examples else ""
    return {"passed": passed, **{k: float(v) for k, v in metrics.items()}, "first_output": first}
