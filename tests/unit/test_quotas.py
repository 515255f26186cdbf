"""Per-writer quotas inside a store's budget: the setting, and materialization with a real graph and
store, where one writer's flood of valuable results must not evict the others' work."""

from __future__ import annotations

import numpy as np
import pytest

from collab_reuse.config import parse_quota, quota_bytes
from collab_reuse.graph import ExperimentGraph, VertexUpdate
from collab_reuse.kernel import store_writes
from collab_reuse.store import ArtifactStore, MemoryBlobs, Writer


@pytest.mark.parametrize("text, normal", [("fair", "fair"), (" FAIR ", "fair"), ("40%", "40%"), ("12.5 %", "12.5%"),
                                          ("2GB", "2000000000"), ("100%", "100%")])
def test_quota_settings(text, normal):
    assert parse_quota(text) == normal


@pytest.mark.parametrize("text", ["0%", "101%", "-5%", "lots", "", "1e9"])
def test_bad_quota_settings_are_refused(text):
    with pytest.raises(ValueError, match="quota|share"):
        parse_quota(text)


def test_quota_in_bytes():
    assert quota_bytes("fair", 1000, 4) == 250
    assert quota_bytes("fair", 1000, 1) == 1000
    assert quota_bytes("fair", 1000, 0) == 1000
    assert quota_bytes("40%", 1000, 3) == 400
    assert quota_bytes("300", 1000, 3) == 300
    assert quota_bytes("garbage", 1000, 2) == 500  # (a malformed row reads as fair)


def _offers(graph: ExperimentGraph, store: ArtifactStore, prefix: str, n: int, seconds: float):
    graph.record_cell([VertexUpdate(f"{prefix}{i}", "DataFrame.merge", "other", [], seconds) for i in range(n)],
                      store.writer.user, None)
    return [store_writes.Offer(f"{prefix}{i}", store.encode(np.full(12_000, i, dtype=np.int64)), {}) for i in range(n)]


@pytest.mark.parametrize("quota", ["fair", "100%"])
def test_one_writers_flood_does_not_evict_the_others_work(tmp_path, quota):
    """Without a quota ("100%": anyone may fill the budget), bob's flood evicts ann's results."""
    graph = ExperimentGraph(tmp_path / "store", budget_bytes=1_000_000)
    graph.set_quota(quota)
    store = ArtifactStore(MemoryBlobs())
    store.writer = Writer(1001, "ann")
    done = store_writes.materialize(graph, store, _offers(graph, store, "ann", 5, 10.0), "storage_aware", 0.0)
    assert done["written"] == 5
    store.writer = Writer(1002, "bob")  # more valuable per byte: 50 s each, and 20 of them
    store_writes.materialize(graph, store, _offers(graph, store, "bob", 20, 50.0), "storage_aware", 0.0)
    kept = graph.materialized_ids()
    anns, bobs = len({i for i in kept if i.startswith("ann")}), len({i for i in kept if i.startswith("bob")})
    assert graph.used_bytes() <= graph.budget()
    if quota == "fair":
        assert anns == 5 and bobs >= 4, (anns, bobs)
    else:
        assert anns < 5 and bobs > 5, (anns, bobs)
