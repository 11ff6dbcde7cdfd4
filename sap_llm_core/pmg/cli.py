"""``sap-llm pmg ...``: record feedback and inspect the Process Memory Graph from a shell."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.console import Console

from sap_llm_core.pmg.connection import LOCAL_DATA_FOLDER, pmg_database
from sap_llm_core.pmg.graph_store import ProcessMemoryGraph
from sap_llm_core.pmg.model import Feedback, FeedbackKind
from sap_llm_core.pmg.snapshot import take_snapshot
from sap_llm_core.settings import get_settings

pmg_app = typer.Typer(help="Process Memory Graph: feedback, history, snapshots.", no_args_is_help=True)
console = Console()


def _data_dir(storage_root: str | None) -> str:
    return str(Path(storage_root or get_settings().storage.resolved_root()) / LOCAL_DATA_FOLDER)


@pmg_app.command()
def feedback(
    document_id: str = typer.Argument(..., help="The document the feedback is about."),
    kind: FeedbackKind = typer.Option(
        ..., help="approval | rejection | field_correction | routing_correction"
    ),
    field: str = typer.Option(
        None, help="Ground-truth path for a field correction, e.g. header.total_amount"
    ),
    new_value: str = typer.Option(None, help="The correct value (field correction)."),
    old_value: str = typer.Option(None, help="The value that was wrong."),
    endpoint: str = typer.Option(None, help="The correct API (routing correction)."),
    entity: str = typer.Option(None, help="The correct entity set (routing correction)."),
    method: str = typer.Option("POST", help="HTTP method of the correct routing."),
    author: str = typer.Option("cli", help="Who gives the feedback."),
    comment: str = typer.Option("", help="Free text."),
    storage_root: str = typer.Option(None, help="Override storage.root (embedded server's folder)."),
) -> None:
    """Record one piece of feedback; corrections count towards the retraining threshold."""
    routing = {"endpoint": endpoint, "entity": entity, "method": method} if endpoint else None
    item = Feedback(
        document_id=document_id,
        kind=kind,
        field=field,
        new_value=new_value,
        old_value=old_value,
        routing=routing,
        author=author,
        comment=comment,
        source="cli",
    )
    with pmg_database(_data_dir(storage_root)) as db:
        graph = ProcessMemoryGraph(db)
        graph.ensure_indexes()
        feedback_id = graph.record_feedback(item)
    console.print(f"recorded {kind.value} {feedback_id} for {document_id}")


@pmg_app.command()
def history(
    document_id: str,
    storage_root: str = typer.Option(None, help="Override storage.root."),
) -> None:
    """Print a document's full trail as JSON."""
    with pmg_database(_data_dir(storage_root)) as db:
        trail = ProcessMemoryGraph(db).document_history(document_id)
    console.print_json(json.dumps(trail, default=str))


@pmg_app.command()
def snapshot(storage_root: str = typer.Option(None, help="Override storage.root.")) -> None:
    """Take a Merkle snapshot of the PMG and print its root."""
    with pmg_database(_data_dir(storage_root)) as db:
        record = take_snapshot(db)
    console.print(json.dumps({"root": record["root"], "counts": record["counts"]}))
