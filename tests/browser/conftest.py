"""A real JupyterLab server and a headless Debian chromium for the panel's browser tests.

Each test module gets its own ``jupyter lab`` on 127.0.0.1 with fresh root,
settings, workspaces and config directories, and ``COLLAB_REUSE_STORE``
pointed at a fresh store, so no state leaks in from the machine or between
runs (a reused workspace would reopen the last notebook and hide the launcher).
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "test-artifacts"
EXTENSION_NAME = "collab-reuse-panel"


@dataclass
class Lab:
    url: str
    token: str
    root: Path
    store: Path
    log: Path

    def lab_url(self, path: str = "lab") -> str:
        return f"{self.url}{path}?token={self.token}"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _installed_labextension() -> bool:
    from jupyter_core.paths import jupyter_path

    return any((Path(p) / EXTENSION_NAME / "package.json").exists() for p in jupyter_path("labextensions"))


def _write_json(path: Path, data: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data))


@pytest.fixture(scope="session")
def chromium_path() -> Path:
    if not CHROMIUM.exists():
        pytest.skip("Debian's chromium is not installed at /usr/bin/chromium (scripts/install-browser.sh installs it)")
    try:
        import playwright  # noqa: F401
    except ImportError:
        pytest.skip("playwright (Python) is not installed: pip install -e '.[test]'")
    return CHROMIUM


@pytest.fixture(scope="module")
def lab(chromium_path, tmp_path_factory) -> Lab:
    """A running JupyterLab with the collab_reuse server extension and panel."""
    built = REPO / "collab_reuse" / "labextension" / "package.json"
    installed = _installed_labextension()
    if not installed and not built.exists():
        pytest.skip("the panel is not built: `pip install -e .` builds it (or `jlpm build:prod` in labextension/)")

    base = tmp_path_factory.mktemp("lab")
    root, settings, workspaces, config, store = (base / n for n in ("root", "settings", "workspaces", "config", "store"))
    for d in (root, settings, workspaces, config):
        d.mkdir()
    # No news/update pop-ups in the screenshots, no network lookups.
    _write_json(settings / "@jupyterlab" / "apputils-extension" / "notification.jupyterlab-settings",
                {"fetchNews": "false", "checkForUpdates": False})
    # The server extension, as the installed jupyter-config file enables it (harmless if both do).
    _write_json(config / "jupyter_server_config.json",
                json.loads((REPO / "jupyter-config" / "server-config" / "collab_reuse.json").read_text()))

    args = []
    if not installed:
        # Running from a source tree without `pip install`: serve the built panel from here.
        extra = base / "labextensions"
        extra.mkdir()
        (extra / EXTENSION_NAME).symlink_to(built.parent, target_is_directory=True)
        args.append(f"--LabApp.extra_labextensions_path={extra}")

    port, token = _free_port(), secrets.token_hex(16)
    env = {
        **os.environ,
        "COLLAB_REUSE_STORE": str(store),
        "JUPYTER_CONFIG_DIR": str(config),
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
    }
    log_path = base / "lab.log"
    log = log_path.open("w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "jupyterlab", "--no-browser", "--allow-root", "--ip=127.0.0.1", f"--port={port}",
         f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root}",
         f"--LabApp.user_settings_dir={settings}", f"--LabApp.workspaces_dir={workspaces}",
         "--LabApp.news_url=", "--ServerApp.port_retries=0", *args],
        cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                pytest.fail(f"jupyter lab exited with {proc.returncode}:\n{log_path.read_text()[-3000:]}")
            try:
                with urllib.request.urlopen(f"{url}api/status?token={token}", timeout=2):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    pytest.fail(f"jupyter lab did not answer in 60 s:\n{log_path.read_text()[-3000:]}")
                time.sleep(0.2)
        yield Lab(url=url, token=token, root=root, store=store, log=log_path)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
        ARTIFACTS.mkdir(exist_ok=True)
        shutil.copy(log_path, ARTIFACTS / "lab.log")


@pytest.fixture(scope="module")
def browser(chromium_path):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(chromium_path), headless=True, args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1440, "height": 900})
    page = context.new_page()
    page.set_default_timeout(30_000)
    # The panel logs "collab-reuse: ..." when a refresh fails; tests check none did.
    page.console_problems = []  # type: ignore[attr-defined]
    page.on("console", lambda msg: msg.type in ("error", "warning")
            and page.console_problems.append(msg.text))  # type: ignore[attr-defined]
    page.on("pageerror", lambda exc: page.console_problems.append(str(exc)))  # type: ignore[attr-defined]
    try:
        yield page
    finally:
        context.close()
