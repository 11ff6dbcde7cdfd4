"""Dagster assets and their checks, one module per group of the asset graph."""
