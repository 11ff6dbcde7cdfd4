"""Vertex and edge types of the PMG (the seeds' names), and the feedback a person can give."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator


class VertexType(StrEnum):
    DOCUMENT = "Document"
    EXTRACTION = "Extraction"
    ROUTING_DECISION = "RoutingDecision"
    SAP_RESPONSE = "SAPResponse"
    EXCEPTION = "Exception"
    RULE = "Rule"
    FEEDBACK = "Feedback"


# One MongoDB collection per vertex type.
COLLECTION: dict[VertexType, str] = {
    VertexType.DOCUMENT: "documents",
    VertexType.EXTRACTION: "extractions",
    VertexType.ROUTING_DECISION: "routing_decisions",
    VertexType.SAP_RESPONSE: "sap_responses",
    VertexType.EXCEPTION: "exceptions",
    VertexType.RULE: "rules",
    VertexType.FEEDBACK: "feedback",
}
EDGES = "edges"
# Outgoing edges per vertex, keyed by the vertex id: derived from ``edges``, kept for traversals,
# which then look vertices up by primary key (every MongoDB-wire server indexes ``_id``).
ADJACENCY = "adjacency"
SNAPSHOTS = "snapshots"


class EdgeType(StrEnum):
    HAS_EXTRACTION = "hasExtraction"  # Document -> Extraction
    TRIGGERS_ROUTING = "triggersRouting"  # Extraction -> RoutingDecision
    SENDS_TO_SAP = "sendsToSAP"  # RoutingDecision -> SAPResponse
    CAUSES_EXCEPTION = "causesException"  # Document | RoutingDecision | SAPResponse -> Exception
    RESOLVED_BY = "resolvedBy"  # Exception -> Feedback | Rule
    HAS_FEEDBACK = "hasFeedback"  # Document | Extraction | RoutingDecision -> Feedback
    SIMILAR_TO = "similarTo"  # Document -> Document


class FeedbackKind(StrEnum):
    APPROVAL = "approval"
    REJECTION = "rejection"
    FIELD_CORRECTION = "field_correction"
    ROUTING_CORRECTION = "routing_correction"


CORRECTIONS = (FeedbackKind.FIELD_CORRECTION, FeedbackKind.ROUTING_CORRECTION)


class Feedback(BaseModel):
    """A person's verdict on one document. Corrections carry what the right answer was."""

    model_config = ConfigDict(frozen=True)

    document_id: str = Field(min_length=1)
    kind: FeedbackKind
    author: str = Field("unknown", min_length=1)
    source: str = Field("cli", description="cli | api | label_studio | pipeline")
    field: str | None = Field(None, description="ground-truth path, e.g. header.total_amount")
    old_value: str | None = None
    new_value: str | None = None
    routing: dict[str, Any] | None = Field(None, description="the correct {endpoint, method, entity}")
    comment: str = ""
    created_at: dt.datetime = Field(default_factory=lambda: dt.datetime.now(dt.UTC))

    @model_validator(mode="after")
    def _complete(self) -> Feedback:
        if self.kind == FeedbackKind.FIELD_CORRECTION and (not self.field or self.new_value is None):
            raise ValueError("a field correction needs field and new_value")
        if self.kind == FeedbackKind.ROUTING_CORRECTION and not (
            self.routing and self.routing.get("endpoint")
        ):
            raise ValueError("a routing correction needs routing.endpoint")
        return self

    @property
    def id(self) -> str:
        """Content-derived id: recording the same verdict twice stores it once."""
        payload = self.model_dump(mode="json", exclude={"created_at"})
        return "fb-" + hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:24]
