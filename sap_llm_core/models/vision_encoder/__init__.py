"""Document type + subtype classification and BIO field detection over words + boxes.

Embedded default: the all-MiniLM-L6-v2 BERT encoder with 2-D layout embeddings added to its token
embeddings, LoRA adapters and three task heads. Production: ``microsoft/layoutlmv3-base`` (its own
2-D position embeddings, text-only input), loaded from a local folder, never downloaded.
"""
