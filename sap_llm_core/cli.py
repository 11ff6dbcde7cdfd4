"""The ``sap-llm`` command line (a typer app); subcommands register here."""

import typer

from sap_llm_core.corpus.cli import corpus_app

app = typer.Typer(help="SAP_LLM platform commands.", no_args_is_help=True)
app.add_typer(corpus_app, name="corpus")

if __name__ == "__main__":
    app()
