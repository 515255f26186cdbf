"""How close ``%%reuse plan``'s estimates come to what the cells then take (issue 19), on a demo notebook.

A first run fills a store. Then the notebook runs again in a new kernel, each code cell preceded by
a ``%%reuse plan`` cell of the same code (the preview runs nothing; the next run of that very code
carries the estimate in its cell report, ``plan``), once as it is and once with its final model's
learning rate changed (so that some steps compute). Per cell with a plan, the estimate (the
measured steps' time with reuse; unknown steps are not counted, and the report says how many there
were) is set beside the cell's measured time.
"""
from __future__ import annotations

import copy
import tempfile
from dataclasses import dataclass
from pathlib import Path

import nbformat

from .runner import reuse_events, run_notebook
from .scenarios import learning_rate_changed


@dataclass
class CellEstimate:
    run: str
    cell: int | None
    estimated: float   # seconds, with reuse, over the steps with a measured time
    measured: float    # the cell's seconds
    unknown: int       # steps the plan could not estimate


def with_previews(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """Each code cell preceded by ``%%reuse plan`` of its code (magics and shell escapes left alone)."""
    out = copy.deepcopy(nb)
    cells = []
    for cell in out.cells:
        if cell.cell_type == "code" and cell.source.strip() and not cell.source.lstrip().startswith(("%", "!")):
            cells.append(nbformat.v4.new_code_cell("%%reuse plan\n" + cell.source))
        cells.append(cell)
    out.cells = cells
    return out


def measure(notebook: Path, env: dict[str, str], timeout: float = 3600) -> list[CellEstimate]:
    original = nbformat.read(notebook, as_version=4)
    runs = {"re-run": original, "learning rate changed": learning_rate_changed(original)[0]}
    out: list[CellEstimate] = []
    with tempfile.TemporaryDirectory(prefix="collab_reuse-plan-") as work:
        work_dir = Path(work)
        store = work_dir / "store"
        run_notebook(notebook, work_dir / "first", store_dir=store, env=env, timeout=timeout)
        for name, nb in runs.items():
            path = work_dir / f"{name.replace(' ', '-')}.ipynb"
            nbformat.write(with_previews(nb), path)
            result = run_notebook(path, work_dir / path.stem, store_dir=store, env=env, timeout=timeout)
            for report in reuse_events(store, result.kernel_id):
                plan = report.get("plan")
                if isinstance(plan, dict) and plan.get("known"):
                    out.append(CellEstimate(name, report.get("execution_count"), float(plan.get("seconds") or 0.0),
                                            float(report["totals"]["seconds"]), int(plan.get("unknown") or 0)))
    return out


def format_estimates(notebook: str, estimates: list[CellEstimate]) -> str:
    lines = [f"{notebook}: %%reuse plan's estimate beside the cell's measured time (cells with a plan of at "
             "least one measured step)"]
    for name in dict.fromkeys(e.run for e in estimates):
        mine = [e for e in estimates if e.run == name]
        est, got = sum(e.estimated for e in mine), sum(e.measured for e in mine)
        errors = sorted(abs(e.estimated - e.measured) for e in mine)
        big = [e for e in mine if e.measured >= 1.0]
        rel = sorted(abs(e.estimated - e.measured) / e.measured for e in big)
        lines.append(f"  {name}: {len(mine)} cells, estimated {est:.1f} s, measured {got:.1f} s "
                     f"(total error {100 * (est - got) / max(got, 1e-9):+.0f}%); per cell: median absolute error "
                     f"{errors[len(errors) // 2]:.2f} s, largest {errors[-1]:.2f} s"
                     + (f"; cells of 1 s or more: {len(big)}, median relative error {100 * rel[len(rel) // 2]:.0f}%"
                        if big else "")
                     + f"; {sum(e.unknown for e in mine)} steps unknown (not estimated)")
    return "\n".join(lines)
