"""``python -m collab_reuse.demo``: the demo notebooks, plain and with reuse, side by side.

Generates the demo data (``--scale``, default 10: about three minutes in all on two cores, a scale
where the notebooks' work outweighs a kernel's imports), then for each notebook of ``notebooks/``
runs it

1. plain, in a fresh kernel;
2. with collab_reuse into a fresh, empty store (the *first run*: everything is
   computed, the store is filled);
3. with collab_reuse again, in a *new* kernel on the same store (the *re-run*:
   what a colleague or a restarted kernel would see);

and prints, per notebook, the three cell-execution times (kernel start
excluded), the re-run speedup (plain / re-run), the first-run overhead, the
re-run's reused and computed operation counts (from the Experiment Graph) and
whether outputs and written files were identical to the plain run. Then the
feature-engineering notebook *modified* (its final model's learning rate
changed), plain and with collab_reuse on the first run's store; what the
re-run reused and what the modified run computed again (from the cell reports
the panel shows); and where to look next.

Exit status 1 when any run's outputs or files differ from the plain run.
"""
from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from collab_reuse.demo.generate import generate
from collab_reuse.demo.runner import REPO_ROOT, RunResult, compare, reuse_totals, run_notebook
from collab_reuse.demo.scenarios import format_scenarios, run_scenarios
from collab_reuse.demo.story import NEXT_STEPS, describe_run

NOTEBOOKS_DIR = REPO_ROOT / "notebooks"
DEMO_NOTEBOOKS = ("01_introduction.ipynb", "02_feature_engineering.ipynb")
DEFAULT_SCALE = 10.0
#: the edit the demo's modified run makes (demo/scenarios.py), on the notebook that has it
MODIFIED_NOTEBOOK, MODIFIED_SCENARIO = "02_feature_engineering.ipynb", "final model: learning rate changed"


def demo_data(directory: str | Path, scale: float = 1.0, seed: int = 0) -> Path:
    """Generate the demo data into ``directory`` unless it already holds this (scale, seed)."""
    directory = Path(directory)
    marker = directory / ".generated.json"
    want = {"scale": scale, "seed": seed}
    try:
        if json.loads(marker.read_text()) == want:
            return directory
    except (OSError, ValueError):
        pass
    generate(directory, scale, seed)
    marker.write_text(json.dumps(want))
    return directory


def reuse_counts(store_dir: str | Path, kernel_id: str) -> tuple[int, int] | None:
    """(reused, computed) operations of one kernel, summed over its cell reports; None if unknown."""
    try:
        totals = reuse_totals(store_dir, kernel_id)
        return int(totals.get("reused", 0)), int(totals.get("computed", 0))
    except Exception as exc:  # the table says "?" and why, the demo goes on
        print(f"  (reuse counts unavailable: {exc!r})", file=sys.stderr)
        return None


@dataclass
class NotebookReport:
    name: str
    plain: RunResult
    first: RunResult | None = None
    rerun: RunResult | None = None
    first_diffs: list[str] | None = None
    rerun_diffs: list[str] | None = None
    counts: tuple[int, int] | None = None
    store: Path | None = None


def run_demo_notebook(notebook: Path, data_dir: Path, work_root: Path, with_reuse: bool, timeout: float,
                      shutdown_wait: float = 5.0) -> NotebookReport:
    env = {"HOME_CREDIT_DATA": str(data_dir)}
    stem = notebook.stem
    print(f"{notebook.name}: plain run ...", flush=True)
    report = NotebookReport(notebook.name, run_notebook(notebook, work_root / f"{stem}-plain", env=env, timeout=timeout,
                                                      shutdown_wait=shutdown_wait))
    if not with_reuse:
        return report
    store = work_root / f"{stem}-store"
    print(f"{notebook.name}: first run with collab_reuse (empty store) ...", flush=True)
    report.first = run_notebook(notebook, work_root / f"{stem}-first", store_dir=store, env=env, timeout=timeout,
                                 shutdown_wait=shutdown_wait)
    print(f"{notebook.name}: re-run with collab_reuse (new kernel, same store) ...", flush=True)
    report.rerun = run_notebook(notebook, work_root / f"{stem}-rerun", store_dir=store, env=env, timeout=timeout,
                                 shutdown_wait=shutdown_wait)
    report.first_diffs = compare(report.plain, report.first)
    report.rerun_diffs = compare(report.plain, report.rerun)
    report.counts = reuse_counts(store, report.rerun.kernel_id)
    report.store = store
    return report


def _identical(diffs: list[str] | None, kind: str) -> str:
    if diffs is None:
        return "-"
    relevant = [d for d in diffs if d.startswith("file ") == (kind == "files")]
    return "yes" if not relevant else f"NO ({len(relevant)})"


def format_table(reports: list[NotebookReport]) -> str:
    header = ["notebook", "plain s", "first s", "re-run s", "speedup", "overhead",
              "reused/computed", "outputs same", "files same"]
    rows = []
    for r in reports:
        first = r.first.seconds if r.first else None
        rerun = r.rerun.seconds if r.rerun else None
        both = (r.first_diffs or []) + (r.rerun_diffs or []) if r.first else None
        rows.append([
            r.name,
            f"{r.plain.seconds:.1f}",
            "-" if first is None else f"{first:.1f}",
            "-" if rerun is None else f"{rerun:.1f}",
            "-" if rerun is None else f"{r.plain.seconds / max(rerun, 1e-9):.1f}x",
            "-" if first is None else f"{100 * (first - r.plain.seconds) / r.plain.seconds:+.0f}%",
            "-" if r.first is None else ("?" if r.counts is None else f"{r.counts[0]}/{r.counts[1]}"),
            _identical(both, "outputs"),
            _identical(both, "files"),
        ])
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows)]
    line = lambda cells: "  ".join(str(c).ljust(w) if i == 0 else str(c).rjust(w) for i, (c, w) in enumerate(zip(cells, widths)))
    out = [line(header), line(["-" * w for w in widths])] + [line(r) for r in rows]
    def phase(attr):
        return "; ".join(f"{r.name}: plain {getattr(r.plain, attr):.1f}s"
                         + (f", first {getattr(r.first, attr):.1f}s, re-run {getattr(r.rerun, attr):.1f}s"
                            if r.first else "") for r in reports)
    out.append("")
    out.append("kernel start (not included above): " + phase("kernel_start_seconds"))
    out.append("kernel shutdown (not included above): " + phase("shutdown_seconds"))
    out.append("store writes a child process finished after the kernel exited (nobody waits for them; not "
               "included above; the re-run started after them): " + phase("writes_after_exit_seconds"))
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m collab_reuse.demo", description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", type=float, default=DEFAULT_SCALE,
                        help=f"demo data size (default {DEFAULT_SCALE:g}; 72 gives a >3 minute notebook)")
    parser.add_argument("--seed", type=int, default=0, help="demo data seed (default 0)")
    parser.add_argument("--data", default=None, help="demo data directory (default: demo-data/scale-S-seed-N)")
    parser.add_argument("--notebook", action="append", default=None,
                        help=f"notebook(s) to run (default: {', '.join(DEMO_NOTEBOOKS)} from notebooks/)")
    parser.add_argument("--plain-only", action="store_true", help="only the plain runs")
    parser.add_argument("--no-modified", action="store_true",
                        help=f"skip the modified run ({MODIFIED_SCENARIO} in {MODIFIED_NOTEBOOK})")
    parser.add_argument("--keep", action="store_true", help="keep the work directories and stores (path is printed)")
    parser.add_argument("--timeout", type=float, default=3600, help="per-cell timeout in seconds (default 3600)")
    parser.add_argument("--shutdown-wait", type=float, default=5.0,
                        help="seconds a kernel gets to exit before it is interrupted (at half) and killed; "
                             "default 5, Jupyter's own default")
    args = parser.parse_args(argv)

    data_dir = Path(args.data or f"demo-data/scale-{args.scale:g}-seed-{args.seed}").resolve()
    print(f"demo data: {data_dir} (scale {args.scale:g}, seed {args.seed})", flush=True)
    demo_data(data_dir, args.scale, args.seed)

    with_reuse = not args.plain_only

    notebooks = [Path(n) for n in args.notebook] if args.notebook else [NOTEBOOKS_DIR / n for n in DEMO_NOTEBOOKS]
    work_root = Path(tempfile.mkdtemp(prefix="collab-reuse-demo-"))
    modified = []
    try:
        reports = [run_demo_notebook(nb.resolve(), data_dir, work_root, with_reuse, args.timeout,
                                     args.shutdown_wait) for nb in notebooks]
        base = next((r for r in reports if r.name == MODIFIED_NOTEBOOK and r.store is not None), None)
        if base is not None and not args.no_modified:
            modified = run_scenarios(NOTEBOOKS_DIR / MODIFIED_NOTEBOOK, data_dir, work_root, base.store, args.timeout,
                                     names=[MODIFIED_SCENARIO], keep_stores=True)
        print()
        print(format_table(reports))
        if modified:
            print("\nThe same notebook modified (" + MODIFIED_SCENARIO + "), in a new kernel on the first run's store:")
            print(format_scenarios(modified))
        for r in reports:
            if r.rerun is not None and r.store is not None:
                print("\n" + describe_run(f"{r.name}, re-run", r.store, r.rerun.kernel_id))
        for m in modified:
            if m.store is not None:
                print("\n" + describe_run(f"{MODIFIED_NOTEBOOK} modified ({m.name})", m.store, m.ours.kernel_id))
        if with_reuse:
            print("\n" + NEXT_STEPS)
            shown = next((m.store for m in reversed(modified) if m.store is not None), None) or \
                (base.store if base is not None else None)
            if shown is not None:
                report = write_report(shown, data_dir.parent / "collab-reuse-demo-report.html")
                if report is not None:
                    print(f"  * the reuse report of {MODIFIED_NOTEBOOK}'s store (time saved, hit rate, what the store "
                          f"holds): {report}\n    (`collab-reuse report --store DIR` writes one for any store; the "
                          "panel links to its store's)")
    finally:
        if args.keep:
            print(f"work directories and stores kept in {work_root}")
        else:
            shutil.rmtree(work_root, ignore_errors=True)

    failed = any(m.diffs for m in modified)
    for m in modified:
        if m.diffs:
            print(f"\n{MODIFIED_NOTEBOOK} modified ({m.name}) differs from its plain run:")
            for d in m.diffs[:20]:
                print("  " + d)
    for r in reports:
        for label, diffs in (("first run", r.first_diffs), ("re-run", r.rerun_diffs)):
            if diffs:
                failed = True
                print(f"\n{r.name}, {label} differs from the plain run:")
                for d in diffs[:20]:
                    print("  " + d)
                if len(diffs) > 20:
                    print(f"  ... {len(diffs) - 20} more")
        errors = r.plain.errors
        if errors:
            print(f"\nnote: {r.name} raised in its plain run: {errors}")
    return 1 if failed else 0


def write_report(store: Path, path: Path) -> Path | None:
    """The reuse report (``collab-reuse report``) of a demo store, written where it outlives the demo."""
    from collab_reuse.analytics import report_html
    from collab_reuse.graph import ExperimentGraph

    try:
        graph = ExperimentGraph(store, create=False)
        try:
            path.write_text(report_html(graph, str(store)))
        finally:
            graph.close_all()
    except Exception as exc:  # (the demo's figures are printed already)
        print(f"  (no reuse report: {exc})")
        return None
    return path


if __name__ == "__main__":
    raise SystemExit(main())
