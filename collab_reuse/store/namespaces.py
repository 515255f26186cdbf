"""A team store's bytes: one namespace per user, each written only by its user, read by the team.

In a team store (``team.team_of``) every user's artifacts are in ``users/<uid>/``, a blob store
(``DiskcacheBlobs``) that only that user can write (``team.namespace_dir``: ``2750``, explicit file
modes). ``NamespacedBlobs`` writes to the user's own namespace and reads:

* blobs from any namespace (own first): a blob is read under the content key it must hash to, so
  where it was found does not matter;
* manifest rows (``owned_rows``) from every namespace, each with the uid of the namespace's
  directory owner (``os.stat``: what the OS vouches for). ``ArtifactStore.manifest`` accepts a row
  only when that owner is the writer the row names and ``trusted_writers`` trusts them (here: the
  team, ``team_writers``); the reader's own row first. A row one user planted in their namespace
  claiming another's authorship is refused; a row in another user's namespace can't be written.

What this does not protect: a team member can write a well-formed artifact under any id in their
own namespace (attributed to them), and rows of the Experiment Graph (shared, writable by the
team). A reader who has its own artifact under an id never reads another's.

Deleting, clearing, checking: only in namespaces this process may write (its own; root: all).
Another user's evicted bytes stay in their namespace until their next kernel or ``collab-reuse gc``
(run by them or by root) removes what the graph no longer references.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Callable, Iterator

from .. import team as teams
from .artifacts import ArtifactStore, Writer
from .blobs import DiskcacheBlobs, ReadOnlyDiskcache

log = logging.getLogger("collab_reuse")


class NamespacedBlobs:
    """The ``Blobs`` contract over a team store's namespaces (see the module docstring)."""

    def __init__(self, store_dir: str | os.PathLike, team: teams.Team):
        self.store_dir = Path(store_dir)
        self.team = team
        self.uid = os.geteuid()
        self.own_dir = teams.namespace_dir(self.store_dir, team, self.uid)
        self.own = DiskcacheBlobs(self.own_dir, private_files=True)
        self.directory = self.own_dir
        self.secret_dir = Path(store_dir) / teams.CONFIDENTIAL / str(self.uid)
        self._secret: DiskcacheBlobs | None = None  # this user's confidential namespace, once it exists
        self._others: dict[int, ReadOnlyDiskcache] = {}  # uid -> reader of that user's namespace
        self._others_writable: dict[Path, DiskcacheBlobs] = {}  # (root only) other namespaces, to change

    # -- the namespaces ----------------------------------------------------------------------

    def _other_namespaces(self) -> list[tuple[int, ReadOnlyDiskcache]]:
        """(owner uid, reader) of every other namespace whose directory the OS says its uid owns."""
        found = []
        for owner, path in self._others_under(teams.NAMESPACES):
            reader = self._others.get(owner)
            if reader is None:
                reader = self._others[owner] = ReadOnlyDiskcache(path)
            found.append((owner, reader))
        return found

    def _own(self) -> list[DiskcacheBlobs]:
        """This user's namespaces: the team's to read, and the confidential one if it exists."""
        if self._secret is None and teams.namespace_owner(self.secret_dir) == self.uid:
            self._secret = DiskcacheBlobs(self.secret_dir, private_files=True)
        return [self.own] if self._secret is None else [self.own, self._secret]

    def _writable(self) -> list[DiskcacheBlobs]:
        """The namespaces this process may change: its own, and for root every one."""
        if self.uid != 0:
            return self._own()
        for owner, directory in self._other_directories():
            if directory not in self._others_writable:
                self._others_writable[directory] = DiskcacheBlobs(directory, private_files=True)
        return [*self._own(), *self._others_writable.values()]

    def _other_directories(self) -> list[tuple[int, Path]]:
        """(root only) every other user's namespaces, confidential ones included."""
        return [*((owner, reader.directory) for owner, reader in self._other_namespaces()),
                *self._others_under(teams.CONFIDENTIAL)]

    def _others_under(self, parent: str) -> list[tuple[int, Path]]:
        """(owner uid, directory) of the directories under ``parent`` that the OS says another uid owns."""
        try:
            names = sorted(os.listdir(self.store_dir / parent))
        except OSError:
            return []
        found = []
        for name in names:
            path = self.store_dir / parent / name
            owner = teams.namespace_owner(path)
            if owner is not None and owner != self.uid:
                found.append((owner, path))
        return found

    # -- Blobs -------------------------------------------------------------------------------

    def get(self, key: str) -> memoryview:
        for blobs in self._own():
            try:
                return blobs.get(key)
            except KeyError:
                pass
        for _, reader in self._other_namespaces():
            try:
                return reader.get(key)
            except KeyError:
                continue
        raise KeyError(key)

    def put(self, key: str, data: bytes) -> int:
        return self.own.put(key, data)

    def get_row(self, name: str) -> bytes:
        """This user's own row (rows of others are read with their owner, ``owned_rows``)."""
        for blobs in self._own():
            try:
                return blobs.get_row(name)
            except KeyError:
                pass
        raise KeyError(name)

    def owned_rows(self, name: str) -> Iterator[tuple[bytes, int | None]]:
        """Every namespace's row ``name`` with the uid that namespace belongs to, own first."""
        for blobs in self._own():
            try:
                yield blobs.get_row(name), self.uid
            except KeyError:
                pass
        for owner, reader in self._other_namespaces():
            try:
                yield reader.get_row(name), owner
            except KeyError:
                continue

    def put_row(self, name: str, data: bytes) -> int:
        return self.own.put_row(name, data)

    def delete(self, key: str) -> None:
        for blobs in self._writable():
            blobs.delete(key)

    def __contains__(self, key: str) -> bool:
        return (any(key in blobs for blobs in self._own())
                or any(key in reader for _, reader in self._other_namespaces()))

    def keys(self) -> Iterator[str]:
        """Keys of the namespaces this process may change (what ``collab-reuse gc`` may delete)."""
        seen: set[str] = set()
        for blobs in self._writable():
            seen.update(blobs.keys())
        return iter(sorted(seen))

    def volume(self) -> int:
        return (sum(blobs.volume() for blobs in self._own())
                + sum(reader.volume() for _, reader in self._other_namespaces()))

    def private(self) -> bool:
        return False  # a team store: never pickle

    def confidential(self) -> DiskcacheBlobs:
        """This user's confidential namespace (made now if missing): the team can't enter it."""
        if self._secret is None:
            self._secret = DiskcacheBlobs(teams.confidential_dir(self.store_dir, self.team, self.uid),
                                          private_files=True)
        return self._secret

    def holds_confidential(self, name: str) -> bool:
        own = self._own()
        if len(own) < 2:
            return False
        try:
            own[1].get_row(name)
        except KeyError:
            return False
        return True

    def clear(self) -> None:
        for blobs in self._writable():
            blobs.clear()

    def close(self) -> None:
        for blobs in self._own():
            blobs.close()
        for reader in self._others.values():
            reader.close()
        for blobs in self._others_writable.values():
            blobs.close()

    def check(self) -> list[str]:
        return [message for blobs in self._writable() for message in blobs.check()]


def team_writers(team: teams.Team) -> Callable[[Writer], bool]:
    """The default trust rule of a team store: artifacts written by the team's members."""
    return lambda writer: writer.uid in team.members


def open_artifacts(store_dir: str | os.PathLike, trust_pickle: bool = False, user: str | None = None) -> ArtifactStore:
    """The artifact store of a store directory: a team store's namespaces, trusting the team; else the
    single-user blob store under ``blobs/`` (every row its user's own)."""
    store_dir = Path(store_dir)
    team = teams.team_of(store_dir)
    if team is None:
        return ArtifactStore(DiskcacheBlobs(store_dir / "blobs"), trust_pickle=trust_pickle, user=user)
    return ArtifactStore(NamespacedBlobs(store_dir, team), trust_pickle=trust_pickle, user=user,
                         trusted_writers=team_writers(team))
