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
