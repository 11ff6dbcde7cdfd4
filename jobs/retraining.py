"""The LoRA retraining job and its nightly schedule."""

import dagster as dg

from orchestration.resources import MongoResource, StorageResource
from sap_llm_core.continuous_learning.feedback_window import Cursor, window_since
from sap_llm_core.continuous_learning.pipeline import PMG_FEEDBACK
from sap_llm_core.pmg.graph_store import ProcessMemoryGraph
from sap_llm_core.settings import get_settings

_SETTINGS = get_settings().continuous_learning

lora_retrain = dg.define_asset_job(
    "lora_retrain",
    selection=dg.AssetSelection.groups("continuous_learning"),
    description="PMG snapshot -> feedback training set -> new LoRA adapters -> evaluation -> promotion.",
)


def pending_corrections(mongo: MongoResource, cursor: Cursor):
    """The window of corrections after ``cursor`` in the PMG."""
    with mongo.pmg_database() as db:
        return window_since(ProcessMemoryGraph(db).corrections_since(None), cursor)


def window_run_config(window) -> dict:
    return {
        "ops": {"pmg_feedback": {"config": {"since": window.start.to_json(), "until": window.end.to_json()}}}
    }


@dg.schedule(
    job=lora_retrain,
    cron_schedule=_SETTINGS.nightly_cron,
    execution_timezone=_SETTINGS.timezone,
    description="02:00: retrain when feedback arrived since the last retrain; skip with a reason otherwise.",
)
def nightly_retrain(context: dg.ScheduleEvaluationContext, storage: StorageResource, mongo: MongoResource):
    store = storage.store()
    last = (
        Cursor.from_json(store.read_manifest(PMG_FEEDBACK)["window_end"])
        if store.exists(PMG_FEEDBACK, "manifest.json")
        else Cursor()
    )
    window = pending_corrections(mongo, last)
    if not window.corrections:
        return dg.SkipReason(f"no corrections in the PMG since the last retrain ({last.to_json()})")
    return dg.RunRequest(
        run_key=f"nightly-{window.run_key}",
        run_config=window_run_config(window),
        tags={"sap_llm/trigger": "nightly_retrain", "sap_llm/corrections": str(len(window.corrections))},
    )
