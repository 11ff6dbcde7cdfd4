"""deploy/helm/values.yaml against the Dagster chart's value keys and types (a JSON schema of the
parts we use, tests/deploy/dagster_chart_values.schema.json), and against this project: the code
location it serves, the Secrets it references and the Kubernetes types of its env/resources."""

from __future__ import annotations

import copy
import importlib
import json
import tomllib
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from tests.deploy.k8s_models import deserialize, load_manifests, lost_keys, to_dict

REPO_ROOT = Path(__file__).resolve().parents[2]
VALUES_FILE = REPO_ROOT / "deploy" / "helm" / "values.yaml"
SCHEMA_FILE = Path(__file__).with_name("dagster_chart_values.schema.json")


def _values() -> dict[str, Any]:
    return yaml.safe_load(VALUES_FILE.read_text())


def _validator() -> jsonschema.Draft202012Validator:
    schema = json.loads(SCHEMA_FILE.read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def _secret_names() -> set[str]:
    docs = load_manifests(REPO_ROOT / "deploy" / "k8s" / "secrets.yaml")
    return {d["metadata"]["name"] for d in docs if d["kind"] == "Secret"}


def _errors(values: dict[str, Any]) -> list[str]:
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in _validator().iter_errors(values)]


def test_values_match_the_chart_schema() -> None:
    assert _errors(_values()) == []


@pytest.mark.parametrize(
    ("mutate", "where"),
    [
        (lambda v: v["runLauncher"]["config"]["k8sRunLauncher"].update(envSecret=[]), "k8sRunLauncher"),
        (lambda v: v.update(dagit={"replicaCount": 1}), "dagit"),  # the pre-1.3 name of the webserver
        (lambda v: v["runLauncher"].update(type="K8sLauncher"), "runLauncher/type"),
        (lambda v: v["dagsterDaemon"]["runCoordinator"].pop("type"), "runCoordinator"),
        (lambda v: v["dagster-user-deployments"]["deployments"][0].update(port="3030"), "port"),
    ],
    ids=["misspelt-key", "old-top-level-key", "bad-enum", "missing-required", "wrong-type"],
)
def test_schema_rejects_what_the_chart_would(mutate, where: str) -> None:
    values = copy.deepcopy(_values())
    mutate(values)
    errors = _errors(values)
    assert errors, f"schema accepted a broken value ({where})"


def test_user_deployment_serves_the_projects_code_location() -> None:
    (deployment,) = _values()["dagster-user-deployments"]["deployments"]
    args = deployment["dagsterApiGrpcArgs"]
    module = args[args.index("-m") + 1]
    pyproject = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())
    workspace = yaml.safe_load((REPO_ROOT / "workspace.yaml").read_text())
    assert module == pyproject["tool"]["dagster"]["module_name"]
    assert module == workspace["load_from"][0]["python_module"]["module_name"]
    assert hasattr(importlib.import_module(module), "defs")
    env = {e["name"]: e.get("value") for e in deployment["env"]}
    assert env["SAP_LLM_DEPLOYMENT"] == "production"


def test_runs_use_the_k8s_run_launcher_and_the_daemon_runs_automations() -> None:
    values = _values()
    assert values["runLauncher"]["type"] == "K8sRunLauncher"
    launcher = values["runLauncher"]["config"]["k8sRunLauncher"]
    assert "SAP_LLM_DEPLOYMENT=production" in launcher["envVars"]
    daemon = values["dagsterDaemon"]
    assert daemon["enabled"] is True
    assert daemon["runCoordinator"]["type"] == "QueuedRunCoordinator"
    assert values["telemetry"]["enabled"] is False


def test_run_storage_is_postgresql_with_a_password_secret_we_create() -> None:
    values = _values()
    pg = values["postgresql"]
    assert pg["postgresqlHost"] and pg["postgresqlDatabase"] and pg["postgresqlUsername"]
    assert pg["postgresqlPassword"] == "", "the password belongs in a Secret, not in values"
    assert values["generatePostgresqlPasswordSecret"] is False
    assert values["global"]["postgresqlSecretName"] in _secret_names()


def test_every_referenced_secret_exists_and_kubernetes_typed_values_are_valid() -> None:
    values = _values()
    deployment = values["dagster-user-deployments"]["deployments"][0]
    launcher = values["runLauncher"]["config"]["k8sRunLauncher"]
    sections = {
        "user deployment": deployment,
        "run launcher": launcher,
        "daemon": values["dagsterDaemon"],
    }
    secrets = _secret_names()
    for where, section in sections.items():
        refs = section.get("envSecrets", [])
        assert refs, f"{where}: no envSecrets, the code would not see MONGO_URI & co."
        for ref in refs:
            assert ref["name"] in secrets, f"{where}: Secret {ref['name']} is not in deploy/k8s/secrets.yaml"
            deserialize(ref, "V1SecretEnvSource")
        if "resources" in section:
            model = deserialize(section["resources"], "V1ResourceRequirements")
            assert not lost_keys(section["resources"], to_dict(model)), where
    for env in deployment["env"]:
        model = deserialize(env, "V1EnvVar")
        assert not lost_keys(env, to_dict(model))
