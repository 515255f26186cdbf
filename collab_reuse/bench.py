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


def first_run_pairs(notebook: Path, data: Path, work: Path, timeout: float, pairs: int) -> list[tuple[float, float]]:
    """More (plain, first run) pairs of one notebook, each first run into a new empty store: the
    first-run overhead is a few percent, about the run-to-run noise of one pair."""
    from .demo.runner import run_notebook

    env = {"HOME_CREDIT_DATA": str(data)}
    out = []
    for i in range(pairs):
        print(f"{notebook.name}: overhead pair {i + 2}: plain, then first run ...", flush=True)
        plain = run_notebook(notebook, work / f"{notebook.stem}-plain-{i}", env=env, timeout=timeout)
        first = run_notebook(notebook, work / f"{notebook.stem}-first-{i}", store_dir=work / f"{notebook.stem}-store-{i}",
                             env=env, timeout=timeout)
        out.append((plain.seconds, first.seconds))
    return out


def format_pairs(name: str, pairs: list[tuple[float, float]]) -> str:
    plain, first = sum(p for p, _ in pairs), sum(f for _, f in pairs)
    each = ", ".join(f"{p:.1f}/{f:.1f} s ({100 * (f - p) / p:+.1f}%)" for p, f in pairs)
    return (f"{name}: first-run overhead over {len(pairs)} pairs (plain/first): {each}; "
            f"all pairs: plain {plain:.1f} s, first {first:.1f} s, {100 * (first - plain) / plain:+.1f}%")


def demo_workloads(scale: float, timeout: float, scenarios: bool, overhead_pairs: int = 1,
                   scenario_pairs: int = 1, notebooks: list[str] | None = None) -> str:
    """The demo notebooks (plain, first, re-run), more plain/first pairs if asked and, on the
    feature-engineering notebook's store, the modified-notebook scenarios."""
    from .demo.__main__ import DEMO_NOTEBOOKS, NOTEBOOKS_DIR, demo_data, format_table, run_demo_notebook
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
                extra = first_run_pairs(NOTEBOOKS_DIR / report.name, data, Path(work), timeout, overhead_pairs - 1)
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


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m collab_reuse.bench", description=__doc__.split("\n\n")[0])
    ap.add_argument("--scale", type=float, default=5.0, help="demo data scale for the workload benchmark (default 5)")
    ap.add_argument("--timeout", type=float, default=3600)
    ap.add_argument("--workloads", type=int, default=500, help="planner benchmark workloads (paper: 10000)")
    ap.add_argument("--overhead-pairs", type=int, default=1,
                    help="plain/first-run pairs per demo notebook for the first-run overhead (default 1)")
    ap.add_argument("--scenario-pairs", type=int, default=1,
                    help="plain/collab_reuse pairs per modified-notebook scenario (default 1)")
    ap.add_argument("--notebooks", default="",
                    help="comma-separated demo notebooks to run (default all), e.g. 02_feature_engineering")
    ap.add_argument("--corpus-factor", type=float, default=1.0,
                    help="multiplies each corpus notebook's bench scale (default 1: the manifest's bench_factor)")
    ap.add_argument("--corpus-notebooks", default="", help="comma-separated corpus notebooks (default all)")
    ap.add_argument("--skip", default="",
                    help="comma-separated parts to skip: hashing, demo, scenarios, tracing, planner, materialize, "
                         "corpus, plan")
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
                               args.timeout, bench=True), flush=True)
        print()
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
