"""``sap-llm registry ...``: inspect champions and roll one back."""

from __future__ import annotations

import json
import os

import typer
from mlflow import MlflowClient
from rich.console import Console

from sap_llm_core.registry.mlflow_registry import CHALLENGER, CHAMPION, alias_version, rollback
from sap_llm_core.settings import PROJECT_ROOT, get_settings

registry_app = typer.Typer(help="MLflow model registry: champions and rollbacks.", no_args_is_help=True)
console = Console()


def _client(tracking_uri: str | None) -> MlflowClient:
    uri = (
        tracking_uri
        or os.environ.get("MLFLOW_TRACKING_URI")
        or f"sqlite:///{PROJECT_ROOT / '.mlflow' / 'mlflow.db'}"
    )
    return MlflowClient(tracking_uri=uri)


@registry_app.command("rollback")
def rollback_command(
    model: str = typer.Argument(..., help="Model asset name (vision_encoder, ...) or registered name."),
    version: str = typer.Argument(..., help="The version that becomes champion again."),
    reason: str = typer.Option("manual rollback", help="Recorded on the version."),
    tracking_uri: str = typer.Option(None, help="Default: $MLFLOW_TRACKING_URI or the project's store."),
) -> None:
    """Point a model's champion alias back at a named version."""
    settings = get_settings().registry
    name = model if "." in model else settings.registered_name(model)
    console.print(json.dumps(rollback(_client(tracking_uri), name, version, reason)))


@registry_app.command("status")
def status_command(tracking_uri: str = typer.Option(None, help="Default: the project's store.")) -> None:
    """Champion and challenger of every registered model."""
    client = _client(tracking_uri)
    for registered in client.search_registered_models():
        console.print(
            f"{registered.name}: champion={alias_version(client, registered.name, CHAMPION)} "
            f"challenger={alias_version(client, registered.name, CHALLENGER)}"
        )
