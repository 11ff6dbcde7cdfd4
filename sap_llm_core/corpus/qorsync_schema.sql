-- QorSync tables the corpus pipeline reads (see qorsync_extractor.py).
CREATE TABLE IF NOT EXISTS documents (
    id            TEXT PRIMARY KEY,
    document_type TEXT,
    language      TEXT,
    page_width    DOUBLE PRECISION,
    page_height   DOUBLE PRECISION,
    ocr_text      TEXT,
    words         JSONB,
    file_uri      TEXT,
    created_at    TIMESTAMPTZ NOT NULL,
    updated_at    TIMESTAMPTZ NOT NULL
);
CREATE TABLE IF NOT EXISTS extractions (
    id            BIGSERIAL PRIMARY KEY,
    document_id   TEXT NOT NULL REFERENCES documents (id),
    field_name    TEXT NOT NULL,
    field_value   TEXT,
    confidence    DOUBLE PRECISION,
    model_version TEXT,
    extracted_at  TIMESTAMPTZ NOT NULL
);
CREATE TABLE IF NOT EXISTS validations (
    id              BIGSERIAL PRIMARY KEY,
    document_id     TEXT NOT NULL REFERENCES documents (id),
    field_name      TEXT NOT NULL,
    status          TEXT NOT NULL CHECK (status IN ('approved', 'corrected', 'rejected')),
    corrected_value TEXT,
    validated_by    TEXT,
    validated_at    TIMESTAMPTZ NOT NULL
);
CREATE INDEX IF NOT EXISTS extractions_document ON extractions (document_id);
CREATE INDEX IF NOT EXISTS validations_document ON validations (document_id);
