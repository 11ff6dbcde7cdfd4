"""Sensors (PMG feedback -> LoRA retrain, new raw documents, run-failure alerts) join here."""

import dagster as dg

defs = dg.Definitions(sensors=[])
