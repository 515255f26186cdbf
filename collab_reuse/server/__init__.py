"""The Jupyter server extension of collab_reuse: REST endpoints for the JupyterLab panel.

Enabled by ``etc/jupyter/jupyter_server_config.d/collab_reuse.json`` (installed
with the package) under the name ``collab_reuse.server``; the hooks are also
re-exported from ``collab_reuse`` so that ``jupyter server extension enable
collab_reuse`` works too. Only this package imports jupyter_server.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

LABEXTENSION_NAME = "collab-reuse-panel"


def _jupyter_server_extension_points() -> list[dict[str, str]]:
    return [{"module": "collab_reuse.server"}]


def _jupyter_labextension_paths() -> list[dict[str, str]]:
    # Used by `jupyter labextension develop`; a normal install finds the prebuilt
    # extension under share/jupyter/labextensions instead.
    # The path is absolute, so the hook works re-exported from ``collab_reuse`` too.
    return [{"src": str(Path(__file__).resolve().parent.parent / "labextension"), "dest": LABEXTENSION_NAME}]


def _load_jupyter_server_extension(server_app: Any) -> None:
    """Register the REST handlers on the running server."""
    from .handlers import setup_handlers
    from .reader import StoreReader

    reader = StoreReader()
    setup_handlers(server_app.web_app, reader)
    server_app.log.info("collab_reuse: REST endpoints at %scollab-reuse/ (store %s)",
                        server_app.web_app.settings["base_url"], _describe_store())


def _describe_store() -> str:
    try:
        from .reader import store_dir

        return str(store_dir())
    except Exception as exc:  # a broken config must not stop the server; the panel will say more
        return f"unresolved: {exc}"


# Older jupyter_server (1.x) looked for this name.
load_jupyter_server_extension = _load_jupyter_server_extension

__all__ = ["_jupyter_server_extension_points", "_jupyter_labextension_paths", "_load_jupyter_server_extension"]
