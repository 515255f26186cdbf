"""Fixtures of the JupyterHub tests: real Unix users, the single-user environment, a running hub.

The users and the environment are made once per test session, a hub once per test module; each is
removed at its end, also after a failure: the hub (which stops its proxy, the users' servers and
their kernels), then whatever still runs as a test user, then the users, their homes and the group.
Needs root (useradd, and a hub that spawns servers as other users); without it the tests are
skipped, saying so (under CI=true they fail instead). Two checkouts running these tests on one
machine take turns (hub_session.accounts_lock): the accounts have fixed names.

Run: ``PYTHONPATH=$PWD .venv/bin/python -m pytest -q tests/hub`` (the first run builds the
single-user environment, scripts/hub-env.sh; timings are printed at the end and written to
test-artifacts/hub-timings.json, the hubs' logs and the store observations beside them).

Layout of one session (``base``, world-traversable, under /tmp):
  <module>/state/   a hub's configuration, database, cookie secret and log (root only, 0700)
  <module>/store/   COLLAB_REUSE_STORE of every kernel of that hub: root:crteam 2770 -- what an
                    administrator gives a team today (the team writes, the group sticks, others see
                    nothing)
  data/             the notebooks' input files, world-readable
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Iterator

import numpy as np
import pandas as pd
import pytest

import unix_users
from hub_driver import Hub, Server
from hub_notebook import notebook_cells
from hub_session import ARTIFACTS, OUTSIDERS, REPO, TEAM, TEAM_GROUP, TEAM_UMASK, TIMINGS, accounts_lock, running_hub


def _needs_root() -> None:
    if os.geteuid() != 0:
        if os.environ.get("CI") == "true":
            pytest.fail("CI runs as root, and the hub tests must run there; this run is not root")
        pytest.skip("the hub tests create Unix users and spawn servers as them: run as root (CI does)")
    missing = [tool for tool in ("useradd", "userdel", "groupadd", "groupdel", "npm") if shutil.which(tool) is None]
    if missing:
        pytest.fail(f"running as root, but {', '.join(missing)} missing: the hub tests cannot run")


@pytest.fixture(scope="session")
def hub_base():
    """A fresh session directory, readable by the test users (tempfile makes it 0700)."""
    _needs_root()
    base = Path(tempfile.mkdtemp(prefix="collab-reuse-hub-"))
    os.chmod(base, 0o755)
    try:
        yield base
    finally:
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="session")
def hub_users() -> dict[str, unix_users.UnixUser]:
    """cr_alice and cr_bob in group crteam, cr_carol outside it: real accounts with homes, removed at the end."""
    _needs_root()
    with accounts_lock():
        users = unix_users.create_accounts(TEAM_GROUP, TEAM, OUTSIDERS)
        try:
            yield users
        finally:
            unix_users.remove_accounts(TEAM_GROUP, TEAM + OUTSIDERS)


@pytest.fixture(scope="session")
def hub_env() -> Path:
    """The single-user environment (scripts/hub-env.sh builds it, or finds it cached)."""
    _needs_root()
    ARTIFACTS.mkdir(exist_ok=True)
    log = ARTIFACTS / "hub-env.log"
    started = time.monotonic()
    with log.open("w") as err:
        done = subprocess.run(["bash", str(REPO / "scripts" / "hub-env.sh"), str(REPO)], stdout=subprocess.PIPE,
                              stderr=err, text=True)
    TIMINGS["env_seconds"] = time.monotonic() - started
    if done.returncode != 0:
        pytest.fail(f"scripts/hub-env.sh exited with {done.returncode}:\n{log.read_text()[-3000:]}")
    TIMINGS["env_cached"] = float("cached:" in log.read_text())
    return Path(done.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def hub(request, hub_base, hub_users, hub_env) -> Iterator[Hub]:
    """A running JupyterHub (one per test module), the team's servers started with TEAM_UMASK."""
    with running_hub(request.module.__name__.rsplit(".", 1)[-1], base=hub_base, users=hub_users, env_dir=hub_env,
                     umask=TEAM_UMASK) as running:
        yield running


@pytest.fixture(scope="module")
def store_dir(hub) -> Path:
    """The store every kernel of ``hub`` is given."""
    return Path(hub.setup.environment["COLLAB_REUSE_STORE"])


@pytest.fixture(scope="module")
def servers(hub, hub_users) -> dict[str, Server]:
    """Every test user's server, started through the hub's REST API (one after another, each timed)."""
    started = {}
    for name in hub_users:
        t0 = time.monotonic()
        started[name] = hub.start_server(name)
        TIMINGS[f"spawn_seconds_{name}"] = time.monotonic() - t0
    return started


@pytest.fixture(scope="session")
def data_dir(hub_base) -> Path:
    """World-readable input files of the notebooks."""
    data = hub_base / "data"
    data.mkdir()
    os.chmod(data, 0o755)
    return data


@pytest.fixture(scope="session")
def sales_csv(data_dir) -> Path:
    """The notebook's input: a generated sales table, world-readable."""
    rng = np.random.default_rng(17)
    n = 5000
    frame = pd.DataFrame({
        "region": rng.choice(["north", "south", "east", "west"], n),
        "units": rng.integers(1, 50, n),
        "price": rng.normal(20, 5, n).round(2),
    })
    frame["returned"] = (rng.random(n) < 0.1 + 0.004 * frame["units"]).astype(int)
    path = data_dir / "sales.csv"
    frame.to_csv(path, index=False)
    os.chmod(path, 0o644)
    return path


@pytest.fixture(scope="session")
def plain(hub_env, hub_base, sales_csv) -> list[dict]:
    """The notebook's plain run (tests/hub/plain_run.py): a kernel of the hub's environment, as root,
    without collab_reuse; per cell {"execution_count", "outputs"} as run_as returns them."""
    cells_file = hub_base / "cells.json"
    cells_file.write_text(json.dumps(notebook_cells(sales_csv)))
    started = time.monotonic()
    done = subprocess.run([str(hub_env / "bin" / "python"), str(Path(__file__).with_name("plain_run.py")),
                           str(cells_file), str(hub_base / "plain")], capture_output=True, text=True, timeout=300,
                          cwd=hub_base)
    TIMINGS["plain_reference_seconds"] = time.monotonic() - started
    if done.returncode != 0:
        pytest.fail(f"the plain reference run failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout)


def pytest_terminal_summary(terminalreporter):
    if TIMINGS:
        terminalreporter.write_sep("-", "hub harness timings (s)")
        for key, value in TIMINGS.items():
            terminalreporter.write_line(f"{key}: {value:.2f}")
