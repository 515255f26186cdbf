"""The Reuse panel in a real JupyterLab, driven by headless chromium, against the real engine.

One notebook: ``%load_ext collab_reuse``, then a cell with an expensive pandas
groupby over a million rows, which the cell shows. The first run computes
it; a kernel restart and re-run (same kernel id, the store keeps the result)
reuses it (an aggregate that nothing used would only be deferred). The panel
must show both, live, and also the run made before it was opened; then, after an edit of the
aggregation's argument, previewed before it runs, the recomputed step and why (what changed), and the
preview's estimate beside what the run took.
"""

from __future__ import annotations

from urllib.parse import urljoin

import pytest

pytest.importorskip("playwright.sync_api", reason="playwright (Python) is not installed: pip install -e '.[test]'")

from playwright.sync_api import Locator, Page, expect  # noqa: E402

from lab_driver import (  # noqa: E402
    ARTIFACTS,
    arrange_for_screenshot,
    cell,
    new_notebook,
    open_lab,
    open_panel,
    restart_and_run_all,
    run_cell,
    set_cell_source,
)

pytestmark = [pytest.mark.browser, pytest.mark.timeout(240)]

EXPENSIVE_CELL = """import numpy as np, pandas as pd
df = pd.DataFrame({"key": np.arange(1_000_000) % 5_000, "value": np.arange(1_000_000) * 0.5})
stats = df.groupby("key")["value"].agg(["sum", "mean", "std", "median"])
stats"""


def steps_of(panel: Locator) -> list[dict]:
    """The steps the panel shows for the selected cell: artifact id, op and status."""
    return panel.locator(".jp-CollabReuse-step").evaluate_all(
        "nodes => nodes.map(n => ({id: n.dataset.artifactId, op: n.dataset.op, status: n.dataset.status}))"
    )


def test_panel_shows_the_step_computed_then_reused(lab, page: Page):

    open_lab(page, lab.lab_url())
    notebook = new_notebook(page)

    set_cell_source(page, notebook, 0, "%load_ext collab_reuse")
    run_cell(page, notebook, 0, execution_count=1, advance=True)
    set_cell_source(page, notebook, 1, EXPENSIVE_CELL)
    run_cell(page, notebook, 1, execution_count=2)

    # Opened after the run: the panel shows the persisted report of that run.
    panel = open_panel(page)
    grouped = panel.locator(".jp-CollabReuse-step").filter(has_text="agg")
    expect(grouped.first).to_have_attribute("data-status", "computed", timeout=30_000)
    first = steps_of(panel)
    assert first and not [s for s in first if s["status"] == "reused"], first
    computed_ids = {s["id"] for s in first if s["status"] == "computed"}
    # The kernel stores results in the background; restart only once the store has the
    # aggregate (a restart kills a kernel that is still writing after a few seconds).
    stored = panel.locator(".jp-CollabReuse-artifact").filter(has_text="agg")
    expect(stored.first).to_be_visible(timeout=60_000)

    # A preview of the active cell (%%reuse plan in the kernel): shown in the panel, nothing in the notebook.
    cell(notebook, 1).locator(".jp-InputPrompt").click()
    panel.locator(".jp-CollabReuse-previewButton").click()
    preview = panel.locator(".jp-CollabReuse-preview")
    expect(preview).to_contain_text("collab_reuse plan (nothing was run):", timeout=30_000)
    expect(preview).to_contain_text("estimated:")
    expect(cell(notebook, 1).locator(".jp-InputArea-prompt")).to_have_text("[2]:")

    # Restart (the kernel keeps its id) and re-run: the panel updates by itself.
    restart_and_run_all(page, notebook)
    expect(cell(notebook, 1).locator(".jp-InputArea-prompt")).to_have_text("[2]:", timeout=120_000)
    cell(notebook, 1).locator(".jp-InputPrompt").click()
    # The aggregate is first deferred (bound to a lazy), then loaded when it is shown: a reused step.
    expect(grouped.and_(panel.locator("[data-status=reused]")).first).to_be_visible(timeout=30_000)
    expect(grouped.and_(panel.locator("[data-status=deferred]")).first).to_contain_text("deferred (not needed yet)")
    second = steps_of(panel)
    reused = [s for s in second if s["status"] == "reused"]
    assert reused, second
    assert {s["id"] for s in reused} <= computed_ids, "the reused steps are the ones computed the first time"

    # Both runs of the cell are listed, and the notebook and store sections have numbers.
    expect(panel.locator(".jp-CollabReuse-historyRun")).to_have_count(2)
    expect(panel.locator(".jp-CollabReuse-dag .jp-CollabReuse-dagNode[data-status=reused]").first).to_be_visible()
    expect(panel.locator(".jp-CollabReuse-dag .jp-CollabReuse-dagNode[data-status=deferred]").first).to_be_visible()
    expect(panel.locator('[data-fact="runs"]')).not_to_have_text("0")
    expect(panel.locator('[data-fact="deferred"]')).not_to_have_text("0")
    expect(panel.locator('[data-fact="artifacts"]')).not_to_have_text("0 (0 stored)", timeout=30_000)
    # Per user: what reuse saved this user, by whose artifacts (a store of one user: their own).
    user = panel.locator(".jp-CollabReuse-users .jp-CollabReuse-user")
    expect(user).to_have_count(1, timeout=30_000)
    expect(user.locator(".jp-CollabReuse-savedBy")).to_contain_text("by own")
    expect(user.locator('[data-figure="saved"]')).not_to_have_text("0 s")

    ARTIFACTS.mkdir(exist_ok=True)
    page.set_viewport_size({"width": 1440, "height": 1280})
    arrange_for_screenshot(page)
    page.screenshot(path=str(ARTIFACTS / "panel.png"))

    # The panel links to the reuse report, a page with the figures of what reuse saved.
    link = panel.locator("a.jp-CollabReuse-reportLink")
    expect(link).to_be_visible()
    report = page.request.get(urljoin(lab.url, link.get_attribute("href")) + f"?token={lab.token}")
    assert report.ok and "What reuse saved" in report.text() and "data:image/png;base64," in report.text()

    # The whole store can be browsed page by page.
    panel.locator(".jp-CollabReuse-browse > summary").click()
    expect(panel.locator(".jp-CollabReuse-browse .jp-CollabReuse-artifact").first).to_be_visible()

    # An edit of the aggregation's argument: the step is computed again, and the panel says why.
    set_cell_source(page, notebook, 1, EXPENSIVE_CELL.replace('["sum", "mean", "std", "median"]', '["sum", "mean"]'))
    # Previewed before it runs: after the run, the panel sets the estimate beside what the run took.
    cell(notebook, 1).locator(".jp-InputPrompt").click()
    panel.locator(".jp-CollabReuse-previewButton").click()
    expect(preview).to_contain_text("estimated:", timeout=30_000)
    run_cell(page, notebook, 1, execution_count=3)
    planned = panel.locator(".jp-CollabReuse-plannedLine")
    expect(planned).to_contain_text("Estimated before the run:", timeout=30_000)
    expect(planned).to_contain_text("with reuse")
    expect(planned).to_contain_text("Took ")
    expect(panel.locator(".jp-CollabReuse-step .jp-CollabReuse-planned").first).to_contain_text("planned: ")
    edited = panel.locator(".jp-CollabReuse-step[data-status=computed]").filter(has_text="agg")
    expect(edited.locator(".jp-CollabReuse-why").first).to_contain_text("changed", timeout=30_000)
    expect(edited.locator(".jp-CollabReuse-why").first).to_contain_text("'std'")
    expect(panel.locator(".jp-CollabReuse-whyLine")).to_contain_text("recomputed because")

    problems = [m for m in page.console_problems if "collab-reuse" in m or "collab_reuse" in m]
    assert not problems, problems
