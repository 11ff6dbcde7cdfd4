import pytest
import yaml

from assets.corpora import SyntheticDocumentsConfig
from sap_llm_core.settings import PROJECT_ROOT, Settings, get_settings


@pytest.fixture(autouse=True)
def _fresh_settings():
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def test_defaults_come_from_params_yaml():
    params = yaml.safe_load((PROJECT_ROOT / "params.yaml").read_text())
    settings = Settings()
    assert settings.synthetic.num_documents == params["synthetic"]["num_documents"]
    assert settings.synthetic.mix == params["synthetic"]["mix"]
    assert settings.storage.root == params["storage"]["root"]


def test_dagster_config_defaults_match_params_yaml():
    params = yaml.safe_load((PROJECT_ROOT / "params.yaml").read_text())["synthetic"]
    config = SyntheticDocumentsConfig()
    for key in ("seed", "num_documents", "shard_size", "augment_fraction", "render_images", "image_dpi"):
        assert getattr(config, key) == params[key], key
    assert config.languages == params["languages"]
    assert config.mix == params["mix"]


def test_environment_overrides_params(monkeypatch):
    monkeypatch.setenv("SAP_LLM_SYNTHETIC__NUM_DOCUMENTS", "123")
    monkeypatch.setenv("SAP_LLM_STORAGE__ROOT", "s3://bucket/prefix")
    settings = Settings()
    assert settings.synthetic.num_documents == 123
    assert settings.storage.resolved_root() == "s3://bucket/prefix"


def test_params_file_can_be_swapped(tmp_path, monkeypatch):
    other = tmp_path / "params.yaml"
    other.write_text("synthetic:\n  num_documents: 7\n  seed: 3\n")
    monkeypatch.setenv("SAP_LLM_PARAMS_FILE", str(other))
    settings = Settings()
    assert (settings.synthetic.num_documents, settings.synthetic.seed) == (7, 3)


def test_relative_storage_root_resolves_inside_project():
    assert Settings().storage.resolved_root().startswith(str(PROJECT_ROOT))


def test_bad_value_in_environment_names_the_field(monkeypatch):
    monkeypatch.setenv("SAP_LLM_SYNTHETIC__NUM_DOCUMENTS", "-5")
    with pytest.raises(Exception, match="num_documents"):
        Settings()
