"""Round trip through a real Label Studio server started for the test (its own tool environment).

A QorSync document that needs review is pushed with its words and boxes as pre-annotations; a
reviewer (played here through the SDK, as the UI would send it) corrects one word and labels it;
the pull returns a corrected record with the same id, boxes intact, and the correction in the
ground truth.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import time
from collections.abc import Iterator

import httpx
import pytest
from corpus_helpers import REPO_ROOT, write_source

from sap_llm_core.corpus import pipeline
from sap_llm_core.corpus.config import LabelStudioSettings
from sap_llm_core.corpus.label_studio_bridge import LabelStudioBridge, record_from_annotation, task_for
from sap_llm_core.corpus.loaders.common import make_record
from sap_llm_core.corpus.records_io import read_record_asset
from sap_llm_core.schema import FieldSpan, table_to_records

pytestmark = [pytest.mark.integration, pytest.mark.slow]
LABEL_STUDIO = REPO_ROOT / ".tools" / "label-studio" / "bin" / "label-studio"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def label_studio(tmp_path_factory) -> Iterator[tuple[str, str]]:
    if not LABEL_STUDIO.exists():
        made = subprocess.run(
            ["make", "label-studio-env"], cwd=REPO_ROOT, capture_output=True, text=True, timeout=1200
        )
        if made.returncode != 0 or not LABEL_STUDIO.exists():
            pytest.skip(f"could not create the Label Studio tool environment: {made.stderr[-500:]}")
    data = tmp_path_factory.mktemp("label-studio")
    port, token = _free_port(), secrets.token_hex(20)
    env = {
        **os.environ,
        "LABEL_STUDIO_BASE_DATA_DIR": str(data),
        "LABEL_STUDIO_ENABLE_LEGACY_API_TOKEN": "true",
        "LABEL_STUDIO_USERNAME": "reviewer@example.com",
        "LABEL_STUDIO_PASSWORD": secrets.token_hex(12),
        "LABEL_STUDIO_USER_TOKEN": token,
        "LATEST_VERSION_CHECK": "false",
        "COLLECT_ANALYTICS": "false",
    }
    log = (data / "server.log").open("w")
    process = subprocess.Popen(
        [str(LABEL_STUDIO), "start", "--no-browser", "--port", str(port), "--internal-host", "127.0.0.1"],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            if process.poll() is not None:
                pytest.fail(f"Label Studio exited: {(data / 'server.log').read_text()[-2000:]}")
            try:
                if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(2)
        else:
            pytest.fail("Label Studio did not become healthy within 300 s")
        yield url, token
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
        log.close()


def _needs_review():
    words = ["Invoice", "R-1", "Total", "98.00", "EUR"]
    return make_record(
        id="qorsync:d2",
        source="qorsync",
        document_type="SUPPLIER_INVOICE",
        language="EN",
        page_width=1000.0,
        page_height=500.0,
        ocr_text=" ".join(words),
        words=words,
        boxes=[
            [10, 40, 45, 70],
            [50, 40, 90, 70],
            [100, 40, 150, 70],
            [160, 40, 200, 70],
            [205, 40, 240, 70],
        ],
        ground_truth=json.dumps({"invoice_number": "R-1"}),
        field_spans=[FieldSpan(field="invoice_number", label="invoice_number", word_indices=[1])],
        extra=json.dumps({"needs_review": True, "rejected_fields": ["total"]}),
    )


def test_task_and_annotation_mapping_round_trips_without_a_server():
    record = _needs_review()
    task = task_for(record)
    back = record_from_annotation(task["data"], task["predictions"][0]["result"])
    assert (back.id, back.words, back.boxes) == (record.id, record.words, record.boxes)
    assert json.loads(back.ground_truth) == {"invoice_number": "R-1"}


def test_push_review_pull_round_trip(label_studio, store, monkeypatch):
    url, token = label_studio
    document = _needs_review()
    reviewed_elsewhere = document.model_copy(update={"id": "qorsync:d9", "extra": "{}"})
    write_source(store, "qorsync_documents", [document, reviewed_elsewhere])
    settings = LabelStudioSettings(project_title="SAP_LLM review test")

    first = pipeline.build_label_studio_annotations(store, settings, url, token)
    assert first["enabled"] and first["pushed"] == 1  # only the one that needs review
    assert first["rows"] == 0  # nobody has annotated yet

    # The reviewer corrects the total (98.00 -> 99.00) and labels it, as the UI would submit.
    bridge = LabelStudioBridge(url, token, settings.project_title)
    task = bridge._tasks()[0]
    assert task.data["doc_id"] == "qorsync:d2"
    prediction = task.predictions[0]
    result = [dict(r) for r in (prediction["result"] if isinstance(prediction, dict) else prediction.result)]
    rectangle = next(r for r in result if r["id"] == "w3" and r["type"] == "rectangle")
    for region in result:
        if region["id"] == "w3" and region["type"] == "textarea":
            region["value"] = {**region["value"], "text": ["99.00"]}
    result.append(
        {
            **rectangle,
            "from_name": "label",
            "type": "labels",
            "value": {**rectangle["value"], "labels": ["total"]},
        }
    )
    bridge.client.annotations.create(id=task.id, result=result)

    second = pipeline.build_label_studio_annotations(store, settings, url, token)
    assert second["pushed"] == 0  # no duplicate task for the same document
    records = table_to_records(read_record_asset(store, "label_studio_annotations"))
    assert [r.id for r in records] == ["qorsync:d2"]  # same id: it supersedes the original downstream
    corrected = records[0]
    assert corrected.source == "label_studio"
    assert corrected.words == ["Invoice", "R-1", "Total", "99.00", "EUR"]
    assert corrected.boxes == document.boxes  # percent <-> 0..1000 is exact
    assert json.loads(corrected.ground_truth) == {"invoice_number": "R-1", "total": "99.00"}
    assert {s.label: s.word_indices for s in corrected.field_spans} == {"invoice_number": [1], "total": [3]}
    assert json.loads(corrected.extra)["original_source"] == "qorsync"


def test_off_without_url_or_token(store):
    manifest = pipeline.build_label_studio_annotations(store, LabelStudioSettings(), None, None)
    assert manifest["enabled"] is False and manifest["rows"] == 0
    assert "LABEL_STUDIO_URL" in manifest["reason"]


def test_tool_environment_is_separate_from_the_main_one():
    """The server is not importable from the project's environment: only the SDK is."""
    import importlib.util

    assert importlib.util.find_spec("label_studio_sdk") is not None
    assert importlib.util.find_spec("label_studio") is None
