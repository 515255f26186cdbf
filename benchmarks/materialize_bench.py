"""Materialization benchmark: a sequence of workloads replayed under storage budgets.

Generated pipelines over three source tables: most operations add one column to
their parent frame (so consecutive frames share all but one column in the
content-addressed store), some filter rows (all columns new), and each workload
ends by training one to three models. A workload reuses a prefix of an earlier
one 70% of the time. Costs: compute 1-20 s per operation, load 50 ms plus
size / 500 MB/s.

Each workload is planned with ``plan`` against what the store holds (a new
kernel: nothing in memory, the sinks are needed) and its cost is its run time;
then the EG is updated (frequency, recreation cost, model potential) and the
materializer picks what the store keeps under the budget.

Prints, per budget (% of the total size of all artifacts, each counted alone)
and per algorithm: the sequence's total run time relative to unlimited storage
and to no reuse, the peak real bytes stored (shared columns once) relative to
the budget, and how many artifacts were kept at the end.

    python benchmarks/materialize_bench.py                 # 100 workloads, ~40 s of CPU
    python benchmarks/materialize_bench.py --workloads 50  # a quick look

(The materialized flag only breaks ties, so the replay leaves it unset.)
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from collab_reuse.planner.materialize import (  # noqa: E402
    Candidate,
    model_potential,
    recreation_costs,
    select,
    stored_bytes,
)
from collab_reuse.planner.reuse import PlanVertex, plan  # noqa: E402

MB = 1 << 20


@dataclass(frozen=True)
class Artifact:
    id: str
    parents: tuple[str, ...]
    columns: tuple[tuple[str, int], ...]  # () for models
    size: int
    compute: float
    quality: float = 0.0

    @property
    def load(self) -> float:
        return 0.05 + self.size / (500 * MB)


def generate(n_workloads: int, seed: int) -> list[list[Artifact]]:
    """The workload sequence; a prefix shared with an earlier workload keeps its ids."""
    rng = random.Random(seed)
    counter = [0]

    def fresh(prefix: str) -> str:
        counter[0] += 1
        return f"{prefix}{counter[0]}"

    sources = []
    for s in range(3):
        cols = tuple((fresh(f"s{s}c"), rng.randint(1, 16) * MB) for _ in range(rng.randint(8, 15)))
        sources.append(Artifact(fresh("src"), (), cols, sum(b for _, b in cols), rng.uniform(5, 20)))
    history: list[list[Artifact]] = []
    for _ in range(n_workloads):
        if history and rng.random() < 0.7:
            base = rng.choice(history)
            frames = [a for a in base if a.columns]
            work = frames[: max(1, int(len(frames) * rng.uniform(0.3, 0.9)))]
        else:
            work = [rng.choice(sources)]
        for _ in range(rng.randint(5, 25)):
            parent = work[-1] if rng.random() < 0.7 else rng.choice(work)
            kind = rng.random()
            if kind < 0.8:  # df[new] = f(df[...]): one new column
                cols = parent.columns + ((fresh("c"), rng.randint(1, 16) * MB),)
            else:  # a row filter: every column's content changes
                cols = tuple((fresh("c"), int(b * rng.uniform(0.3, 0.9))) for _, b in parent.columns)
            work.append(Artifact(fresh("f"), (parent.id,), cols, sum(b for _, b in cols), rng.uniform(1, 20)))
        frames = list(work)
        for _ in range(rng.randint(1, 3)):
            data = rng.choice(frames[-5:])
            work.append(Artifact(fresh("m"), (data.id,), (), rng.randint(1, 50) * MB, rng.uniform(5, 20),
                                 rng.uniform(0.5, 0.95)))
        history.append(work)
    return history


def candidates_per_step(seq: list[list[Artifact]]) -> list[list[Candidate]]:
    """After each workload: one Candidate per EG artifact (frequency, recreation cost,
    potential as the engine would compute them). Independent of what is stored."""
    eg: dict[str, Artifact] = {}
    freq: dict[str, int] = {}
    out = []
    for work in seq:
        for a in work:
            eg.setdefault(a.id, a)
        for v in {a.id for a in work}:
            freq[v] = freq.get(v, 0) + 1
        parents = {v: a.parents for v, a in eg.items()}
        rec = recreation_costs(parents, {v: a.compute for v, a in eg.items()})
        pot = model_potential(parents, {v: a.quality for v, a in eg.items() if not a.columns})
        out.append([Candidate(v, a.size, rec[v], a.load, freq[v], pot[v], a.columns) for v, a in eg.items()])
    return out


def replay(seq: list[list[Artifact]], steps: list[list[Candidate]], budget: float, algorithm: str | None):
    """Total run time of the sequence, peak real bytes stored, artifacts kept at the end.
    ``algorithm=None``: no reuse at all."""
    stored: set[str] = set()
    total = 0.0
    peak = 0
    for work, cands in zip(seq, steps):
        if algorithm is None:
            total += sum(a.compute for a in {a.id: a for a in work}.values())
            continue
        vertices = {a.id: PlanVertex(a.id, a.compute, a.load if a.id in stored else None, False, a.parents)
                    for a in work}
        has_child = {p for a in work for p in a.parents}
        total += plan(vertices, [v for v in vertices if v not in has_child]).cost
        stored = select(cands, int(min(budget, 1 << 62)), algorithm)  # type: ignore[arg-type]
        peak = max(peak, stored_bytes(cands, stored))
    return total, peak, len(stored)


def recreation_timing(sizes: Sequence[int], seed: int) -> None:
    """``recreation_costs`` on EG-like graphs (chains with fan-out from recent vertices,
    a share of 2-parent merges, a fifth of them with a distant parent): every vertex at
    once (ancestor bitsets) against one walk per target."""
    print("\nrecreation_costs (each ancestor once):")
    rng = random.Random(seed)
    for n in sizes:
        for merge in (0.05, 0.3):
            parents: dict[str, tuple[str, ...]] = {}
            for i in range(n):
                ps = set()
                for _ in range(2 if i >= 20 and rng.random() < merge else 1 if i >= 20 else 0):
                    far = rng.random() < 0.2
                    ps.add(f"v{rng.randrange(i) if far else max(0, i - 1 - int(rng.expovariate(0.01)))}")
                parents[f"v{i}"] = tuple(ps)
            cost = {v: rng.uniform(1, 100) for v in parents}
            t = time.perf_counter()
            recreation_costs(parents, cost)
            t_all = time.perf_counter() - t
            last = list(parents)[-8:]
            t = time.perf_counter()
            recreation_costs(parents, cost, last)  # <= 8 targets: one walk each
            t_walk = (time.perf_counter() - t) / len(last)
            print(f"  {n:>7,} vertices, {100 * merge:>2.0f}% merges: all vertices {t_all:6.2f} s "
                  f"({t_all / n * 1e6:5.1f} us each); one target by a walk {t_walk * 1e3:6.2f} ms "
                  f"(all of them that way: ~{t_walk * n:,.0f} s)")


def main(argv: Sequence[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--workloads", type=int, default=100)
    ap.add_argument("--budgets", default="1,5,10,25,50,100", help="percent of the total artifact size")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--costs", default="10000,100000",
                    help="graph sizes for the recreation-cost timing ('' to skip)")
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    seq = generate(args.workloads, args.seed)
    steps = candidates_per_step(seq)
    final = steps[-1]
    total_size = sum(c.size for c in final)
    unique = stored_bytes(final, [c.id for c in final])
    print(f"{args.workloads} workloads, {sum(len(w) for w in seq)} operations, {len(final)} distinct artifacts; "
          f"total size {total_size / MB:,.0f} MB counted alone, {unique / MB:,.0f} MB as unique columns")
    none, _, _ = replay(seq, steps, 0, None)
    algos = ("heuristic", "storage_aware")
    unlimited = {a: replay(seq, steps, float("inf"), a)[0] for a in algos}
    print(f"run time: no reuse {none:,.0f} s; unlimited storage {unlimited['storage_aware']:,.0f} s "
          f"({none / unlimited['storage_aware']:.1f}x faster)\n")
    print(f"{'budget':>7} {'algorithm':>14} {'run time':>10} {'vs unlimited':>13} {'vs no reuse':>12} "
          f"{'peak bytes/budget':>18} {'kept':>6}")
    for pct in [float(p) for p in args.budgets.split(",")]:
        budget = total_size * pct / 100
        for a in algos:
            t, peak, kept = replay(seq, steps, budget, a)
            assert peak <= budget
            print(f"{pct:>6g}% {a:>14} {t:>9,.0f}s {t / unlimited[a]:>12.2f}x {t / none:>11.2f}x "
                  f"{peak / budget:>17.2f}  {kept:>6}")
    if args.costs:
        recreation_timing([int(n) for n in args.costs.split(",")], args.seed)
    print(f"\n(total wall time {time.perf_counter() - t0:.0f} s)")


if __name__ == "__main__":
    main()
