"""Modified-notebook scenarios: a user edits the feature-engineering notebook after a first run.

Each scenario edits the notebook (a hyperparameter of the final model; a feature added late), then
measures, side by side:

* plain: the whole edited notebook in a fresh kernel, without collab_reuse;
* old kernel: what users do today -- keep the kernel of the first run alive and re-run only the cells
  from the edited one on (the plain run's cell times from that cell on);
* collab_reuse: the whole edited notebook in a *new* kernel on a copy of the first run's store.

The collab_reuse run's outputs and files are compared with the plain run of the edited notebook.
"""

from __future__ import annotations

import copy
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import nbformat

from .runner import RunResult, compare, run_notebook

FINAL_MODEL_CALL = "submission_corrs, fi_corrs, metrics_corr = model(train_corrs_removed, test_corrs_removed)"
LATE_FEATURE_AFTER = "test_corrs_removed = test.drop(columns=cols_to_remove)"
LATE_FEATURE = ("for frame in (train_corrs_removed, test_corrs_removed):\n"
                "    frame['CREDIT_TO_INCOME'] = frame['AMT_CREDIT'] / frame['AMT_INCOME_TOTAL']\n"
                "print('Training shape with the new feature: ', train_corrs_removed.shape)")


def _code_cells(nb: nbformat.NotebookNode) -> list:
    return [c for c in nb.cells if c.cell_type == "code"]


def _find(nb: nbformat.NotebookNode, text: str) -> int:
    """Index (among code cells) of the cell containing ``text``."""
    for i, cell in enumerate(_code_cells(nb)):
        if text in cell.source:
            return i
    raise ValueError(f"no code cell contains {text!r}")


def learning_rate_changed(nb: nbformat.NotebookNode) -> tuple[nbformat.NotebookNode, int]:
    """The final model trained with learning_rate=0.05 instead of 0.1."""
    out = copy.deepcopy(nb)
    i = _find(out, FINAL_MODEL_CALL)
    cell = _code_cells(out)[i]
    cell.source = cell.source.replace(FINAL_MODEL_CALL, FINAL_MODEL_CALL[:-1] + ", learning_rate=0.05)")
    return out, i


def feature_added_late(nb: nbformat.NotebookNode) -> tuple[nbformat.NotebookNode, int]:
    """A credit-to-income ratio added to the final features just before the models."""
    out = copy.deepcopy(nb)
    i = _find(out, LATE_FEATURE_AFTER)
    at = out.cells.index(_code_cells(out)[i]) + 1
    out.cells.insert(at, nbformat.v4.new_code_cell(LATE_FEATURE))
    return out, i + 1


SCENARIOS: dict[str, Callable[[nbformat.NotebookNode], tuple[nbformat.NotebookNode, int]]] = {
    "final model: learning rate changed": learning_rate_changed,
    "feature added late": feature_added_late,
}


@dataclass
class ScenarioReport:
    name: str
    plain: RunResult
    ours: RunResult
    edit_index: int
    diffs: list[str]
    pair: int = 1                # which plain/collab_reuse pair of this scenario (see ``run_scenarios``)
    store: Path | None = None    # the collab_reuse run's store, when kept (``keep_stores``)

    @property
    def old_kernel_seconds(self) -> float:
        return sum(self.plain.cell_seconds[self.edit_index:])

    @property
    def plain_seconds(self) -> float:
        return self.plain.seconds

    @property
    def ours_seconds(self) -> float:
        return self.ours.seconds


def run_scenarios(notebook: Path, data_dir: Path, work_root: Path, store: Path, timeout: float,
                  pairs: int = 1, names: list[str] | None = None, keep_stores: bool = False) -> list[ScenarioReport]:
    """Run every scenario (or those ``names``) on ``notebook`` against a copy of ``store`` (the first
    run's): ``pairs`` times a plain run then a collab_reuse run, each on a fresh copy of the store (on
    a machine whose speed drifts, pairs side by side say more than one). ``keep_stores``: the copies
    stay in ``work_root`` (for reading the runs' cell reports)."""
    env = {"HOME_CREDIT_DATA": str(data_dir)}
    original = nbformat.read(notebook, as_version=4)
    reports = []
    for k, (name, edit) in enumerate(SCENARIOS.items()):
        if names is not None and name not in names:
            continue
        edited, index = edit(original)
        path = work_root / f"scenario-{k}.ipynb"
        nbformat.write(edited, path)
        for pair in range(1, pairs + 1):
            tag = f"scenario-{k}-{pair}"
            print(f"scenario '{name}' (pair {pair} of {pairs}): plain run ...", flush=True)
            plain = run_notebook(path, work_root / f"{tag}-plain", env=env, timeout=timeout)
            scenario_store = work_root / f"{tag}-store"
            shutil.copytree(store, scenario_store)
            os.sync()  # the copy on disk before the timed run, as the store it stands for would be
            print(f"scenario '{name}' (pair {pair} of {pairs}): collab_reuse in a new kernel ...", flush=True)
            ours = run_notebook(path, work_root / f"{tag}-ours", store_dir=scenario_store, env=env,
                                timeout=timeout)
            reports.append(ScenarioReport(name, plain, ours, index, compare(plain, ours), pair,
                                          scenario_store if keep_stores else None))
            if not keep_stores:
                shutil.rmtree(scenario_store, ignore_errors=True)
    return reports


def format_scenarios(reports: list[ScenarioReport]) -> str:
    header = ["scenario", "plain s", "old kernel s", "collab_reuse s", "vs plain", "vs old kernel", "outputs same"]
    several = any(r.pair > 1 for r in reports)
    rows = [[r.name + (f" [pair {r.pair}]" if several else ""), f"{r.plain.seconds:.1f}",
             f"{r.old_kernel_seconds:.1f}", f"{r.ours.seconds:.1f}", _ratio(r.plain.seconds, r.ours.seconds, 1),
             _ratio(r.old_kernel_seconds, r.ours.seconds, 2), "yes" if not r.diffs else f"NO ({len(r.diffs)})"]
            for r in reports]
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows)]

    def line(cells: list[str]) -> str:
        return "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths)))

    out = [line(header), line(["-" * w for w in widths])] + [line(r) for r in rows]
    out.append("old kernel: the plain run's cell times from the edited cell on (the cells a user re-runs in the "
               "kernel of the first run); collab_reuse: the whole edited notebook in a new kernel (kernel start "
               "excluded, as for the others)")
    if several:
        for name in dict.fromkeys(r.name for r in reports):
            mine = [r for r in reports if r.name == name]
            plain, old, ours = (sum(getattr(r, a) for r in mine) for a in ("plain_seconds", "old_kernel_seconds",
                                                                           "ours_seconds"))
            out.append(f"{name}, all {len(mine)} pairs: plain {plain:.1f} s, old kernel {old:.1f} s, collab_reuse "
                       f"{ours:.1f} s: {_ratio(plain, ours, 1)} vs plain, {_ratio(old, ours, 2)} vs old kernel")
    for r in reports:
        for d in r.diffs[:10]:
            out.append(f"  {r.name}: {d}")
    return "\n".join(out)


def _ratio(slow: float, fast: float, digits: int) -> str:
    return f"{slow / max(fast, 1e-9):.{digits}f}x"
