"""The one Dagster entry point: composes every group's definitions with the deployment's resources.

``dagster asset materialize -m orchestration.definitions --select '*'`` and ``dagster dev``
(through workspace.yaml) both load ``defs`` from here. Modules, not their ``defs`` objects, are
imported, because Dagster allows a single ``Definitions`` at module scope.
"""

import dagster as dg

import jobs
import sensors
from assets import (
    continuous_learning,
    corpora,
    corpus_sources,
    dataset,
    evaluation,
    knowledge_base,
    models,
    models_language,
    models_router,
    registry,
)
from orchestration.resources import resources_for

defs = dg.Definitions.merge(
    corpora.defs,
    corpus_sources.defs,
    dataset.defs,
    knowledge_base.defs,
    models.defs,
    models_language.defs,
    models_router.defs,
    evaluation.defs,
    registry.defs,
    continuous_learning.defs,
    jobs.defs,
    sensors.defs,
    dg.Definitions(resources=resources_for()),
)
