"""Choosing and writing what the store keeps, after each cell (runs in the writer thread).

Candidates are the cell's new artifacts (encoded now, so their real sizes and
column keys are known) plus everything already materialized; the planner's
selection algorithm picks under the byte budget; new picks are written and
stored artifacts that fell out are evicted, their unshared blobs deleted.

A write that fails (a full disk, a store deleted underneath) is undone before
the error goes on: the artifact is marked not stored again and the blobs it
added are deleted, so nothing stays "being written" and no byte is left
outside the budget's account.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any, Callable, ContextManager, Mapping

from ..config import quota_bytes
from ..errors import Unreusable
from ..graph import MATERIALIZED, ExperimentGraph
from ..planner import materialize as plan
from ..store import ArtifactStore
from ..store.formats import Encoded

log = logging.getLogger("collab_reuse")


@dataclass
class Offer:
    """A new artifact offered to the store, already encoded."""

    id: str
    encoded: Encoded
    extra: dict
    confidential: bool = False  # derived from a file the team can't read: only its writer may read it


def _worth_encoding(graph: ExperimentGraph | None, cand: Any) -> bool:
    """Skip what is stored already, can't be stored, or was measured too big to pay off (without a
    graph to ask, in a forked child, everything is encoded: the materializer skips what is stored)."""
    if graph is None:
        return True
    info = graph.artifact(cand.id)
    if info is None:
        return True
    if info.state == MATERIALIZED or not info.storable:
        return False
    if info.size > 0 and estimated_load_seconds(graph, info.size) >= max(info.compute_seconds,
                                                                          getattr(cand, "recreate_seconds", 0.0)):
        return False
    return True


def encode_offers(graph: ExperimentGraph | None, store: ArtifactStore, candidates: list[Any],
                  no_cell_runs: Callable[[], ContextManager[Any]],
                  unchanged: Callable[[Any], bool]) -> tuple[list[Offer], dict[str, str]]:
    """Encode (and verify) each candidate; those that can't be stored faithfully come back with a reason.

    Each encoding runs while no cell does (inside ``no_cell_runs()``): no user code can change the
    value meanwhile, and library code here may touch global warning state. A value changed in place
    since it was computed (``unchanged`` says) is no longer that artifact and is skipped.
    """
    offers, refused = [], {}
    for cand in candidates:
        if not _worth_encoding(graph, cand):
            continue
        try:
            with no_cell_runs():
                if not unchanged(cand):
                    continue
                start = time.perf_counter()
                offers.append(Offer(cand.id, store.encode(cand.value), cand.extra, cand.confidential))
                log.info("encoded %s (%s) in %.3f s while no cell ran", cand.id[:10], cand.kind,
                         time.perf_counter() - start)
        except Unreusable as exc:
            refused[cand.id] = str(exc)
        except Exception as exc:  # a serializer bug must not lose the cell: just don't store it
            refused[cand.id] = f"can't be encoded: {type(exc).__name__}: {exc}"
    return offers, refused


def _write(graph: ExperimentGraph, store: ArtifactStore, offer: Offer) -> Any:
    """Claim, write, mark stored; a failure undoes the claim and deletes the blobs it added. None when
    there was nothing to write (stored, or another kernel writing it) or the claim was undone meanwhile."""
    sizes = {k: len(v) for k, v in offer.encoded.blobs.items()}
    body, body_key = store.manifest_body(offer.id, offer.encoded, offer.extra)
    if not graph.begin_write(offer.id, {**sizes, body_key: len(body), store.manifest_key(offer.id): 0}):
        return None
    try:
        result = store.put(offer.id, offer.encoded, offer.extra, confidential=offer.confidential)
        if not graph.finish_write(offer.id, result.blob_sizes, store.writer.user,
                                  store.writer.uid if offer.confidential else None):
            graph.delete_unclaimed(result.blob_sizes, store.blobs.delete)
            return None
    except BaseException:
        _undo(graph, store, offer.id)
        raise
    return result


def _undo(graph: ExperimentGraph, store: ArtifactStore, artifact_id: str) -> None:
    """Best effort (the store may be failing): what remains, ``repair`` (gc, the next kernel) undoes."""
    try:
        graph.delete_unclaimed(graph.abort_write(artifact_id), store.blobs.delete)
    except Exception:
        log.warning("undoing the failed write of %s failed too; collab-reuse gc undoes it", artifact_id[:10],
                    exc_info=True)


def estimated_load_seconds(graph: ExperimentGraph, nbytes: int, measured: float | None = None,
                           unrecorded: Mapping[str, float] | None = None) -> float:
    """``measured`` (this artifact's own last load), else by the store's load throughput, counting
    the ``unrecorded`` loads of the running kernel."""
    if measured is not None:
        return measured
    per_byte, fixed = graph.load_throughput(unrecorded)
    return fixed + nbytes * per_byte


def weigh(graph: ExperimentGraph, offers: list[Offer], min_saving: float
          ) -> tuple[list[plan.Candidate], list[str], dict[str, Offer]]:
    """(the candidates, the stored artifacts' ids, the offers the graph knows and doesn't store). Reads
    only what it weighs (``ExperimentGraph.materialization_inputs``): the stored and offered artifacts
    and their ancestors and descendants as far as their costs need, never every vertex. An offer not
    worth its load is left out, its size remembered."""
    found = graph.materialization_inputs(dict.fromkeys(o.id for o in offers))
    stored = found.stored
    offered = {o.id: o for o in offers if o.id in found.offered}
    if not offered and not stored:
        return [], [], {}
    infos = {**{a.id: a for a in stored}, **found.offered}
    targets = [a.id for a in stored] + list(offered)
    recreation = found.recreation
    per_byte, fixed = graph.load_throughput()
    cands = []
    declined: dict[str, dict] = {}
    for aid in targets:
        info = infos[aid]
        blobs = ({k: len(v) for k, v in offered[aid].encoded.blobs.items()} if aid in offered
                 else found.blob_sizes.get(aid))
        if blobs is None:  # a malformed blob row: the artifact is evicted, never served
            continue
        blobs.setdefault(f"m:{aid}", 512)
        size = sum(blobs.values())
        load = info.load_seconds if info.load_seconds is not None else fixed + size * per_byte
        saving = recreation.get(aid, info.compute_seconds) - load
        if aid in offered and saving < min_saving:
            graph.remember_size(aid, size)  # measured: the next run won't encode it again
            declined[aid] = {"outcome": "not_worth_loading", "size": size, "saving": round(saving, 6),
                             "load_seconds": round(load, 6), "min_saving": min_saving}
            continue
        cands.append(plan.Candidate(id=aid, size=size, recreation_cost=recreation.get(aid, info.compute_seconds),
                                    load_cost=load, frequency=max(info.frequency, 1),
                                    potential=found.potential.get(aid, 0.0),
                                    columns=tuple(sorted(blobs.items())), materialized=aid not in offered))
    graph.record_decisions(declined)
    return cands, [a.id for a in stored], offered


def materialize(graph: ExperimentGraph, store: ArtifactStore, offers: list[Offer], algorithm: str,
                min_saving: float) -> dict[str, Any]:
    """Select under the budget and each writer's quota (``weigh``, ``select_with_quotas``), write new
    picks, evict the rest.

    Returns {"written": n, "evicted": n, "bytes": n, "by_id": {artifact id: bytes newly written}}.
    """
    cands, stored, offered = weigh(graph, offers, min_saving)
    if not offered and not stored:
        return {"written": 0, "evicted": 0, "bytes": 0, "by_id": {}}
    budget = graph.budget()
    owners = {**graph.authors_of(stored), **{aid: store.writer.user for aid in offered}}
    quota = quota_bytes(graph.quota(), budget, len(set(owners.values())))
    keep = plan.select_with_quotas(cands, budget, algorithm, owners, quota)  # type: ignore[arg-type]
    written = nbytes = 0
    by_id: dict[str, int] = {}
    for aid in keep & offered.keys():
        result = _write(graph, store, offered[aid])
        if result is None:
            continue
        written += 1
        nbytes += result.bytes_written
        by_id[aid] = result.bytes_written
    evict = [aid for aid in stored if aid not in keep]
    graph.delete_unclaimed(graph.unmaterialize(evict, evicted=True), store.blobs.delete)
    graph.record_decisions(decisions(cands, keep, budget, quota, owners, algorithm))
    return {"written": written, "evicted": len(evict), "bytes": nbytes, "by_id": by_id}


def decisions(cands: list[plan.Candidate], keep: set[str], budget: int, quota: int, owners: dict[str, str],
              algorithm: str) -> dict[str, dict]:
    """Why each candidate left out was left out (a later recomputation says so, ``planner/why.py``):
    ``outcome`` "too_large" (beyond the budget by itself), "quota" (its writer's kept artifacts and it
    exceed the writer's quota, where a quota applies) or "budget" (the kept ones save more per byte); the
    budget, the quota, what was kept, and what this one would have saved per reuse."""
    sizes = {c.id: c.size for c in cands}
    kept_bytes = sum(sizes[aid] for aid in keep if aid in sizes)
    by_writer: dict[str, int] = {}
    for aid in keep:
        if aid in sizes:
            by_writer[owners.get(aid, "")] = by_writer.get(owners.get(aid, ""), 0) + sizes[aid]
    quota_applies = 0 < quota < budget
    out = {}
    for c in cands:
        if c.id in keep:
            continue
        writer = owners.get(c.id, "")
        if c.size > budget:
            outcome = "too_large"
        elif quota_applies and by_writer.get(writer, 0) + c.size > quota:
            outcome = "quota"
        else:
            outcome = "budget"
        out[c.id] = {"outcome": outcome, "algorithm": algorithm, "budget": budget,
                     "quota": quota if quota_applies else None, "writer": writer or None,
                     "writer_bytes": by_writer.get(writer, 0), "kept": len(keep), "kept_bytes": kept_bytes,
                     "size": c.size, "saving": round(c.recreation_cost - c.load_cost, 6),
                     "load_seconds": round(c.load_cost, 6)}
    return out
