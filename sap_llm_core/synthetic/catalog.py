"""The document types and subtypes the platform knows, with the subtype names the seeds use.

The type names double as the classifier's label set and as the keys of the field mappings in the
knowledge base, so they are plain strings in an ``StrEnum``.
"""

from __future__ import annotations

from enum import StrEnum


class DocumentType(StrEnum):
    PURCHASE_ORDER = "PURCHASE_ORDER"
    SUPPLIER_INVOICE = "SUPPLIER_INVOICE"
    SALES_ORDER = "SALES_ORDER"
    CUSTOMER_INVOICE = "CUSTOMER_INVOICE"
    GOODS_RECEIPT = "GOODS_RECEIPT"
    GOODS_ISSUE = "GOODS_ISSUE"
    DELIVERY_NOTE = "DELIVERY_NOTE"
    CREDIT_MEMO = "CREDIT_MEMO"
    PAYMENT_ADVICE = "PAYMENT_ADVICE"
    JOURNAL_ENTRY = "JOURNAL_ENTRY"
    MATERIAL_DOCUMENT = "MATERIAL_DOCUMENT"
    VENDOR_MASTER = "VENDOR_MASTER"
    CUSTOMER_MASTER = "CUSTOMER_MASTER"
    MATERIAL_MASTER = "MATERIAL_MASTER"


class Language(StrEnum):
    EN = "EN"
    DE = "DE"
    FR = "FR"
    ES = "ES"
    IT = "IT"


SUBTYPES: dict[DocumentType, tuple[str, ...]] = {
    DocumentType.PURCHASE_ORDER: (
        "STANDARD",
        "BLANKET",
        "CONTRACT",
        "SCHEDULING_AGREEMENT",
        "FRAMEWORK",
        "SERVICE",
        "CONSIGNMENT",
        "SUBCONTRACTING",
        "STOCK_TRANSPORT",
    ),
    DocumentType.SUPPLIER_INVOICE: (
        "STANDARD",
        "CREDIT_MEMO",
        "DEBIT_MEMO",
        "PROFORMA",
        "COMMERCIAL",
        "SELF_BILLING",
        "PREPAYMENT",
        "FINAL",
    ),
    DocumentType.SALES_ORDER: ("STANDARD", "RUSH", "CASH_SALE", "CONSIGNMENT_FILL_UP", "RETURNS"),
    DocumentType.CUSTOMER_INVOICE: ("STANDARD", "PROFORMA", "CANCELLATION", "INTERCOMPANY"),
    DocumentType.GOODS_RECEIPT: ("PURCHASE_ORDER", "PRODUCTION_ORDER", "RETURN", "FREE_OF_CHARGE"),
    DocumentType.GOODS_ISSUE: ("COST_CENTER", "PRODUCTION_ORDER", "SCRAPPING", "SAMPLE"),
    DocumentType.DELIVERY_NOTE: ("OUTBOUND", "INBOUND", "RETURNS"),
    DocumentType.CREDIT_MEMO: ("CUSTOMER", "VENDOR", "PRICE_ADJUSTMENT"),
    DocumentType.PAYMENT_ADVICE: ("INCOMING", "OUTGOING", "REMITTANCE"),
    DocumentType.JOURNAL_ENTRY: ("GENERAL", "ACCRUAL", "REVERSAL", "RECLASSIFICATION"),
    DocumentType.MATERIAL_DOCUMENT: ("TRANSFER_POSTING", "STOCK_TRANSFER", "INVENTORY_ADJUSTMENT"),
    DocumentType.VENDOR_MASTER: ("CREATE", "CHANGE"),
    DocumentType.CUSTOMER_MASTER: ("CREATE", "CHANGE"),
    DocumentType.MATERIAL_MASTER: ("FINISHED_GOOD", "RAW_MATERIAL", "TRADING_GOOD"),
}

# Master-data records are one-page forms without line items; the quality filters treat them as forms.
MASTER_DATA_TYPES = frozenset(
    {DocumentType.VENDOR_MASTER, DocumentType.CUSTOMER_MASTER, DocumentType.MATERIAL_MASTER}
)
