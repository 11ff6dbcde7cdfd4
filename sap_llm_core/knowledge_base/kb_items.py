"""What goes into the vector index: APIs, entity types, properties and rules as :class:`KbItem`s.

all-MiniLM-L6-v2 is an English model and the queries arrive in five languages, so each property's
text carries, besides its technical name, SAP label, quick info and documentation, the context of its
entity and API and the five-language labels of the ADC fields mapped to it (from the synthetic
generator's ``labels.yaml``) plus curated synonyms (``data/synonyms.yaml``). That vocabulary is what
lets a German query find ``SupplierInvoiceIDByInvcgParty``. The order of parts puts the most
discriminative text first, since the model truncates long inputs.
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from collections.abc import Sequence
from functools import cache
from importlib import resources
from typing import Any

import yaml

from sap_llm_core.knowledge_base.business_rules import RuleSet
from sap_llm_core.knowledge_base.edmx_models import EdmxDocument
from sap_llm_core.knowledge_base.field_mappings import FieldMappings
from sap_llm_core.knowledge_base.vector_index import KbItem

MAX_DOC_CHARS = 240


def _data(name: str) -> str:
    return resources.files("sap_llm_core.knowledge_base").joinpath(f"data/{name}").read_text("utf-8")


@cache
def api_list() -> dict[str, Any]:
    return json.loads(_data("api_list.json"))


@cache
def synonyms() -> dict[str, list[str]]:
    return yaml.safe_load(_data("synonyms.yaml")) or {}


@cache
def generator_labels() -> dict[str, Any]:
    """Field labels and document titles in EN/DE/FR/ES/IT, shared with the synthetic generator."""
    text = resources.files("sap_llm_core.synthetic").joinpath("labels.yaml").read_text("utf-8")
    return yaml.safe_load(text)


def split_camel(name: str) -> str:
    """``SupplierInvoiceIDByInvcgParty`` -> ``Supplier Invoice ID By Invcg Party``."""
    spaced = re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", " ", name.removeprefix("A_"))
    return spaced.replace("_", " ").strip()


def property_id(api: str, entity_type: str, prop: str) -> str:
    return f"property:{api}/{entity_type}/{prop}"


def _dedupe(texts: list[str]) -> tuple[str, ...]:
    seen: dict[str, str] = {}
    for t in texts:
        t = " ".join(t.split())
        if t and t.lower() not in seen:
            seen[t.lower()] = t
    return tuple(seen.values())


def _mapped_terms(schemas: Sequence[EdmxDocument], mappings: FieldMappings) -> dict[str, list[str]]:
    """property id -> "<field label> (<document title>)" in each of the five languages, for every ADC
    field mapped to the property: the label and its context in the *same* language."""
    by_api = {d.api: d for d in schemas}
    labels = generator_labels()
    terms: dict[str, list[str]] = defaultdict(list)
    for doc_type in sorted(mappings.document_types):
        dtm = mappings.document_types[doc_type]
        titles = labels.get("titles", {}).get(doc_type, [])
        for _section, field, api, entity, m in dtm.targets():
            doc = by_api.get(api)
            et = doc.entity_type(entity) if doc else None
            if et is None:
                continue
            pid = property_id(api, et.name, m.property)
            for i, term in enumerate(labels.get("labels", {}).get(field, [])):
                title = titles[i] if i < len(titles) else ""
                terms[pid].append(f"{term} ({title})" if title else term)
            terms[pid].append(field.replace("_", " "))
    return terms


ITEM_WORDS = ("line item", "Position", "ligne", "posición", "posizione")


def _entity_context(schemas: Sequence[EdmxDocument], mappings: FieldMappings) -> dict[str, list[str]]:
    """entity id -> the five-language titles of the document types stored in that entity ("Rechnung",
    "Facture", ...), with an item word for line-item entities ("Rechnung Position")."""
    by_api = {d.api: d for d in schemas}
    titles_all = generator_labels().get("titles", {})
    out: dict[str, list[str]] = defaultdict(list)
    for doc_type in sorted(mappings.document_types):
        dtm = mappings.document_types[doc_type]
        titles = titles_all.get(doc_type, [])
        used = {(api, entity, section) for section, _f, api, entity, _m in dtm.targets()}
        used.add((dtm.api, dtm.header_entity, "header"))
        for api, entity, section in sorted(used):
            doc = by_api.get(api)
            et = doc.entity_type(entity) if doc else None
            if et is None:
                continue
            is_item = section == "items" or (entity != dtm.header_entity and "Item" in et.name)
            for i, title in enumerate(titles):
                out[f"entity:{api}/{et.name}"].append(f"{title} {ITEM_WORDS[i]}" if is_item else title)
    return out


def build_items(schemas: Sequence[EdmxDocument], mappings: FieldMappings, rules: RuleSet) -> list[KbItem]:
    """All index items in a deterministic order (APIs, entities, properties, rules)."""
    apis = {a["api"]: a for a in api_list()["apis"]}
    mapped = _mapped_terms(schemas, mappings)
    context = _entity_context(schemas, mappings)
    extra = synonyms()
    items: list[KbItem] = []
    for api_name in sorted(apis):
        a = apis[api_name]
        items.append(
            KbItem(
                id=f"api:{api_name}",
                kind="api",
                text=f"{a['title']} API ({api_name}). {a['description']} Document types: "
                f"{', '.join(a['document_types']) or 'none'}.",
                metadata={"api": api_name, "title": a["title"], "document_types": a["document_types"]},
                aliases=_dedupe([f"{a['title']} API", a["description"]]),
            )
        )
    for doc in sorted(schemas, key=lambda d: d.api):
        title = apis.get(doc.api, {}).get("title", split_camel(doc.api))
        for et in doc.entity_types():
            ent_label = et.label or split_camel(et.name.removesuffix("Type"))
            items.append(
                KbItem(
                    id=f"entity:{doc.api}/{et.name}",
                    kind="entity",
                    text=f"{ent_label} ({et.name}) in the {title} API {doc.api}. Keys: {', '.join(et.keys)}. "
                    f"Properties: {', '.join(p.name for p in et.properties[:40])}",
                    metadata={"api": doc.api, "entity": et.name, "version": doc.version, "label": ent_label},
                    aliases=_dedupe(
                        [
                            f"{ent_label} ({title} API)",
                            split_camel(et.name.removesuffix("Type")),
                            *extra.get(et.name, []),
                            *context.get(f"entity:{doc.api}/{et.name}", []),
                        ]
                    ),
                )
            )
            for p in et.properties:
                pid = property_id(doc.api, et.name, p.name)
                own = [p.label or "", p.quickinfo or "", split_camel(p.name)]
                own += extra.get(f"{et.name}/{p.name}", [])
                aliases = _dedupe([f"{w} ({ent_label})" for w in own if w] + mapped.get(pid, []))
                doc_text = (p.documentation or "")[:MAX_DOC_CHARS]
                text = f"{' | '.join(aliases)} -- {ent_label} ({title}) -- {p.name}" + (
                    f". {doc_text}" if doc_text else ""
                )
                items.append(
                    KbItem(
                        id=pid,
                        kind="property",
                        text=text,
                        metadata={
                            "api": doc.api,
                            "entity": et.name,
                            "name": p.name,
                            "label": p.label,
                            "type": p.type,
                            "max_length": p.max_length,
                            "key": p.name in et.keys,
                            "version": doc.version,
                        },
                        aliases=aliases,
                    )
                )
    for rule in rules.rules:
        items.append(
            KbItem(
                id=f"rule:{rule.id}",
                kind="rule",
                text=f"{rule.description}. Business rule {rule.id} ({rule.category}, {rule.severity}) for "
                f"{', '.join(rule.applies_to)}.",
                metadata={"rule_id": rule.id, "category": rule.category, "severity": rule.severity},
                aliases=(rule.description,),
            )
        )
    return items
