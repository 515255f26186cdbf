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
print(leases.wait(sys.argv[2], lambda waited: float(sys.argv[3])), flush=True)
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


MUTUAL = """
import sys, time
from collab_reuse.kernel.leases import Leases
leases = Leases(sys.argv[1])
print(leases.take("result-a"), flush=True)
sys.stdin.readline()  # (go)
got = leases.wait("result-b", lambda waited: 60)
leases.release("result-a")  # (what it computed meanwhile is stored: its lease goes)
print(got, flush=True)
"""


def test_two_processes_waiting_for_each_others_lease_do_not_wait_out_the_bound(path):
    import os
    import threading

    mine = Leases(path)
    assert mine.take("result-b")
    other = subprocess.Popen([sys.executable, "-c", MUTUAL, str(path)], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, text=True)
    try:
        assert other.stdout.readline().strip() == "True"
        got: list[bool] = []
        started = time.monotonic()
        waiting = threading.Thread(target=lambda: got.append(mine.wait("result-a", lambda waited: 60)))
        waiting.start()
        other.stdin.write("go\n")
        other.stdin.flush()
        if other.pid > os.getpid():  # the larger pid stops waiting and computes; the other gets its lease
            assert other.stdout.readline().strip() == "False"
            waiting.join(30)
            assert got == [True]
        else:
            waiting.join(30)
            assert got == [False]
            mine.release("result-b")
            assert other.stdout.readline().strip() == "True"
        assert time.monotonic() - started < 20, "neither waited out its 60 s bound"
    finally:
        other.kill()
        other.wait()


def test_a_holder_waited_for_in_vain_is_not_waited_for_again(path):
    holder = _start(HOLD, path, "result-a", 60)
    try:
        assert holder.stdout.readline().strip() == "True"
        mine = Leases(path)
        assert mine.wait("result-a", lambda waited: 0.3) is False
        assert mine.waited_in_vain == {holder.pid}
        started = time.monotonic()
        assert mine.wait("result-a", lambda waited: 30) is False
        assert time.monotonic() - started < 2, "not waited for again"
    finally:
        holder.kill()
        holder.wait()
    assert Leases(path).take("result-a"), "(its lease went with it)"


HOLD_TWO = """
import sys, time
from collab_reuse.kernel.leases import Leases
leases = Leases(sys.argv[1])
print(leases.take("cheap") and leases.take("dear"), flush=True)
time.sleep(1.5)
leases.release("dear")
time.sleep(60)
"""


def test_a_result_not_worth_waiting_for_does_not_make_its_holder_one_waited_for_in_vain(path):
    """A kernel computing a cheap result and then a dear one: a waiter that needn't wait for the cheap
    one (``limit`` None: too cheap to store) still waits for the dear one. It once gave up on every
    later lease of that holder at once, and computed the dear result again (a flaky hub test)."""
    holder = _start(HOLD_TWO, path)
    try:
        assert holder.stdout.readline().strip() == "True"
        mine = Leases(path)
        started = time.monotonic()
        assert mine.wait("cheap", lambda waited: None) is False
        assert time.monotonic() - started < 1, "not waited for"
        assert mine.waited_in_vain == set()
        assert mine.wait("dear", lambda waited: 30) is True, "its holder let go of it"
    finally:
        holder.kill()
        holder.wait()
