"""The Experiment Graph: artifacts and the operations between them, shared through SQLite."""

from .experiment_graph import (MATERIALIZED, NOT_STORED, WRITING, ArtifactInfo, ExperimentGraph, PlaceRun, VertexUpdate,
                 load_counters)

__all__ = ["ExperimentGraph", "PlaceRun", "VertexUpdate", "ArtifactInfo", "MATERIALIZED", "NOT_STORED", "WRITING",
           "load_counters"]
