"""The background writer's work as data: what a finished cell asks of the store.

A job has two halves. ``prepare`` needs the kernel's live objects: it encodes results (while no
cell runs) and returns ``Write``s, which hold only plain data and bytes. ``Write.apply`` needs only
a store (``Target``). In a running kernel the writer thread does both, one job after the other; at
exit the halves part (``handoff``): the kernel, or a copy-on-write child of it, prepares, and a
fresh process (``exit_writer``) applies, fed the writes through a pipe in the form of ``wire``.
So the process that spends minutes writing holds the encoded bytes, not the kernel's memory.
"""

from __future__ import annotations

import logging
import time
from contextlib import AbstractContextManager, nullcontext
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, ClassVar

from ..errors import StoreError
from ..graph import ExperimentGraph, VertexUpdate
from ..graph.storedir import StoreDir
from ..store import ArtifactStore
from ..store.formats import Encoded
from . import explaining, store_writes, wire
from .store_writes import Offer

log = logging.getLogger("collab_reuse")

NoCellRuns = Callable[[], AbstractContextManager[Any]]
UNSIZED_ENCODE_SECONDS = 5.0  # a model or a result of unknown size: longer than a closing kernel may take
ENCODE_BYTES_PER_SECOND = 100e6  # encoding and checking a result (measured: 900 MB in 7.4 s), for time budgets


@dataclass
class Target:
    """Where writes go: a store's graph and artifacts, and the cells' report numbers seen so far."""

    graph: ExperimentGraph
    store: ArtifactStore
    store_dir: StoreDir
    seqs: dict[int, int | None] = field(default_factory=dict)  # cell number -> its report's seq

    def apply(self, writes: list["Write"]) -> None:
        """Apply in order; ``StoreError`` when the store directory is no longer the one opened (it
        must not be made again, piece by piece, by these writes)."""
        for write in writes:
            self.store_dir.check()
            write.apply(self)

    def close(self) -> None:
        self.store.blobs.close()
        self.graph.close_all()


class Write:
    """One change to the store, as plain data (``wire`` carries it to another process)."""

    kind: ClassVar[str]

    def apply(self, to: Target) -> None:
        raise NotImplementedError

    def to_wire(self) -> tuple[dict, list[bytes]]:
        """(JSON-able fields, byte payloads)."""
        return asdict(self), []  # type: ignore[call-overload]

    @classmethod
    def from_wire(cls, fields: dict, payloads: list[bytes]) -> "Write":
        return cls(**fields)


@dataclass
class RecordCell(Write):
    kind = "record"
    cell: int
    updates: list[VertexUpdate]
    user: str
    report: dict | None
    random_ops: list[str]
    quiet_ops: list[tuple[str, str, float]]
    forests: list[tuple[str, int, str]]
    places: list[list] = field(default_factory=list)  # [step index, place, call summary] (``explaining``)
    min_saving: float = 0.0
    reuse: list = field(default_factory=list)  # (writer, loads, seconds saved) of the cell's loads
    notebook: str | None = None  # the notebook the cell is in, as the Jupyter server names it

    def apply(self, to: Target) -> None:
        runs = []
        if self.report is not None and self.places:
            try:
                runs = explaining.explain_cell(to.graph, self.user, self.report, self.places, self.min_saving)
            except StoreError:
                raise
            except Exception:  # an explanation is never worth losing the cell's record
                log.warning("explaining cell %s failed", self.cell, exc_info=True)
        to.seqs[self.cell] = to.graph.record_cell(self.updates, self.user, self.report, self.random_ops,
                                                  quiet_ops=self.quiet_ops, forests=self.forests, places=runs,
                                                  reuse=[tuple(r) for r in self.reuse], notebook=self.notebook)

    @classmethod
    def from_wire(cls, fields: dict, payloads: list[bytes]) -> "Write":
        fields["updates"] = [VertexUpdate(**u) for u in fields["updates"]]
        return cls(**fields)


@dataclass
class RecordRefused(Write):
    """Results that can't be stored, and why (the next run won't try to encode them again)."""

    kind = "refused"
    user: str
    reasons: dict[str, str]

    def apply(self, to: Target) -> None:
        to.graph.record_cell([], self.user, None, (), self.reasons)


@dataclass
class WriteOffers(Write):
    """Encoded results: the materializer selects under the budget, writes the picks, evicts the rest."""

    kind = "offers"
    cell: int
    seq: int | None  # the cell's report, when it was recorded before the offers were prepared
    offers: list[Offer]
    algorithm: str
    min_saving: float

    def apply(self, to: Target) -> None:
        start = time.perf_counter()
        done = store_writes.materialize(to.graph, to.store, self.offers, self.algorithm, self.min_saving)
        log.info("selected and wrote %d of %d offered (%d bytes) in %.3f s", done["written"], len(self.offers),
                 done["bytes"], time.perf_counter() - start)
        seq = self.seq if self.seq is not None else to.seqs.get(self.cell)
        if done["by_id"] and seq is not None:
            to.graph.add_bytes_written(seq, done["by_id"])

    def to_wire(self) -> tuple[dict, list[bytes]]:
        offers, payloads = [], []
        for offer in self.offers:
            keys = list(offer.encoded.blobs)
            offers.append({"id": offer.id, "manifest": offer.encoded.manifest, "extra": offer.extra, "blobs": keys,
                           "confidential": offer.confidential})
            payloads.extend(offer.encoded.blobs[k] for k in keys)
        return {"cell": self.cell, "seq": self.seq, "offers": offers, "algorithm": self.algorithm,
                "min_saving": self.min_saving}, payloads

    @classmethod
    def from_wire(cls, fields: dict, payloads: list[bytes]) -> "Write":
        parts = iter(payloads)
        offers = [Offer(o["id"], Encoded(o["manifest"], {k: next(parts) for k in o["blobs"]}), o["extra"],
                        o.get("confidential") is not False)
                  for o in fields.pop("offers")]
        return cls(offers=offers, **fields)


@dataclass
class RememberFile(Write):
    kind = "file"
    key: str
    digest: str

    def apply(self, to: Target) -> None:
        to.graph.remember_file(self.key, self.digest)


@dataclass
class RecordLoad(Write):
    kind = "load"
    nbytes: int
    seconds: float

    def apply(self, to: Target) -> None:
        to.graph.record_load(self.nbytes, self.seconds)


@dataclass
class Forget(Write):
    """Stored artifacts found damaged: not stored any more, their unshared blobs deleted."""

    kind = "forget"
    ids: list[str]

    def apply(self, to: Target) -> None:
        to.graph.delete_unclaimed(to.graph.unmaterialize(self.ids), to.store.blobs.delete)


@dataclass
class Upkeep(Write):
    """Each kernel as it starts: undo abandoned writes; at most hourly, drop malformed rows and prune."""

    kind = "upkeep"
    default_budget: int | None = None

    def apply(self, to: Target) -> None:
        from ..graph import upkeep

        done = upkeep.at_start(to.graph, self.default_budget)
        to.graph.delete_unclaimed(done["orphans"], to.store.blobs.delete)
        if done["abandoned_writes"] or done["malformed_rows"] or done["pruned"]:
            log.info("store upkeep: %d abandoned writes undone, %d malformed rows removed, pruned %s",
                     done["abandoned_writes"], done["malformed_rows"], done["pruned"])


WRITES: dict[str, type[Write]] = {w.kind: w for w in (RecordCell, RecordRefused, WriteOffers, RememberFile,
                                                      RecordLoad, Forget, Upkeep)}


class Job:
    """What the writer queues: ``prepare`` gives the writes (``ready``: they are known already)."""

    def __init__(self, *ready: Write, finished: Callable[[], None] | None = None) -> None:
        self.ready = list(ready)
        self._finished = finished

    def prepare(self, graph: ExperimentGraph | None, no_cell_runs: NoCellRuns) -> list[Write]:
        """The writes. ``graph`` (None in a forked child, which must not touch SQLite) lets an encoding
        job skip what is stored already; ``no_cell_runs`` is held while live objects are read."""
        return self.ready

    def estimated_seconds(self) -> float:
        return 0.0

    def finished(self) -> None:
        """In the kernel, after the writes were applied (or dropped)."""
        if self._finished is not None:
            self._finished()


class EncodeOffers(Job):
    """A cell's results worth storing, encoded (and checked) when prepared."""

    def __init__(self, cell: int, seq: Callable[[], int | None], candidates: list[Any], user: str,
                 store: ArtifactStore, unchanged: Callable[[Any], bool], algorithm: Callable[[], str],
                 min_saving: float, finished: Callable[[], None] | None = None):
        super().__init__(finished=finished)
        self.cell, self._seq, self.candidates, self.user = cell, seq, candidates, user
        self._store, self._unchanged, self._algorithm, self._min_saving = store, unchanged, algorithm, min_saving

    def prepare(self, graph: ExperimentGraph | None, no_cell_runs: NoCellRuns) -> list[Write]:
        start = time.perf_counter()
        offers, refused = store_writes.encode_offers(graph, self._store, self.candidates, no_cell_runs,
                                                     self._unchanged)
        log.info("offered %d (%s): encoded %d in %.3f s", len(self.candidates),
                 self.candidates[0].id[:10] if len(self.candidates) == 1 else "batch", len(offers),
                 time.perf_counter() - start)
        writes: list[Write] = [RecordRefused(self.user, refused)] if refused else []
        if offers:
            writes.append(WriteOffers(self.cell, self._seq(), offers, self._algorithm(), self._min_saving))
        return writes

    def estimated_seconds(self) -> float:
        """From the candidates' estimated bytes. A model, or a result whose size wasn't estimated, counts
        as ``UNSIZED_ENCODE_SECONDS``: its encoding and check may take seconds (a 3000-tree boosting model
        2 s, a LightGBM model's text check as long), so a closing kernel hands it to its child instead
        of being killed while encoding it, and every job after it with it."""
        return sum(c.approx_bytes / ENCODE_BYTES_PER_SECOND if c.approx_bytes and c.kind != "model"
                   else UNSIZED_ENCODE_SECONDS for c in self.candidates)


def prepare_here(job: Job, graph: ExperimentGraph | None) -> list[Write]:
    """Prepare outside the writer thread (at exit): no cell runs any more, nothing to wait for."""
    return job.prepare(graph, nullcontext)


def send(fd: int, write: Write) -> None:
    """Put a write on the pipe to the exit writer (``wire``)."""
    fields, payloads = write.to_wire()
    wire.send(fd, write.kind, fields, payloads)


def decode(frame: wire.Frame) -> Write | None:
    """The write a frame carries; None (and a log line) if it is not one."""
    kind, fields, payloads = frame
    try:
        return WRITES[kind].from_wire(fields, payloads)
    except (KeyError, TypeError, ValueError, StopIteration) as exc:
        log.warning("the exit writer dropped a malformed %r write: %s", kind, exc)
        return None
