"""Two team members on one team store with the servers' default umask (022, root's, which the hub
passes on): alice, then bob, then alice again. Before issue 17's permission model, bob's kernel could
not write the graph alice created (SQLite's files 0644 whatever the umask) and left -wal/-shm files that
broke alice's next run; the code now sets the modes itself. What each kernel got from the store is
written to test-artifacts/hub-store-observations-test_store_modes_today.txt; asserted: every run shows
what the plain run shows, and every kernel used the store (none stopped).
"""

from __future__ import annotations

import pytest

from hub_notebook import extension_load_failures, notebook_cells, reuse_status, run_as, store_listing
from hub_session import ALICE, ARTIFACTS, BOB, running_hub

pytestmark = [pytest.mark.hub, pytest.mark.timeout(900)]


@pytest.fixture(scope="module")
def hub(hub_base, hub_users, hub_env):
    """This module's hub: the servers keep the hub's umask 022."""
    with running_hub("test_store_modes_today", base=hub_base, users=hub_users, env_dir=hub_env, umask=0o022) as running:
        yield running


def test_alice_bob_then_alice_again_on_one_store(hub, store_dir, sales_csv, plain):
    cells = notebook_cells(sales_csv)
    for user in (ALICE, BOB):
        hub.start_server(user)
    observations, failures = [], []
    for step, user in enumerate((ALICE, BOB, ALICE)):
        runs, check = run_as(hub, user, cells, label=f"{user}_{step}_umask022")
        observations.append(f"== run {step + 1}, {user}: CHECK found {check}; %reuse status in a new kernel:\n"
                            f"{reuse_status(hub, user)}\n-- store files:\n{store_listing(store_dir)}\n")
        if runs != plain:
            failures.append(f"run {step + 1} ({user}) differs from the plain run: {runs}")
        if not check.active:
            failures.append(f"run {step + 1} ({user}) did not use the store: {check}")
    observations.append("== collab_reuse failed to load in (from the hub's log):\n"
                        + "\n".join(extension_load_failures(hub.log)))
    (ARTIFACTS / "hub-store-observations-test_store_modes_today.txt").write_text("\n".join(observations))
    assert not failures
