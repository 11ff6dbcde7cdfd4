"""Reasoning engine: routes a document (type, ADC JSON, KB candidates, similar past cases) to the SAP
API that should receive it, as ``{endpoint, method, entity, confidence, reasoning}``.

The label comes from the field mappings (data), the decoder can only emit routings that exist in the
knowledge base, and the confidence is a temperature-calibrated probability over those routings.
"""
