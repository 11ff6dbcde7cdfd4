"""The LoRA retraining job and its nightly schedule."""

import dagster as dg

from orchestration.resources import MongoResource, StorageResource
from sap_llm_core.continuous_learning.feedback_window import Cursor, window_since
from sap_llm_core.continuous_learning.pipeline import PMG_FEEDBACK
from sap_llm_core.pmg.graph_store import ProcessMemoryGraph
from sap_llm_core.settings import get_settings

_SETTINGS = get_settings().continuous_learning

# Models whose asset can train a new adapter on the feedback training set, continuing from the
# registry's champion (``training_data: feedback``).
RETRAINABLE = ("vision_encoder", "reasoning_engine")
FEEDBACK_ASSETS = ("pmg_feedback", "feedback_training_set")

lora_retrain = dg.define_asset_job(
    "lora_retrain",
    selection=dg.AssetSelection.groups("continuous_learning")
    | dg.AssetSelection.assets(*RETRAINABLE, *(f"{m}_evaluation" for m in RETRAINABLE), "model_registry"),
    description="PMG snapshot -> feedback training set -> new LoRA adapters on the champions -> "
    "their evaluation -> promotion. A run request selects the models whose feedback is due.",
)


def pending_corrections(mongo: MongoResource, cursor: Cursor):
    """The window of corrections after ``cursor`` in the PMG."""
    with mongo.pmg_database() as db:
        return window_since(ProcessMemoryGraph(db).corrections_since(None), cursor)


def retrain_request(window, models: list[str], run_key: str, tags: dict[str, str]) -> dg.RunRequest:
    """A lora_retrain run over exactly ``window``: the feedback assets always (the snapshot names the
    feedback used), and for each retrainable model its feedback retrain, evaluation and promotion."""
    retrain = [m for m in models if m in RETRAINABLE]
    selection = [*FEEDBACK_ASSETS]
    if retrain:
        selection += [*retrain, *(f"{m}_evaluation" for m in retrain), "model_registry"]
    ops: dict = {"pmg_feedback": {"config": {"since": window.start.to_json(), "until": window.end.to_json()}}}
    ops.update({m: {"config": {"training_data": "feedback"}} for m in retrain})
    return dg.RunRequest(
        run_key=run_key,
        run_config={"ops": ops},
        asset_selection=[dg.AssetKey(a) for a in selection],
        tags={**tags, "sap_llm/retrain": ",".join(retrain) or "none"},
    )


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
    return retrain_request(
        window,
        sorted(window.counts_by_model),
        f"nightly-{window.run_key}",
        {"sap_llm/trigger": "nightly_retrain", "sap_llm/corrections": str(len(window.corrections))},
    )
