"""Safe parser for OData ``$metadata`` (EDMX 1.0 / OData V2 with ``sap:`` annotations, and EDMX 4.0).

Why it is built this way:

* ``$metadata`` comes from outside (the Business Accelerator Hub, customer systems), so the XML is
  parsed with :mod:`defusedxml` and **any** DTD is refused: no external entity can be resolved, no
  network is touched, and an entity-expansion bomb ("billion laughs") is rejected at its ``<!DOCTYPE``
  before a single entity is expanded. EDMX never needs a DTD, so refusing them costs nothing.
* A malformed or truncated file raises :class:`EdmxParseError` naming the file, line and column;
  :func:`parse_files` puts such files in quarantine and still loads the others.
* Element names are matched by local name, so the several EDM namespaces of V2 (2006/04, 2007/05,
  2008/09, 2009/11) and the OASIS V4 namespace all work, including minified single-line files.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from xml.etree.ElementTree import Element, ParseError

import defusedxml.ElementTree as SafeET
from defusedxml import DefusedXmlException

from sap_llm_core.knowledge_base.edmx_models import (
    Association,
    AssociationEnd,
    ComplexType,
    EdmxDocument,
    EntitySet,
    EntityType,
    FunctionImport,
    NavigationProperty,
    Parameter,
    Property,
    Schema,
)

SAP_NS = "http://www.sap.com/Protocols/SAPData"
M_NS = "http://schemas.microsoft.com/ado/2007/08/dataservices/metadata"
MAX_BYTES = 64 * 1024 * 1024  # the largest real S/4HANA $metadata is a few MB


class EdmxParseError(ValueError):
    """A file that is not usable EDMX; carries the file and, where known, the position."""

    def __init__(self, source: str, message: str, line: int | None = None, column: int | None = None):
        self.source = source
        self.line = line
        self.column = column
        self.reason = message
        where = f" at line {line}, column {column}" if line is not None else ""
        super().__init__(f"{source}{where}: {message}")


# helpers ---------------------------------------------------------------------------------------
def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _children(el: Element, name: str) -> list[Element]:
    return [c for c in el if _local(c.tag) == name]


def _child(el: Element, name: str) -> Element | None:
    return next((c for c in el if _local(c.tag) == name), None)


def _sap(el: Element, name: str) -> str | None:
    return el.get(f"{{{SAP_NS}}}{name}")


def _flag(value: str | None, default: bool) -> bool:
    if value is None:
        return default
    return value.strip().lower() == "true"


def _int(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def _documentation(el: Element) -> str | None:
    doc = _child(el, "Documentation")
    if doc is None:
        return None
    texts = [(c.text or "").strip() for c in doc if _local(c.tag) in ("Summary", "LongDescription")]
    text = " ".join(t for t in texts if t)
    return text or None


_COLLECTION = re.compile(r"^Collection\((.+)\)$")


def _strip_collection(type_name: str) -> tuple[str, bool]:
    m = _COLLECTION.match(type_name)
    return (m.group(1), True) if m else (type_name, False)


def _annotation_value(ann: Element) -> str | None:
    for attr in ("String", "Bool", "EnumMember", "Path", "Int"):
        if ann.get(attr) is not None:
            return ann.get(attr)
    inner = _child(ann, "String")
    if inner is not None and inner.text:
        return inner.text.strip()
    return None


def _terms(el: Element) -> dict[str, str]:
    """Vocabulary annotations on an element, keyed by short term (``Label``, ``Description``...)."""
    out: dict[str, str] = {}
    for ann in _children(el, "Annotation"):
        term = ann.get("Term", "")
        value = _annotation_value(ann)
        if value is not None:
            out[term.rsplit(".", 1)[-1]] = value
    return out


@dataclass
class _Context:
    """Cross-schema lookups needed while building: aliases and targeted ``Annotations`` blocks."""

    aliases: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, dict[str, str]] = field(default_factory=dict)

    def qualify(self, name: str | None) -> str | None:
        if not name:
            return name
        inner, coll = _strip_collection(name)
        ns, _, simple = inner.rpartition(".")
        if ns in self.aliases:
            inner = f"{self.aliases[ns]}.{simple}"
        return f"Collection({inner})" if coll else inner

    def terms_for(self, target: str) -> dict[str, str]:
        ns, _, rest = target.partition(".")
        candidates = {target}
        for alias, full in self.aliases.items():
            if target.startswith(full + "."):
                candidates.add(alias + target[len(full) :])
            if target.startswith(alias + "."):
                candidates.add(full + target[len(alias) :])
        merged: dict[str, str] = {}
        for c in sorted(candidates):
            merged.update(self.annotations.get(c, {}))
        return merged


# building --------------------------------------------------------------------------------------
def _property(el: Element, target: str, ctx: _Context) -> Property:
    terms = {**ctx.terms_for(target), **_terms(el)}
    return Property(
        name=el.get("Name", ""),
        type=ctx.qualify(el.get("Type", "")) or "",
        nullable=_flag(el.get("Nullable"), True),
        max_length=el.get("MaxLength"),
        precision=_int(el.get("Precision")),
        scale=el.get("Scale"),
        label=_sap(el, "label") or terms.get("Label"),
        quickinfo=_sap(el, "quickinfo") or terms.get("QuickInfo"),
        heading=_sap(el, "heading") or terms.get("Heading"),
        documentation=_documentation(el) or terms.get("Description") or terms.get("LongDescription"),
        creatable=_flag(_sap(el, "creatable"), True),
        updatable=_flag(_sap(el, "updatable"), True),
        filterable=_flag(_sap(el, "filterable"), True),
        sortable=_flag(_sap(el, "sortable"), True),
        unit=_sap(el, "unit"),
        semantics=_sap(el, "semantics"),
    )


def _association(el: Element, ns: str, ctx: _Context) -> Association:
    ends = [
        AssociationEnd(
            role=e.get("Role", ""),
            type=ctx.qualify(e.get("Type", "")) or "",
            multiplicity=e.get("Multiplicity", ""),
        )
        for e in _children(el, "End")
    ]
    principal = dependent = None
    p_props: list[str] = []
    d_props: list[str] = []
    rc = _child(el, "ReferentialConstraint")
    if rc is not None:
        p, d = _child(rc, "Principal"), _child(rc, "Dependent")
        if p is not None:
            principal = p.get("Role")
            p_props = [r.get("Name", "") for r in _children(p, "PropertyRef")]
        if d is not None:
            dependent = d.get("Role")
            d_props = [r.get("Name", "") for r in _children(d, "PropertyRef")]
    return Association(
        name=el.get("Name", ""),
        namespace=ns,
        ends=ends,
        principal_role=principal,
        principal_properties=p_props,
        dependent_role=dependent,
        dependent_properties=d_props,
    )


def _entity_type(el: Element, ns: str, ctx: _Context, assocs: dict[str, Association]) -> EntityType:
    name = el.get("Name", "")
    qname = f"{ns}.{name}"
    key = _child(el, "Key")
    keys = [r.get("Name", "") for r in _children(key, "PropertyRef")] if key is not None else []
    props = [_property(p, f"{qname}/{p.get('Name')}", ctx) for p in _children(el, "Property")]
    navs: list[NavigationProperty] = []
    for nav in _children(el, "NavigationProperty"):
        if nav.get("Relationship"):  # V2: resolve the target through the association's ends
            rel = ctx.qualify(nav.get("Relationship")) or ""
            assoc = assocs.get(rel)
            target, coll = None, False
            if assoc is not None:
                end = next((e for e in assoc.ends if e.role == nav.get("ToRole")), None)
                if end is not None:
                    target, coll = end.type, end.multiplicity == "*"
            navs.append(
                NavigationProperty(
                    name=nav.get("Name", ""),
                    target_type=target,
                    collection=coll,
                    relationship=rel,
                    from_role=nav.get("FromRole"),
                    to_role=nav.get("ToRole"),
                )
            )
        else:  # V4: Type="Collection(ns.T)" and Partner
            target, coll = _strip_collection(ctx.qualify(nav.get("Type", "")) or "")
            navs.append(
                NavigationProperty(
                    name=nav.get("Name", ""),
                    target_type=target or None,
                    collection=coll,
                    partner=nav.get("Partner"),
                )
            )
    terms = {**ctx.terms_for(qname), **_terms(el)}
    return EntityType(
        name=name,
        namespace=ns,
        keys=keys,
        properties=props,
        navigation_properties=navs,
        base_type=ctx.qualify(el.get("BaseType")),
        label=_sap(el, "label") or terms.get("Label"),
        documentation=_documentation(el) or terms.get("Description"),
    )


def _container(
    el: Element, ctx: _Context, v4_ops: dict[str, Element]
) -> tuple[list[EntitySet], list[FunctionImport]]:
    cname = el.get("Name", "")
    sets: list[EntitySet] = []
    for es in _children(el, "EntitySet"):
        terms = {**ctx.terms_for(f"{cname}/{es.get('Name')}"), **_terms(es)}
        sets.append(
            EntitySet(
                name=es.get("Name", ""),
                entity_type=ctx.qualify(es.get("EntityType", "")) or "",
                label=_sap(es, "label") or terms.get("Label"),
                creatable=_flag(_sap(es, "creatable"), True),
                updatable=_flag(_sap(es, "updatable"), True),
                deletable=_flag(_sap(es, "deletable"), True),
                searchable=_flag(_sap(es, "searchable"), False),
            )
        )
    for s in _children(el, "Singleton"):
        sets.append(EntitySet(name=s.get("Name", ""), entity_type=ctx.qualify(s.get("Type", "")) or ""))
    funcs: list[FunctionImport] = []
    for fi in _children(el, "FunctionImport"):
        if fi.get("Function"):  # V4: the signature lives in a schema-level <Function>
            op = v4_ops.get(ctx.qualify(fi.get("Function")) or "")
            funcs.append(_v4_operation(fi, op, "function", ctx))
        else:
            funcs.append(
                FunctionImport(
                    name=fi.get("Name", ""),
                    return_type=ctx.qualify(fi.get("ReturnType")),
                    entity_set=fi.get("EntitySet"),
                    http_method=fi.get(f"{{{M_NS}}}HttpMethod"),
                    parameters=[
                        Parameter(
                            name=p.get("Name", ""),
                            type=ctx.qualify(p.get("Type", "")) or "",
                            mode=p.get("Mode"),
                            nullable=_flag(p.get("Nullable"), True),
                        )
                        for p in _children(fi, "Parameter")
                    ],
                )
            )
    for ai in _children(el, "ActionImport"):
        op = v4_ops.get(ctx.qualify(ai.get("Action")) or "")
        funcs.append(_v4_operation(ai, op, "action", ctx))
    return sets, funcs


def _v4_operation(imp: Element, op: Element | None, kind: str, ctx: _Context) -> FunctionImport:
    params: list[Parameter] = []
    ret = None
    if op is not None:
        params = [
            Parameter(
                name=p.get("Name", ""),
                type=ctx.qualify(p.get("Type", "")) or "",
                nullable=_flag(p.get("Nullable"), True),
            )
            for p in _children(op, "Parameter")
        ]
        rt = _child(op, "ReturnType")
        ret = ctx.qualify(rt.get("Type")) if rt is not None else None
    return FunctionImport(
        name=imp.get("Name", ""),
        return_type=ret,
        entity_set=imp.get("EntitySet"),
        http_method="POST" if kind == "action" else "GET",
        kind=kind,
        parameters=params,
    )


def _check_bytes(data: bytes, source: str) -> None:
    if len(data) > MAX_BYTES:
        raise EdmxParseError(source, f"file is {len(data)} bytes, above the {MAX_BYTES}-byte limit")
    if not data.strip():
        raise EdmxParseError(source, "file is empty", 1, 0)


def _line_col(data: bytes, offset: int) -> tuple[int, int]:
    line = data.count(b"\n", 0, offset) + 1
    return line, offset - (data.rfind(b"\n", 0, offset) + 1)


def parse_bytes(data: bytes, source: str, api: str | None = None) -> EdmxDocument:
    """Parse one ``$metadata`` document. ``api`` defaults to the file name's stem."""
    _check_bytes(data, source)
    try:
        root = SafeET.fromstring(data, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except ParseError as exc:
        line, col = exc.position if getattr(exc, "position", None) else (None, None)
        raise EdmxParseError(source, f"malformed XML: {exc}", line, col) from exc
    except DefusedXmlException as exc:
        offset = data.find(b"<!DOCTYPE")
        line, col = _line_col(data, offset) if offset >= 0 else (None, None)
        raise EdmxParseError(
            source,
            f"refused unsafe XML ({type(exc).__name__}): DTDs and entities are not allowed in $metadata",
            line,
            col,
        ) from exc
    if _local(root.tag) != "Edmx":
        raise EdmxParseError(source, f"root element is <{_local(root.tag)}>, expected <edmx:Edmx>", 1, 0)
    edmx_version = root.get("Version", "")
    data_services = _child(root, "DataServices")
    if data_services is None:
        raise EdmxParseError(source, "no <edmx:DataServices> element")
    odata_version = (
        "4.0"
        if edmx_version.startswith("4")
        else (data_services.get(f"{{{M_NS}}}DataServiceVersion") and "2.0" or "2.0")
    )
    schemas_el = _children(data_services, "Schema")
    if not schemas_el:
        raise EdmxParseError(source, "no <Schema> element in <edmx:DataServices>")

    ctx = _Context()
    for ref in _children(root, "Reference"):
        for inc in _children(ref, "Include"):
            if inc.get("Alias") and inc.get("Namespace"):
                ctx.aliases[inc.get("Alias")] = inc.get("Namespace")
    for s in schemas_el:
        if s.get("Alias"):
            ctx.aliases[s.get("Alias")] = s.get("Namespace", "")
    for s in schemas_el:
        for block in _children(s, "Annotations"):
            target = ctx.qualify(block.get("Target", "")) or ""
            ctx.annotations.setdefault(target, {}).update(_terms(block))
    v4_ops: dict[str, Element] = {}
    for s in schemas_el:
        for op in _children(s, "Function") + _children(s, "Action"):
            v4_ops.setdefault(f"{s.get('Namespace')}.{op.get('Name')}", op)

    schemas: list[Schema] = []
    for s in schemas_el:
        ns = s.get("Namespace", "")
        assocs = {f"{ns}.{a.get('Name')}": _association(a, ns, ctx) for a in _children(s, "Association")}
        schemas.append(Schema(namespace=ns, alias=s.get("Alias")))
        schemas[-1] = schemas[-1].model_copy(update={"associations": list(assocs.values())})
    all_assocs = {f"{a.namespace}.{a.name}": a for sc in schemas for a in sc.associations}
    built: list[Schema] = []
    for s, sc in zip(schemas_el, schemas, strict=True):
        ns = sc.namespace
        ets = [_entity_type(e, ns, ctx, all_assocs) for e in _children(s, "EntityType")]
        cts = [
            ComplexType(
                name=c.get("Name", ""),
                namespace=ns,
                properties=[
                    _property(p, f"{ns}.{c.get('Name')}/{p.get('Name')}", ctx)
                    for p in _children(c, "Property")
                ],
            )
            for c in _children(s, "ComplexType")
        ]
        sets: list[EntitySet] = []
        funcs: list[FunctionImport] = []
        container_name = None
        for cont in _children(s, "EntityContainer"):
            container_name = cont.get("Name")
            more_sets, more_funcs = _container(cont, ctx, v4_ops)
            sets += more_sets
            funcs += more_funcs
        built.append(
            sc.model_copy(
                update={
                    "entity_types": ets,
                    "complex_types": cts,
                    "entity_sets": sets,
                    "function_imports": funcs,
                    "container": container_name,
                }
            )
        )
    digest = hashlib.sha256(data).hexdigest()
    return EdmxDocument(
        api=api or Path(source).stem,
        source=source,
        odata_version=odata_version,
        edmx_version=edmx_version,
        version=digest[:16],
        sha256=digest,
        schemas=built,
    )


def parse_file(path: str | Path, api: str | None = None) -> EdmxDocument:
    path = Path(path)
    return parse_bytes(path.read_bytes(), str(path), api=api)


@dataclass
class ParseReport:
    """What :func:`parse_files` loaded and what it set aside; a bad file never stops the others."""

    documents: list[EdmxDocument] = field(default_factory=list)
    quarantined: list[EdmxParseError] = field(default_factory=list)


def parse_files(paths: Iterable[str | Path]) -> ParseReport:
    """Parse many files in a stable (sorted) order; malformed ones go to ``quarantined``."""
    report = ParseReport()
    for path in sorted(Path(p) for p in paths):
        try:
            report.documents.append(parse_file(path))
        except EdmxParseError as exc:
            report.quarantined.append(exc)
        except OSError as exc:
            report.quarantined.append(EdmxParseError(str(path), f"cannot read: {exc}"))
    return report


def find_edmx_files(directory: str | Path) -> list[Path]:
    """``*.edmx`` and ``*.xml`` files in a folder, sorted; empty when the folder does not exist."""
    d = Path(directory)
    if not d.is_dir():
        return []
    return sorted(p for p in d.iterdir() if p.suffix.lower() in (".edmx", ".xml") and p.is_file())
