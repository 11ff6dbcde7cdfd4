"""Domain library of the SAP_LLM platform.

Everything that does real work lives here: corpus generation, loaders, transforms, knowledge base,
models, training entry points, evaluation. It never imports dagster, so the same functions serve the
Dagster assets, the DVC stages (through :mod:`sap_llm_core.cli`) and the training pods.
"""

__version__ = "0.1.0"
