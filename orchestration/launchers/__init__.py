"""Training launchers: the same entry point as a local subprocess or a Kubernetes GPU pod (Pipes)."""

from orchestration.launchers.k8s_pod import K8sPodConfig, Toleration, build_pod_manifest, pod_parts
from orchestration.launchers.training import TrainingLauncherResource, TrainingRun

__all__ = [
    "K8sPodConfig",
    "Toleration",
    "TrainingLauncherResource",
    "TrainingRun",
    "build_pod_manifest",
    "pod_parts",
]
