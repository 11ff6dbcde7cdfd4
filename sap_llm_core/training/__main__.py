"""``python -m sap_llm_core.training <model> --config <config.json | inline JSON>``.

The one command every launcher runs (local subprocess, Kubernetes pod, DVC stage, a shell). The
config may be a file path or, for pods that share no filesystem with the launcher, the JSON itself.
The last stdout line is the result as JSON, so a shell caller gets it too.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path
from typing import Any

from sap_llm_core.training.registry import TRAINERS, get_trainer
from sap_llm_core.training.reporter import TrainingReporter


def load_config(value: str | None) -> dict[str, Any]:
    if not value:
        return {}
    text = value if value.lstrip().startswith("{") else Path(value).read_text(encoding="utf-8")
    config = json.loads(text)
    if not isinstance(config, dict):
        raise SystemExit(f"--config must hold a JSON object, got {type(config).__name__}")
    return config


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sap_llm_core.training", description=__doc__)
    parser.add_argument("model", choices=sorted(TRAINERS))
    parser.add_argument("--config", help="JSON file or inline JSON object with the trainer config")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    config = load_config(args.config)
    trainer = get_trainer(args.model)
    with TrainingReporter.open(args.model, config) as reporter:
        result = reporter.report_result(trainer(config, reporter))
    print(json.dumps(result, default=str, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
