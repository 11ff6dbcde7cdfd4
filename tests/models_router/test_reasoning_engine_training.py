"""Training end to end with a tiny config on a small synthetic corpus: learned held-out quality well
above the majority baseline, 100% KB-valid endpoints, a saved adapter that reloads and routes, finite
weights, written metrics and reliability plot."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sap_llm_core.models.reasoning_engine.checks import nonfinite_tensors, route_held_out_batch
from sap_llm_core.models.reasoning_engine.model import Router
from sap_llm_core.models.reasoning_engine.train import train
from sap_llm_core.storage import ArtifactStore
from sap_llm_core.training.data import TrainingDataError
from sap_llm_core.training.reporter import TrainingReporter
from tests.models_router.conftest import TINY_HP


@pytest.fixture(scope="module")
def trained(corpus_root: str, tmp_path_factory: pytest.TempPathFactory) -> dict:
    out = tmp_path_factory.mktemp("router_run")
    config = {"storage_root": corpus_root, "output_dir": str(out), "hyperparameters": TINY_HP}
    return train(config, TrainingReporter("reasoning_engine"))


def test_learns_routing_well_above_the_majority_baseline(trained: dict) -> None:
    m = trained["metrics"]
    assert m["routing_accuracy"] >= max(0.85, m["majority_baseline_accuracy"] + 0.4), m
    assert m["api_validity"] == 1.0
    assert 0.0 <= m["ece"] <= 0.15
    assert m["latency_p95_ms"] > 0 and m["train_samples_per_second"] > 0
    assert m["loss_last"] < m["loss_first"]
    assert trained["dpo_loss_history"], "DPO stage did not run"


def test_artifacts_reload_and_route_valid_endpoints(trained: dict, corpus_root: str) -> None:
    out = Path(trained["output_dir"])
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["routing_accuracy"] == trained["metrics"]["routing_accuracy"]
    assert (out / "reliability.png").read_bytes()[:4] == b"\x89PNG"
    checkpoint = Path(trained["checkpoint_dir"])
    assert (checkpoint / "adapter" / "adapter_config.json").is_file()
    bad, total = nonfinite_tensors(checkpoint)
    assert total > 0 and bad == []
    outcome = route_held_out_batch(checkpoint, ArtifactStore(corpus_root))
    assert outcome["passed"] and outcome["valid_endpoints"] == outcome["documents"] > 0
    assert Router.load(checkpoint).temperature == trained["metrics"]["temperature"]


def test_unknown_hyperparameter_and_empty_split_fail_clearly(copy_of_corpus: str, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="lora_rank"):
        train(
            {"storage_root": copy_of_corpus, "hyperparameters": {"lora_rank": 4}},
            TrainingReporter("reasoning_engine"),
        )
    store = ArtifactStore(copy_of_corpus)
    manifest = store.read_manifest("corpus_splits")
    manifest["files"]["train"] = []
    store.write_manifest("corpus_splits", manifest)
    with pytest.raises(TrainingDataError, match="empty"):
        train(
            {"storage_root": copy_of_corpus, "output_dir": str(tmp_path)},
            TrainingReporter("reasoning_engine"),
        )
