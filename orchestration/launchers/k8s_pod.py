"""The training pod: configuration on the asset, a template file, and the exact manifest it becomes.

GPU settings live on the asset (this ``dg.Config``), not on the job: job-level tags reach neither step
pods nor backfills (dagster issues 20429, 26720). The manifest is built by dagster-k8s's own
``build_pod_body``, the function ``PipesK8sClient.run`` calls, so a test of it tests what is sent.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import dagster as dg
import yaml
from pydantic import Field

from sap_llm_core.settings import PROJECT_ROOT

DEFAULT_TEMPLATE = "deploy/k8s/training-pod-template.yaml"
CONTAINER = "training"

# Used when the template file does not exist: one GPU on a GPU node pool, checkpoints on a PVC,
# secrets from one Secret. Every part can be replaced by the template file or the asset config.
BUILTIN_TEMPLATE: dict[str, Any] = {
    "metadata": {"labels": {"app.kubernetes.io/part-of": "sap-llm", "sap-llm/role": "training"}},
    "spec": {
        "restartPolicy": "Never",
        "containers": [
            {
                "name": CONTAINER,
                "image": "ghcr.io/sap-llm/sap-llm-training:latest",
                "imagePullPolicy": "IfNotPresent",
                "resources": {
                    "requests": {"cpu": "8", "memory": "64Gi", "nvidia.com/gpu": "1"},
                    "limits": {"memory": "96Gi", "nvidia.com/gpu": "1"},
                },
                "volumeMounts": [
                    {"name": "checkpoints", "mountPath": "/checkpoints"},
                    {"name": "dshm", "mountPath": "/dev/shm"},
                ],
            }
        ],
        "nodeSelector": {"nvidia.com/gpu.present": "true"},
        "tolerations": [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}],
        "volumes": [
            {"name": "checkpoints", "persistentVolumeClaim": {"claimName": "sap-llm-checkpoints"}},
            {"name": "dshm", "emptyDir": {"medium": "Memory", "sizeLimit": "16Gi"}},
        ],
    },
}

SECRET_ENV = ("MLFLOW_TRACKING_URI", "SAP_LLM_STORAGE__ROOT")


class Toleration(dg.Config):
    key: str
    operator: str = "Exists"
    value: str | None = None
    effect: str | None = "NoSchedule"


class K8sPodConfig(dg.Config):
    """Pod settings for a training asset in production. Empty fields keep the template's value."""

    template_path: str = Field(DEFAULT_TEMPLATE, description="Pod template YAML, relative to the project.")
    namespace: str = "sap-llm"
    image: str | None = None
    gpus: int | None = Field(None, description="nvidia.com/gpu request and limit.")
    cpu: str | None = None
    memory: str | None = None
    node_selector: dict[str, str] | None = None
    tolerations: list[Toleration] | None = None
    checkpoint_claim: str | None = Field(None, description="PVC mounted at checkpoint_mount_path.")
    checkpoint_mount_path: str = "/checkpoints"
    secret_name: str = Field("sap-llm-training", description="Secret holding MLFLOW_TRACKING_URI etc.")
    service_account_name: str | None = None
    nproc_per_node: int = Field(1, description=">1 runs the entry point under torchrun (multi-GPU).")


def load_template(path: str | Path) -> dict[str, Any]:
    """The template as ``{"metadata", "spec"}``; a file may hold a whole Pod or just its spec."""
    file = Path(path)
    if not file.is_absolute():
        file = PROJECT_ROOT / file
    if not file.exists():
        return copy.deepcopy(BUILTIN_TEMPLATE)
    loaded = yaml.safe_load(file.read_text(encoding="utf-8")) or {}
    if loaded.get("kind") not in (None, "Pod") and "template" in loaded.get("spec", {}):
        loaded = loaded["spec"]["template"]  # a Job: use its pod template
    if "spec" in loaded:
        return {"metadata": loaded.get("metadata") or {}, "spec": loaded["spec"]}
    return {"metadata": {}, "spec": loaded}


def _container(spec: dict[str, Any]) -> dict[str, Any]:
    containers = spec.setdefault("containers", [{}])
    containers[0].setdefault("name", CONTAINER)
    return containers[0]


def pod_parts(pod: K8sPodConfig) -> tuple[dict[str, Any], dict[str, Any]]:
    """``(base_pod_meta, base_pod_spec)`` for ``PipesK8sClient.run``: template + asset config."""
    template = load_template(pod.template_path)
    meta, spec = template["metadata"], template["spec"]
    container = _container(spec)
    if pod.image:
        container["image"] = pod.image
    resources = container.setdefault("resources", {})
    requests, limits = resources.setdefault("requests", {}), resources.setdefault("limits", {})
    if pod.gpus is not None:
        requests["nvidia.com/gpu"] = limits["nvidia.com/gpu"] = str(pod.gpus)
    if pod.cpu:
        requests["cpu"] = pod.cpu
    if pod.memory:
        requests["memory"] = limits["memory"] = pod.memory
    if pod.node_selector is not None:
        spec["nodeSelector"] = dict(pod.node_selector)
    if pod.tolerations is not None:
        spec["tolerations"] = [
            {k: v for k, v in t.model_dump().items() if v is not None} for t in pod.tolerations
        ]
    if pod.checkpoint_claim:
        volumes = [v for v in spec.get("volumes", []) if v.get("name") != "checkpoints"]
        spec["volumes"] = [
            *volumes,
            {"name": "checkpoints", "persistentVolumeClaim": {"claimName": pod.checkpoint_claim}},
        ]
    mounts = container.setdefault("volumeMounts", [])
    if any(v.get("name") == "checkpoints" for v in spec.get("volumes", [])):
        mounts[:] = [m for m in mounts if m.get("name") != "checkpoints"]
        mounts.append({"name": "checkpoints", "mountPath": pod.checkpoint_mount_path})
    if pod.service_account_name:
        spec["serviceAccountName"] = pod.service_account_name
    env = [e for e in container.get("env", []) if e.get("name") not in SECRET_ENV]
    env += [
        {"name": name, "valueFrom": {"secretKeyRef": {"name": pod.secret_name, "key": name}}}
        for name in SECRET_ENV
    ]
    container["env"] = env
    return meta, spec


def training_command(model: str, config_json: str, nproc_per_node: int = 1) -> list[str]:
    """The pod's command; several GPUs: the same module under torchrun (one process per GPU)."""
    if nproc_per_node > 1:
        launcher = ["torchrun", f"--nproc-per-node={nproc_per_node}", "-m", "sap_llm_core.training"]
    else:
        launcher = ["python", "-m", "sap_llm_core.training"]
    return [*launcher, model, "--config", config_json]


def build_pod_manifest(pod_name: str, command: list[str], env: dict[str, str], pod: K8sPodConfig) -> Any:
    """The exact ``V1Pod`` that ``PipesK8sClient.run`` submits for these arguments."""
    from dagster_k8s.pipes import build_pod_body

    meta, spec = pod_parts(pod)
    return build_pod_body(
        pod_name=pod_name, image=None, command=command, env_vars=env, base_pod_meta=meta, base_pod_spec=spec
    )
