"""The Process Memory Graph: what happened to every document, and what people said about it.

Vertices (Document, Extraction, RoutingDecision, SAPResponse, Exception, Rule, Feedback) and typed
edges live in MongoDB; Merkle snapshots name exactly which feedback a training set used; document
embeddings in the vector index give the reasoning engine similar past cases.
"""

from sap_llm_core.pmg.graph_store import ProcessMemoryGraph
from sap_llm_core.pmg.model import EdgeType, Feedback, FeedbackKind, VertexType

__all__ = ["EdgeType", "Feedback", "FeedbackKind", "ProcessMemoryGraph", "VertexType"]
