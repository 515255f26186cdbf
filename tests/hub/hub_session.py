"""What the hub tests of one session share: the test accounts, where artifacts go, the timings."""

from __future__ import annotations

from pathlib import Path

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

#: seconds the harness's steps took in this session (test-artifacts/hub-timings.json)
TIMINGS: dict[str, float] = {}
