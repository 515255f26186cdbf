"""Who is using a store, what the OS lets them do in it, and who may change it: facts the OS vouches for.

Identity. A kernel's user is the Unix account of its process (``os_user``: the effective uid's
name). JupyterHub's ``JUPYTERHUB_USER`` is an environment variable the user can set; it is used
only where it names that same account (``hub_user``) and ignored otherwise (with a log line):
attributions and admin rights follow the uid, never a variable.

Team stores. A store directory that its group may write and that has the setgid bit
(``root:team 2770``: what ``collab-reuse team-store`` makes) is a *team store*. Its members are
the group's (``grp``), plus the directory's owner and root. In a team store:

* every file collab_reuse shares (the Experiment Graph ``graph.sqlite`` and its ``-wal``/``-shm``,
  the log, the marks) is made with explicit modes, not the umask's: ``0660``, group the team's
  (``shared_file``, ``fix_shared_file``);
* artifact bytes and manifests are in per-user namespaces, ``users/<uid>/``, each made by its
  user ``2750``: readable by the team, writable only by that user (``namespace_dir``). A reader
  takes the directory's owner (``os.stat``) as the writer of what it holds, not what a file in it
  says (``store/namespaces.py``);
* what a kernel computes after reading a file the team can't read (``readable_by_team``) is in its
  user's confidential namespace, ``private/<uid>/``, ``0700`` (``confidential_dir``);
* a user's cell reports and call summaries (their code, parameters and paths) are in their journal,
  ``journals/<uid>/``, ``0700`` (``journal_dir``), not in the shared graph.

Admins. Store-wide settings (the budget, clearing the store, the materializer) belong to the
store directory's owner and the users named in ``admins`` in the store (one name per line), a
file that counts only when it is owned by root or by the directory's owner and nobody else can
write it (``admins``). A team store's owner is usually root, so its admins are those the file
names.

Only the standard library (and the project's errors): every layer (graph, store, kernel, server) asks these questions.
"""

from __future__ import annotations

import grp
import logging
import os
import pwd
import stat
from dataclasses import dataclass
from pathlib import Path

from .errors import StoreError

log = logging.getLogger("collab_reuse")

HUB_USER_ENV = "JUPYTERHUB_USER"
ADMINS_FILE = "admins"
NAMESPACES = "users"
CONFIDENTIAL = "private"     # ``private/<uid>``: a user's artifacts derived from files the team can't read
JOURNALS = "journals"        # ``journals/<uid>``: a user's cell reports and call summaries (graph/journal.py)
SHARED_FILE_MODE = 0o660     # a team's shared files: the team reads and writes, others nothing
NAMESPACE_MODE = 0o2750      # a user's namespace: its user writes, the team reads (setgid: the team's group)
NAMESPACE_FILE_MODE = 0o640  # files in a namespace
CONFIDENTIAL_MODE = 0o700    # a user's confidential namespace: nobody else enters it
TEAM_STORE_MODE = 0o3770     # what ``make_team_store`` gives a team store (sticky: nobody removes another's files)
SHARED_DIR_MODE = 0o3770     # a team's shared directories (``users``, ``writers``): setgid, sticky


@dataclass(frozen=True)
class User:
    uid: int
    name: str


def name_of(uid: int) -> str:
    """The account name of ``uid`` (the OS's password database; the number when it has none)."""
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


def os_user() -> User:
    """The account this process runs as."""
    uid = os.geteuid()
    return User(uid, name_of(uid))


def hub_user() -> str:
    """The user name to attribute this process's work to: the OS account's. ``JUPYTERHUB_USER``
    counts only when it names that account (the local spawner runs each user's server as the
    Unix user of the same name); a different name is ignored, since the user can set it."""
    name = os_user().name
    claimed = os.environ.get(HUB_USER_ENV)
    if claimed and claimed != name:
        log.warning("%s=%r is not this process's account (%s): ignored", HUB_USER_ENV, claimed[:64], name)
    return name


# -- team stores ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Team:
    """The team of a team store: its group and who is in it."""

    gid: int
    group: str
    members: frozenset[int]  # uids: the group's members, those whose primary group it is, the owner, root


def team_of(store_dir: str | os.PathLike) -> Team | None:
    """The store's team when ``store_dir`` is a team store (group-writable and setgid), else None
    (a store of one user: its layout and rules are the single-user ones). None also when the
    directory can't be examined."""
    try:
        st = os.stat(store_dir)
    except OSError:
        return None
    if not (st.st_mode & stat.S_ISGID and st.st_mode & stat.S_IWGRP):
        return None
    try:
        entry = grp.getgrgid(st.st_gid)
        group, names = entry.gr_name, set(entry.gr_mem)
    except KeyError:
        group, names = str(st.st_gid), set()
    members = {0, st.st_uid}
    for account in pwd.getpwall():
        if account.pw_gid == st.st_gid or account.pw_name in names:
            members.add(account.pw_uid)
    return Team(st.st_gid, group, frozenset(members))


def make_team_store(path: str | os.PathLike, group: str) -> Path:
    """Make (or fix) a team store directory: ``TEAM_STORE_MODE``, group ``group`` (an administrator's
    step, ``collab-reuse team-store``)."""
    path = Path(path)
    gid = grp.getgrnam(group).gr_gid
    path.mkdir(parents=True, exist_ok=True)
    os.chown(path, -1, gid)
    os.chmod(path, TEAM_STORE_MODE)
    return path


def shared_file(path: str | os.PathLike, team: Team) -> None:
    """Create ``path`` (if absent) as a team-shared file, mode ``SHARED_FILE_MODE``, the team's group,
    before anyone else's code (SQLite, logging) creates it with the umask's mode. (An empty file is
    an empty SQLite database.)"""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, SHARED_FILE_MODE)
    except FileExistsError:
        return
    try:
        os.fchmod(fd, SHARED_FILE_MODE)  # (the umask may have taken group write away)
        if os.fstat(fd).st_gid != team.gid:
            os.fchown(fd, -1, team.gid)
    finally:
        os.close(fd)


def fix_shared_file(path: str | os.PathLike, team: Team) -> bool:
    """Give a shared file this process owns the team's modes (also one left by a member's failed
    attempt, e.g. SQLite's ``-wal``); whether the team can now write it. A file of another user
    with other modes can't be fixed from here (its owner's next kernel, or root, fixes it)."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return True
    except OSError:
        return False
    if stat.S_ISLNK(st.st_mode) or not stat.S_ISREG(st.st_mode):
        return False
    if (st.st_mode & 0o7777, st.st_gid) == (SHARED_FILE_MODE, team.gid):
        return True
    if st.st_uid != os.geteuid() and os.geteuid() != 0:
        return st.st_mode & 0o060 == 0o060 and st.st_gid == team.gid
    try:
        if st.st_gid != team.gid:
            os.chown(path, -1, team.gid, follow_symlinks=False)
        os.chmod(path, SHARED_FILE_MODE)
    except OSError as exc:
        log.warning("can't give %s the team's modes: %s", path, exc)
        return False
    return True


def shared_dir(path: str | os.PathLike, team: Team) -> bool:
    """Make (if absent) a directory the team shares, ``SHARED_DIR_MODE``; a directory of another user
    is left as it is. Whether the team can write it."""
    path = Path(path)
    try:
        path.mkdir(mode=0o770)
    except FileExistsError:
        pass
    st = os.lstat(path)
    if not stat.S_ISDIR(st.st_mode):
        return False
    if st.st_uid == os.geteuid() and (st.st_mode & 0o7777 != SHARED_DIR_MODE or st.st_gid != team.gid):
        if st.st_gid != team.gid:
            os.chown(path, -1, team.gid)
        os.chmod(path, SHARED_DIR_MODE)
        return True
    return st.st_mode & 0o070 == 0o070 and st.st_gid == team.gid


def share(team: Team, files: list[Path] = (), dirs: list[Path] = (),
          fix_only: list[Path] = ()) -> list[str]:  # type: ignore[assignment]
    """Give a team store's shared directories (made if absent, in order), files (made if absent) and
    ``fix_only`` files (never made: SQLite's ``-wal``/``-shm``) the team's modes. What is left that
    the team can't write: one line each (a file of another user with other modes: that user's next
    kernel, or root, fixes it), so that the caller does not open and break it."""
    problems = []
    for path in dirs:
        if not shared_dir(path, team):
            problems.append(_who_and_mode(path))
    for path in files:
        shared_file(path, team)
        if not fix_shared_file(path, team):
            problems.append(_who_and_mode(path))
    for path in fix_only:
        if not fix_shared_file(path, team):
            problems.append(_who_and_mode(path))
    return problems


def _who_and_mode(path: Path) -> str:
    try:
        st = os.lstat(path)
    except OSError as exc:
        return f"{path}: {exc.strerror}"
    return f"{path} is {name_of(st.st_uid)}'s with mode {stat.filemode(st.st_mode)}"


def namespace_dir(store_dir: str | os.PathLike, team: Team, uid: int | None = None) -> Path:
    """This user's namespace in a team store, made if missing: ``users/<uid>``, owned by the user,
    ``NAMESPACE_MODE`` (the ``users`` directory itself is the team's, like the store)."""
    return _users_dir(Path(store_dir) / NAMESPACES, team, uid, NAMESPACE_MODE, team.gid)


def confidential_dir(store_dir: str | os.PathLike, team: Team, uid: int | None = None) -> Path:
    """This user's confidential namespace, made if missing: ``private/<uid>``, ``CONFIDENTIAL_MODE``
    (what a kernel computes after it has read a file the team can't read: ``readable_by_team``)."""
    return _users_dir(Path(store_dir) / CONFIDENTIAL, team, uid, CONFIDENTIAL_MODE)


def journal_dir(store_dir: str | os.PathLike, team: Team, uid: int | None = None) -> Path:
    """This user's journal directory, made if missing: ``journals/<uid>``, ``CONFIDENTIAL_MODE`` (their
    cell reports and call summaries: code, parameters, paths, which are theirs alone)."""
    return _users_dir(Path(store_dir) / JOURNALS, team, uid, CONFIDENTIAL_MODE)


def _users_dir(parent: Path, team: Team, uid: int | None, mode: int, gid: int | None = None) -> Path:
    """``parent/<uid>``, made if missing, given ``mode`` (and group ``gid``). One that is not the
    user's own directory (another member made it first, or a link) is refused, ``StoreError``: what
    this user writes there would be that member's to read or change."""
    uid = os.geteuid() if uid is None else uid
    shared_dir(parent, team)
    own = parent / str(uid)
    try:
        own.mkdir(mode=mode & 0o777)
    except FileExistsError:
        pass
    st = os.lstat(own)
    if not stat.S_ISDIR(st.st_mode) or st.st_uid != uid:
        raise StoreError(f"{own} is not {name_of(uid)}'s own directory ({_who_and_mode(own)}): refused")
    if st.st_mode & 0o7777 != mode or (gid is not None and st.st_gid != gid):
        if gid is not None and st.st_gid != gid:
            os.chown(own, -1, gid)
        os.chmod(own, mode)
    return own


def readable_by_team(path: str | os.PathLike, team: Team) -> bool:
    """May every member of the team read this file, by what the OS shows: the file readable by others
    or by the team's group, and every directory above it searchable the same way. Conservative: a
    file or directory with an access control list counts as not readable (its mode bits don't say
    who may read it), and so does anything that can't be examined."""
    try:
        real = Path(os.path.realpath(path))
        if not _team_may(real, team, 0o004, 0o040) or _has_acl(real):
            return False
        return all(_team_may(parent, team, 0o001, 0o010) and not _has_acl(parent) for parent in real.parents)
    except OSError:
        return False


def _team_may(path: Path, team: Team, other_bit: int, group_bit: int) -> bool:
    st = os.stat(path)
    return bool(st.st_mode & other_bit or (st.st_gid == team.gid and st.st_mode & group_bit))


def _has_acl(path: Path) -> bool:
    try:
        return "system.posix_acl_access" in os.listxattr(path)
    except OSError:  # (no extended attributes on this file system: no ACLs either)
        return False


def namespace_owner(path: str | os.PathLike) -> int | None:
    """The uid a namespace directory's contents are vouched for by: its owner, if the directory is
    named by that uid, is no link, and nobody else may write it; None otherwise (not trusted)."""
    path = Path(path)
    try:
        st = os.lstat(path)
    except OSError:
        return None
    if (not stat.S_ISDIR(st.st_mode) or st.st_mode & 0o022 or not path.name.isdigit()
            or int(path.name) != st.st_uid):
        return None
    return st.st_uid


# -- admins --------------------------------------------------------------------------------


def admins(store_dir: str | os.PathLike) -> set[str]:
    """The store's admins: the directory's owner (root counts only by the file), and the names of
    ``admins`` when that file is root's or the owner's and writable by nobody else."""
    store_dir = Path(store_dir)
    try:
        st = os.stat(store_dir)
    except OSError:
        return set()
    names = set() if st.st_uid == 0 else {name_of(st.st_uid)}
    listing = store_dir / ADMINS_FILE
    try:
        fd = os.open(listing, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return names
    with os.fdopen(fd, "rb") as handle:
        fst = os.fstat(handle.fileno())
        if not stat.S_ISREG(fst.st_mode) or fst.st_uid not in (0, st.st_uid) or fst.st_mode & 0o022:
            log.warning("%s is ignored: it must be a file of root or of the store's owner that nobody else can write",
                        listing)
            return names
        text = handle.read(64 << 10).decode("utf-8", "replace")
    names.update(line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#"))
    return names


def is_admin(store_dir: str | os.PathLike, user: User | None = None) -> bool:
    """May ``user`` (default: this process's account) change the store's settings? Root always may."""
    user = user or os_user()
    return user.uid == 0 or user.name in admins(store_dir)
