"""Document types of the unified corpus: the 14 SAP types plus the few that public data needs.

Public datasets do not speak SAP. Receipts (SROIE, CORD) become ``RECEIPT`` -- the knowledge base maps
that to the supplier-invoice API -- rather than ``SUPPLIER_INVOICE`` itself, so that a few hundred public
receipts do not push the invoice class over the seeds' 30% cap. FUNSD's scanned forms become ``FORM``
(a form for the quality filters). RVL-CDIP classes map where a SAP type fits; the rest become
``UNKNOWN`` with the original class kept as the subtype, so nothing is silently relabelled.
"""

from __future__ import annotations

from sap_llm_core.synthetic.catalog import DocumentType

RECEIPT = "RECEIPT"
FORM = "FORM"
UNKNOWN = "UNKNOWN"

PUBLIC_TYPES: tuple[str, ...] = (RECEIPT, FORM, UNKNOWN)
ALLOWED_DOCUMENT_TYPES: tuple[str, ...] = tuple(t.value for t in DocumentType) + PUBLIC_TYPES

# RVL-CDIP label index -> class name, in the dataset's own order (labels/*.txt use the index).
RVL_CDIP_CLASSES: tuple[str, ...] = (
    "letter",
    "form",
    "email",
    "handwritten",
    "advertisement",
    "scientific report",
    "scientific publication",
    "specification",
    "file folder",
    "news article",
    "budget",
    "invoice",
    "presentation",
    "questionnaire",
    "resume",
    "memo",
)

RVL_CDIP_TO_TYPE: dict[str, str] = {
    "invoice": DocumentType.SUPPLIER_INVOICE.value,
    "form": FORM,
    "questionnaire": FORM,
    "budget": DocumentType.JOURNAL_ENTRY.value,
}


def rvl_cdip_type(class_name: str) -> tuple[str, str]:
    """(document_type, subtype) for an RVL-CDIP class; the class name survives as the subtype."""
    return RVL_CDIP_TO_TYPE.get(class_name, UNKNOWN), class_name.upper().replace(" ", "_")
