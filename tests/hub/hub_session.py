"""What the hub tests of one session share: the test accounts, the team's store, running a hub for
them, where artifacts go, the timings."""

from __future__ import annotations

import fcntl
import grp
import json
import os
import shutil
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import unix_users
from hub_driver import Hub, HubSetup, start_hub

from collab_reuse.kernel.handoff import wait_for_writers

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "test-artifacts"

TEAM_GROUP = "crteam"
ALICE, BOB, CAROL = "cr_alice", "cr_bob", "cr_carol"
TEAM = (ALICE, BOB)
OUTSIDERS = (CAROL,)

#: the umask of the servers of the default ``hub`` fixture: with the store's setgid group directory,
#: what an administrator sets up today for a team share (Debian's user-private-group convention), so
#: that a file one member creates is writable by the others
TEAM_UMASK = 0o002

#: held while the test accounts exist: two checkouts running the hub tests on one machine take turns
#: (their accounts have the same names); released by the kernel when a run dies
ACCOUNTS_LOCK = Path("/run/lock/collab-reuse-hub-tests.lock")

#: seconds the harness's steps took in this session (test-artifacts/hub-timings.json)
TIMINGS: dict[str, float] = {}


def team_store(where: Path) -> Path:
    """A store directory for the team: root:crteam 2770 (setgid: files made in it stay in the group;
    nobody outside the group can enter it)."""
    store = where / "store"
    store.mkdir(parents=True)
    os.chown(store, 0, grp.getgrnam(TEAM_GROUP).gr_gid)
    os.chmod(store, 0o2770)
    return store


@contextmanager
def running_hub(name: str, *, base: Path, users: dict[str, unix_users.UnixUser], env_dir: Path,
                umask: int | None) -> Iterator[Hub]:
    """A hub whose users are the test accounts, every kernel given a fresh team store (``base/name/store``).

    At the end, also after a failure: the hub stops (and with it the proxy, the servers and their
    kernels), whatever still runs as a test user is ended -- and reported as a failure, since the
    hub should have stopped it -- and the hub's log is kept in test-artifacts/jupyterhub-<name>.log.
    """
    where = base / name
    setup = HubSetup(env_dir=env_dir, proxy=env_dir.parent / "proxy-5" / "node_modules" / ".bin" / "configurable-http-proxy",
                     state=where / "state", users=list(users), umask=umask,
                     environment={"COLLAB_REUSE_STORE": str(team_store(where))})
    started = time.monotonic()
    hub = start_hub(setup)
    TIMINGS[f"hub_start_seconds_{name}"] = time.monotonic() - started
    try:
        yield hub
    finally:
        try:
            hub.shutdown()
            # a kernel's exit writer stores what it had pending after the kernel exits, by design: it is
            # not a leftover; wait for it (bounded) before looking for processes the hub left behind
            wait_for_writers(Path(setup.environment["COLLAB_REUSE_STORE"]), timeout=120)
            # and for whatever else a stopping kernel leaves to finish by itself (its encoding child)
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline and any(unix_users.processes_of(a.uid) for a in users.values()):
                time.sleep(0.5)
        finally:
            leftovers = {user: unix_users.end_processes(account.uid) for user, account in users.items()}
            ARTIFACTS.mkdir(exist_ok=True)
            shutil.copy(hub.log, ARTIFACTS / f"jupyterhub-{name}.log")
            (ARTIFACTS / "hub-timings.json").write_text(json.dumps(TIMINGS, indent=1))
        left = {user: pids for user, pids in leftovers.items() if pids}
        assert not left, f"processes of test users outlived the hub (ended now): {left}"


@contextmanager
def accounts_lock(timeout: float = 600) -> Iterator[None]:
    """Wait (up to ``timeout`` seconds) until no other test run on this machine uses the test accounts."""
    with ACCOUNTS_LOCK.open("a") as handle:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"another run has held {ACCOUNTS_LOCK} for {timeout:.0f} s") from None
                time.sleep(1)
        TIMINGS["accounts_lock_wait_seconds"] = timeout - (deadline - time.monotonic())
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
