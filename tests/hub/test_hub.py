"""A real JupyterHub with real Unix users: the foundation of issue 17's end-to-end test.

The hub runs as root on 127.0.0.1 and spawns each user's server as that user (LocalProcessSpawner);
every kernel loads collab_reuse by the environment's configuration and is given the team's store
through ``Spawner.environment``; the team's servers run with umask 002 in the store's setgid group
directory (tests/hub/conftest.py). A notebook-like list of cells runs in alice's kernel, then in
bob's (same team, same store), then in carol's (outside the team: she cannot enter the store), and
each shows what a plain run of the same cells shows.

The team store's permission model (README "Team hub"): bob reuses alice's artifacts, his planted
ones never reach her, each user's panel REST API shows that user's kernels only, carol is told once
and runs plainly. What the store looks like after each run is written to
test-artifacts/hub-store-observations-test_hub.txt.
"""

from __future__ import annotations

import json
import os
import sqlite3
import statistics
import time
from pathlib import Path

import pytest

import unix_users
from hub_notebook import KernelCheck, extension_load_failures, notebook_cells, reuse_status, run_as, store_listing
from hub_session import ALICE, ARTIFACTS, BOB, CAROL, TIMINGS

from collab_reuse.kernel.handoff import wait_for_writers
from collab_reuse.kernel.session import WARNING

pytestmark = [pytest.mark.hub, pytest.mark.timeout(900)]


@pytest.fixture(scope="module")
def team_runs(hub, servers, sales_csv, store_dir) -> dict[str, tuple[list[dict], KernelCheck]]:
    """The notebook run by alice, then bob, then carol, each in a new kernel; what each store state
    looked like is written down on the way."""
    cells = notebook_cells(sales_csv)
    observations, results = [], {}
    for user in (ALICE, BOB, CAROL):
        results[user] = run_as(hub, user, cells)
        observations.append(f"== after {user}'s run; CHECK found {results[user][1]}; %reuse status in a new "
                            f"kernel:\n{reuse_status(hub, user)}\n-- store files:\n{store_listing(store_dir)}\n")
    observations.append("== collab_reuse failed to load in (from the hub's log):\n"
                        + "\n".join(extension_load_failures(hub.log)))
    (ARTIFACTS / "hub-store-observations-test_hub.txt").write_text("\n".join(observations))
    return results


def test_servers_run_as_their_users(hub, servers, hub_users):
    """Each user's server process belongs to that user: the default spawner, not one shared account."""
    assert unix_users.process_uid(hub.process.pid) == 0
    for name, server in servers.items():
        assert unix_users.process_uid(server.pid) == hub_users[name].uid, name
        cmdline = Path(f"/proc/{server.pid}/cmdline").read_bytes().split(b"\0")
        assert any(part.endswith(b"jupyterhub-singleuser") for part in cmdline), cmdline
        assert server.url == hub.server_url(name)


def test_a_user_reaches_only_their_own_server(hub, servers):
    """JupyterHub's access rule, true today: a user's token opens that user's server (and the
    extension's REST API in it); another user's token gets 403."""
    status, summary = hub.user_request(ALICE, "GET", "collab-reuse/summary")
    assert status == 200 and "store_dir" in summary, summary
    for path in ("collab-reuse/summary", "api/kernels"):
        status, reply = hub.user_request(ALICE, "GET", path, as_user=BOB)
        assert status == 403, (path, status, reply)


def test_a_cell_round_trip(hub, servers):
    """A trivial cell's round trip through the proxy, the server and the kernel (timed)."""
    kernel = hub.start_kernel(ALICE)
    try:
        started = time.monotonic()
        first = hub.run_cells(ALICE, ["1 + 1"], kernel_id=kernel)[0]
        TIMINGS["first_cell_seconds"] = time.monotonic() - started  # kernel start and extension load included
        runs = hub.run_cells(ALICE, [f"{i} + 1" for i in range(10)], kernel_id=kernel)
    finally:
        hub.shutdown_kernel(ALICE, kernel)
    TIMINGS["cell_round_trip_seconds_median"] = statistics.median(r.seconds for r in runs)
    assert first.outputs == [{"output_type": "execute_result", "data": {"text/plain": "2"}, "metadata": {},
                              "execution_count": 1}]
    assert [r.outputs[0]["data"]["text/plain"] for r in runs] == [str(i + 1) for i in range(10)]
    assert [r.execution_count for r in runs] == list(range(2, 12))


def test_alice_runs_the_notebook_with_reuse_on(team_runs, plain):
    """The first user of a fresh store: her kernel runs as her, collab_reuse loaded and active, and
    shows what the plain run shows."""
    runs, check = team_runs[ALICE]
    assert check == KernelCheck(user=ALICE, loaded=True, failure=None)
    assert runs == plain


def test_bob_runs_the_notebook_with_the_extension_loaded(team_runs, plain):
    """Bob, second in the same store: his kernel runs as him with collab_reuse loaded (by the
    configuration, no %load_ext) and shows what the plain run shows."""
    runs, check = team_runs[BOB]
    assert (check.user, check.loaded) == (BOB, True), check
    assert runs == plain


def test_bob_uses_the_team_store(hub, team_runs, plain):
    """The permission model makes the team store work for a second member: bob's kernel reuses what
    alice's stored, through the store she filled (seen through bob's own panel REST API), and shows
    exactly what the plain run shows."""
    runs, check = team_runs[BOB]
    assert check.active, check.failure
    assert runs == plain
    status, page = hub.user_request(BOB, "GET", "collab-reuse/events")
    assert status == 200, page
    assert page["items"] and {e["user"] for e in page["items"]} == {BOB}, "bob's panel shows bob's kernels only"
    reused = [s for e in page["items"] for s in e["steps"] if s["status"] == "reused"]
    assert reused, [(s["op"], s["status"]) for e in page["items"] for s in e["steps"]]
    # The store's per-user figures (bob's panel, the summary endpoint): bob saved time by alice's artifacts.
    status, summary = hub.user_request(BOB, "GET", "collab-reuse/summary")
    assert status == 200, summary
    figures = {f["user"]: f for f in summary["per_user"]}
    by_alice = [s for s in figures[BOB]["saved_by"] if s["writer"] == ALICE]
    assert by_alice and by_alice[0]["loads"] >= 1 and by_alice[0]["saved_seconds"] > 0, figures
    assert figures[ALICE]["artifacts_stored"] >= 1 and figures[ALICE]["saved_others_seconds"] > 0, figures


def test_alice_sees_only_her_own_reports(hub, team_runs):
    status, page = hub.user_request(ALICE, "GET", "collab-reuse/events")
    assert status == 200 and page["items"], page
    assert {e["user"] for e in page["items"]} == {ALICE}


BOB_READS_THE_STORE = """%%noreuse
import json, sqlite3
seen = {{}}
with sqlite3.connect("file:{graph}?mode=ro", uri=True) as db:
    seen["graph tables"] = sorted(n for (n,) in db.execute("SELECT name FROM sqlite_master WHERE type='table'"))
try:
    with sqlite3.connect("file:{journal}?mode=ro", uri=True) as db:
        seen["alice's journal"] = db.execute("SELECT COUNT(*) FROM events").fetchall()
except sqlite3.Error as exc:
    seen["alice's journal"] = type(exc).__name__
print(json.dumps(seen))
"""


def test_bob_can_read_none_of_alices_reports_from_the_store_files(hub, team_runs, store_dir, hub_users):
    """Issue 17's fifth check, below the REST API: alice's cell reports and call summaries (her code's
    parameters, the paths she read) are in her journal, which bob's kernel can't open; the graph bob
    can read holds none."""
    journal = store_dir / "journals" / str(hub_users[ALICE].uid) / "journal.sqlite"
    with sqlite3.connect(f"file:{journal}?mode=ro", uri=True) as db:  # (root reads it: alice's reports are there)
        assert db.execute("SELECT COUNT(*) FROM events WHERE user=?", (ALICE,)).fetchone()[0] > 0
    [reach] = hub.run_cells(BOB, [BOB_READS_THE_STORE.format(graph=store_dir / "graph.sqlite", journal=journal)])
    seen = json.loads("".join(o.get("text", "") for o in reach.outputs))
    assert seen["alice's journal"] == "OperationalError", seen
    assert not {"events", "places"} & set(seen["graph tables"]), seen


FORGE = """%%noreuse
import json, os, pwd
import numpy as np
import collab_reuse
from collab_reuse.store import Writer
s = collab_reuse.session_of(get_ipython())
alice = pwd.getpwnam({alice!r})
ids = sorted(s.graph.materialized_ids())
s.store.writer = Writer(alice.pw_uid, alice.pw_name)   # claims to be alice ...
for aid in ids:                                         # ... for each of the store's artifacts, in bob's namespace
    s.store.put(aid, s.store.encode(np.full(3, 666)))
tried = {{}}
ns = s.store_dir / "users" / str(alice.pw_uid)
for what, attempt in (("create", lambda: open(ns / "planted", "wb")),
                      ("database", lambda: os.open(ns / "000" / "cache.db", os.O_RDWR)),
                      ("rename", lambda: os.rename(ns, s.store_dir / "users" / "elsewhere"))):
    try:
        attempt()
        tried[what] = "done"
    except OSError as exc:
        tried[what] = type(exc).__name__
print(json.dumps({{"forged": len(ids), "tried": tried}}))
"""


def test_bobs_planted_artifacts_are_never_served_to_alice(hub, team_runs, sales_csv, plain):
    """Bob writes, in his own namespace, a manifest claiming alice's authorship for every stored
    artifact id, and tries to write into alice's namespace (the modes refuse it); alice's next run
    reuses her own artifacts and shows exactly what the plain run shows."""
    [forgery] = hub.run_cells(BOB, [FORGE.format(alice=ALICE)])
    assert forgery.status == "ok", forgery.outputs
    found = json.loads("".join(o.get("text", "") for o in forgery.outputs))
    assert found["forged"] > 0 and all(v != "done" for v in found["tried"].values()), found
    runs, check = run_as(hub, ALICE, notebook_cells(sales_csv), label="alice_after_forgery")
    assert check.active, check.failure
    assert runs == plain
    status, page = hub.user_request(ALICE, "GET", "collab-reuse/events")
    last_kernel = page["items"][-1]["kernel_id"]
    steps = [s for e in page["items"] if e["kernel_id"] == last_kernel for s in e["steps"]]
    assert any(s["status"] == "reused" for s in steps), [(s["op"], s["status"]) for s in steps]


def test_carol_outside_the_team_runs_the_notebook(team_runs, plain):
    """Carol cannot enter the team's store; her kernel runs as her, plainly, and she is told once
    why (the one warning collab_reuse may add), otherwise showing what the plain run shows."""
    runs, check = team_runs[CAROL]
    assert check.user == CAROL and check.loaded and check.failure and f"{CAROL} may not use the store" in check.failure
    warnings = [(i, o) for i, cell in enumerate(runs) for o in cell["outputs"]
                if o["output_type"] == "stream" and "collab_reuse stopped reusing" in (o.get("text") or "")]
    assert len(warnings) == 1, warnings
    index, warning = warnings[0]
    assert warning["text"].strip() == WARNING.format(reason=check.failure)
    without = [dict(cell, outputs=[o for o in cell["outputs"] if o is not warning]) for cell in runs]
    assert without == plain


BOB_REACHES_FOR = """%%noreuse
import json, os
import collab_reuse
s = collab_reuse.session_of(get_ipython())
tried = {{}}
for aid in {ids!r}:
    try:
        s.store.get(aid)
        tried[aid] = "served"
    except KeyError:
        tried[aid] = "absent"
    except Exception as exc:
        tried[aid] = type(exc).__name__
try:
    os.listdir({private!r})
    tried["private dir"] = "listed"
except OSError as exc:
    tried["private dir"] = type(exc).__name__
print(json.dumps(tried))
"""


def _confidential_rows(store_dir: Path, timeout: float = 60) -> list[tuple[str, int]]:
    """The graph's confidential artifacts, once the exiting kernel's writes are done (all of them: the
    first rows may come while its exit writer still writes the others, which run at a low priority)."""
    wait_for_writers(store_dir, max(timeout, 1) * 5)
    deadline = time.monotonic() + timeout
    while True:
        with sqlite3.connect(f"file:{store_dir / 'graph.sqlite'}?mode=ro", uri=True) as db:
            rows = db.execute("SELECT c.artifact_id, c.uid FROM confidential c JOIN artifacts a ON a.id=c.artifact_id "
                              "WHERE a.state=2").fetchall()
        if rows or time.monotonic() > deadline:
            return rows
        time.sleep(1)


def test_what_alice_derives_from_a_file_only_she_can_read_never_reaches_bob(hub, team_runs, data_dir, store_dir,
                                                                            hub_users, plain):
    """Issue 17's second check: alice runs the notebook on a copy of its data that only she can read.
    Her outputs are the plain run's; what her kernel stores goes to her confidential namespace (mode
    0700); the graph names no such file. Bob's run of the same cells fails as a plain run of his would
    (he can't read the file), his kernel is given none of those artifacts, and he can't list their
    files."""
    secret = data_dir / "alice-only.csv"
    secret.write_bytes((data_dir / "sales.csv").read_bytes())
    os.chown(secret, hub_users[ALICE].uid, hub_users[ALICE].gid)
    secret.chmod(0o600)
    cells = notebook_cells(secret)
    runs, check = run_as(hub, ALICE, cells, label="alice_confidential")
    assert check.active, check.failure
    assert runs == plain
    rows = _confidential_rows(store_dir)
    assert rows and {uid for _, uid in rows} == {hub_users[ALICE].uid}, rows
    private = store_dir / "private" / str(hub_users[ALICE].uid)
    st = private.lstat()
    assert (st.st_mode & 0o7777, st.st_uid) == (0o700, hub_users[ALICE].uid)
    with sqlite3.connect(f"file:{store_dir / 'graph.sqlite'}?mode=ro", uri=True) as db:
        named = [key for (key,) in db.execute("SELECT stat_key FROM files")]
    assert not any("alice-only" in key for key in named), named

    bob_runs, bob_check = run_as(hub, BOB, cells, label="bob_confidential")
    assert bob_check.active, bob_check.failure
    errors = [o["ename"] for cell in bob_runs for o in cell["outputs"] if o["output_type"] == "error"]
    assert errors == ["PermissionError", "NameError", "NameError", "NameError"], bob_runs
    [reach] = hub.run_cells(BOB, [BOB_REACHES_FOR.format(ids=[aid for aid, _ in rows], private=str(private))])
    tried = json.loads("".join(o.get("text", "") for o in reach.outputs))
    assert tried.pop("private dir") == "PermissionError"
    assert set(tried.values()) == {"absent"}, tried
    assert _confidential_rows(store_dir, timeout=0) == rows, "bob's kernel forgot none of alice's artifacts"


def _store_settings(store_dir: Path) -> tuple:
    with sqlite3.connect(f"file:{store_dir / 'graph.sqlite'}?mode=ro", uri=True) as db:
        meta = dict(db.execute("SELECT key, value FROM meta WHERE key IN ('budget', 'quota')").fetchall())
        stored = sorted(aid for (aid,) in db.execute("SELECT id FROM artifacts WHERE state=2"))
    return meta, stored


def test_bob_who_is_no_admin_cannot_change_the_budget_quota_or_clear_the_store(hub, team_runs, store_dir):
    """Issue 17's fifth check, through bob's own kernel on the hub: store-wide settings are the store's
    admins' (this store names none); each attempt is refused with a message and nothing changes."""
    before = _store_settings(store_dir)
    assert before[1], "the team's runs stored artifacts"
    runs = hub.run_cells(BOB, ["%reuse budget 1KB", "%reuse clear --yes", "%reuse quota 10%"])
    for run in runs:
        said = "".join(str(o.get("text", "")) + str(o.get("evalue", "")) for o in run.outputs)
        assert "only the admins of the store" in said and "Nothing changed" in said, run.outputs
    assert _store_settings(store_dir) == before
