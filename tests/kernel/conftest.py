import pytest
from IPython.core.interactiveshell import InteractiveShell


@pytest.fixture
def shell(tmp_path, monkeypatch):
    """A real IPython shell with the extension loaded on a fresh store."""
    monkeypatch.setenv("COLLAB_REUSE_STORE", str(tmp_path / "store"))
    InteractiveShell.clear_instance()
    ip = InteractiveShell.instance(history_length=0)
    ip.history_manager.enabled = False
    ip.run_line_magic("load_ext", "collab_reuse")
    yield ip
    ip.run_line_magic("unload_ext", "collab_reuse")
    InteractiveShell.clear_instance()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """A failed test shows collab_reuse's own log of the stores it used (the log never reaches the
    cell's output or pytest's log capture: it goes to the store's ``collab_reuse.log``)."""
    outcome = yield
    report = outcome.get_result()
    tmp_path = getattr(item, "funcargs", {}).get("tmp_path")
    if report.when != "call" or not report.failed or tmp_path is None:
        return
    for path in sorted(tmp_path.rglob("collab_reuse.log*")):
        try:
            report.sections.append((f"collab_reuse log {path.relative_to(tmp_path)}", path.read_text()[-20_000:]))
        except OSError:
            pass
