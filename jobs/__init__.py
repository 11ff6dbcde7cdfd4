"""Asset jobs and schedules."""

import dagster as dg

from jobs.retraining import lora_retrain, nightly_retrain

# Everything, in dependency order: what `make run` materialises.
materialize_all = dg.define_asset_job(
    "materialize_all",
    selection=dg.AssetSelection.all(),
    description="Materialise the whole asset graph on the configured defaults.",
)

defs = dg.Definitions(jobs=[materialize_all, lora_retrain], schedules=[nightly_retrain])
