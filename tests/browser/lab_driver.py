"""Driving JupyterLab from Playwright: wait for real conditions, never for fixed times."""

from __future__ import annotations

import re
from pathlib import Path

from playwright.sync_api import Locator, Page, expect

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "test-artifacts"

KERNEL_IDLE = re.compile(r"ipykernel\) \| Idle$")
PANEL_ID = "collab-reuse-panel"


def open_lab(page: Page, url: str) -> None:
    """Load JupyterLab and wait until the launcher is usable."""
    page.goto(url)
    page.wait_for_selector("#jupyterlab-splash", state="detached", timeout=60_000)
    expect(page.locator(".jp-LauncherCard").first).to_be_visible(timeout=30_000)


def new_notebook(page: Page) -> Locator:
    """Open a new Python notebook from the launcher; return its panel once its kernel is idle."""
    page.locator('.jp-LauncherCard[data-category="Notebook"]').first.click()
    notebook = page.locator(".jp-NotebookPanel:visible")
    expect(notebook).to_have_count(1)
    wait_kernel_idle(page)
    return notebook


def wait_kernel_idle(page: Page, timeout: float = 60_000) -> None:
    """The status bar says the notebook's kernel exists and is idle.

    The cell toolbar's indicator says idle before a kernel exists, and Shift+Enter
    is then dropped silently, so the status bar's kernel name is part of the check.
    """
    status = page.locator("#jp-bottom-panel, .jp-StatusBar").get_by_role("button", name=KERNEL_IDLE)
    expect(status.first).to_be_visible(timeout=timeout)


def cell(notebook: Locator, index: int) -> Locator:
    return notebook.locator(".jp-Notebook .jp-Cell").nth(index)


def set_cell_source(page: Page, notebook: Locator, index: int, source: str) -> None:
    """Replace a cell's source (inserted as text: no auto-closing brackets or auto-indent)."""
    editor = cell(notebook, index).locator(".cm-content")
    editor.click()
    page.keyboard.press("Control+a")
    page.keyboard.insert_text(source)


def run_cell(page: Page, notebook: Locator, index: int, execution_count: int, advance: bool = False) -> None:
    """Run a cell (Ctrl+Enter stays on it) and wait until it shows its execution count and the kernel is idle."""
    cell(notebook, index).locator(".cm-content").click()
    page.keyboard.press("Shift+Enter" if advance else "Control+Enter")
    prompt = cell(notebook, index).locator(".jp-InputArea-prompt")
    expect(prompt).to_have_text(f"[{execution_count}]:", timeout=120_000)
    wait_kernel_idle(page)


def restart_and_run_all(page: Page, notebook: Locator) -> None:
    """Restart the kernel (same kernel id) and run every cell, as a user re-running a notebook does."""
    notebook.locator('[data-command="notebook:restart-run-all"]').first.click()
    dialog = page.locator(".jp-Dialog")
    dialog.locator(".jp-mod-accept").click()
    expect(dialog).to_have_count(0)


def open_panel(page: Page) -> Locator:
    """Show the Reuse sidebar panel (its tab in the right sidebar)."""
    panel = page.locator(f"#{PANEL_ID}")
    if not panel.is_visible():
        page.locator(f'.jp-SideBar [data-id="{PANEL_ID}"]').click()
    expect(panel).to_be_visible()
    return panel


def arrange_for_screenshot(page: Page, panel_width: int = 440) -> None:
    """Collapse the left sidebar and widen the right one, so the panel is readable in a picture."""
    current_left = page.locator(".jp-SideBar.jp-mod-left .lm-TabBar-tab.lm-mod-current")
    if current_left.count():
        current_left.first.click()
    panel = page.locator(f"#{PANEL_ID}")
    box = panel.bounding_box()
    handles = page.locator("#jp-main-split-panel > .lm-SplitPanel-handle:not(.lm-mod-hidden)")
    if box is None or handles.count() == 0:
        return
    handle = handles.last.bounding_box()
    if handle is None:
        return
    x, y = handle["x"] + handle["width"] / 2, handle["y"] + handle["height"] / 2
    page.mouse.move(x, y)
    page.mouse.down()
    page.mouse.move(x - (panel_width - box["width"]), y, steps=5)
    page.mouse.up()
