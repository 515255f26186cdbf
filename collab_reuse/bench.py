"""``python -m collab_reuse.bench`` (``make bench``): the performance figures, measured side by side.

1. Demo workloads (generated Home Credit data at ``--scale``): plain run, first
   run with collab_reuse (empty store), re-run in a new kernel; cold-run
   overhead and re-run speedup per notebook, outputs compared with plain; then the
   modified-notebook scenarios (``demo/scenarios.py``) on the feature-engineering store.
2. Tracing overhead per traced operation, in one IPython shell: the same loop
   of cheap pandas operations with and without the extension.
3. The planner and materializer benchmarks (``benchmarks/``), on a quick size.
4. The corpus of outside notebooks (``corpus/``, ``demo/corpus.py``): per notebook at its bench
   scale (test scale x ``bench_factor`` x ``--corpus-factor``) plain, first run, re-run in a new
   kernel, the notebook with its recorded late edit, the share of each re-run outside traced
   operations and the reasons steps were not reused (``--skip corpus`` leaves it out).
5. The cost of the store's content keys: seconds per GB of the key hash (SHA-256, one thread and
   as the store runs it: a chunk tree on two threads) and of BLAKE2b, beside xxh3, on one buffer.
6. ``%%reuse plan``'s estimates beside the measured cell times, on the feature-engineering notebook
   (``demo/plan_accuracy.py``; ``--skip plan`` leaves it out).
7. A team's graph after a year (issue 17): on synthetic Experiment Graphs of 10^4, 10^5 and 10^6
   vertices (``synthetic_graph``), a kernel's per-cell graph costs (recording a cell, its lookups, the
   per-cell refresh), a kernel's first materialization (with no potentials saved: it computes the costs it
   keeps after), one materialization after a cell and the next kernel's first (which takes the
   potentials saved), side by side with the ratio of the largest
   size to the smallest (``--skip graphscale`` leaves it out, ``--graphscale-sizes`` picks the sizes).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent

_TRACE_SETUP = "import pandas as pd, numpy as np\ns = pd.Series(np.arange(100.0))\nacc = 0.0"
_TRACE_LOOP = "for i in range({n}):\n    t = s + i\n    acc += float(t.iloc[3])"  # 3 traced ops per iteration


def tracing_overhead(n: int = 2000) -> tuple[float, float, float]:
    """(plain seconds, traced seconds, microseconds of overhead per traced operation)."""
    from IPython.core.interactiveshell import InteractiveShell

    results = []
    with tempfile.TemporaryDirectory() as store:
        os.environ["COLLAB_REUSE_STORE"] = store
        for with_ext in (False, True):
            InteractiveShell.clear_instance()
            shell = InteractiveShell.instance()
            if with_ext:
                shell.run_line_magic("load_ext", "collab_reuse")
            shell.run_cell(_TRACE_SETUP)
            shell.run_cell(_TRACE_LOOP.format(n=50))  # warm up
            start = time.perf_counter()
            shell.run_cell(_TRACE_LOOP.format(n=n))
            results.append(time.perf_counter() - start)
            if with_ext:
                shell.run_line_magic("unload_ext", "collab_reuse")
        InteractiveShell.clear_instance()
    plain, traced = results
    return plain, traced, (traced - plain) / (3 * n) * 1e6


def hash_costs(megabytes: int = 512, repeats: int = 3) -> list[tuple[str, float]]:
    """(hash, seconds per GB) on one random buffer, best of ``repeats``: the store's content key
    (SHA-256 tree) on one thread and on its two, BLAKE2b-256, and xxh3-128 (the old checksum)."""
    import hashlib

    import numpy as np
    import xxhash

    from .store import keys

    view = memoryview(np.random.default_rng(0).integers(0, 256, size=megabytes << 20, dtype=np.uint8))
    candidates = [
        ("xxh3-128 (the old checksum, not cryptographic)", lambda: xxhash.xxh3_128_hexdigest(view)),
        ("BLAKE2b-256, one thread", lambda: hashlib.blake2b(view, digest_size=32).hexdigest()),
        ("SHA-256 content key, one thread", lambda: keys.content_key(view, threads=1)),
        (f"SHA-256 content key, {keys.THREADS} threads (the store's)", lambda: keys.content_key(view)),
    ]
    out = []
    for name, run in candidates:
        best = float("inf")
        for _ in range(repeats):
            start = time.perf_counter()
            run()
            best = min(best, time.perf_counter() - start)
        out.append((name, best * 1024 / megabytes))
    return out


def format_hash_costs(costs: list[tuple[str, float]]) -> str:
    base = costs[0][1]
    return "\n".join(f"  {name:<52} {seconds:6.3f} s/GB ({seconds / base:5.1f}x xxh3)" for name, seconds in costs)


def demo_workloads(scale: float, timeout: float, scenarios: bool, overhead_pairs: int = 1,
                   scenario_pairs: int = 1, notebooks: list[str] | None = None) -> str:
    """The demo notebooks (plain, first, re-run), more plain/first pairs if asked and, on the
    feature-engineering notebook's store, the modified-notebook scenarios."""
    from .demo.__main__ import DEMO_NOTEBOOKS, NOTEBOOKS_DIR, demo_data, format_table, run_demo_notebook
    from .demo.runner import first_run_pairs, format_pairs
    from .demo.scenarios import format_scenarios, run_scenarios

    chosen = selected_notebooks(DEMO_NOTEBOOKS, notebooks)
    if scenarios and DEMO_NOTEBOOKS[-1] not in chosen:
        raise SystemExit(f"the scenarios edit {DEMO_NOTEBOOKS[-1]}: select it too, or skip the scenarios")
    data = demo_data(REPO_ROOT / "demo-data" / f"scale-{scale:g}-seed-0", scale, 0)
    reports = []
    with tempfile.TemporaryDirectory(prefix="collab_reuse-bench-") as work:
        for name in chosen:
            reports.append(run_demo_notebook(NOTEBOOKS_DIR / name, data, Path(work), True, timeout))
        out = format_table(reports)
        print(out, flush=True)
        if overhead_pairs > 1:
            lines = []
            for report in reports:
                extra = first_run_pairs(NOTEBOOKS_DIR / report.name, Path(work), timeout, overhead_pairs - 1,
                                        env={"HOME_CREDIT_DATA": str(data)})
                lines.append(format_pairs(report.name, [(report.plain.seconds, report.first.seconds), *extra]))
                print(lines[-1], flush=True)
            out += "\n\n" + "\n".join(lines)
        if scenarios:
            fe = Path(NOTEBOOKS_DIR / DEMO_NOTEBOOKS[-1])
            print("\nmodified notebook, new kernel, on the first run's store:", flush=True)
            out += "\n\n" + format_scenarios(run_scenarios(fe, data, Path(work), Path(work) / f"{fe.stem}-store",
                                                           timeout, scenario_pairs))
    return out


def selected_notebooks(all_names: list[str], wanted: list[str] | None) -> list[str]:
    """The demo notebooks named in ``wanted`` (file names or stems, e.g. ``02_feature_engineering``)."""
    if not wanted:
        return list(all_names)
    stems = {Path(n).stem: n for n in all_names}
    unknown = [w for w in wanted if w not in stems and w not in all_names]
    if unknown:
        raise SystemExit(f"no demo notebook {', '.join(unknown)}; there are {', '.join(stems)}")
    return [n for n in all_names if n in wanted or Path(n).stem in wanted]


# --------------------------------------------------------------------------- graphscale (issue 17)

#: graph sizes of the ``graphscale`` part (vertices); ``--graphscale-sizes`` changes them
GRAPHSCALE_SIZES = (10_000, 100_000, 1_000_000)


def synthetic_graph(store_dir: str | os.PathLike, n: int, seed: int = 0, stored: int = 2000,
                    users: int = 20) -> dict:
    """A team's Experiment Graph of ``n`` vertices after a long time, written straight into SQLite (one
    transaction, ``executemany``): notebooks as chains of frame operations (most take the previous frame,
    some merge in another frame of the notebook, a few concatenate several), 70% of them continuing a
    prefix of an earlier notebook, each ending in one to three models (70% of them scored), their
    predictions and a metric. ``stored`` artifacts (the sources among them) are materialized with their
    blob rows and the budget is just above their bytes; the rest is not stored. Usage rows, places, random
    and quiet operations and reports besides. Returns what the measurements need (ids, places, ...)."""
    import hashlib
    import json
    import random
    import sqlite3

    from .graph import ExperimentGraph
    from .graph.journal import PLACE_SEP, Journal, journal_path

    rng = random.Random(seed)
    ExperimentGraph(store_dir).close_all()  # the schema, as a kernel makes it
    Journal(journal_path(store_dir, create=True)).close_all()
    now = time.time()
    ids: list[str] = []
    rows: list[tuple] = []
    kinds: list[str] = []

    def add(op: str, kind: str, inputs: list[int], quality: float | None = None) -> int:
        i = len(ids)
        ids.append(hashlib.sha256(f"{seed}:{i}".encode()).hexdigest())
        kinds.append(kind)
        age = rng.uniform(0, 365 * 86400.0)
        rows.append((ids[i], op, kind, json.dumps([ids[p] for p in dict.fromkeys(inputs)]),
                     rng.randint(1 << 10, 1 << 24), rng.uniform(0.05, 20.0), rng.randint(1, 5),
                     rng.randint(1, 30), quality, now - age - 86400.0, now - age))
        return i

    sources = [add("pandas.read_csv", "dataframe", []) for _ in range(max(5, n // 5000))]
    chains: list[list[int]] = []
    while len(ids) < n:
        if chains and rng.random() < 0.7:
            base = rng.choice(chains)
            chain = base[:rng.randint(1, len(base))]
        else:
            chain = [rng.choice(sources)]
        cur = chain[-1]
        for _ in range(rng.randint(8, 30)):
            r = rng.random()
            if r < 0.85:
                inputs = [cur]
            elif r < 0.97:
                inputs = [cur, rng.choice(chain + sources)]
            else:
                inputs = [cur] + rng.sample(chain, min(len(chain), rng.randint(2, 5)))
            cur = add(rng.choice(["DataFrame.assign", "DataFrame.merge", "DataFrame.groupby.agg", "DataFrame.query",
                                  "DataFrame.fillna", "__setitem__"]), "dataframe", inputs)
            chain.append(cur)
        y = add("DataFrame.__getitem__", "series", [cur])
        for _ in range(rng.randint(1, 3)):
            model = add("LGBMClassifier.fit", "model", [cur, y],
                        quality=rng.uniform(0.5, 0.95) if rng.random() < 0.7 else None)
            pred = add("LGBMClassifier.predict_proba", "array", [model, cur])
            add("roc_auc_score", "scalar", [y, pred])
        chains.append(chain)
    storable = [i for i, k in enumerate(kinds) if k != "scalar" and i not in set(sources)]
    chosen = set(sources) | set(rng.sample(storable, min(max(stored - len(sources), 0), len(storable))))
    blob_rows: list[tuple[str, str]] = []
    blob_sizes: dict[str, int] = {}
    total = 0
    for i in sorted(chosen):
        keys = [f"m:{ids[i]}"] + [hashlib.sha256(f"blob:{seed}:{i}:{j}".encode()).hexdigest()
                                  for j in range(rng.randint(1, 4))]
        for k in keys:
            blob_sizes[k] = 512 if k.startswith("m:") else rng.randint(1 << 12, 1 << 21)
            blob_rows.append((ids[i], k))
            total += blob_sizes[k]
    user_names = [f"user{u}" for u in range(users)]
    db = sqlite3.connect(Path(store_dir) / "graph.sqlite", isolation_level=None)
    try:
        db.execute("BEGIN")
        db.executemany("INSERT INTO artifacts(id, op, kind, inputs, size, compute_seconds, runs, frequency, quality,"
                       " created, last_used) VALUES(?,?,?,?,?,?,?,?,?,?,?)", rows)
        db.executemany("UPDATE artifacts SET state=2, load_seconds=? WHERE id=?",
                       [(rng.uniform(0.01, 0.5) if rng.random() < 0.5 else None, ids[i]) for i in chosen])
        db.executemany("INSERT INTO artifact_blobs VALUES(?, ?)", blob_rows)
        db.executemany("INSERT INTO blobs VALUES(?, ?)", list(blob_sizes.items()))
        db.executemany("INSERT OR IGNORE INTO stored_log(artifact_id) VALUES(?)", [(ids[i],) for i in sorted(chosen)])
        db.executemany("INSERT OR IGNORE INTO usage VALUES(?, ?, ?)",
                       [(aid, rng.choice(user_names), rng.randint(1, 9)) for aid in ids])
        db.executemany("INSERT OR IGNORE INTO random_ops VALUES(?)", [(aid,) for aid in ids if rng.random() < 0.02])
        db.executemany("INSERT OR IGNORE INTO quiet_ops(op_id, value_type, seconds) VALUES(?,?,?)",
                       [(aid, "DataFrame", 0.01) for aid in ids if rng.random() < 0.2])
        for name, value in (("loads", 50), ("load_bytes", 5e9), ("load_seconds", 20.0), ("small_loads", 500),
                            ("small_load_seconds", 1.0)):
            db.execute("INSERT OR REPLACE INTO counters VALUES(?, ?)", (name, value))
        db.execute("INSERT OR REPLACE INTO meta VALUES('budget', ?)", (str(int(total * 1.02)),))
        db.execute("COMMIT")
    finally:
        db.close()
    # the journal's places and reports (one user's file: the store's user has them all here)
    places = [(PLACE_SEP.join((rng.choice(user_names), f"cell-{i % 997}", rows[i][1], str(i % 3))), ids[i],
               rows[i][1], i % 50, json.dumps({"params": {"n": i}, "inputs": json.loads(rows[i][3])}), None,
               now - rng.uniform(0, 20 * 86400.0)) for i in rng.sample(range(len(ids)), min(len(ids), 50_000))]
    db = sqlite3.connect(journal_path(store_dir), isolation_level=None)
    try:
        db.execute("BEGIN")
        db.executemany("INSERT OR REPLACE INTO places VALUES(?,?,?,?,?,?,?)", places)
        db.executemany("INSERT INTO events(time, kernel_id, user, cell_id, execution_count, report) VALUES(?,?,?,?,?,?)",
                       [(now - k, "k", rng.choice(user_names), f"cell-{k}", k, '{"steps": [], "totals": {}}')
                        for k in range(2000)])
        db.execute("COMMIT")
    finally:
        db.close()
    return {"ids": ids, "chains": chains, "places": [p[0] for p in places], "users": user_names,
            "stored": [ids[i] for i in sorted(chosen)], "budget": int(total * 1.02)}


def _median_seconds(run, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    times.sort()
    return times[len(times) // 2]


def graphscale_measure(store_dir: str | os.PathLike, built: dict, repeats: int = 5, seed: int = 1) -> dict[str, float]:
    """Seconds (median of ``repeats``) of what a kernel pays per cell on the graph ``built`` by
    ``synthetic_graph``, and of one materialization after a cell offering three new results."""
    import hashlib
    import random

    import numpy as np

    from .graph import ExperimentGraph, VertexUpdate
    from .graph import PlaceRun
    from .kernel import store_writes
    from .kernel.store_writes import Offer
    from .store import ArtifactStore, DiskcacheBlobs

    rng = random.Random(seed)
    ids, chains, user = built["ids"], built["chains"], built["users"][0]
    graph = ExperimentGraph(store_dir)
    blobs = DiskcacheBlobs(Path(store_dir) / "blobs")
    store = ArtifactStore(blobs)
    out: dict[str, float] = {}
    counter = [0]
    try:
        def new_cell() -> list[VertexUpdate]:
            """A typical cell: seven operations seen before, three new ones continuing a notebook."""
            chain = rng.choice(chains)
            seen = [VertexUpdate(ids[i], "DataFrame.assign", "dataframe", [], 0.0, computed=False, reused=True,
                                 load_seconds=0.01) for i in rng.sample(range(len(ids)), 7)]
            new, parent = [], ids[chain[-1]]
            for _ in range(3):
                counter[0] += 1
                aid = hashlib.sha256(f"new:{seed}:{counter[0]}".encode()).hexdigest()
                new.append(VertexUpdate(aid, "DataFrame.assign", "dataframe", [parent], 5.0))
                parent = aid
            return seen + new

        def record() -> list[VertexUpdate]:
            updates = new_cell()
            places = [PlaceRun(rng.choice(built["places"]), u.id, u.op, 1, {"params": {}, "inputs": u.inputs})
                      for u in updates]
            graph.record_cell(updates, user, {"kernel_id": "bench", "steps": [], "totals": {"computed": 3}},
                              random_ops=[updates[-1].id], quiet_ops=[(updates[-2].id, "DataFrame", 0.01)],
                              places=places)
            return updates

        out["record_cell (10 updates)"] = _median_seconds(record, repeats)

        def lookups() -> None:
            for i in rng.sample(range(len(ids)), 20):
                graph.artifact(ids[i])
            for i in rng.sample(range(len(ids)), 5):
                graph.history(ids[i])
            graph.place_runs(rng.sample(built["places"], 10))
            graph.runs_of([ids[i] for i in rng.sample(range(len(ids)), 3)], user)
            graph.load_throughput()
            graph.budget()
            graph.forests("no-such-forest")
            graph.file_digest("no-such-file")

        out["lookups (20 artifact, 5 history, places, runs_of)"] = _median_seconds(lookups, repeats)
        seqs = {"stored": graph.stored_since(0)[1], "quiet": graph.quiet_since(0)[1]}

        mark = graph.random_ops_since(None)[1]

        def refresh() -> None:
            # ``TracerBackend._refresh_from_graph``, once per cell, after another kernel's cell
            graph.random_ops_since(mark)
            graph.stored_since(seqs["stored"])
            graph.quiet_since(seqs["quiet"])
            graph.budget()

        out["refresh per cell (random ops, stored, quiet, budget)"] = _median_seconds(refresh, repeats)
        out["summary (%reuse status)"] = _median_seconds(lambda: graph.summary(top=0), max(1, repeats // 2))

        def offer_and_materialize(kernel: ExperimentGraph | None = None) -> float:
            updates = record()[-3:]
            offers = [Offer(u.id, store.encode(np.arange(20_000.0) + counter[0] * 10 + k), {})
                      for k, u in enumerate(updates)]
            start = time.perf_counter()
            store_writes.materialize(kernel or graph, store, offers, "storage_aware", 0.5)
            return time.perf_counter() - start

        # a kernel's first pass on a graph with no saved potentials computes every stored artifact's costs
        # (graph/costs.py: Memo); it may also evict what the synthetic budget can't keep
        out["materialize, a kernel's first (one run)"] = offer_and_materialize()
        times = sorted(offer_and_materialize() for _ in range(repeats))
        out["materialize (3 offered)"] = times[len(times) // 2]
        # another kernel's first pass: it takes the potentials the passes above saved
        other = ExperimentGraph(store_dir)
        try:
            out["materialize, the next kernel's first (one run)"] = offer_and_materialize(other)
        finally:
            other.close_all()
    finally:
        blobs.close()
        graph.close_all()
    return out


def graphscale(sizes: tuple[int, ...] = GRAPHSCALE_SIZES, repeats: int = 5, stored: int = 2000) -> tuple[str, dict]:
    """Per-cell graph costs and materialization on synthetic graphs of ``sizes`` vertices, side by side,
    with the ratio of the largest to the smallest. Returns (the table, {size: {row: seconds}})."""
    results: dict[int, dict[str, float]] = {}
    for n in sizes:
        with tempfile.TemporaryDirectory(prefix="collab_reuse-graphscale-") as tmp:
            start = time.perf_counter()
            built = synthetic_graph(tmp, n, stored=stored)
            print(f"graphscale: built {n} vertices ({len(built['stored'])} stored) in "
                  f"{time.perf_counter() - start:.1f} s", flush=True)
            results[n] = graphscale_measure(tmp, built, repeats)
    names = list(results[sizes[0]])
    head = "".join(f"{n:>12,}" for n in sizes)
    lines = [f"  {'milliseconds (median of ' + str(repeats) + ')':<56}{head}{'ratio':>10}"]
    for name in names:
        ratio = results[sizes[-1]][name] / max(results[sizes[0]][name], 1e-9)
        lines.append(f"  {name:<56}" + "".join(f"{results[n][name] * 1e3:12.2f}" for n in sizes) + f"{ratio:9.1f}x")
    return "\n".join(lines), results


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m collab_reuse.bench", description=__doc__.split("\n\n")[0])
    ap.add_argument("--scale", type=float, default=5.0, help="demo data scale for the workload benchmark (default 5)")
    ap.add_argument("--timeout", type=float, default=3600)
    ap.add_argument("--workloads", type=int, default=500, help="planner benchmark workloads (paper: 10000)")
    ap.add_argument("--overhead-pairs", type=int, default=1,
                    help="plain/first-run pairs per demo and corpus notebook for the first-run overhead (default 1)")
    ap.add_argument("--scenario-pairs", type=int, default=1,
                    help="plain/collab_reuse pairs per modified-notebook scenario (default 1)")
    ap.add_argument("--notebooks", default="",
                    help="comma-separated demo notebooks to run (default all), e.g. 02_feature_engineering")
    ap.add_argument("--corpus-factor", type=float, default=1.0,
                    help="multiplies each corpus notebook's bench scale (default 1: the manifest's bench_factor)")
    ap.add_argument("--corpus-notebooks", default="", help="comma-separated corpus notebooks (default all)")
    ap.add_argument("--corpus-whole", action="store_true",
                    help="run all of each corpus notebook, also where the manifest's bench_code_cells limit it "
                         "(koehrsen_model_tuning: hours)")
    ap.add_argument("--skip", default="",
                    help="comma-separated parts to skip: hashing, demo, scenarios, tracing, planner, materialize, "
                         "corpus, plan, graphscale")
    ap.add_argument("--graphscale-sizes", default=",".join(str(n) for n in GRAPHSCALE_SIZES),
                    help="comma-separated Experiment Graph sizes of the graphscale part (vertices)")
    args = ap.parse_args(argv)
    skip = set(filter(None, args.skip.split(",")))
    if "hashing" not in skip:
        print("content keys, per GB of blob (one 512 MiB buffer, best of 3):\n" + format_hash_costs(hash_costs()) + "\n",
              flush=True)
    if "tracing" not in skip:
        plain, traced, per_op = tracing_overhead()
        print(f"tracing overhead: plain {plain:.3f} s, traced {traced:.3f} s for 6000 cheap pandas operations "
              f"-> {per_op:.1f} us per traced operation\n", flush=True)
    if "demo" not in skip:
        print(f"demo workloads at scale {args.scale:g}:", flush=True)
        print("\n" + demo_workloads(args.scale, args.timeout, "scenarios" not in skip, args.overhead_pairs,
                                         args.scenario_pairs, list(filter(None, args.notebooks.split(",")))),
              flush=True)
        print()
    if "plan" not in skip:
        from .demo.__main__ import DEMO_NOTEBOOKS, NOTEBOOKS_DIR, demo_data
        from .demo.plan_accuracy import format_estimates, measure

        data = demo_data(REPO_ROOT / "demo-data" / f"scale-{args.scale:g}-seed-0", args.scale, 0)
        notebook = NOTEBOOKS_DIR / DEMO_NOTEBOOKS[-1]
        print(format_estimates(notebook.name, measure(notebook, {"HOME_CREDIT_DATA": str(data)}, args.timeout)) + "\n",
              flush=True)
    if "corpus" not in skip:
        from .demo.corpus import run_bench

        print("corpus of outside notebooks (corpus/README.md):", flush=True)
        print("\n" + run_bench(args.corpus_factor, list(filter(None, args.corpus_notebooks.split(","))),
                               args.timeout, bench=True, overhead_pairs=args.overhead_pairs, whole=args.corpus_whole),
              flush=True)
        print()
    if "graphscale" not in skip:
        sizes = tuple(int(n) for n in args.graphscale_sizes.split(",") if n)
        print("per-cell Experiment Graph costs and materialization by graph size (synthetic team graphs):",
              flush=True)
        print(graphscale(sizes)[0] + "\n", flush=True)
    sys.path.insert(0, str(REPO_ROOT / "benchmarks"))
    if "planner" not in skip:
        import planner_bench

        planner_bench.main(["--workloads", str(args.workloads), "--scaling", "10000,100000"])
    if "materialize" not in skip and (REPO_ROOT / "benchmarks" / "materialize_bench.py").exists():
        import materialize_bench

        materialize_bench.main([])
    return 0


if __name__ == "__main__":
    sys.exit(main())
