"""Dagster wiring: the one entry point is :mod:`orchestration.definitions`."""
