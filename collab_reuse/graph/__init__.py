"""The Experiment Graph: artifacts and the operations between them, shared through SQLite."""

from .experiment_graph import MATERIALIZED, NOT_STORED, WRITING, ArtifactInfo, ExperimentGraph, VertexUpdate, load_counters
from .journal import Journal, PlaceRun

__all__ = ["ExperimentGraph", "Journal", "PlaceRun", "VertexUpdate", "ArtifactInfo", "MATERIALIZED", "NOT_STORED", "WRITING",
           "load_counters"]
