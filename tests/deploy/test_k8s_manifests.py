"""deploy/k8s: every manifest is a valid Kubernetes object, and the GPU training pod that
PipesK8sClient submits (built by dagster-k8s's own ``build_pod_body``) asks for GPUs, lands on GPU
nodes, mounts the shared checkpoint claim and reads only Secrets and keys that exist."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
from dagster_k8s.pipes import build_pod_body

from tests.deploy.k8s_models import load_manifests, lost_keys, to_dict, validate

REPO_ROOT = Path(__file__).resolve().parents[2]
K8S = REPO_ROOT / "deploy" / "k8s"
TEMPLATE = K8S / "training-pod-template.yaml"
MANIFESTS = sorted(K8S.glob("*.yaml"))

# What the code reads from the environment in production (orchestration/resources, DESIGN.md).
CONNECTION_KEYS = {"MONGO_URI", "MLFLOW_TRACKING_URI", "WEAVIATE_URL", "SAP_LLM_STORAGE__ROOT"}


def _secrets() -> dict[str, set[str]]:
    secrets: dict[str, set[str]] = {}
    for path in MANIFESTS:
        for doc in load_manifests(path):
            if doc["kind"] == "Secret":
                secrets[doc["metadata"]["name"]] = set(doc.get("stringData", {})) | set(doc.get("data", {}))
    return secrets


def _template() -> dict[str, Any]:
    (pod,) = load_manifests(TEMPLATE)
    return pod


@pytest.mark.parametrize("path", MANIFESTS, ids=lambda p: p.name)
def test_every_manifest_deserialises_into_the_kubernetes_models(path: Path) -> None:
    docs = load_manifests(path)
    assert docs, f"{path} is empty"
    for doc in docs:
        model = validate(doc)
        assert model.metadata.name or doc["kind"] == "Pod", f"{path}: {doc['kind']} without a name"
        assert model.metadata.labels.get("app.kubernetes.io/part-of") == "sap-llm"


def test_validation_catches_a_misspelt_key() -> None:
    """The validator must fail on rot, or every test above passes vacuously."""
    pod = _template()
    broken = copy.deepcopy(pod)
    broken["spec"]["nodeSelecter"] = broken["spec"].pop("nodeSelector")
    with pytest.raises(ValueError, match="nodeSelecter"):
        validate(broken)
    missing_name = copy.deepcopy(pod)
    del missing_name["spec"]["containers"][0]["name"]
    with pytest.raises(ValueError, match="name"):
        validate(missing_name)


def test_connection_secret_holds_what_the_code_reads() -> None:
    secrets = _secrets()
    assert secrets["sap-llm-connections"] >= CONNECTION_KEYS
    assert "postgresql-password" in secrets["dagster-postgresql-secret"]


def test_production_resources_read_only_env_vars_the_secret_provides() -> None:
    """Every dg.EnvVar a production resource reads must be a key of sap-llm-connections; this grows
    with the resources other groups add (MongoDB, MLflow, Weaviate, ...)."""
    import dagster as dg

    from orchestration.resources import resources_for

    names: set[str] = set()

    def collect(value: Any) -> None:
        if isinstance(value, dg.EnvVar):
            names.add(value.env_var_name)
        elif isinstance(value, dict):
            for item in value.values():
                collect(item)
        elif isinstance(value, list | tuple):
            for item in value:
                collect(item)
        elif isinstance(value, dg.ConfigurableResource):
            for field in type(value).model_fields:
                collect(getattr(value, field, None))

    for resource in resources_for("production").values():
        collect(resource)
    assert names, "production resources read nothing from the environment"
    missing = names - _secrets()["sap-llm-connections"]
    assert not missing, f"env vars read in production but missing from the Secret: {sorted(missing)}"


def test_training_pod_built_by_pipes_k8s_client_is_a_gpu_pod() -> None:
    pod = _template()
    command = ["python", "-m", "sap_llm_core.training", "vision_encoder", "--config", "{}"]
    body = build_pod_body(
        pod_name="dagster-run-abc-vision-encoder",
        image="registry.example.com/sap-llm/training:test",
        command=command,
        env_vars={"DAGSTER_PIPES_CONTEXT": "ctx", "DAGSTER_PIPES_MESSAGES": "msgs"},
        base_pod_meta=pod["metadata"],
        base_pod_spec=pod["spec"],
    )
    manifest = to_dict(body)
    # What the client submits is still a valid pod, with everything from the template kept.
    validated = validate({"apiVersion": "v1", "kind": "Pod", **manifest})
    assert not lost_keys(pod["spec"], manifest["spec"])

    spec = validated.spec
    (container,) = spec.containers
    assert container.command == command
    assert container.image.endswith(":test")
    assert spec.restart_policy == "Never"
    assert container.resources.limits["nvidia.com/gpu"] == container.resources.requests["nvidia.com/gpu"]
    assert int(container.resources.limits["nvidia.com/gpu"]) >= 1
    assert spec.node_selector, "GPU pods must be pinned to GPU nodes"
    assert any(t.key == "nvidia.com/gpu" and t.effect == "NoSchedule" for t in spec.tolerations)
    env = {e.name: e for e in container.env}
    assert env["SAP_LLM_DEPLOYMENT"].value == "production"
    assert env["DAGSTER_PIPES_CONTEXT"].value == "ctx"  # Pipes bootstrap reaches the container
    assert {"MLFLOW_TRACKING_URI", "SAP_LLM_STORAGE__ROOT"} <= set(env)


def test_training_pod_mounts_the_shared_checkpoint_claim_and_existing_secrets() -> None:
    pod = validate(_template())
    (container,) = pod.spec.containers
    volumes = {v.name: v for v in pod.spec.volumes}
    mounts = {m.name: m.mount_path for m in container.volume_mounts}
    assert mounts["checkpoints"] == "/checkpoints"
    claim = volumes["checkpoints"].persistent_volume_claim.claim_name
    (pvc,) = load_manifests(K8S / "checkpoints-pvc.yaml")
    assert pvc["metadata"]["name"] == claim
    # Pods on different nodes resume from the same checkpoints.
    assert "ReadWriteMany" in pvc["spec"]["accessModes"]
    assert volumes["dshm"].empty_dir.medium == "Memory"

    secrets = _secrets()
    for e in container.env:
        if e.value_from and e.value_from.secret_key_ref:
            ref = e.value_from.secret_key_ref
            assert ref.key in secrets.get(ref.name, set()), f"{e.name}: {ref.name}/{ref.key} does not exist"
    for source in container.env_from or []:
        assert source.secret_ref.name in secrets


def test_training_command_is_the_training_images_entry_point() -> None:
    (container,) = _template()["spec"]["containers"]
    assert container["command"][:3] == ["python", "-m", "sap_llm_core.training"]


def test_mlflow_service_is_where_the_connection_secret_points() -> None:
    docs = {d["kind"]: d for d in load_manifests(K8S / "mlflow.yaml")}
    deployment, service = validate(docs["Deployment"]), validate(docs["Service"])
    pod_labels = deployment.spec.template.metadata.labels
    assert all(pod_labels.get(k) == v for k, v in service.spec.selector.items())
    assert deployment.spec.selector.match_labels.items() <= pod_labels.items()
    (container,) = deployment.spec.template.spec.containers
    assert "--workers 1" in " ".join(container.args)
    assert {e.name: e.value for e in container.env}["MLFLOW_SERVER_ENABLE_JOB_EXECUTION"] == "false"
    assert all(source.secret_ref.name in _secrets() for source in container.env_from)

    namespace = service.metadata.namespace
    expected = f"http://{service.metadata.name}.{namespace}.svc.cluster.local:{service.spec.ports[0].port}"
    for secret in ("sap-llm-connections", "sap-llm-training"):
        (doc,) = [
            d
            for d in load_manifests(K8S / "secrets.yaml")
            if d["kind"] == "Secret" and d["metadata"]["name"] == secret
        ]
        assert doc["stringData"]["MLFLOW_TRACKING_URI"] == expected
