"""``sap-llm``: the command line that DVC stages, training pods and people call.

It reaches the same functions as the Dagster assets, with the same params.yaml defaults.
"""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn
from rich.table import Table

from sap_llm_core.corpus.cli import corpus_app
from sap_llm_core.pmg.cli import pmg_app
from sap_llm_core.registry.cli import registry_app
from sap_llm_core.settings import get_settings
from sap_llm_core.storage import ArtifactStore

app = typer.Typer(help="SAP_LLM platform command line.", no_args_is_help=True)
app.add_typer(corpus_app, name="corpus")
app.add_typer(pmg_app, name="pmg")
app.add_typer(registry_app, name="registry")
console = Console()


def _store(root: str | None) -> ArtifactStore:
    return ArtifactStore(root or get_settings().storage.resolved_root())


@app.command("generate-synthetic")
def generate_synthetic(
    num_documents: int = typer.Option(None, help="Override synthetic.num_documents."),
    seed: int = typer.Option(None, help="Override synthetic.seed."),
    render_images: bool = typer.Option(None, help="Override synthetic.render_images."),
    workers: int = typer.Option(0, help="Worker processes (0: one per core)."),
    storage_root: str = typer.Option(None, help="Override storage.root."),
) -> None:
    """Generate (or top up) the synthetic corpus, exactly as the synthetic_documents asset does."""
    from sap_llm_core.synthetic.config import GeneratorConfig
    from sap_llm_core.synthetic.corpus import generate_corpus

    overrides = {"num_documents": num_documents, "seed": seed, "render_images": render_images}
    base = get_settings().synthetic.model_dump()
    config = GeneratorConfig(**{**base, **{k: v for k, v in overrides.items() if v is not None}})
    store = _store(storage_root)
    with Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
    ) as bar:
        task = bar.add_task("shards", total=config.num_shards)
        manifest, stats = generate_corpus(
            config,
            store,
            workers=workers or None,
            progress=lambda done, total: bar.update(task, completed=done, total=total),
        )
    console.print(
        f"kept {manifest['kept']}, quarantined {manifest['quarantined']}"
        f" -> {store.url('synthetic_documents')}"
    )
    console.print(json.dumps(stats))


@app.command()
def summary(storage_root: str = typer.Option(None, help="Override storage.root.")) -> None:
    """Where the results of the last materialisation are, and how to look at them."""
    store = _store(storage_root)
    table = Table(title="SAP_LLM artifacts")
    table.add_column("asset")
    table.add_column("rows / size")
    table.add_column("data version")
    table.add_column("location", overflow="fold")
    for name in store.list():
        if store.exists(name, "manifest.json"):
            manifest = store.read_json(name, "manifest.json")
            rows = manifest.get("kept", manifest.get("rows", ""))
            table.add_row(name, str(rows), str(manifest.get("data_version", ""))[:12], store.url(name))
    console.print(table)
    home = Path(__file__).resolve().parent.parent / ".dagster_home"
    console.print(f"Dagster instance: {home}  (runs, materialisations, check results)")
    console.print("Open the UI with [bold]make ui[/bold], then http://127.0.0.1:3000 -> Assets.")


if __name__ == "__main__":
    app()
