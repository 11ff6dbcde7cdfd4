"""Offline validation of Kubernetes objects with the ``kubernetes`` client's own API models.

Deserialising into the models checks types and required fields; it silently drops keys a model does
not know, so the round trip back to a dict is compared with the input: a misspelt or misplaced key
(``nodeSelecter``, ``limits`` outside ``resources``) shows up as lost. That is what
``kubectl apply --dry-run=client`` would catch, without a cluster.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import kubernetes
import yaml

API = kubernetes.client.ApiClient()

MODEL_FOR_KIND = {
    ("v1", "Pod"): "V1Pod",
    ("v1", "Secret"): "V1Secret",
    ("v1", "ConfigMap"): "V1ConfigMap",
    ("v1", "PersistentVolumeClaim"): "V1PersistentVolumeClaim",
    ("v1", "Service"): "V1Service",
    ("apps/v1", "Deployment"): "V1Deployment",
    ("batch/v1", "Job"): "V1Job",
}


def deserialize(obj: Any, model: str) -> Any:
    """The model instance for a plain dict (camelCase keys, as in YAML); raises on bad types."""
    return API._ApiClient__deserialize(obj, model)


def to_dict(model: Any) -> Any:
    return API.sanitize_for_serialization(model)


def lost_keys(original: Any, roundtrip: Any, path: str = "") -> list[str]:
    """Paths present in ``original`` but missing after the model round trip (unknown to the model)."""
    lost: list[str] = []
    if isinstance(original, dict):
        if not isinstance(roundtrip, dict):
            return [path or "."]
        for key, value in original.items():
            if key not in roundtrip:
                # An explicit null or empty map is dropped by the serialiser without loss of meaning.
                if value not in (None, {}, []):
                    lost.append(f"{path}.{key}")
                continue
            lost += lost_keys(value, roundtrip[key], f"{path}.{key}")
    elif isinstance(original, list):
        for i, (a, b) in enumerate(zip(original, roundtrip or [], strict=False)):
            lost += lost_keys(a, b, f"{path}[{i}]")
    return lost


def validate(obj: dict[str, Any], model: str | None = None) -> Any:
    """Deserialise a manifest into its model and fail on any key the model does not define."""
    model = model or MODEL_FOR_KIND[(obj["apiVersion"], obj["kind"])]
    instance = deserialize(obj, model)
    lost = lost_keys(obj, to_dict(instance))
    if lost:
        raise ValueError(f"{model}: keys unknown to the Kubernetes API model: {lost}")
    return instance


def load_manifests(path: Path) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]
