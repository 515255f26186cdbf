"""Which files a team can read, by their modes (team.readable_by_team): what decides whether a kernel's
results may be shared with the team or stay in its user's confidential namespace."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

from collab_reuse import team as teams


@pytest.fixture
def base():
    """A directory in the system's temporary directory, searchable by others (pytest's is 0700)."""
    made = Path(tempfile.mkdtemp(prefix="cr-readable-"))
    made.chmod(0o755)
    yield made
    shutil.rmtree(made, ignore_errors=True)


@pytest.fixture
def tree(base):
    """base/top/data.csv with a team whose group is the files' group; every level searchable."""
    top = base / "top"
    top.mkdir(mode=0o755)
    top.chmod(0o755)
    data = top / "data.csv"
    data.write_text("a\n1\n")
    data.chmod(0o644)
    gid = os.stat(data).st_gid
    team = teams.Team(gid=gid, group="g", members=frozenset({0}))
    other_team = teams.Team(gid=gid + 12345, group="other", members=frozenset({0}))
    return top, data, team, other_team


def _searchable_above(path) -> bool:
    return all(os.stat(p).st_mode & 0o001 for p in path.resolve().parents)


def test_world_readable_file_in_searchable_directories(tree):
    top, data, team, other = tree
    if not _searchable_above(top):
        pytest.skip("a directory above the temporary directory is not searchable by others")
    assert teams.readable_by_team(data, team) and teams.readable_by_team(data, other)


@pytest.mark.parametrize("mode, by_group_team, by_other_team", [
    (0o600, False, False),   # the owner's alone
    (0o640, True, False),    # the file's group: the team whose group it is
    (0o604, True, True),     # anyone
    (0o000, False, False),
])
def test_the_files_own_mode(tree, mode, by_group_team, by_other_team):
    top, data, team, other = tree
    if not _searchable_above(top):
        pytest.skip("a directory above the temporary directory is not searchable by others")
    data.chmod(mode)
    assert teams.readable_by_team(data, team) is by_group_team
    assert teams.readable_by_team(data, other) is by_other_team


@pytest.mark.parametrize("mode, by_group_team", [(0o700, False), (0o750, True), (0o711, True), (0o744, False)])
def test_a_directory_above_must_be_searchable(tree, mode, by_group_team):
    top, data, team, other = tree
    if not _searchable_above(top):
        pytest.skip("a directory above the temporary directory is not searchable by others")
    top.chmod(mode)
    try:
        assert teams.readable_by_team(data, team) is by_group_team
    finally:
        top.chmod(0o755)


def test_a_link_counts_as_its_target(tree, base):
    top, data, team, _ = tree
    if not _searchable_above(top):
        pytest.skip("a directory above the temporary directory is not searchable by others")
    data.chmod(0o600)
    link = base / "link.csv"
    link.symlink_to(data)
    assert not teams.readable_by_team(link, team)


def test_what_cannot_be_examined_is_not_readable(tmp_path):
    team = teams.Team(gid=os.getgid(), group="g", members=frozenset({0}))
    assert not teams.readable_by_team(tmp_path / "missing.csv", team)
