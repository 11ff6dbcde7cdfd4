"""Synthetic SAP business documents: PDF, page image, words + boxes and ground-truth ADC JSON."""
