"""Evaluations score documents the way a serving worker does: one document at a time on one intra-op
thread (a worker per core). On a busy 2-core machine torch's default of all cores makes each tiny
forward pass wait on spinning threads: the router measured 3.4 s per document that way, 44 ms on one
thread."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch


@contextmanager
def serving_threads(threads: int = 1) -> Iterator[None]:
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(previous)
