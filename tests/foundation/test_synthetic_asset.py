"""The synthetic_documents asset through Dagster: checks run and pass, metadata is readable,
a re-run keeps the data version, and a bad config fails before any work naming the field."""

import dagster as dg
import pytest

from assets import corpora
from orchestration.resources import StorageResource


def _materialize(storage_root: str, **config):
    return dg.materialize(
        [corpora.synthetic_documents, *corpora.defs.asset_checks],
        resources={"storage": StorageResource(root=storage_root)},
        run_config={"ops": {"synthetic_documents": {"config": {"workers": 1, **config}}}},
        raise_on_error=False,
    )


def test_materialisation_runs_every_check_and_is_stable(storage_root, dagster_home):
    result = _materialize(storage_root, num_documents=80, shard_size=40)
    assert result.success
    evaluations = result.get_asset_check_evaluations()
    assert len(evaluations) == 6
    assert all(e.passed for e in evaluations), [e.description for e in evaluations if not e.passed]

    materialization = result.asset_materializations_for_node("synthetic_documents")[0]
    metadata = materialization.metadata
    assert metadata["dagster/row_count"].value == 80
    assert metadata["quarantined"].value == 0
    assert "PURCHASE_ORDER" in metadata["counts_by_type"].value
    assert metadata["sample_page"].value.startswith("![sample page](data:image/png;base64,")
    preview = metadata["records_preview"].value.splitlines()
    assert preview[0].startswith("| id | type |") and len(preview) == 2 + 5  # header, rule, 5 records
    version = materialization.tags["dagster/data_version"]

    again = _materialize(storage_root, num_documents=80, shard_size=40)
    repeat = again.asset_materializations_for_node("synthetic_documents")[0]
    assert repeat.tags["dagster/data_version"] == version
    assert repeat.metadata["shards_reused"].value == 2


@pytest.mark.parametrize(
    ("config", "field"),
    [
        ({"num_documents": -3}, "num_documents"),
        ({"languages": ["EN", "XX"]}, "languages"),
        ({"mix": {"PURCHASE_ORDER": 0.5, "SUPPLIER_INVOICE": 0.4}}, "mix"),
        ({"mix": {"PURCHASE_ORDER": 0.5, "TELEX": 0.5}}, "mix"),
    ],
)
def test_invalid_config_fails_before_any_work(storage_root, dagster_home, config, field):
    result = _materialize(storage_root, **config)
    assert not result.success
    failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
    assert f"{field}:" in failure.step_failure_data.error.message or field in str(failure.step_failure_data)
    assert not list(__import__("pathlib").Path(storage_root).rglob("*.parquet"))
