"""Sanity checks on a saved router, shared by the asset checks and the tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sap_llm_core.storage import ArtifactStore
from sap_llm_core.training.checkpoint_checks import nonfinite_tensors  # noqa: F401 - re-exported
from sap_llm_core.training.data import load_split


def route_held_out_batch(checkpoint: Path, store: ArtifactStore, size: int = 32) -> dict[str, Any]:
    """Load base + adapter from disk and route test documents (no retrieval context: the check is
    about the adapter, not the index); every endpoint must be a knowledge-base routing. The batch is
    the first ``size`` routable documents: public datasets (receipts, forms) have no SAP routing."""
    from sap_llm_core.models.reasoning_engine.examples import Routing, build_examples
    from sap_llm_core.models.reasoning_engine.model import Router
    from sap_llm_core.models.reasoning_engine.train import load_kb

    router = Router.load(checkpoint)
    kb, _ = load_kb(store)
    examples, _ = build_examples(load_split(store, "test"), kb, None)
    examples = examples[:size]
    outputs = router.route(examples)
    preds = [Routing(o["endpoint"], o["entity"], o["method"]) for o in outputs]
    valid = [kb.is_valid(p) for p in preds]
    correct = [p == e.label for p, e in zip(preds, examples, strict=True)]
    return {
        "passed": bool(examples) and all(valid),
        "documents": len(examples),
        "valid_endpoints": sum(valid),
        "batch_routing_accuracy": sum(correct) / len(correct) if correct else 0.0,
    }
