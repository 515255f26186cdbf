"""The corpus of outside notebooks (``corpus/``): sources, conversion, runs, and the bench report.

    python -m collab_reuse.demo.corpus sources               # where each original is, or why not
    python -m collab_reuse.demo.corpus run --scale-factor 1  # plain / first / re-run / modified per notebook

``corpus/manifest.json`` names each notebook's origin (repository, path, commit, author, licence,
the sha256 of the original file), the data set it reads and the compatibility edits it needs
(exact find/replace pairs with their expected count: an edit that no longer matches is an error,
never skipped). The originals are other people's code and are not committed: they are read from
a local cache (``COLLAB_REUSE_CORPUS_SOURCES``, default ``~/.cache/collab_reuse/corpus-sources``),
which ``sources --extract`` fills from git snapshots of the source repositories
(``COLLAB_REUSE_CORPUS_MIRRORS``, default ``/work/.mirror``) at the recorded commit, checking
the sha256. A notebook whose original is on neither is reported as unavailable with that reason.

For each notebook, :func:`bench_notebook` runs: plain; first run with collab_reuse (new store); a
re-run in a new kernel after the first kernel's exit writer finished; the notebook with its one
recorded late edit (``bench_edit``) plain and with collab_reuse on a copy of the first run's
store. From the store's events it computes, per re-run, the share of cell time spent outside
traced operations, and the reasons steps were not reused.
"""
from __future__ import annotations

import argparse
import copy
import dataclasses
import hashlib
import json
import os
import re
import shutil
import subprocess
import tempfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from .corpus_data import dataset
from .runner import (REPO_ROOT, RunResult, compare, first_run_pairs, format_pairs, mask_volatile, regroup_streams,
                     run_notebook)
from .story import step_reason

CORPUS_DIR = REPO_ROOT / "corpus"
MANIFEST = CORPUS_DIR / "manifest.json"


COMMON_VOLATILE = (r"ipykernel_\d+/",)


def compare_runs(entry: "Entry", plain: RunResult, other: RunResult, plain2: RunResult | None = None
                 ) -> list[str]:
    """:func:`~collab_reuse.demo.runner.compare` with the corpus's narrow rules: the entry's volatile
    patterns, and stdout/stderr interleaving ignored (see ``regroup_streams``). Two more where the
    manifest asks for them, for what differs between any two plain runs of that notebook:

    - ``stream_lines_unordered``: each stream's lines compared as a sorted list, wherever among the cell's
      other outputs they arrived (worker processes print in whatever order they finish, and their last
      lines may reach the kernel after the cell's result; a line ends at a newline or at a masked
      volatile value);
    - ``varies_between_plain_runs``: with a second plain run ``plain2``, a line of displayed data
      (an HTML table cell, a row of a frame's text) that differs between ``plain`` and ``plain2`` may
      differ in ``other`` too, at the same position (never a line added or lost); in a pandas frame's
      HTML, so may every cell of the column it is in. Measured timings shown in tables are such lines.
    """
    plain_outputs, other_outputs = _regrouped(entry, plain), _regrouped(entry, other)
    if entry.raw.get("varies_between_plain_runs") and plain2 is not None:
        other_outputs = _accept_varying_lines(plain_outputs, _regrouped(entry, plain2), other_outputs)
    return compare(_with_outputs(plain, plain_outputs), _with_outputs(other, other_outputs),
                   volatile=entry.volatile, streams_unordered=True)


def _regrouped(entry: "Entry", run: RunResult) -> list[dict]:
    """The run's cells with volatile text masked, streams regrouped and, if the entry says so, each
    stream's lines sorted."""
    cells = []
    unordered = entry.raw.get("stream_lines_unordered")
    for cell in run.outputs:
        outputs = mask_volatile(cell["outputs"], entry.volatile)
        if unordered:  # (a worker's last lines may reach the kernel after the cell's result, in a plain run too)
            outputs = [o for o in outputs if o.get("output_type") == "stream"] + \
                      [o for o in outputs if o.get("output_type") != "stream"]
        outputs = regroup_streams(outputs)
        if unordered:
            outputs = [{**o, "text": _sorted_lines(o["text"])} if o.get("output_type") == "stream" else o
                       for o in outputs]
        cells.append({**cell, "outputs": outputs})
    return cells


def _sorted_lines(text: str | None) -> str | None:
    if not text:
        return text
    lines = re.split(r"\n|(?<=<volatile>)", text)
    return "\n".join(sorted(line for line in lines if line))


def _accept_varying_lines(plain: list[dict], plain2: list[dict], other: list[dict]) -> list[dict]:
    """``other``'s cells with each displayed line that varies between plain runs set to ``plain``'s."""
    out = copy.deepcopy(other)
    for pc, p2c, oc in zip(plain, plain2, out):
        for po, p2o, oo in zip(pc["outputs"], p2c["outputs"], oc["outputs"]):
            data, data2, odata = po.get("data") or {}, p2o.get("data") or {}, oo.get("data") or {}
            for mime, text in data.items():
                if isinstance(text, str) and isinstance(data2.get(mime), str) and isinstance(odata.get(mime), str):
                    odata[mime] = _accept_lines(text, data2[mime], odata[mime])
    return out


def _accept_lines(plain: str, plain2: str, other: str) -> str:
    """``other`` with each line that differs from ``plain`` where ``plain`` differs from ``plain2`` set to
    ``plain``'s line, position by position (all three must have as many lines: else nothing is accepted)."""
    a, b, c = plain.split("\n"), plain2.split("\n"), other.split("\n")
    if not len(a) == len(b) == len(c):
        return other
    keys = _frame_columns(a)
    varying = {i for i in range(len(a)) if a[i] != b[i]}
    varying_columns = {keys[i] for i in varying if keys[i] is not None}
    for i in range(len(a)):
        if a[i] != c[i] and (i in varying or (keys[i] is not None and keys[i] in varying_columns)):
            c[i] = a[i]
    return "\n".join(c)


def _frame_columns(lines: list[str]) -> list[tuple[int, int] | None]:
    """For each line of a pandas frame's HTML (``<table class="dataframe">``) that is one body cell: (which
    table, which column); else None. A column of measured times varies as a whole, though two runs may
    happen to measure one of its values alike."""
    keys: list[tuple[int, int] | None] = []
    table, column, in_frame = -1, 0, False
    for line in lines:
        text = line.strip()
        if text.startswith("<table"):
            table, in_frame = table + 1, 'class="dataframe"' in text
        elif text.startswith("<tr"):
            column = 0
        if in_frame and text.startswith("<td") and text.endswith("</td>"):
            keys.append((table, column))
            column += 1
        else:
            keys.append(None)
    return keys


def _with_outputs(run: RunResult, outputs: list[dict]) -> RunResult:
    return dataclasses.replace(run, outputs=outputs)


class CorpusError(Exception):
    """A corpus notebook can't be prepared (original missing or changed, an edit that no longer applies)."""


@dataclass
class Entry:
    """One corpus notebook as the manifest describes it."""

    name: str
    raw: dict

    @property
    def dataset(self) -> str:
        return self.raw["dataset"]

    @property
    def env_var(self) -> str:
        return self.raw["env"]

    @property
    def volatile(self) -> list[str]:
        """Regular expressions of printed text that differs between two plain runs: the notebook's own
        (timings) and, for all, the kernel's process id in the file name of a warning's source line
        (IPython compiles cells into ``<tmp>/ipykernel_<pid>/<hash>.py``)."""
        return [*COMMON_VOLATILE, *self.raw.get("volatile", [])]

    @property
    def bench_code_cells(self) -> int | None:
        """How many code cells the bench runs, where the whole notebook would take hours (None: all)."""
        count = self.raw.get("bench_code_cells")
        return int(count) if count else None

    def bench_label(self, whole: bool) -> str:
        """The name in the bench's table, saying so where the bench ran only the notebook's first cells."""
        cut = None if whole else self.bench_code_cells
        return self.name if cut is None else f"{self.name} (first {cut} code cells)"

    def scale(self, factor: float, bench: bool = False) -> float:
        """The notebook's data scale: its ``test_scale`` (times ``bench_factor`` for the bench) times ``factor``."""
        return float(self.raw["test_scale"]) * (float(self.raw["bench_factor"]) if bench else 1.0) * factor


def load_manifest(path: Path = MANIFEST) -> list[Entry]:
    with open(path) as fh:
        data = json.load(fh)
    return [Entry(item["name"], item) for item in data["notebooks"]]


def sources_dir() -> Path:
    return Path(os.environ.get("COLLAB_REUSE_CORPUS_SOURCES",
                               Path.home() / ".cache" / "collab_reuse" / "corpus-sources"))


def _mirror_git_dir(repo: str) -> Path | None:
    root = Path(os.environ.get("COLLAB_REUSE_CORPUS_MIRRORS", "/work/.mirror")) / repo.replace("/", "+") / "repo"
    for candidate in (root / ".git", root):
        if (candidate / "objects").is_dir():
            return candidate
    return None


def original_path(entry: Entry) -> Path:
    return sources_dir() / f"{entry.name}{Path(entry.raw['path']).suffix}"


def original_bytes(entry: Entry, extract: bool = False) -> bytes:
    """The original file, checked against the manifest's sha256; from the cache, or (``extract``)
    from a git snapshot of its repository, then cached."""
    want = entry.raw["sha256"]
    cached = original_path(entry)
    if cached.is_file():
        data = cached.read_bytes()
        if hashlib.sha256(data).hexdigest() == want:
            return data
        raise CorpusError(f"{entry.name}: {cached} is not the recorded original (sha256 differs)")
    if not extract:
        raise CorpusError(f"{entry.name}: original not on this machine ({cached} missing); run "
                          f"`python -m collab_reuse.demo.corpus sources --extract` where a snapshot of "
                          f"{entry.raw['repo']} is available (see corpus/README.md)")
    git_dir = _mirror_git_dir(entry.raw["repo"])
    if git_dir is None:
        raise CorpusError(f"{entry.name}: no snapshot of {entry.raw['repo']} to extract the original from")
    spec = f"{entry.raw['commit']}:{entry.raw['path']}"
    proc = subprocess.run(["git", "--git-dir", str(git_dir), "show", spec], capture_output=True)
    if proc.returncode != 0:
        raise CorpusError(f"{entry.name}: git show {spec} failed: {proc.stderr.decode(errors='replace').strip()}")
    if hashlib.sha256(proc.stdout).hexdigest() != want:
        raise CorpusError(f"{entry.name}: {spec} is not the recorded original (sha256 differs)")
    cached.parent.mkdir(parents=True, exist_ok=True)
    cached.write_bytes(proc.stdout)
    return proc.stdout


def apply_edits(nb: nbformat.NotebookNode, edits: list[dict], what: str) -> nbformat.NotebookNode:
    """Apply find/replace edits to the code cells; each must match exactly ``count`` times (default 1)."""
    out = copy.deepcopy(nb)
    for edit in edits:
        found = sum(cell.source.count(edit["find"]) for cell in out.cells if cell.cell_type == "code")
        want = edit.get("count", 1)
        if found != want:
            raise CorpusError(f"{what}: edit {edit['find']!r} matches {found} times, expected {want}")
        for cell in out.cells:
            if cell.cell_type == "code":
                cell.source = cell.source.replace(edit["find"], edit["replace"])
    return out


def converted(entry: Entry, modified: bool = False, whole: bool = True) -> nbformat.NotebookNode:
    """The original with the manifest's compatibility edits (and, if ``modified``, its bench edit); not
    ``whole``: only as much of it as the bench runs (``bench_code_cells``)."""
    nb = nbformat.reads(original_bytes(entry).decode("utf-8"), as_version=4)
    nb = apply_edits(nb, entry.raw.get("edits", []), entry.name)
    if not whole and entry.bench_code_cells:
        nb.cells = _through_code_cell(nb.cells, entry.bench_code_cells)
    if modified:
        nb = apply_edits(nb, [entry.raw["bench_edit"]], f"{entry.name} (bench edit)")
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    return nb


def _through_code_cell(cells: list, count: int) -> list:
    """The cells up to and including the ``count``-th code cell."""
    seen = 0
    for i, cell in enumerate(cells):
        seen += cell.cell_type == "code"
        if seen == count:
            return cells[:i + 1]
    raise CorpusError(f"bench_code_cells is {count}, but the notebook has {seen} code cells")


def write_converted(entry: Entry, directory: Path, modified: bool = False, whole: bool = True) -> Path:
    path = Path(directory) / f"{entry.name}{'-modified' if modified else ''}.ipynb"
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(converted(entry, modified, whole), path)
    return path


def data_for(entry: Entry, root: Path, factor: float, bench: bool = False) -> Path:
    scale = entry.scale(factor, bench)
    return dataset(entry.dataset, Path(root) / f"{entry.dataset}-scale-{scale:g}", scale)


def kernel_env_for(entry: Entry, data: Path) -> dict[str, str]:
    # Fixed hash seed: a notebook that iterates over a set of strings then sees one order in every run
    # (as every run of the same Python with PYTHONHASHSEED set; plain runs differ without it).
    # One OpenMP thread: the test runs a plain and a reusing kernel side by side on two cores, and
    # XGBoost's and LightGBM's spinning threads then took minutes for a cell of seconds (every run
    # of the comparison gets the same setting, so their outputs still compare).
    return {entry.env_var: str(data), "PYTHONHASHSEED": "0", "OMP_NUM_THREADS": "1"}


# -- what the store's events say about a run -------------------------------------------------

def kernel_events(store: Path, kernel_id: str) -> list[dict]:
    from collab_reuse.graph import ExperimentGraph

    return ExperimentGraph(store).events(kernel_id=kernel_id, limit=1_000_000)


def _outermost(step: dict) -> bool:
    """Whether a step's seconds are its own, not also another reported step's: a notebook function
    that ran (not reused whole) has its body's steps reported besides it, and LightGBM's binned
    matrices are made inside the training call they belong to."""
    from collab_reuse.tracing.binned import LABEL, VALIDATION_LABEL

    if step.get("mutation") or step.get("op") in (LABEL, VALIDATION_LABEL):
        return False
    return not (str(step.get("op", "")).endswith("()") and step.get("status") != "reused")


def traced_share(run: RunResult, events: list[dict]) -> dict[str, float]:
    """Seconds of the run's cells spent inside traced operations (sum of the reported steps'
    seconds, each counted once: a notebook function that ran is counted by the steps of its body,
    so the plotting and printing it does itself count as outside; per cell at most the cell's own
    time) and outside them."""
    traced = 0.0
    by_count = {e.get("execution_count"): e for e in events}
    for cell, seconds in zip(run.outputs, run.cell_seconds):
        event = by_count.get(cell["execution_count"])
        if event is None:
            continue
        steps = sum(float(s.get("seconds") or 0.0) for s in event.get("steps", []) if _outermost(s))
        traced += min(steps, seconds)
    total = sum(run.cell_seconds)
    return {"cells": total, "traced": traced, "outside": max(total - traced, 0.0),
            "outside_share": (max(total - traced, 0.0) / total) if total else 0.0,
            "truncated_cells": sum(1 for e in events if e.get("truncated"))}


_ADDRESS = re.compile(r"0x[0-9a-fA-F]+")


def not_reused_reasons(events: list[dict]) -> Counter:
    """(status, op, reason) of every step that was not reused, counted over the run's cells."""
    counts: Counter = Counter()
    for event in events:
        for step in event.get("steps", []):
            if step.get("status") in ("reused", "deferred") or step.get("mutation"):
                continue
            reason = _ADDRESS.sub("0x…", step_reason(step) or "(no reason recorded)")
            counts[(step["status"], step.get("op", "?"), reason)] += 1
    return counts


# -- the bench ------------------------------------------------------------------------------------

@dataclass
class NotebookBench:
    entry: Entry
    scale: float
    whole: bool = False  # the whole notebook, not only its bench_code_cells
    plain: RunResult | None = None
    first: RunResult | None = None
    rerun: RunResult | None = None
    edited_plain: RunResult | None = None
    edited: RunResult | None = None
    diffs: dict[str, list[str]] = field(default_factory=dict)
    shares: dict[str, dict] = field(default_factory=dict)
    reasons: Counter = field(default_factory=Counter)
    pairs: list[tuple[float, float]] = field(default_factory=list)  # (plain, first) seconds, the first pair's too
    error: str | None = None


def bench_notebook(entry: Entry, factor: float, work: Path, data_root: Path, timeout: float,
                   bench: bool = True, overhead_pairs: int = 1, whole: bool = False) -> NotebookBench:
    """Plain, first, re-run (new kernel), then the edited notebook plain and on a copy of the store;
    then ``overhead_pairs - 1`` more (plain, first run) pairs. ``whole``: all of a notebook whose
    ``bench_code_cells`` say the bench runs only its first cells."""
    report = NotebookBench(entry, entry.scale(factor, bench), whole)
    try:
        nb_path = write_converted(entry, work / "notebooks", whole=whole)
        edited_path = write_converted(entry, work / "notebooks", modified=True, whole=whole)
    except CorpusError as exc:
        report.error = str(exc)
        return report
    data = data_for(entry, data_root, factor, bench)
    env = kernel_env_for(entry, data)
    store = work / f"{entry.name}-store"
    label = entry.bench_label(whole)
    say = lambda what: print(f"{label} (scale {report.scale:g}): {what} ...", flush=True)  # noqa: E731
    say("plain run")
    report.plain = run_notebook(nb_path, work / f"{entry.name}-plain", env=env, timeout=timeout)
    say("first run with collab_reuse (empty store)")
    report.first = run_notebook(nb_path, work / f"{entry.name}-first", store_dir=store, env=env, timeout=timeout)
    say("re-run with collab_reuse (new kernel, same store)")
    report.rerun = run_notebook(nb_path, work / f"{entry.name}-rerun", store_dir=store, env=env, timeout=timeout)
    edited_store = work / f"{entry.name}-edited-store"
    shutil.copytree(store, edited_store)
    os.sync()
    say("edited notebook, plain")
    report.edited_plain = run_notebook(edited_path, work / f"{entry.name}-edited-plain", env=env, timeout=timeout)
    say("edited notebook with collab_reuse (new kernel, copy of the store)")
    report.edited = run_notebook(edited_path, work / f"{entry.name}-edited", store_dir=edited_store, env=env,
                                 timeout=timeout)
    plain2 = edited_plain2 = None
    if entry.raw.get("varies_between_plain_runs"):  # what varies between two plain runs is learned from a second
        say("plain runs again (what differs between two plain runs may differ with collab_reuse)")
        plain2 = run_notebook(nb_path, work / f"{entry.name}-plain2", env=env, timeout=timeout)
        edited_plain2 = run_notebook(edited_path, work / f"{entry.name}-edited-plain2", env=env, timeout=timeout)
    report.diffs = {"first": compare_runs(entry, report.plain, report.first, plain2),
                    "rerun": compare_runs(entry, report.plain, report.rerun, plain2),
                    "edited": compare_runs(entry, report.edited_plain, report.edited, edited_plain2)}
    for label, run, st in (("rerun", report.rerun, store), ("edited", report.edited, edited_store)):
        events = kernel_events(st, run.kernel_id)
        report.shares[label] = traced_share(run, events)
        report.reasons.update(not_reused_reasons(events))
    report.pairs = [(report.plain.seconds, report.first.seconds),
                    *first_run_pairs(nb_path, work, timeout, overhead_pairs - 1, env=env)]
    return report


def new_errors(plain: RunResult, other: RunResult) -> list[tuple]:
    """Errors a run with collab_reuse raised where the plain run raised none (or another)."""
    before = {(cell, name) for cell, name, _ in plain.errors}
    return [e for e in other.errors if (e[0], e[1]) not in before]


def _ratio(a: float, b: float) -> str:
    return f"{a / max(b, 1e-9):.1f}x"


def format_bench(reports: list[NotebookBench], top: int = 8) -> str:
    header = ["notebook", "scale", "plain s", "first s", "overhead", "re-run s", "speedup", "outside traced",
              "edited plain s", "edited s", "edited speedup", "outside traced (edited)", "identical"]
    rows = []
    for r in reports:
        if r.error or r.plain is None:
            rows.append([r.entry.bench_label(r.whole), f"{r.scale:g}"] + ["-"] * (len(header) - 3) + [f"n/a: {r.error}"])
            continue
        same = [k for k, d in r.diffs.items() if d]
        rows.append([
            r.entry.bench_label(r.whole), f"{r.scale:g}", f"{r.plain.seconds:.1f}", f"{r.first.seconds:.1f}",
            f"{100 * (r.first.seconds - r.plain.seconds) / r.plain.seconds:+.0f}%", f"{r.rerun.seconds:.1f}",
            _ratio(r.plain.seconds, r.rerun.seconds), f"{100 * r.shares['rerun']['outside_share']:.0f}%",
            f"{r.edited_plain.seconds:.1f}", f"{r.edited.seconds:.1f}",
            _ratio(r.edited_plain.seconds, r.edited.seconds), f"{100 * r.shares['edited']['outside_share']:.0f}%",
            "yes" if not same else "NO: " + ", ".join(same),
        ])
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows)]

    def line(cells: list[str]) -> str:
        return "  ".join(str(c).ljust(w) if i == 0 else str(c).rjust(w) for i, (c, w) in enumerate(zip(cells, widths)))

    out = [line(header), line(["-" * w for w in widths])] + [line(r) for r in rows]
    out.append("times: cell execution only (kernel start excluded); outside traced: share of the re-run's cell "
               "time not inside any traced operation (the store's step seconds, per cell at most the cell time)")
    for r in reports:
        if r.error or r.plain is None:
            continue
        out.append(f"\n{r.entry.name}: steps not reused over the re-run and the edited run "
                   f"(status, operation: reason) x count, top {top}:")
        for (status, op, reason), n in r.reasons.most_common(top):
            out.append(f"  {n:5d}  {status}  {op}: {reason}")
        for label, diffs in r.diffs.items():
            for d in diffs[:6]:
                out.append(f"  [{label} differs] {d}")
        if len(r.pairs) > 1:
            out.append("  " + format_pairs(r.entry.name, r.pairs))
        for label, run in (("plain", r.plain), ("edited plain", r.edited_plain)):
            if run.errors:
                out.append(f"  note: the {label} run raised: {run.errors[:3]}")
        for label, run, plain in (("first", r.first, r.plain), ("rerun", r.rerun, r.plain),
                                  ("edited", r.edited, r.edited_plain)):
            for cell, name, message in new_errors(plain, run)[:3]:  # (also among the diffs: named apart here)
                out.append(f"  [{label} RAISED where plain did not] cell {cell}: {name}: {message.strip()[:300]}")
    return "\n".join(out)


def run_bench(factor: float, names: list[str] | None, timeout: float, keep: bool = False, bench: bool = True,
              overhead_pairs: int = 1, whole: bool = False) -> str:
    entries = [e for e in load_manifest() if not names or e.name in names]
    unknown = set(names or []) - {e.name for e in entries}
    if unknown:
        raise SystemExit(f"no corpus notebook {', '.join(sorted(unknown))}")
    data_root = REPO_ROOT / "demo-data" / "corpus"
    work = Path(tempfile.mkdtemp(prefix="collab_reuse-corpus-"))
    try:
        reports = [bench_notebook(e, factor, work, data_root, timeout, bench, overhead_pairs, whole) for e in entries]
    finally:
        if keep:
            print(f"work directories and stores kept in {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    return format_bench(reports)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m collab_reuse.demo.corpus", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    src = sub.add_parser("sources", help="check (or --extract) the original of every corpus notebook")
    src.add_argument("--extract", action="store_true", help="extract missing originals from git snapshots")
    conv = sub.add_parser("convert", help="write the converted notebooks into a directory")
    conv.add_argument("--out", required=True)
    conv.add_argument("--modified", action="store_true", help="with each notebook's bench edit")
    run = sub.add_parser("run", help="the corpus bench: plain, first, re-run, edited per notebook")
    run.add_argument("--scale-factor", type=float, default=1.0,
                     help="multiplies each notebook's bench scale (test_scale x bench_factor)")
    run.add_argument("--test-scale", action="store_true", help="start from the test scale, not the bench scale")
    run.add_argument("--notebooks", default="", help="comma-separated names (default all)")
    run.add_argument("--timeout", type=float, default=3600)
    run.add_argument("--keep", action="store_true")
    run.add_argument("--overhead-pairs", type=int, default=1,
                     help="plain/first-run pairs per notebook for the first-run overhead (default 1)")
    run.add_argument("--whole-notebooks", action="store_true",
                     help="run all of each notebook, also where bench_code_cells limit the bench (hours)")
    args = parser.parse_args(argv)
    if args.command == "sources":
        failed = 0
        for entry in load_manifest():
            try:
                original_bytes(entry, extract=args.extract)
                print(f"{entry.name}: ok ({original_path(entry)})")
            except CorpusError as exc:
                failed += 1
                print(f"{entry.name}: UNAVAILABLE: {exc}")
        return 1 if failed else 0
    if args.command == "convert":
        for entry in load_manifest():
            print(write_converted(entry, Path(args.out), args.modified))
        return 0
    if args.scale_factor <= 0:
        parser.error("--scale-factor must be positive")
    print(run_bench(args.scale_factor, list(filter(None, args.notebooks.split(","))), args.timeout, args.keep,
                    bench=not args.test_scale, overhead_pairs=args.overhead_pairs, whole=args.whole_notebooks))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
