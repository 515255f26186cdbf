"""collab_reuse: reuse data-science work across the notebooks and people of a Jupyter server.

``%load_ext collab_reuse`` in a notebook; see the README.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

_installations: dict[int, Any] = {}


def load_ipython_extension(ipython: Any) -> None:
    """Called by ``%load_ext collab_reuse`` (or ``--ext=collab_reuse``)."""
    from .kernel.ipython import Installation

    if id(ipython) in _installations:
        return
    installation = Installation(ipython)
    installation.install()
    _installations[id(ipython)] = installation


def unload_ipython_extension(ipython: Any) -> None:
    """Called by ``%unload_ext collab_reuse``: plain IPython again."""
    installation = _installations.pop(id(ipython), None)
    if installation is not None:
        installation.uninstall()


def session_of(ipython: Any) -> Any:
    """The running Session of a shell (tests, tools), or None."""
    installation = _installations.get(id(ipython))
    return installation.session if installation is not None else None


def _jupyter_labextension_paths() -> list[dict[str, str]]:
    from .server import _jupyter_labextension_paths as paths

    return paths()


def _jupyter_server_extension_points() -> list[dict[str, str]]:
    from .server import _jupyter_server_extension_points as points

    return points()
