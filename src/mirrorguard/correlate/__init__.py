"""Correlation: alerts from every detector join incidents through the entities they share.

See :mod:`.engine` for the algorithm, :mod:`.entities` for the hub rule, :mod:`.scoring` for
incident risk and :mod:`.persist` for the store tables.
"""

from mirrorguard.correlate.attack import TacticMap
from mirrorguard.correlate.base import CorrelationParams, Incident, IncidentChange
from mirrorguard.correlate.engine import EntityCorrelator
from mirrorguard.correlate.graph import entity_graph, timeline
from mirrorguard.correlate.persist import CorrelationStore

__all__ = ["CorrelationParams", "CorrelationStore", "EntityCorrelator", "Incident",
           "IncidentChange", "TacticMap", "entity_graph", "timeline"]
