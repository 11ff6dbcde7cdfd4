"""Spark session resource: ``local[*]`` by default, any ``spark.master`` when configured.

``SAP_LLM_SPARK__MASTER=spark://host:7077`` (or ``params.yaml`` ``spark.master``) points every corpus
asset at a cluster without a code change; extra ``spark.*`` keys go in ``spark.conf``.
"""

from __future__ import annotations

from typing import Any

import dagster as dg
from pydantic import Field

from sap_llm_core.corpus.config import SparkSettings
from sap_llm_core.settings import get_settings

_DEFAULTS = get_settings().spark


class SparkResource(dg.ConfigurableResource):
    master: str = _DEFAULTS.master
    app_name: str = _DEFAULTS.app_name
    driver_memory: str = _DEFAULTS.driver_memory
    shuffle_partitions: int = _DEFAULTS.shuffle_partitions
    min_file_partitions: int = _DEFAULTS.min_file_partitions
    conf: dict[str, str] = Field(default_factory=lambda: dict(_DEFAULTS.conf))

    def settings(self) -> SparkSettings:
        return SparkSettings(
            master=self.master,
            app_name=self.app_name,
            driver_memory=self.driver_memory,
            shuffle_partitions=self.shuffle_partitions,
            min_file_partitions=self.min_file_partitions,
            conf=dict(self.conf),
        )

    def session(self) -> Any:
        """The process's Spark session (created on first use, reused by later assets in the run)."""
        from sap_llm_core.corpus.spark.session import build_session

        return build_session(self.settings())
