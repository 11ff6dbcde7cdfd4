"""The one Dagster entry point: composes every group's definitions with the deployment's resources.

``dagster asset materialize -m orchestration.definitions --select '*'`` and ``dagster dev``
(through workspace.yaml) both load ``defs`` from here.
"""

import dagster as dg

from assets import corpora, corpus_sources, dataset
from jobs import defs as jobs_defs
from orchestration.resources import resources_for
from sensors import defs as sensors_defs

defs = dg.Definitions.merge(
    corpora.defs,
    corpus_sources.defs,
    dataset.defs,
    jobs_defs,
    sensors_defs,
    dg.Definitions(resources=resources_for()),
)
