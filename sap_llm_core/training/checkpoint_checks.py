"""Checks on a saved checkpoint that hold for every model, whatever its architecture."""

from __future__ import annotations

from pathlib import Path

import torch
from safetensors.torch import load_file


def nonfinite_tensors(checkpoint: Path) -> tuple[list[str], int]:
    """Names of saved tensors (every ``*.safetensors`` below ``checkpoint``) holding NaN/inf, and how
    many tensors were read; zero read means nothing was saved, which is a failure too."""
    bad: list[str] = []
    total = 0
    for file in sorted(Path(checkpoint).rglob("*.safetensors")):
        for name, tensor in load_file(file).items():
            total += 1
            if tensor.is_floating_point() and not torch.isfinite(tensor).all():
                bad.append(f"{file.parent.name}/{file.name}:{name}")
    return bad, total
