"""Real Unix users and a group for the hub tests, created with useradd and removed with userdel.

Root's permission override hides what another user would see, so the multi-user tests need real
accounts. Every account made here carries ``MARK`` in its GECOS field: an existing account with
one of our names is removed only when it bears the mark (a run killed before its clean-up left
it); an unmarked one is somebody's real account and stops the tests instead.
"""

from __future__ import annotations

import grp
import os
import pwd
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

MARK = "collab_reuse hub test account"


class AccountClash(RuntimeError):
    """A user or group with one of the test names exists and was not made by these tests."""


@dataclass(frozen=True)
class UnixUser:
    name: str
    uid: int
    gid: int
    home: Path
    groups: tuple[str, ...]


def _run(*argv: str) -> None:
    done = subprocess.run(argv, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} exited with {done.returncode}: {done.stderr.strip()}")


def _user(name: str) -> pwd.struct_passwd | None:
    try:
        return pwd.getpwnam(name)
    except KeyError:
        return None


def _group(name: str) -> grp.struct_group | None:
    try:
        return grp.getgrnam(name)
    except KeyError:
        return None


def processes_of(uid: int) -> list[int]:
    """Pids of the processes whose real uid is ``uid`` (read from /proc)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            status = (entry / "status").read_text()
        except OSError:  # gone meanwhile
            continue
        for line in status.splitlines():
            if line.startswith("Uid:") and int(line.split()[1]) == uid:
                pids.append(int(entry.name))
                break
    return pids


def process_uid(pid: int) -> int:
    """The real uid of process ``pid``, as /proc/<pid>/status says."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("Uid:"):
            return int(line.split()[1])
    raise RuntimeError(f"no Uid line for process {pid}")


def end_processes(uid: int, grace: float = 5.0) -> list[int]:
    """SIGTERM, then SIGKILL after ``grace`` seconds, every process of ``uid``; return the pids found.

    Only used on the accounts these tests create: what runs as them was started by the tests.
    """
    found = processes_of(uid)
    for pid in found:
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + grace
    while processes_of(uid) and time.monotonic() < deadline:
        time.sleep(0.1)
    for pid in processes_of(uid):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    return found


def remove_user(name: str) -> None:
    """Remove a marked test account, its processes and its home; absent is fine."""
    entry = _user(name)
    if entry is None:
        return
    if MARK not in entry.pw_gecos:
        raise AccountClash(f"user {name!r} exists and was not created by the hub tests (no {MARK!r} in its GECOS)")
    end_processes(entry.pw_uid)
    _run("userdel", "--remove", name)
    # userdel leaves a home it did not recognise as the user's (or a mail spool error); make sure.
    if Path(entry.pw_dir).exists() and Path(entry.pw_dir).stat().st_uid == entry.pw_uid:
        subprocess.run(["rm", "-rf", "--one-file-system", entry.pw_dir], check=False)


def remove_group(name: str, members: tuple[str, ...]) -> None:
    """Remove the test group; absent is fine. Only removed when it has no member but ours."""
    entry = _group(name)
    if entry is None:
        return
    strangers = [m for m in entry.gr_mem if m not in members]
    if strangers:
        raise AccountClash(f"group {name!r} has members the hub tests did not add: {strangers}")
    _run("groupdel", name)


def create_accounts(group: str, team: tuple[str, ...], outsiders: tuple[str, ...]) -> dict[str, UnixUser]:
    """Create ``group`` and one account per name (``team`` in the group, ``outsiders`` not), each with a home.

    Leftovers of an interrupted run are removed first; on any failure what was made is removed again.
    """
    everyone = team + outsiders
    for name in everyone:
        remove_user(name)
    remove_group(group, everyone)
    try:
        _run("groupadd", group)
        for name in everyone:
            extra = ["--groups", group] if name in team else []
            # --user-group: each gets a private primary group, as on a Debian system; the team is a
            # supplementary group.
            _run("useradd", "--create-home", "--user-group", "--shell", "/bin/bash", "--comment", MARK, *extra, name)
    except BaseException:
        remove_accounts(group, everyone)
        raise
    users = {}
    for name in everyone:
        entry = pwd.getpwnam(name)
        groups = (group,) if name in team else ()
        users[name] = UnixUser(name=name, uid=entry.pw_uid, gid=entry.pw_gid, home=Path(entry.pw_dir), groups=groups)
    return users


def remove_accounts(group: str, names: tuple[str, ...]) -> None:
    """Remove every account and the group; every removal is tried, the first error is raised at the end."""
    errors: list[BaseException] = []
    for name in names:
        try:
            remove_user(name)
        except Exception as exc:  # noqa: BLE001 -- go on removing the others, then report
            errors.append(exc)
    try:
        remove_group(group, names)
    except Exception as exc:  # noqa: BLE001
        errors.append(exc)
    if errors:
        raise errors[0]
