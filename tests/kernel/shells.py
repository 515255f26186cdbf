"""Running cells in real IPython shells with the extension, as the kernel tests do."""

import collab_reuse
from IPython.core.interactiveshell import InteractiveShell


def two_runs(tmp_path, monkeypatch, cells, between=None):
    """Run cells in two fresh shells on one store; return (namespaces, reports of the last cell).
    ``between(session)`` runs after the first shell stored its results."""
    monkeypatch.setenv("COLLAB_REUSE_STORE", str(tmp_path / "store"))
    spaces, reports = [], []
    for run in range(2):
        InteractiveShell.clear_instance()
        ip = InteractiveShell.instance()
        ip.run_line_magic("load_ext", "collab_reuse")
        for cell in cells:
            result = ip.run_cell(cell)
            assert result.error_in_exec is None, result.error_in_exec
        session = collab_reuse.session_of(ip)
        reports.append(session.last_report)
        session.flush(60)
        if run == 0 and between is not None:
            between(session)
        spaces.append(dict(ip.user_ns))
        ip.run_line_magic("unload_ext", "collab_reuse")
    InteractiveShell.clear_instance()
    return spaces, reports


def statuses(report, op):
    return [s["status"] for s in report["steps"] if s["op"] == op]


def plain_first_again(tmp_path, cells, timeout=600):
    """Run ``cells`` as a notebook through real kernels: plain, then with collab_reuse twice on one
    store (a first run and a re-run). Returns (plain, first, again, store directory)."""
    import nbformat

    from collab_reuse.demo.runner import run_notebook

    notebook = tmp_path / "cells.ipynb"
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells]), notebook)
    store = tmp_path / "store"
    plain = run_notebook(notebook, tmp_path / "plain", timeout=timeout)
    first = run_notebook(notebook, tmp_path / "first", store_dir=store, timeout=timeout)
    again = run_notebook(notebook, tmp_path / "again", store_dir=store, timeout=timeout)
    return plain, first, again, store
