"""A team store's permission model with real Unix users (issue 17): two members of a team group and
one outsider, each acting in their own process (root's permission override would hide what they
see), on a store made as an administrator makes it (``collab-reuse team-store``).

What must hold: every member's kernel opens the store whatever their umask (shared files get the
team's modes from the code, including SQLite's -wal/-shm); a member reads another's artifacts; a
member can write nothing in another's namespace; a manifest planted in one's own namespace that
claims another member's authorship is never served as theirs; an outsider is refused, with a
reason; only admins change store-wide settings.
"""

from __future__ import annotations

import grp
import json
import os
import pwd
import shutil
import stat
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

import pytest

from collab_reuse import team as teams

REPO = Path(__file__).resolve().parents[2]
USER_PYTHON = "/usr/bin/python3"
SITE_PACKAGES = Path(sys.prefix) / "lib" / f"python{sys.version_info[0]}.{sys.version_info[1]}" / "site-packages"

PRELUDE = """
import json, os, stat, sys
sys.argv[1:] and os.umask(int(sys.argv[1], 8))
from pathlib import Path
import numpy as np
from collab_reuse.config import CollabReuse
from collab_reuse.errors import CorruptArtifact
from collab_reuse.kernel.session import Session
from collab_reuse.store import Writer
STORE = Path(os.environ["STORE"])

def opened():
    s = Session(CollabReuse(store=str(STORE)), kernel_id="k-" + os.environ["USER_NAME"])
    return s

def modes(*names):
    out = {}
    for name in names:
        p = STORE / name
        if os.path.lexists(p):
            st = os.lstat(p)
            out[name] = [oct(st.st_mode & 0o7777), st.st_gid]
    return out

def read(s, aid):
    try:
        value, _, _ = s.store.get(aid)
        return value.tolist()
    except KeyError:
        return "absent"
    except CorruptArtifact as exc:
        return "refused: " + str(exc)
"""


@pytest.fixture(scope="module")
def team():
    """Group crt<hex> with members a and b, outsider c: real accounts, removed afterwards.
    Yields {"group": name, "a": name, "b": name, "c": name, "base": dir}."""
    if os.geteuid() != 0 or shutil.which("useradd") is None:
        pytest.skip("needs root and useradd to act as other users")
    tag = uuid.uuid4().hex[:6]
    group = f"crt{tag}"
    names = {"a": f"cra{tag}", "b": f"crb{tag}", "c": f"crc{tag}"}
    base = Path(tempfile.mkdtemp(prefix=f"{group}-"))
    base.chmod(0o755)
    subprocess.run(["groupadd", group], check=True)
    made = []
    try:
        for key, name in names.items():
            extra = ["-G", group] if key in ("a", "b") else []
            subprocess.run(["useradd", "--no-create-home", "--home-dir", str(base / name), "--shell", "/bin/sh",
                            *extra, name], check=True)
            made.append(name)
            (base / name).mkdir()
            shutil.chown(base / name, name, name)
        yield {"group": group, "base": base, **names}
    finally:
        for name in made:
            subprocess.run(["userdel", name], capture_output=True)
        subprocess.run(["groupdel", group], capture_output=True)
        shutil.rmtree(base, ignore_errors=True)


def as_user(team: dict, who: str, store: Path, script: str, umask: str = "002",
            extra_env: dict[str, str] | None = None) -> dict:
    """Run PRELUDE + ``script`` as team[who]; the script prints one JSON line last."""
    name = team[who]
    home = team["base"] / name
    path = home / f"script-{uuid.uuid4().hex[:6]}.py"
    path.write_text(PRELUDE + script)
    shutil.chown(path, name, name)
    env = {"HOME": str(home), "PATH": "/usr/bin:/bin", "PYTHONPATH": f"{REPO}{os.pathsep}{SITE_PACKAGES}",
           "STORE": str(store), "USER_NAME": name, "JUPYTERHUB_USER": team["a"],  # (a claim: must be ignored)
           "JUPYTER_DATA_DIR": str(home / "data"), "IPYTHONDIR": str(home / "ipython"), **(extra_env or {})}
    done = subprocess.run(["runuser", "-u", name, "--", "env", "-i", *(f"{k}={v}" for k, v in env.items()),
                           USER_PYTHON, str(path), umask], capture_output=True, text=True, timeout=300, cwd=str(home))
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.fixture
def store(team, tmp_path):
    """A fresh team store as an administrator makes it: root:<group> 3770, admins file naming a."""
    where = team["base"] / f"store-{uuid.uuid4().hex[:6]}"
    teams.make_team_store(where, team["group"])
    (where / teams.ADMINS_FILE).write_text(f"# store admins\n{team['a']}\n")
    return where


WRITE_AND_DESCRIBE = """
s = opened()
assert s.failure is None, s.failure
s.store.put("op-1", s.store.encode(np.arange(5)))
s.graph.finish_write("op-1", {})
s.close()
print(json.dumps({"user": s.user, "admin": s.admin,
                  "modes": modes("graph.sqlite", "graph.sqlite-wal", "graph.sqlite-shm", "collab_reuse.log", "users",
                                 "users/" + str(os.getuid()), "writers", "writers/slots")}))
"""


@pytest.mark.parametrize("umask", ["002", "022", "077"])
def test_members_share_the_store_whatever_their_umask(team, store, umask):
    gid = grp.getgrnam(team["group"]).gr_gid
    first = as_user(team, "a", store, WRITE_AND_DESCRIBE, umask)
    assert first["user"] == team["a"] and first["admin"] is True
    for name in ("graph.sqlite", "collab_reuse.log"):
        assert first["modes"][name] == [oct(teams.SHARED_FILE_MODE), gid], (name, first["modes"])
    assert first["modes"]["users"] == [oct(teams.SHARED_DIR_MODE), gid]
    assert first["modes"]["writers/slots"] == [oct(teams.SHARED_DIR_MODE), gid]
    assert first["modes"][f"users/{pwd.getpwnam(team['a']).pw_uid}"] == [oct(teams.NAMESPACE_MODE), gid]

    second = as_user(team, "b", store, WRITE_AND_DESCRIBE + """
s = opened()
print(json.dumps({"alice's": read(s, "op-1"), "user": s.user, "failure": s.failure}))
""", umask)
    assert second == {"alice's": [0, 1, 2, 3, 4], "user": team["b"], "failure": None}, \
        "JUPYTERHUB_USER (set to a's name) is not who b is"
    again = as_user(team, "a", store, "s = opened()\nprint(json.dumps({'failure': s.failure}))", umask)
    assert again == {"failure": None}, "b's kernel left nothing that stops a's"
    uid_b = pwd.getpwnam(team["b"]).pw_uid
    for path in (store / "users" / str(uid_b)).rglob("*"):
        assert not path.lstat().st_mode & 0o022, f"{path} is writable by b's team: {stat.filemode(path.lstat().st_mode)}"


def test_a_member_cannot_write_another_members_namespace(team, store):
    as_user(team, "a", store, WRITE_AND_DESCRIBE)
    uid_a = pwd.getpwnam(team["a"]).pw_uid
    attempts = as_user(team, "b", store, f"""
from collab_reuse.store import DiskcacheBlobs
ns = STORE / "users" / "{uid_a}"
tried = {{}}
def attempt(what, fn):
    try:
        fn()
        tried[what] = "done"
    except Exception as exc:
        tried[what] = type(exc).__name__
attempt("create a file", lambda: (ns / "planted").write_bytes(b"x"))
attempt("write a shard's database", lambda: os.open(ns / "000" / "cache.db", os.O_RDWR))
attempt("create in a shard", lambda: (ns / "000" / "planted").write_bytes(b"x"))
attempt("rename the namespace", lambda: os.rename(ns, STORE / "users" / "gone"))
attempt("open it as a blob store", lambda: DiskcacheBlobs(ns, private_files=True).put_row("m:op-1", b"{{}}"))
for p in ns.rglob("*.val"):
    attempt("rewrite a value file", lambda: open(p, "r+b").write(b"x"))
print(json.dumps(tried))
""")
    assert attempts and all(outcome != "done" for outcome in attempts.values()), attempts


def test_a_planted_manifest_claiming_another_member_is_never_served_as_theirs(team, store):
    as_user(team, "a", store, WRITE_AND_DESCRIBE)
    uid_a = pwd.getpwnam(team["a"]).pw_uid
    as_user(team, "b", store, f"""
s = opened()
honest = s.store.encode(np.arange(3))
s.store.put("op-2", honest)                      # b's own result under an id: served to the team as b's
s.store.writer = Writer({uid_a}, {team['a']!r})   # a forged authorship claim ...
s.store.put("op-1", s.store.encode(np.full(5, 666)))  # ... for a's operation, in b's own namespace
s.store.put("op-3", s.store.encode(np.full(5, 666)))
s.close()
print("{{}}")
""")
    seen = as_user(team, "a", store, """
s = opened()
out = {"own": read(s, "op-1"), "b's honest": read(s, "op-2"), "forged": read(s, "op-3")}
s.store.blobs.own.delete("m:op-1")                # a's own manifest gone (evicted): b's claim is all there is
out["after eviction"] = read(s, "op-1")
print(json.dumps(out))
""")
    assert seen["own"] == [0, 1, 2, 3, 4]
    assert seen["b's honest"] == [0, 1, 2], "a team member's own artifacts are shared with the team"
    assert seen["forged"].startswith("refused:") and "claims to be" in seen["forged"], seen
    assert seen["after eviction"].startswith("refused:"), seen


RUN_CELLS = """
os.environ["COLLAB_REUSE_STORE"] = str(STORE)
import collab_reuse
from IPython.core.interactiveshell import InteractiveShell
ip = InteractiveShell.instance(history_length=0)
ip.history_manager.enabled = False
ip.run_line_magic("load_ext", "collab_reuse")
for cell in ["import numpy as np, pandas as pd\\n"
             "df = pd.DataFrame({'k': np.arange(300_000) % 97, 'v': np.arange(300_000) * 0.5})",
             "agg = df.groupby('k').agg(['mean', 'std', 'median', 'max'])\\ntotal = float(agg.sum().sum())"]:
    assert ip.run_cell(cell).error_in_exec is None
s = collab_reuse.session_of(ip)
report = s.last_report
assert s.flush(60)
summary = s.graph.summary()
ip.run_line_magic("unload_ext", "collab_reuse")
print(json.dumps({"failure": s.failure, "totals": report["totals"], "per_user": summary["per_user"]}))
"""


def test_time_saved_is_attributed_to_the_member_whose_artifacts_were_loaded(team, store):
    """a's kernel computes and stores; b's reuses it: the store says b saved that time by a's artifacts
    (the owner of the namespace the manifest came from, as the OS says), and that a stored them."""
    first = as_user(team, "a", store, RUN_CELLS)
    assert first["failure"] is None and first["totals"]["computed"] >= 1
    second = as_user(team, "b", store, RUN_CELLS)
    assert second["failure"] is None and second["totals"]["reused"] >= 1
    saved = second["totals"]["saved_seconds"]
    figures = {f["user"]: f for f in second["per_user"]}
    a, b = figures[team["a"]], figures[team["b"]]
    assert [(s["writer"], s["loads"] >= 1) for s in b["saved_by"]] == [(team["a"], True)], b
    assert b["saved_seconds"] == pytest.approx(saved) and b["saved_by"][0]["saved_seconds"] == pytest.approx(saved)
    assert a["saved_others_seconds"] == pytest.approx(saved) and a["saved_seconds"] == 0.0
    assert a["artifacts_stored"] >= 1 and a["bytes_stored"] > 0 and b["artifacts_stored"] == 0


def test_an_outsider_is_refused_with_a_reason(team, store):
    as_user(team, "a", store, WRITE_AND_DESCRIBE)
    seen = as_user(team, "c", store, "s = opened()\nprint(json.dumps({'failure': s.failure}))")
    assert seen["failure"] and f"{team['c']} may not use the store" in seen["failure"], seen


def test_only_admins_change_store_wide_settings(team, store):
    as_user(team, "a", store, WRITE_AND_DESCRIBE)
    script = """
from IPython.core.error import UsageError
from collab_reuse.kernel.magics import _admins_only
s = opened()
try:
    _admins_only(s, "set the budget")
    allowed = True
except UsageError as exc:
    allowed = str(exc)
print(json.dumps({"admin": s.admin, "allowed": allowed}))
"""
    assert as_user(team, "a", store, script) == {"admin": True, "allowed": True}
    refused = as_user(team, "b", store, script)
    assert refused["admin"] is False and "only the admins" in refused["allowed"] and "Nothing changed" in refused["allowed"]
    # an admins file the team could write (or b's own) names nobody
    (store / teams.ADMINS_FILE).chmod(0o664)
    assert as_user(team, "a", store, script)["admin"] is False


CONFIDENTIAL_WRITES = """
from collab_reuse.kernel import store_writes
s = opened()
assert s.failure is None, s.failure
seen = {"shared read": None}
s.file_digest(os.environ["SHARED_FILE"])
seen["shared read"] = s.confidential
s.file_digest(os.environ["SECRET_FILE"])
seen["secret read"] = s.confidential
from collab_reuse.graph import VertexUpdate
for aid, confidential in (("op-public", False), ("op-secret", True)):
    s.graph.record_cell([VertexUpdate(aid, "np.arange", "array", [], 1.0)], s.user, None)  # (a kernel's vertex first)
    store_writes._write(s.graph, s.store, store_writes.Offer(aid, s.store.encode(np.arange(4)), {}, confidential))
seen["held confidentially"] = {aid: s.store.confidential(aid) for aid in ("op-public", "op-secret")}
s.close()
private = STORE / "private" / str(os.getuid())
st = os.lstat(private)
seen["private dir"] = [oct(st.st_mode & 0o7777), st.st_uid == os.getuid()]
seen["files named"] = [k for (k,) in s.graph.query("SELECT stat_key FROM files")]
print(json.dumps(seen))
"""

BOB_LOOKS = """
from collab_reuse.fingerprint import FileFingerprints
s = opened()
secret, private = os.environ["SECRET_FILE"], STORE / "private" / os.environ["A_UID"]
seen = {"op-public": read(s, "op-public"), "op-secret": read(s, "op-secret")}
stored, _ = s.graph.stored_since(0, os.getuid())
seen["listed to b"] = sorted(stored)
try:
    os.listdir(private)
    seen["private dir"] = "listed"
except OSError as exc:
    seen["private dir"] = type(exc).__name__
try:
    FileFingerprints(lambda key: "a digest another user's kernel remembered").digest(secret)
    seen["digest of the secret"] = "given"
except OSError as exc:
    seen["digest of the secret"] = type(exc).__name__
try:
    s.load("op-secret")
except KeyError:
    seen["load"] = "absent"
s.close()
seen["still confidential"] = [r for r in s.graph.query("SELECT artifact_id FROM confidential")]
print(json.dumps(seen))
"""


def secret_and_shared(team: dict, name: str, secret_text: str, shared_text: str) -> dict[str, str]:
    """A file only a can read (in a's home, 0600) and one the team can read: the environment naming
    them (SECRET_FILE, SHARED_FILE)."""
    secret = team["base"] / team["a"] / f"secret.{name}"
    secret.write_text(secret_text)
    shutil.chown(secret, team["a"], team["a"])
    secret.chmod(0o600)
    shared = team["base"] / f"shared.{name}"
    shared.write_text(shared_text)
    shared.chmod(0o644)
    return {"SECRET_FILE": str(secret), "SHARED_FILE": str(shared)}


def test_what_a_kernel_derives_from_a_file_the_team_cannot_read_stays_its_users(team, store):
    """An artifact computed after a kernel read a file only its user can read goes to that user's
    confidential namespace (0700): another member's kernel neither lists it, nor reads it, nor can
    open its files, nor gets the secret file's digest from the store, nor forgets it as lost."""
    env = secret_and_shared(team, "csv", "a,b\n1,2\n", "a,b\n3,4\n")
    uid_a = pwd.getpwnam(team["a"]).pw_uid
    seen_a = as_user(team, "a", store, CONFIDENTIAL_WRITES, extra_env=env)
    assert seen_a["shared read"] is False and seen_a["secret read"] is True, seen_a
    assert seen_a["held confidentially"] == {"op-public": False, "op-secret": True}
    assert seen_a["private dir"] == [oct(teams.CONFIDENTIAL_MODE), True]
    assert seen_a["files named"] == [] or all("secret.csv" not in key for key in seen_a["files named"]), seen_a
    seen_b = as_user(team, "b", store, BOB_LOOKS, extra_env={**env, "A_UID": str(uid_a)})
    assert seen_b["op-public"] == [0, 1, 2, 3] and seen_b["op-secret"] == "absent", seen_b
    assert seen_b["listed to b"] == ["op-public"]
    assert seen_b["private dir"] == "PermissionError"
    assert seen_b["digest of the secret"] == "PermissionError"
    assert seen_b["load"] == "absent" and seen_b["still confidential"] == [["op-secret"]], seen_b


def test_a_member_who_cannot_load_anothers_artifact_leaves_it_stored(team, store):
    """b fails to load a's artifact (a's value file cut short): b's kernel computes instead and skips it
    for the session, but does not unmaterialize a's work for the team; a's own kernel, reading its own
    namespace, is the one that forgets it."""
    as_user(team, "a", store, """
from collab_reuse.kernel import store_writes
from collab_reuse.graph import VertexUpdate
s = opened()
s.graph.record_cell([VertexUpdate("op-big", "DataFrame.merge", "other", [], 5.0)], s.user, None)
store_writes._write(s.graph, s.store, store_writes.Offer("op-big", s.store.encode(np.arange(200_000)), {}))
for path in (STORE / "users" / str(os.getuid())).rglob("*.val"):
    with open(path, "r+b") as f:
        f.truncate(100)
s.close()
print("{}")
""")
    script = """
s = opened()
s._refresh_from_graph()
try:
    s.load("op-big")
    outcome = "loaded"
except Exception as exc:
    outcome = type(exc).__name__
s.flush(30)
print(json.dumps({"load": outcome, "stored": "op-big" in s.graph.materialized_ids(),
                  "skipped from now on": s.lookup("op-big") is None}))
s.close()
"""
    assert as_user(team, "b", store, script) == {"load": "CorruptArtifact", "stored": True, "skipped from now on": True}
    assert as_user(team, "a", store, script) == {"load": "CorruptArtifact", "stored": False,
                                                 "skipped from now on": False}


def test_a_confidential_namespace_another_member_made_first_is_refused(team, store):
    """b makes ``private/<a's uid>`` first, writable by all: a's kernel refuses to write its confidential
    results there (a store fault: it runs plainly and is told), and nothing of a's lands in b's directory."""
    uid_a = pwd.getpwnam(team["a"]).pw_uid
    as_user(team, "b", store, f"""
trap = STORE / "private" / "{uid_a}"
trap.mkdir(parents=True)
os.chmod(trap, 0o777)
print("{{}}")
""")
    seen = as_user(team, "a", store, """
from collab_reuse.errors import StoreError
from collab_reuse.kernel import store_writes
s = opened()
try:
    store_writes._write(s.graph, s.store, store_writes.Offer("op-secret", s.store.encode(np.arange(4)), {}, True))
    outcome = "written"
except StoreError as exc:
    outcome = str(exc)
s.close()
print(json.dumps({"outcome": outcome}))
""")
    assert "is not" in seen["outcome"] and "own directory" in seen["outcome"], seen
    assert not any((store / "private" / str(uid_a)).iterdir()), "nothing of a's in b's directory"


def test_a_members_cell_reports_and_call_summaries_are_theirs_alone(team, store):
    """What a's kernel records of a cell (its report: code; its call summaries: parameters, paths) is in
    a's journal, in a directory only a can enter: b's kernel shows none of it, b can't open the
    journal, and the shared graph (which b can read with sqlite3) holds no trace of it."""
    seen_a = as_user(team, "a", store, """
from collab_reuse.graph import PlaceRun, VertexUpdate
s = opened()
report = {"kernel_id": "k-a", "cell_id": "c1", "code": "pd.read_csv('/home/a/plans-7f3e.csv')",
          "steps": [], "totals": {"reused": 0, "computed": 1}}
place = PlaceRun(s.user + "\\x1fc1\\x1fread_csv\\x1f0", "op-a", "pandas.read_csv", 1,
                 {"params": {"filepath_or_buffer": "/home/a/plans-7f3e.csv"}, "inputs": []})
s.graph.record_cell([VertexUpdate("op-a", "pandas.read_csv", "dataframe", [], 1.0)], s.user, report,
                    places=[place])
seen = {"own reports": [e["code"] for e in s.graph.events()], "own places": len(s.graph.place_runs([place.place]))}
s.close()
print(json.dumps(seen))
""")
    uid_a = pwd.getpwnam(team["a"]).pw_uid
    seen_b = as_user(team, "b", store, f"""
import sqlite3
s = opened()
seen = {{"events": s.graph.events(), "runs": len(s.graph.runs_of(["op-a"], {team["a"]!r}))}}
try:
    sqlite3.connect(STORE / "journals" / "{uid_a}" / "journal.sqlite").execute("SELECT 1 FROM events").fetchall()
    seen["a's journal"] = "opened"
except sqlite3.Error as exc:
    seen["a's journal"] = "refused"
try:
    os.listdir(STORE / "journals" / "{uid_a}")
except PermissionError:
    seen["a's directory"] = "PermissionError"
db = sqlite3.connect(STORE / "graph.sqlite")
seen["graph tables"] = sorted(n for (n,) in db.execute("SELECT name FROM sqlite_master WHERE type='table'"))
seen["graph bytes name the path"] = any(b"plans-7f3e" in p.read_bytes() for p in STORE.glob("graph.sqlite*"))
s.close()
print(json.dumps(seen))
""")
    assert seen_a == {"own reports": ["pd.read_csv('/home/a/plans-7f3e.csv')"], "own places": 1}
    assert seen_b["events"] == [] and seen_b["runs"] == 0, seen_b
    assert seen_b["a's journal"] == "refused" and seen_b["a's directory"] == "PermissionError", seen_b
    assert "events" not in seen_b["graph tables"] and "places" not in seen_b["graph tables"], seen_b
    assert seen_b["graph bytes name the path"] is False


def test_a_file_the_notebook_opens_itself_counts_like_a_traced_read(team, store):
    """A kernel that opens a file only its user can read with plain ``open()`` (no traced reader) is
    confidential from then on, as after ``pd.read_csv`` of it; a file the team can read changes nothing."""
    seen = as_user(team, "a", store, """
s = opened()
seen = {"at start": s.confidential}
json.load(open(os.environ["SHARED_FILE"]))
seen["after the shared file"] = s.confidential
with open(os.environ["SECRET_FILE"]) as handle:
    json.load(handle)
seen["after the secret file"] = s.confidential
s.close()
print(json.dumps(seen))
""", extra_env=secret_and_shared(team, "json", "{}", "{}"))
    assert seen == {"at start": False, "after the shared file": False, "after the secret file": True}
