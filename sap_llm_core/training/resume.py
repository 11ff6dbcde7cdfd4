"""Resumable training stages: fingerprints, completion markers and the latest trainer checkpoint.

A multi-stage trainer (pre-training, SFT, DPO, ...) keeps, per stage:

* an output folder (``save_pretrained``) with a completion marker written *last*: a stage whose marker
  carries the current fingerprint is done and is skipped on a rerun;
* a ``transformers.Trainer`` output folder holding ``checkpoint-N`` folders every ``save_steps`` and
  the fingerprint of the settings that wrote them: an interrupted stage resumes from its newest
  complete checkpoint, while checkpoints of other settings or data are removed, never resumed.

The fingerprint of a stage should cover everything that changes its result (its hyperparameters, the
data, the fingerprint of the stage it starts from); chaining them lets a change to a late stage keep
the earlier ones.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
from pathlib import Path
from typing import Any

STAGE_MARKER = "STAGE_COMPLETE.json"
FINGERPRINT_FILE = "fingerprint.json"
TRAINER_STATE = "trainer_state.json"  # transformers writes it last into a checkpoint
_CHECKPOINT = re.compile(r"^checkpoint-(\d+)$")


def fingerprint(*parts: Any) -> str:
    """A stable hash of JSON-serialisable parts (dict key order does not matter)."""
    text = json.dumps(parts, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def _write_json(path: Path, value: dict[str, Any]) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(value, indent=2, sort_keys=True, default=str))
    os.replace(tmp, path)  # atomic: a reader sees the old file or the whole new one


def completed_stage(directory: str | Path, stage_fingerprint: str) -> dict[str, Any] | None:
    """The marker's contents when ``directory`` holds a stage completed with this fingerprint."""
    marker = Path(directory) / STAGE_MARKER
    if not marker.is_file():
        return None
    info = json.loads(marker.read_text())
    return info if info.get("fingerprint") == stage_fingerprint else None


def mark_stage_complete(directory: str | Path, stage_fingerprint: str, **info: Any) -> None:
    """Write the completion marker; call it after everything else of the stage is saved."""
    _write_json(Path(directory) / STAGE_MARKER, {**info, "fingerprint": stage_fingerprint})


def reset_stage(directory: str | Path) -> Path:
    """An empty ``directory`` for a stage that is about to be (re)written."""
    directory = Path(directory)
    if directory.exists():
        shutil.rmtree(directory)
    directory.mkdir(parents=True)
    return directory


def latest_checkpoint(directory: str | Path) -> Path | None:
    """The ``checkpoint-N`` with the highest N whose trainer state was written (a complete save)."""
    directory = Path(directory)
    if not directory.is_dir():
        return None
    steps = [
        (int(m.group(1)), p)
        for p in directory.iterdir()
        if (m := _CHECKPOINT.match(p.name)) and (p / TRAINER_STATE).is_file()
    ]
    return max(steps)[1] if steps else None


def resumable_checkpoint(directory: str | Path, stage_fingerprint: str, resume: bool = True) -> Path | None:
    """Prepare a trainer output folder and return the checkpoint to resume from, if any.

    The folder is emptied when resuming is off or when it was written with another fingerprint
    (other settings or data: its checkpoints are stale); then it is stamped with this fingerprint.
    """
    directory = Path(directory)
    stamp = directory / FINGERPRINT_FILE
    stale = not stamp.is_file() or json.loads(stamp.read_text()).get("fingerprint") != stage_fingerprint
    if directory.exists() and (stale or not resume):
        shutil.rmtree(directory)
    directory.mkdir(parents=True, exist_ok=True)
    _write_json(stamp, {"fingerprint": stage_fingerprint})
    return latest_checkpoint(directory)
