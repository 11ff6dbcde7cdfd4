"""Feedback to a decided model on the embedded defaults: seconds from a person's corrections in the
PMG to the registry's decision on the adapter retrained from them (seeds' anchor: < 48 hours).

Runs against the project's own state after ``make run`` (storage, PMG, MLflow store, Dagster
instance): records ``--corrections`` field corrections on training documents (each new value is on
the page), ticks ``pmg_feedback_sensor``, runs exactly the ``lora_retrain`` selection it requests
(snapshot -> training set -> adapter from the champion -> evaluation -> promotion) and reads the
decision from the registry. Results: benchmarks/results/feedback_to_champion.json.

    python benchmarks/feedback_to_champion.py [--corrections 20]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results" / "feedback_to_champion.json"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corrections", type=int, default=20)
    args = parser.parse_args()
    os.environ.setdefault("DAGSTER_HOME", str(ROOT / ".dagster_home"))
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import dagster as dg

    import sensors.pmg_feedback as sensor_module
    from orchestration.definitions import defs
    from orchestration.resources import resources_for
    from sap_llm_core.continuous_learning.pipeline import PMG_FEEDBACK
    from sap_llm_core.pmg import Feedback, FeedbackKind, ProcessMemoryGraph
    from sap_llm_core.settings import get_settings
    from sap_llm_core.training.data import load_split

    resources = resources_for()
    store = resources["storage"].store()
    # The sensor starts where the last retrain's window ended, as it would in the running daemon.
    last = store.read_manifest(PMG_FEEDBACK) if store.exists(PMG_FEEDBACK, "manifest.json") else {}
    cursor = last.get("window_end")
    records = load_split(store, "train")
    pool = random.Random(int(time.time())).sample(records, len(records))  # fresh documents each run
    train = []
    started = time.time()
    with resources["mongo"].pmg_database() as db:
        graph = ProcessMemoryGraph(db)
        for record in pool:
            if len(train) == args.corrections:
                break
            header = record.ground_truth_json().get("header") or {}
            if not header:
                continue
            key, old = sorted(header.items())[0]
            new = next((w for w in record.words if w not in str(old).split()), None)
            if new is None:
                continue
            graph.add_document(record.id, record.document_type, record.language)
            graph.record_feedback(
                Feedback(
                    document_id=record.id,
                    kind=FeedbackKind.FIELD_CORRECTION,
                    author="benchmark",
                    field=f"header.{key}",
                    old_value=str(old),
                    new_value=new,
                    comment=f"benchmark {started:.0f}",
                )
            )
            train.append(record)
    instance = dg.DagsterInstance.get()
    request = sensor_module.pmg_feedback_sensor(
        dg.build_sensor_context(instance=instance, cursor=cursor, resources={"mongo": resources["mongo"]})
    )
    if not isinstance(request, dg.RunRequest):
        raise SystemExit(f"the sensor requested nothing: {request}")
    result = dg.materialize(
        [*defs.assets, *defs.asset_checks],
        selection=request.asset_selection,
        run_config=request.run_config,
        resources=resources,
        instance=instance,
        tags=request.tags,
    )
    decided = time.time()
    registry = result.asset_materializations_for_node("model_registry")[-1].metadata["details"].value
    retrained = {}
    for model in request.tags["sap_llm/retrain"].split(","):
        metadata = result.asset_materializations_for_node(model)[-1].metadata
        retrained[model] = {
            "training_seconds": metadata["training_seconds"].value,
            "train_documents": metadata["train_documents"].value,
            "parent_version": metadata["parent_version"].value,
            "decision": registry.get(model),
        }
    payload = {
        "benchmark": "feedback_to_champion",
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform()},
        "corrections": len(train),
        "run_key": request.run_key,
        "seconds_feedback_to_decision": round(decided - started, 1),
        "seed_anchor_seconds": 48 * 3600,
        "models": retrained,
        "settings": {"thresholds": get_settings().continuous_learning.thresholds},
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(payload, indent=2, sort_keys=True, default=str))
    print(json.dumps(payload, indent=2, default=str))


if __name__ == "__main__":
    main()
