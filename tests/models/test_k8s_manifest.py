"""The production launch path without a cluster: the exact pod ``PipesK8sClient`` would submit,
validated by deserialising it into the Kubernetes API models."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from kubernetes.client import ApiClient, V1Pod

from orchestration.launchers import K8sPodConfig, Toleration, build_pod_manifest
from orchestration.launchers.k8s_pod import pod_training_config, training_command

CONFIG = {"hyperparameters": {"epochs": 3}, "resume": True}


def _as_v1pod(pod: V1Pod) -> tuple[V1Pod, dict]:
    client = ApiClient()
    body = client.sanitize_for_serialization(pod)
    # Round trip through JSON and the API models' deserialiser: unknown/mistyped fields fail here.
    body = json.loads(json.dumps(body))
    return client._ApiClient__deserialize(body, "V1Pod"), body


def _build(pod_config: K8sPodConfig, nproc: int = 1) -> tuple[V1Pod, dict]:
    command = training_command("vision_encoder", json.dumps(CONFIG), nproc)
    env = {"DAGSTER_PIPES_CONTEXT": "ctx", "DAGSTER_PIPES_MESSAGES": "msgs", "HF_HUB_OFFLINE": "1"}
    return _as_v1pod(build_pod_manifest("dagster-run-vision-encoder", command, env, pod_config))


def test_builtin_template_gives_a_gpu_pod(tmp_path: Path) -> None:
    pod, body = _build(
        K8sPodConfig(template_path=str(tmp_path / "absent.yaml"), image="registry/sap-llm:1.2")
    )
    container = pod.spec.containers[0]
    assert container.image == "registry/sap-llm:1.2"
    assert container.resources.limits["nvidia.com/gpu"] == "1"
    assert container.resources.requests["nvidia.com/gpu"] == "1"
    assert pod.spec.restart_policy == "Never"
    assert pod.spec.node_selector == {"nvidia.com/gpu.present": "true"}
    assert [(t.key, t.operator, t.effect) for t in pod.spec.tolerations] == [
        ("nvidia.com/gpu", "Exists", "NoSchedule")
    ]
    volumes = {v.name: v for v in pod.spec.volumes}
    assert volumes["checkpoints"].persistent_volume_claim.claim_name == "sap-llm-checkpoints"
    assert {m.name: m.mount_path for m in container.volume_mounts}["checkpoints"] == "/checkpoints"
    env = {e.name: e for e in container.env}
    for secret_var in ("MLFLOW_TRACKING_URI", "SAP_LLM_STORAGE__ROOT"):
        assert env[secret_var].value_from.secret_key_ref.name == "sap-llm-training"
        assert env[secret_var].value_from.secret_key_ref.key == secret_var
        assert env[secret_var].value is None
    assert env["DAGSTER_PIPES_CONTEXT"].value == "ctx"
    assert container.command[:4] == ["python", "-m", "sap_llm_core.training", "vision_encoder"]
    assert json.loads(container.command[-1]) == CONFIG
    assert body["metadata"]["labels"]["sap-llm/role"] == "training"


def test_asset_config_overrides_the_template(tmp_path: Path) -> None:
    template = tmp_path / "pod.yaml"
    template.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {"labels": {"team": "docai"}},
                "spec": {
                    "containers": [{"name": "trainer", "image": "template/image:0"}],
                    "nodeSelector": {"pool": "template"},
                    "volumes": [{"name": "cache", "emptyDir": {}}],
                },
            }
        )
    )
    config = K8sPodConfig(
        template_path=str(template),
        image="registry/sap-llm:2.0",
        gpus=4,
        memory="200Gi",
        node_selector={"cloud.google.com/gke-accelerator": "nvidia-h100-80gb"},
        tolerations=[Toleration(key="dedicated", operator="Equal", value="gpu", effect="NoExecute")],
        checkpoint_claim="ckpt-claim",
        checkpoint_mount_path="/mnt/ckpt",
        nproc_per_node=4,
    )
    pod, _ = _build(config, nproc=config.nproc_per_node)
    container = pod.spec.containers[0]
    assert container.name == "trainer"
    assert container.image == "registry/sap-llm:2.0"
    assert container.resources.limits == {"nvidia.com/gpu": "4", "memory": "200Gi"}
    assert pod.spec.node_selector == {"cloud.google.com/gke-accelerator": "nvidia-h100-80gb"}
    toleration = pod.spec.tolerations[0]
    assert (toleration.key, toleration.operator, toleration.value, toleration.effect) == (
        "dedicated",
        "Equal",
        "gpu",
        "NoExecute",
    )
    volumes = {v.name: v for v in pod.spec.volumes}
    assert set(volumes) == {"cache", "checkpoints"}
    assert volumes["checkpoints"].persistent_volume_claim.claim_name == "ckpt-claim"
    assert {m.name: m.mount_path for m in container.volume_mounts} == {"checkpoints": "/mnt/ckpt"}
    assert container.command[:3] == ["torchrun", "--nproc-per-node=4", "-m"]
    assert pod.metadata.labels["team"] == "docai"


def test_restart_policy_always_is_refused(tmp_path: Path) -> None:
    template = tmp_path / "pod.yaml"
    template.write_text(yaml.safe_dump({"restartPolicy": "Always", "containers": [{"image": "x:1"}]}))
    with pytest.raises(Exception, match="Always"):
        _build(K8sPodConfig(template_path=str(template)))


def test_pod_config_uses_the_mounted_volume_and_the_secret_storage() -> None:
    local = {"storage_root": "/home/me/data", "output_dir": "/home/me/data/vision_encoder", "resume": True}
    in_pod = pod_training_config("vision_encoder", local, K8sPodConfig(checkpoint_mount_path="/ckpt/"))
    assert in_pod == {"output_dir": "/ckpt/vision_encoder", "resume": True}
