"""Sensors: PMG feedback -> LoRA retrain."""

import dagster as dg

from sensors.pmg_feedback import pmg_feedback_sensor

defs = dg.Definitions(sensors=[pmg_feedback_sensor])
