"""The unified document record that every corpus source maps into, and the quarantine record."""

from sap_llm_core.schema.document_record import (
    DOCUMENT_RECORD_SCHEMA,
    DocumentRecord,
    FieldSpan,
    records_to_table,
    table_to_records,
)
from sap_llm_core.schema.quarantine import QUARANTINE_SCHEMA, QuarantineRecord

__all__ = [
    "DOCUMENT_RECORD_SCHEMA",
    "QUARANTINE_SCHEMA",
    "DocumentRecord",
    "FieldSpan",
    "QuarantineRecord",
    "records_to_table",
    "table_to_records",
]
