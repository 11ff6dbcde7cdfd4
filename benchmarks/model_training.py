"""Vision encoder throughput on this machine: training samples/s and inference documents/s.

Runs the real trainer (default hyperparameters from params.yaml, embedded MiniLM backbone) on a
fresh synthetic corpus for a fixed number of documents, then times inference on held-out documents.
Writes ``benchmarks/results/model_training.json``. The load average is recorded beside the numbers
because a shared machine changes them several-fold.

    PYTHONPATH=. HF_HUB_OFFLINE=1 python benchmarks/model_training.py [--train-documents 96]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path

import torch

from sap_llm_core.models.vision_encoder import model as vem
from sap_llm_core.models.vision_encoder.predict import predict
from sap_llm_core.models.vision_encoder.train import hyperparameters, train
from sap_llm_core.schema import table_to_records
from sap_llm_core.storage import ArtifactStore
from sap_llm_core.synthetic.config import GeneratorConfig
from sap_llm_core.synthetic.corpus import ASSET, generate_corpus
from sap_llm_core.training.data import load_split, write_hash_splits
from sap_llm_core.training.reporter import TrainingReporter

RESULT = Path(__file__).resolve().parent / "results" / "model_training.json"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--train-documents", type=int, default=96)
    parser.add_argument("--inference-documents", type=int, default=64)
    args = parser.parse_args()
    os.environ.pop("MLFLOW_TRACKING_URI", None)
    with tempfile.TemporaryDirectory() as tmp:
        store = ArtifactStore(str(Path(tmp) / "data"))
        manifest, _ = generate_corpus(
            GeneratorConfig(num_documents=500, render_images=False), store, workers=1
        )
        records = [
            r for s in manifest["shards"] for r in table_to_records(store.read_table(ASSET, s["path"]))
        ]
        write_hash_splits(store, records, manifest["data_version"])
        hp = {
            "max_train_documents": args.train_documents,
            "epochs": 1,
            "max_eval_documents": 8,
            "save_steps": 0,
        }
        load_before = os.getloadavg()
        result = train(
            {"storage_root": store.root, "output_dir": str(Path(tmp) / "out"), "hyperparameters": hp},
            TrainingReporter("vision_encoder"),
        )
        defaults = hyperparameters({"hyperparameters": hp})
        model, tokenizer, meta = vem.load(result["checkpoint_dir"])
        test = load_split(store, "test", limit=args.inference_documents)
        predict(model, tokenizer, test[:4], max_length=meta["max_length"])  # warm-up
        started = time.perf_counter()
        predict(
            model,
            tokenizer,
            test,
            max_length=meta["max_length"],
            max_subtokens_per_word=meta["max_subtokens_per_word"],
        )
        inference_seconds = time.perf_counter() - started
    payload = {
        "model": "vision_encoder",
        "backbone": defaults.base_model,
        "device": "cpu",
        "cpu_cores": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "platform": platform.platform(),
        "load_average_before": load_before,
        "load_average_after": os.getloadavg(),
        "train_documents": args.train_documents,
        "train_samples_per_second": result["metrics"]["train_samples_per_second"],
        "training_seconds": result["metrics"]["training_seconds"],
        "inference_documents": len(test),
        "inference_documents_per_second": len(test) / inference_seconds,
        "inference_documents_per_hour": 3600 * len(test) / inference_seconds,
        "hyperparameters": defaults.model_dump(),
    }
    RESULT.parent.mkdir(parents=True, exist_ok=True)
    RESULT.write_text(json.dumps(payload, indent=2) + "\n")
    print(json.dumps({k: v for k, v in payload.items() if k != "hyperparameters"}, indent=2))


if __name__ == "__main__":
    main()
