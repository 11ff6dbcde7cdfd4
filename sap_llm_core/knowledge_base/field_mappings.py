"""Field mappings (document type -> API/entity, ADC field -> SAP property) loaded from data, checked
against the parsed EDMX schemas, and applied to ground-truth/extracted documents.

Mappings are YAML so that adding a field is a data change reviewed like data; this module only
validates and applies them. The reference check is what makes that safe: a mapping naming a property
that the real ``$metadata`` does not have is a broken reference, and the asset check blocks on it.
"""

from __future__ import annotations

import re
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator

from sap_llm_core.knowledge_base.edmx_models import EdmxDocument
from sap_llm_core.knowledge_base.transformations import TRANSFORMATIONS, TransformationError, apply


class FieldMapping(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    property: str
    transformation: str = "strip"
    params: dict[str, Any] = Field(default_factory=dict)
    pattern: str | None = None
    api: str | None = None  # override of the document type's API
    entity: str | None = None  # override of the header/item entity set

    @field_validator("pattern")
    @classmethod
    def _compiles(cls, value: str | None) -> str | None:
        if value is not None:
            re.compile(value)
        return value


class DocumentTypeMapping(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    api: str
    header_entity: str
    item_entity: str | None = None
    constants: dict[str, str] = Field(default_factory=dict)
    header: dict[str, FieldMapping] = Field(default_factory=dict)
    items: dict[str, FieldMapping] = Field(default_factory=dict)
    validation_only: list[str] = Field(default_factory=list)

    def targets(self) -> list[tuple[str, str, str, str, FieldMapping]]:
        """(section, field, api, entity, mapping) for every mapped field, in a stable order."""
        out = []
        for section, fields, default_entity in (
            ("header", self.header, self.header_entity),
            ("items", self.items, self.item_entity or self.header_entity),
        ):
            for name in sorted(fields):
                m = fields[name]
                out.append((section, name, m.api or self.api, m.entity or default_entity, m))
        return out


class FieldMappings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    version: int
    document_types: dict[str, DocumentTypeMapping]


def load_mappings(path: str | Path | None = None) -> FieldMappings:
    """The packaged mappings, or a file given explicitly (tests, overrides)."""
    if path is None:
        text = (
            resources.files("sap_llm_core.knowledge_base")
            .joinpath("data/field_mappings.yaml")
            .read_text("utf-8")
        )
    else:
        text = Path(path).read_text("utf-8")
    return FieldMappings.model_validate(yaml.safe_load(text))


class ReferenceResult(BaseModel):
    document_type: str
    section: str
    field: str
    api: str
    entity: str
    property: str
    transformation: str
    status: Literal["ok", "unverified", "broken"]
    reason: str = ""


def check_references(mappings: FieldMappings, schemas: list[EdmxDocument]) -> list[ReferenceResult]:
    """Check every mapping against the parsed schemas.

    ``ok``: entity and property exist. ``broken``: the API's EDMX is present but the entity or
    property is not in it, or the transformation is unknown. ``unverified``: no EDMX for that API
    was loaded (e.g. API_BUSINESS_PARTNER is not among the shared files); the crawler can fetch it.
    """
    by_api = {d.api: d for d in schemas}
    results: list[ReferenceResult] = []
    for doc_type in sorted(mappings.document_types):
        dtm = mappings.document_types[doc_type]
        for section, name, api, entity, m in dtm.targets():
            status, reason = "ok", ""
            doc = by_api.get(api)
            if m.transformation not in TRANSFORMATIONS:
                status, reason = "broken", f"unknown transformation {m.transformation!r}"
            elif doc is None:
                status, reason = "unverified", f"no EDMX loaded for {api}"
            else:
                et = doc.entity_type(entity)
                if et is None:
                    status, reason = "broken", f"{api} has no entity set or type {entity!r}"
                elif et.property(m.property) is None:
                    status, reason = "broken", f"{api}/{entity} has no property {m.property!r}"
            results.append(
                ReferenceResult(
                    document_type=doc_type,
                    section=section,
                    field=name,
                    api=api,
                    entity=entity,
                    property=m.property,
                    transformation=m.transformation,
                    status=status,
                    reason=reason,
                )
            )
    return results


class MappedValue(BaseModel):
    field: str
    api: str
    entity: str
    property: str
    value: str | None
    error: str | None = None


def _map_one(name: str, raw: Any, api: str, entity: str, m: FieldMapping, language: str) -> MappedValue:
    try:
        value = apply(m.transformation, raw, language=language, **m.params)
    except TransformationError as exc:
        return MappedValue(
            field=name, api=api, entity=entity, property=m.property, value=None, error=str(exc)
        )
    if m.pattern and not re.fullmatch(m.pattern, value):
        return MappedValue(
            field=name,
            api=api,
            entity=entity,
            property=m.property,
            value=value,
            error=f"{value!r} does not match {m.pattern}",
        )
    return MappedValue(field=name, api=api, entity=entity, property=m.property, value=value)


def map_document(mappings: FieldMappings, document: dict[str, Any]) -> dict[str, Any]:
    """Turn an ADC JSON (printed values) into SAP property values, header and items.

    Returns ``{"api", "header": [MappedValue...], "items": [[MappedValue...]...], "unmapped": [...],
    "errors": [...]}``; fields neither mapped nor ``validation_only`` are listed as unmapped so a new
    generator field shows up rather than vanishing.
    """
    dtm = mappings.document_types[document["document_type"]]
    language = document.get("language", "EN")
    header: list[MappedValue] = []
    unmapped: list[str] = []
    for name, raw in sorted(document.get("header", {}).items()):
        m = dtm.header.get(name)
        if m is None:
            if name not in dtm.validation_only:
                unmapped.append(name)
            continue
        header.append(_map_one(name, raw, m.api or dtm.api, m.entity or dtm.header_entity, m, language))
    items: list[list[MappedValue]] = []
    for row in document.get("line_items", []):
        mapped_row = []
        for name, raw in sorted(row.items()):
            m = dtm.items.get(name)
            if m is None:
                if name not in dtm.validation_only and f"items.{name}" not in unmapped:
                    unmapped.append(f"items.{name}")
                continue
            entity = m.entity or dtm.item_entity or dtm.header_entity
            mapped_row.append(_map_one(name, raw, m.api or dtm.api, entity, m, language))
        items.append(mapped_row)
    errors = [v for v in header if v.error] + [v for row in items for v in row if v.error]
    return {"api": dtm.api, "header": header, "items": items, "unmapped": sorted(unmapped), "errors": errors}
