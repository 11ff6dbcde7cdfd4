"""Human review through Label Studio (label-studio-sdk 2.x).

Push: a document needing review becomes a task whose pre-annotation (a prediction) holds one region
per word -- a rectangle with its box, a transcription with its text and, where a field span covers
the word, a label -- so reviewers correct rather than draw. Pull: each finished task's latest
annotation becomes a corrected record with the *same id* as the original, so ``unified_corpus``
replaces the original with it (the original is quarantined as superseded, never silently lost).

Coordinates: Label Studio speaks percent of the image, the unified record 0..1000; one is ten times
the other, so a round trip keeps every box exactly.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any
from xml.sax.saxutils import quoteattr

from sap_llm_core.corpus.document_types import ALLOWED_DOCUMENT_TYPES
from sap_llm_core.corpus.loaders.common import LoadResult, add_document, make_record
from sap_llm_core.schema import DocumentRecord, FieldSpan

SOURCE = "label_studio"
MODEL_VERSION = "sap-llm-corpus-preannotation"
BASE_LABELS = ("company", "date", "address", "total", "document_number", "vendor", "customer")


def label_config(labels: Iterable[str]) -> str:
    """OCR-correction interface: word boxes, per-region transcription and labels, a type choice."""
    label_tags = "".join(f"<Label value={quoteattr(v)}/>" for v in sorted(set(labels) | set(BASE_LABELS)))
    type_tags = "".join(f"<Choice value={quoteattr(t)}/>" for t in ALLOWED_DOCUMENT_TYPES)
    return (
        "<View>"
        '<Image name="image" value="$image"/>'
        f'<Labels name="label" toName="image">{label_tags}</Labels>'
        '<Rectangle name="bbox" toName="image" strokeWidth="2"/>'
        '<TextArea name="transcription" toName="image" editable="true" perRegion="true" '
        'required="false" maxSubmissions="1" rows="1"/>'
        f'<Choices name="document_type" toName="image" choice="single">{type_tags}</Choices>'
        "</View>"
    )


def _geometry(box: Sequence[int], width: float, height: float) -> dict[str, Any]:
    x0, y0, x1, y1 = box
    return {"x": x0 / 10, "y": y0 / 10, "width": (x1 - x0) / 10, "height": (y1 - y0) / 10, "rotation": 0}


def task_for(record: DocumentRecord) -> dict[str, Any]:
    """One Label Studio task (data + a prediction with every word as a region)."""
    labels_by_word: dict[int, str] = {}
    for span in record.field_spans:
        for index in span.word_indices:
            labels_by_word.setdefault(index, span.label)
    result: list[dict[str, Any]] = []
    size = {"original_width": int(record.page_width), "original_height": int(record.page_height)}
    for index, (word, box) in enumerate(zip(record.words, record.boxes, strict=True)):
        region = f"w{index}"
        geometry = _geometry(box, record.page_width, record.page_height)
        common = {"id": region, "to_name": "image", **size, "image_rotation": 0}
        result.append({**common, "from_name": "bbox", "type": "rectangle", "value": geometry})
        result.append(
            {
                **common,
                "from_name": "transcription",
                "type": "textarea",
                "value": {**geometry, "text": [word]},
            }
        )
        if index in labels_by_word:
            result.append(
                {
                    **common,
                    "from_name": "label",
                    "type": "labels",
                    "value": {**geometry, "labels": [labels_by_word[index]]},
                }
            )
    result.append(
        {
            "id": "doctype",
            "from_name": "document_type",
            "to_name": "image",
            "type": "choices",
            "value": {"choices": [record.document_type]},
        }
    )
    return {
        "data": {
            "image": record.image_path or f"sap-llm://{record.id}",
            "doc_id": record.id,
            "source": record.source,
            "document_type": record.document_type,
            "subtype": record.subtype,
            "language": record.language,
            "page_width": record.page_width,
            "page_height": record.page_height,
            "content_sha256": record.content_sha256,
        },
        "predictions": [{"model_version": MODEL_VERSION, "result": result}],
    }


def record_from_annotation(data: dict[str, Any], result: list[dict[str, Any]]) -> DocumentRecord:
    """A corrected record from one annotation's result list (words ordered by region number)."""
    regions: dict[str, dict[str, Any]] = {}
    document_type = data["document_type"]
    for item in result:
        if item.get("type") == "choices":
            choices = item["value"].get("choices") or []
            document_type = choices[0] if choices else document_type
            continue
        region = regions.setdefault(item["id"], {})
        value = item["value"]
        region.setdefault(
            "box",
            [
                round(value["x"] * 10),
                round(value["y"] * 10),
                round((value["x"] + value["width"]) * 10),
                round((value["y"] + value["height"]) * 10),
            ],
        )
        if item["type"] == "textarea":
            region["text"] = " ".join(value.get("text") or []).strip()
        elif item["type"] == "labels":
            region["label"] = (value.get("labels") or [None])[0]

    def order(key: str) -> tuple[int, float, float]:
        box = regions[key]["box"]
        return (int(key[1:]), 0, 0) if key[:1] == "w" and key[1:].isdigit() else (10**9, box[1], box[0])

    words: list[str] = []
    boxes: list[list[int]] = []
    spans: dict[str, list[int]] = {}
    for key in sorted(regions, key=order):
        region = regions[key]
        if not region.get("text"):
            continue
        words.append(region["text"])
        boxes.append([min(1000, max(0, v)) for v in region["box"]])
        if region.get("label"):
            spans.setdefault(region["label"], []).append(len(words) - 1)
    truth = {label: " ".join(words[i] for i in idx) for label, idx in sorted(spans.items())}
    ground_truth = json.dumps(truth, sort_keys=True, ensure_ascii=False)
    return make_record(
        id=data["doc_id"],
        source=SOURCE,
        document_type=document_type,
        subtype=data.get("subtype"),
        language=data.get("language") or "EN",
        page_width=float(data["page_width"]),
        page_height=float(data["page_height"]),
        ocr_text=" ".join(words),
        words=words,
        boxes=boxes,
        ground_truth=ground_truth,
        field_spans=[FieldSpan(field=k, label=k, word_indices=v) for k, v in sorted(spans.items())],
        extra=json.dumps({"original_source": data.get("source"), "reviewed": True}, sort_keys=True),
    )


class LabelStudioBridge:
    """Push/pull against one Label Studio project, found (or created) by title."""

    def __init__(self, url: str, token: str, project_title: str):
        from label_studio_sdk import LabelStudio

        self.client = LabelStudio(base_url=url, api_key=token)
        self.project_title = project_title
        self._project_id: int | None = None

    def project_id(self, labels: Iterable[str] = ()) -> int:
        if self._project_id is None:
            for project in self.client.projects.list():
                if project.title == self.project_title:
                    self._project_id = int(project.id)
                    break
            else:
                project = self.client.projects.create(
                    title=self.project_title, label_config=label_config(labels)
                )
                self._project_id = int(project.id)
        return self._project_id

    def _tasks(self, only_annotated: bool = False) -> list[Any]:
        return list(
            self.client.tasks.list(project=self.project_id(), fields="all", only_annotated=only_annotated)
        )

    def pushed_ids(self) -> set[str]:
        return {t.data.get("doc_id") for t in self._tasks()}

    def push(self, records: Sequence[DocumentRecord], limit: int) -> list[str]:
        """Create tasks for records not in the project yet; returns the ids pushed."""
        labels = {s.label for r in records for s in r.field_spans}
        project = self.project_id(labels)
        already = self.pushed_ids()
        fresh = [r for r in sorted(records, key=lambda r: r.id) if r.id not in already][:limit]
        if fresh:
            self.client.projects.import_tasks(id=project, request=[task_for(r) for r in fresh])
        return [r.id for r in fresh]

    def pull(self) -> LoadResult:
        """Every task with a finished (not cancelled) annotation, as corrected records."""
        result = LoadResult(SOURCE)
        for task in self._tasks(only_annotated=True):
            annotations = [a for a in (task.annotations or []) if not _get(a, "was_cancelled")]
            if not annotations:
                continue
            latest = max(annotations, key=lambda a: (str(_get(a, "updated_at") or ""), _get(a, "id") or 0))
            data = dict(task.data)
            add_document(
                result,
                str(data.get("doc_id") or f"label_studio:task-{task.id}"),
                lambda d=data, r=_get(latest, "result"): record_from_annotation(d, list(r or [])),
                {"task": task.id, "annotation": _get(latest, "id")},
            )
        for q in result.quarantine:
            q.stage = "label_studio_annotations.pull"
        return result


def _get(obj: Any, key: str) -> Any:
    return obj.get(key) if isinstance(obj, dict) else getattr(obj, key, None)
