"""The one Dagster entry point: composes every group's definitions with the deployment's resources.

``dagster asset materialize -m orchestration.definitions --select '*'`` and ``dagster dev``
(through workspace.yaml) both load ``defs`` from here. Modules, not their ``defs`` objects, are
imported, because Dagster allows a single ``Definitions`` at module scope.
"""

import dagster as dg

import jobs
import sensors
from assets import _corpus_splits_standin, corpora, models, models_language
from orchestration.resources import resources_for

defs = dg.Definitions.merge(
    corpora.defs,
    # TEMPORARY: delete with the module when the real corpus_splits (issue-corpus) is merged.
    _corpus_splits_standin.defs,
    models.defs,
    models_language.defs,
    jobs.defs,
    sensors.defs,
    dg.Definitions(resources=resources_for()),
)
