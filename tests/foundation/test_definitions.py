"""The asset graph as a snapshot: a change to assets, checks, jobs, schedules or sensors shows in
review. Regenerate it deliberately with
``SAP_LLM_UPDATE_SNAPSHOT=1 pytest tests/foundation/test_definitions.py``."""

import json
import os
import subprocess
import sys
from pathlib import Path

import dagster as dg

from orchestration.definitions import defs

SNAPSHOT = Path(__file__).resolve().parent.parent / "snapshots" / "definitions.json"
REPO_ROOT = Path(__file__).resolve().parents[2]


def _graph_snapshot() -> dict:
    graph = defs.resolve_asset_graph()
    assets = {}
    for key in sorted(graph.get_all_asset_keys(), key=lambda k: k.to_user_string()):
        node = graph.get(key)
        assets[key.to_user_string()] = {
            "group": node.group_name,
            "deps": sorted(k.to_user_string() for k in node.parent_keys),
            "checks": sorted(c.name for c in node.check_keys),
        }
    repo = defs.get_repository_def()
    return {
        "assets": assets,
        "jobs": sorted(j.name for j in repo.get_all_jobs() if not j.name.startswith("__")),
        "schedules": sorted(s.name for s in repo.schedule_defs),
        "sensors": sorted(s.name for s in repo.sensor_defs),
    }


def test_graph_matches_snapshot():
    current = _graph_snapshot()
    if os.environ.get("SAP_LLM_UPDATE_SNAPSHOT"):
        SNAPSHOT.parent.mkdir(parents=True, exist_ok=True)
        SNAPSHOT.write_text(json.dumps(current, indent=2, sort_keys=True) + "\n")
    assert current == json.loads(SNAPSHOT.read_text())


def test_every_asset_has_a_code_version_and_a_check():
    graph = defs.resolve_asset_graph()
    for key in graph.get_all_asset_keys():
        node = graph.get(key)
        assert node.code_version, f"{key.to_user_string()} has no code_version"
        assert node.check_keys, f"{key.to_user_string()} has no asset check"


def test_definitions_validate():
    dg.Definitions.validate_loadable(defs)


def _dagster(*args: str) -> str:
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    cli = Path(sys.executable).with_name("dagster")
    out = subprocess.run(
        [str(cli), *args], cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=180
    )
    assert out.returncode == 0, out.stderr[-2000:]
    return out.stdout


def test_string_asset_selections_work_in_the_main_environment(dagster_home):
    """Dagster's selection grammar needs antlr4 4.13; a DVC install in this env would break it."""
    by_tag = _dagster(
        "asset", "list", "-m", "orchestration.definitions", "--select", "tag:sap_llm/layer=source"
    )
    assert "synthetic_documents" in by_tag.split()
    upstream = _dagster(
        "asset", "list", "-m", "orchestration.definitions", "--select", "+synthetic_documents"
    )
    assert "synthetic_documents" in upstream.split()
    by_group = _dagster("asset", "list", "-m", "orchestration.definitions", "--select", "group:corpora")
    assert "synthetic_documents" in by_group.split()
