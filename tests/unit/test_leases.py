"""Leases (kernel/leases.py) between real processes: one holder per result, waiters seen by the holder,
every lease of a process let go when it dies."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from collab_reuse.kernel.leases import Leases

HOLD = """
import sys, time
from collab_reuse.kernel.leases import Leases
leases = Leases(sys.argv[1])
print(leases.take(sys.argv[2]), flush=True)
time.sleep(float(sys.argv[3]))
"""

WAIT = """
import sys
from collab_reuse.kernel.leases import Leases
leases = Leases(sys.argv[1])
print(leases.wait(sys.argv[2], lambda waited: waited > float(sys.argv[3])), flush=True)
"""


def _start(script: str, *args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", script, *map(str, args)], stdout=subprocess.PIPE, text=True)


@pytest.fixture
def path(tmp_path):
    return tmp_path / "leases"


def test_one_holder_per_result(path):
    holder = _start(HOLD, path, "result-a", 30)
    try:
        assert holder.stdout.readline().strip() == "True"
        mine = Leases(path)
        assert not mine.take("result-a"), "held by the other process"
        assert mine.take("result-b"), "another result's lease is free"
        assert mine.take("result-b"), "taking one's own lease again"
    finally:
        holder.kill()
        holder.wait()


def test_a_dead_holders_leases_are_free(path):
    holder = _start(HOLD, path, "result-a", 30)
    assert holder.stdout.readline().strip() == "True"
    holder.kill()
    holder.wait()
    assert Leases(path).take("result-a")


def test_a_waiter_gets_the_lease_when_the_holder_lets_go_and_is_seen_meanwhile(path):
    mine = Leases(path)
    assert mine.take("result-a")
    assert not mine.awaited()
    waiter = _start(WAIT, path, "result-a", 60)
    try:
        deadline = time.monotonic() + 30
        while not mine.awaited():
            assert time.monotonic() < deadline, "the waiter never showed"
            time.sleep(0.05)
        mine.release("result-a")
        assert waiter.stdout.readline().strip() == "True"
    finally:
        waiter.kill()
        waiter.wait()
    assert not mine.awaited()


def test_a_waiter_gives_up_when_told(path):
    mine = Leases(path)
    assert mine.take("result-a")
    waiter = _start(WAIT, path, "result-a", 0.3)
    assert waiter.stdout.readline().strip() == "False"
    waiter.wait()
    assert "result-a" in mine.held


def test_release_all_lets_go_and_turns_single_flight_off(path):
    mine = Leases(path)
    assert mine.take("result-a")
    mine.release_all()
    assert not mine.held
    assert mine.take("result-z"), "off: every result may be computed"
    assert not mine.held
    holder = _start(HOLD, path, "result-a", 0)
    assert holder.stdout.readline().strip() == "True"
    holder.wait()


def test_a_process_sees_whether_another_has_the_file_open(path):
    mine = Leases(path)
    assert not mine.others_alive(), "alone on the store: no leases are taken"
    other = _start(HOLD, path, "result-a", 30)
    try:
        assert other.stdout.readline().strip() == "True"
        assert mine.others_alive()
    finally:
        other.kill()
        other.wait()
    assert not mine.others_alive(), "the other process is gone"
