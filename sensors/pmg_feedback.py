"""Feedback in the PMG -> LoRA retraining, once per window of corrections."""

import dagster as dg

from jobs.retraining import lora_retrain, pending_corrections, retrain_request
from orchestration.resources import MongoResource
from sap_llm_core.continuous_learning.feedback_window import Cursor
from sap_llm_core.settings import get_settings

_SETTINGS = get_settings().continuous_learning


@dg.sensor(
    job=lora_retrain,
    minimum_interval_seconds=_SETTINGS.sensor_interval_s,
    default_status=dg.DefaultSensorStatus.STOPPED,
    description="Counts corrections since the last retrain and requests lora_retrain past a per-model "
    "threshold; the run key names the window, so a window retrains once.",
)
def pmg_feedback_sensor(context: dg.SensorEvaluationContext, mongo: MongoResource):
    cursor = Cursor.from_json(context.cursor)
    window = pending_corrections(mongo, cursor)
    due = window.models_due(_SETTINGS.thresholds)
    if not due:
        return dg.SkipReason(
            f"{len(window.corrections)} new correction(s) {window.counts_by_model or ''}; "
            f"thresholds {_SETTINGS.thresholds}"
        )
    context.update_cursor(window.end.to_json())
    return retrain_request(
        window,
        due,
        window.run_key,
        {
            "sap_llm/trigger": "pmg_feedback_sensor",
            "sap_llm/models": ",".join(due),
            "sap_llm/corrections": str(len(window.corrections)),
        },
    )
