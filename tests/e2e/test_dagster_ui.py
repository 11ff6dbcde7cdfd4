"""The Dagster UI as a person uses it: ``dagster dev`` from workspace.yaml, headless Chromium, and a
materialisation launched with the same GraphQL mutation the Materialize button sends.

What must be visible is derived from ``orchestration.definitions.defs``, never listed here, so the
test keeps checking the whole graph as groups, checks, sensors and schedules are added.

``SAP_LLM_EXPORT_ASSET_GRAPH=docs/asset-graph.png`` (``make asset-graph``) also writes the README
picture from the same run.
"""

from __future__ import annotations

import os
import re
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dagster as dg
import pytest
import yaml

from orchestration.definitions import defs
from tests.e2e.dagster_ui import REPO_ROOT, DagsterDev, dagster_dev, launch_chromium

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]

ARTIFACTS = REPO_ROOT / "tests" / "artifacts"
SMALL_ASSET = "synthetic_documents"
# Small and on one worker: the point is the UI round trip, not the generator's throughput.
# in_process: the default multiprocess executor starts one Python per step (~8 s of imports each on
# two cores); the launchpad offers the same switch.
SMALL_RUN_CONFIG = {
    "execution": {"config": {"in_process": {}}},
    "ops": {SMALL_ASSET: {"config": {"num_documents": 20, "workers": 1}}},
}
UI_TIMEOUT_MS = 30_000

LAUNCH_MUTATION = """
mutation LaunchPipelineExecution($executionParams: ExecutionParams!) {
  launchPipelineExecution(executionParams: $executionParams) {
    __typename
    ... on LaunchRunSuccess { run { runId status } }
    ... on PythonError { message stack }
    ... on InvalidSubsetError { message }
    ... on RunConfigValidationInvalid { errors { message } }
  }
}
"""

CHECKS_QUERY = """
query Checks($keys: [AssetKeyInput!]) {
  assetNodes(assetKeys: $keys) {
    assetKey { path }
    assetChecksOrError {
      __typename
      ... on AssetChecks {
        checks { name executionForLatestMaterialization { status evaluation { success } } }
      }
    }
  }
}
"""


@dataclass(frozen=True)
class ExpectedGraph:
    """What the UI must show, read from the code location's definitions."""

    location: str
    groups: dict[str, list[str]]  # group -> asset keys (user strings)
    checks: dict[str, list[str]]  # asset key -> check names
    sensors: list[str]
    schedules: list[str]


def expected_graph(definitions: dg.Definitions, workspace_file: Path) -> ExpectedGraph:
    workspace = yaml.safe_load(workspace_file.read_text())
    location = workspace["load_from"][0]["python_module"]["location_name"]
    graph = definitions.resolve_asset_graph()
    groups: dict[str, list[str]] = {}
    checks: dict[str, list[str]] = {}
    for key in graph.get_all_asset_keys():
        node = graph.get(key)
        if not node.is_materializable:
            continue
        name = key.to_user_string()
        groups.setdefault(node.group_name, []).append(name)
        if node.check_keys:
            checks[name] = sorted(c.name for c in node.check_keys)
    repo = definitions.get_repository_def()
    return ExpectedGraph(
        location=location,
        groups={g: sorted(a) for g, a in sorted(groups.items())},
        checks=checks,
        sensors=sorted(s.name for s in repo.sensor_defs),
        schedules=sorted(s.name for s in repo.schedule_defs),
    )


EXPECTED = expected_graph(defs, REPO_ROOT / "workspace.yaml")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DagsterDev]:
    """One ``dagster dev`` for the module; its teardown asserts the process group ended cleanly."""
    workdir = tmp_path_factory.mktemp("dagster-ui")
    started = time.monotonic()
    with dagster_dev(workdir) as dev:
        print(f"dagster dev ready in {time.monotonic() - started:.1f}s on {dev.url}")
        yield dev
        forced = dev.stop()
    # dev.stop() already ran; the context manager's second stop is a no-op on a finished process.
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shutil.copy(dev.log_path, ARTIFACTS / "dagster-dev.log")
    assert "Dagster services shut down" in dev.log_tail(), "dagster dev did not shut down cleanly"
    assert not forced, f"processes ignored SIGTERM and had to be killed: {forced}"


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    # A dev dependency (pyproject.toml); a missing import must fail, not skip, the UI test.
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        context = launch_chromium(playwright, tmp_path_factory.mktemp("chromium-profile"))
        try:
            yield context
        finally:
            context.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    page = browser.new_page()
    page.set_default_timeout(UI_TIMEOUT_MS)
    try:
        yield page
    finally:
        page.close()


def _expect_text(page: Any, text: str) -> None:
    """Wait until ``text`` is visible somewhere on the page (exact match of an element's text)."""
    from playwright.sync_api import expect

    expect(page.get_by_text(text, exact=True).first).to_be_visible(timeout=UI_TIMEOUT_MS)


def _body_text(page: Any) -> str:
    return page.inner_text("body")


def _wait_for_all_in_body(page: Any, names: list[str]) -> None:
    """Lists render progressively; wait until every name is in the page's visible text."""
    try:
        page.wait_for_function("names => names.every(n => document.body.innerText.includes(n))", arg=names)
    except Exception as exc:  # playwright's TimeoutError: report what is missing, not a JS timeout
        body = _body_text(page)
        raise AssertionError(f"not shown on {page.url}: {[n for n in names if n not in body]}") from exc


def test_graph_has_groups_and_assets_to_show() -> None:
    """Guards the derivation itself: an empty expectation would make the UI tests pass vacuously."""
    assert EXPECTED.groups, "no materialisable assets in orchestration.definitions"
    assert SMALL_ASSET in {a for assets in EXPECTED.groups.values() for a in assets}
    assert EXPECTED.checks.get(SMALL_ASSET), f"{SMALL_ASSET} should have asset checks"


def show_whole_graph(page: Any, url: str, for_picture: bool = False) -> None:
    """Open the global lineage with every group expanded, as a person would: with several groups the
    UI starts with them collapsed; right-click on the background offers "Expand all groups".
    ``for_picture``: a wide window without the navigation column, so a deep graph stays legible."""
    if for_picture:
        page.set_viewport_size({"width": 2400, "height": 1300})
    page.goto(f"{url}/asset-groups")
    _expect_text(page, "Global asset lineage")
    hide_navigation = page.get_by_text("Hide navigation", exact=True)
    if for_picture and hide_navigation.count():
        hide_navigation.click()
    if len(EXPECTED.groups) > 1:
        for group in EXPECTED.groups:
            _expect_text(page, group)
        item = page.get_by_role("menuitem", name=re.compile("(Expand|Collapse) all groups"))
        width, height = page.viewport_size["width"], page.viewport_size["height"]
        # Right-click empty canvas; a corner may hold a group box, so try the others too.
        for x, y in [(width - 150, 160), (width - 150, height - 60), (width // 2, 160)]:
            page.mouse.click(x, y, button="right")
            try:
                item.wait_for(state="visible", timeout=3000)
                break
            except Exception:  # a group's own menu opened instead
                page.keyboard.press("Escape")
        if "Expand" in item.inner_text():
            item.click()
        else:  # the browser profile remembers groups expanded on an earlier visit
            page.keyboard.press("Escape")
    else:
        # One group: no group boxes, the asset nodes are shown directly.
        for asset in next(iter(EXPECTED.groups.values())):
            _expect_text(page, asset)
    page.wait_for_timeout(1500)  # let the graph finish its zoom-to-fit animation
    if for_picture and len(EXPECTED.groups) > 1:
        # Expanded groups outgrow the fitted view: zoom out (Ctrl + wheel), as a person would.
        page.mouse.move(page.viewport_size["width"] // 2, page.viewport_size["height"] // 2)
        page.keyboard.down("Control")
        for _ in range(4):
            page.mouse.wheel(0, 50)
            page.wait_for_timeout(150)
        page.keyboard.up("Control")
        page.wait_for_timeout(800)


def test_global_lineage_shows_every_group(server: DagsterDev, page: Any) -> None:
    show_whole_graph(page, server.url)
    # The start-up pop-up ("nux") is disabled in orchestration/dagster.yaml; nothing covers the graph.
    assert page.locator("[role=dialog]").count() == 0


def test_every_group_lists_its_assets(server: DagsterDev, page: Any) -> None:
    # The group's List tab: full names (graph nodes shorten long names when zoomed out).
    for group, assets in EXPECTED.groups.items():
        page.goto(f"{server.url}/locations/{EXPECTED.location}/asset-groups/{group}/list")
        _expect_text(page, group)
        _wait_for_all_in_body(page, assets)


def test_catalog_shows_each_asset_with_its_group(server: DagsterDev, page: Any) -> None:
    # Tall viewport: the catalog is a virtualised list and renders only the rows on screen.
    page.set_viewport_size({"width": 1600, "height": 4000})
    page.goto(f"{server.url}/assets")
    for group, assets in EXPECTED.groups.items():
        _expect_text(page, group)
        for asset in assets:
            _expect_text(page, asset)


def test_every_asset_check_is_listed(server: DagsterDev, page: Any) -> None:
    for asset, checks in EXPECTED.checks.items():
        page.goto(f"{server.url}/assets/{asset}?view=checks")
        _expect_text(page, f"Checks ({len(checks)})")
        _wait_for_all_in_body(page, checks)


def test_sensors_and_schedules_are_listed(server: DagsterDev, page: Any) -> None:
    page.goto(f"{server.url}/automation")
    automations = EXPECTED.sensors + EXPECTED.schedules
    if not automations:
        _expect_text(page, "No automations")
        return
    for name in automations:
        _expect_text(page, name)


def _launch_materialisation(server: DagsterDev, asset: str) -> str:
    """The Materialize button's call: the implicit asset job, the asset and its checks selected."""
    params = {
        "mode": "default",
        "executionMetadata": {"tags": []},
        "runConfigData": SMALL_RUN_CONFIG,
        "selector": {
            "repositoryLocationName": EXPECTED.location,
            "repositoryName": "__repository__",
            "pipelineName": "__ASSET_JOB",
            "assetSelection": [{"path": asset.split("/")}],
            "assetCheckSelection": [
                {"assetKey": {"path": asset.split("/")}, "name": check} for check in EXPECTED.checks[asset]
            ],
        },
    }
    result = server.graphql(LAUNCH_MUTATION, {"executionParams": params})["launchPipelineExecution"]
    assert result["__typename"] == "LaunchRunSuccess", result
    return result["run"]["runId"]


def _wait_for_run(server: DagsterDev, run_id: str, timeout_s: float = 150.0) -> str:
    query = "query($id: ID!) { runOrError(runId: $id) { ... on Run { status } } }"
    deadline = time.monotonic() + timeout_s
    status = "UNKNOWN"
    while time.monotonic() < deadline:
        status = server.graphql(query, {"id": run_id})["runOrError"]["status"]
        if status in {"SUCCESS", "FAILURE", "CANCELED"}:
            return status
        time.sleep(1)
    raise TimeoutError(f"run {run_id} still {status} after {timeout_s}s:\n{server.log_tail()}")


def test_materialise_through_the_ui_api_and_see_checks_pass(server: DagsterDev, page: Any) -> None:
    started = time.monotonic()
    run_id = _launch_materialisation(server, SMALL_ASSET)
    status = _wait_for_run(server, run_id)
    print(f"{SMALL_ASSET}: run {run_id} {status} in {time.monotonic() - started:.1f}s")
    assert status == "SUCCESS", server.log_tail()

    nodes = server.graphql(CHECKS_QUERY, {"keys": [{"path": SMALL_ASSET.split("/")}]})["assetNodes"]
    checks = nodes[0]["assetChecksOrError"]["checks"]
    results = {c["name"]: c["executionForLatestMaterialization"] for c in checks}
    assert sorted(results) == EXPECTED.checks[SMALL_ASSET]
    failed = {n: r for n, r in results.items() if not (r and r["status"] == "SUCCEEDED")}
    assert not failed, f"checks that did not pass: {failed}"
    assert all(r["evaluation"]["success"] for r in results.values())

    # What a person sees: the run succeeded, the checks are green, the metadata is there.
    page.goto(f"{server.url}/runs/{run_id}")
    _expect_text(page, "Success")
    page.goto(f"{server.url}/assets/{SMALL_ASSET}?view=checks")
    n_checks = len(EXPECTED.checks[SMALL_ASSET])
    # One "Succeeded" per check in the list, and the selected check's detail says "Passed".
    page.wait_for_function(
        "n => (document.body.innerText.match(/\\bSucceeded\\b/g) || []).length >= n", arg=n_checks
    )
    _expect_text(page, "Passed")
    assert "Not Evaluated" not in _body_text(page)
    page.goto(f"{server.url}/assets/{SMALL_ASSET}")
    for label in ("counts_by_type", "records_preview", "sample_page"):
        _expect_text(page, label)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{SMALL_ASSET}-overview.png"), full_page=True)

    # The asset's node in its lineage view carries the check counts. (On the whole graph of a large
    # project the nodes are drawn zoomed out, without that text.)
    page.goto(f"{server.url}/assets/{SMALL_ASSET}?view=lineage")
    _expect_text(page, f"{n_checks} / {n_checks} Passed")
    # The whole graph after the run, for the picture.
    show_whole_graph(page, server.url, for_picture=True)
    shot = ARTIFACTS / "asset-graph.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 10_000
    export = os.environ.get("SAP_LLM_EXPORT_ASSET_GRAPH")
    if export:
        target = Path(export)
        target = target if target.is_absolute() else REPO_ROOT / target
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(shot, target)
