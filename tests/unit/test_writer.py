"""The background writer, the cell lock it waits for, and the hand-off of its jobs at exit."""
from __future__ import annotations

import os
import sys
import threading
import time

import pytest

from collab_reuse.kernel.foreground import CellLock
from collab_reuse.kernel.writer import BackgroundWriter, HandedOff


def _writer():
    errors = []
    return BackgroundWriter(errors.append), errors


def test_jobs_run_by_priority_then_submission_order():
    writer, errors = _writer()
    gate = threading.Event()
    ran = []
    writer.submit(gate.wait)  # holds the writer while the others queue up
    for name, priority in (("b", 1.0), ("a", -1.0), ("c", 1.0), ("first", float("-inf"))):
        writer.submit(lambda n=name: ran.append(n), priority=priority)
    gate.set()
    assert writer.wait_idle(5)
    assert ran == ["first", "a", "b", "c"] and errors == []


def test_hand_off_returns_the_jobs_not_started_in_run_order():
    writer, _ = _writer()
    gate = threading.Event()
    ran = []
    writer.submit(lambda: gate.wait(5))
    writer.submit(lambda: ran.append("late"), priority=2.0)
    writer.submit(lambda: ran.append("early"), priority=1.0)
    time.sleep(0.05)
    gate.set()  # the running job finishes within the hand-off's wait
    jobs = writer.hand_off(5)
    assert ran == []
    for job in jobs:
        job()
    assert ran == ["early", "late"]


def test_a_job_stopped_by_the_hand_off_is_handed_over_again():
    lock = CellLock()
    writer, errors = _writer()
    done = []

    def encode():
        with lock.idle(grace=0.0):
            done.append("encoded")

    lock.cell_started()  # a cell runs: the job waits for the lock
    writer.submit(encode)
    time.sleep(0.05)
    lock.hand_off()
    lock.cell_finished()
    jobs = writer.hand_off(5)
    assert done == [] and errors == [] and len(jobs) == 1 and not writer.running
    lock.after_fork()  # as in the child
    jobs[0]()
    assert done == ["encoded"]


def test_a_running_job_that_outlasts_the_wait_is_reported_not_handed_over():
    writer, _ = _writer()
    release = threading.Event()
    writer.submit(lambda: release.wait(5))
    writer.submit(lambda: None, priority=1.0)
    time.sleep(0.05)
    jobs = writer.hand_off(0.1)
    assert writer.running and len(jobs) == 1  # the queued one only
    release.set()


def test_idle_waits_until_no_cell_has_run_for_the_grace_period():
    lock = CellLock()
    lock.cell_started()
    lock.cell_finished()
    start = time.monotonic()
    with lock.idle(grace=0.3):
        waited = time.monotonic() - start
    assert 0.25 <= waited < 2.0
    start = time.monotonic()
    with lock.idle(grace=0.0):
        assert time.monotonic() - start < 0.25  # (no wait: under the 0.3 s grace above, with slack for a busy machine)


def _encoder(lock: CellLock, grace: float) -> tuple[threading.Thread, threading.Event]:
    """A started background thread that sets its event once ``lock.idle(grace)`` lets it in."""
    entered = threading.Event()

    def encode():
        with lock.idle(grace=grace):
            entered.set()

    thread = threading.Thread(target=encode)
    thread.start()
    return thread, entered


def test_idle_never_overlaps_a_running_cell():
    lock = CellLock()
    lock.cell_started()
    thread, entered = _encoder(lock, grace=0.0)
    assert not entered.wait(0.3)
    lock.cell_finished()
    assert entered.wait(5)
    thread.join(5)


def test_idle_raises_handed_off_once_the_kernel_exits():
    lock = CellLock()
    lock.hand_off()
    with pytest.raises(HandedOff):
        with lock.idle(grace=0.0):
            pass


def test_a_job_waiting_for_idleness_stops_at_once_when_the_kernel_exits():
    lock = CellLock()
    lock.cell_started()
    lock.cell_finished()
    stopped = []

    def encode():
        try:
            with lock.idle(grace=30.0):
                pass
        except HandedOff:
            stopped.append(time.monotonic())

    thread = threading.Thread(target=encode)
    thread.start()
    time.sleep(0.1)
    asked = time.monotonic()
    lock.hand_off()
    thread.join(5)
    assert stopped and stopped[0] - asked < 0.5


def test_a_cell_lends_the_lock_to_background_work_it_waits_for():
    lock = CellLock()
    lock.cell_started()
    thread, done = _encoder(lock, grace=30.0)  # would wait 30 s after a cell: a lending cell is waiting, not running
    assert not done.wait(0.3)  # the cell runs: no encoding
    with lock.lent():
        assert done.wait(5)
    thread.join(5)
    thread, again = _encoder(lock, grace=0.0)
    assert not again.wait(0.3)  # the cell has its lock back
    lock.cell_finished()
    assert again.wait(5)
    thread.join(5)


def test_lending_outside_a_cell_or_from_another_thread_changes_nothing():
    lock = CellLock()
    with lock.lent():
        pass
    lock.cell_started()
    lent_elsewhere = []

    def lend_from_another_thread():
        with lock.lent():
            lent_elsewhere.append(lock._lock.acquire(blocking=False))  # still the cell's: not acquirable

    thread = threading.Thread(target=lend_from_another_thread)
    thread.start()
    thread.join(5)
    assert lent_elsewhere == [False]
    with lock.lent():  # the cell's own thread can lend it
        assert lock._cell_thread is None
    assert lock._cell_thread == threading.get_ident()
    lock.cell_finished()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="nice is per thread on Linux only")
def test_the_writer_yields_the_processor_to_the_notebook_and_the_notebook_keeps_its_priority():
    """(A writer encoding beside a LightGBM fit took a core from its OpenMP threads.)"""
    from collab_reuse.kernel.priority import BACKGROUND_NICE

    mine = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    writer, errors = _writer()
    seen: list[tuple[int, int]] = []

    def job() -> None:
        helper = threading.Thread(target=lambda: seen.append(
            ("helper", os.getpriority(os.PRIO_PROCESS, threading.get_native_id()))))
        seen.append(("writer", os.getpriority(os.PRIO_PROCESS, threading.get_native_id())))
        helper.start()
        helper.join()

    writer.submit(job)
    assert writer.wait_idle(5) and errors == []
    expected = max(mine, BACKGROUND_NICE)
    assert seen == [("writer", expected), ("helper", expected)]  # (the threads it starts inherit it)
    assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) == mine


def test_a_job_submitted_while_the_writer_finds_its_queue_empty_is_waited_for():
    """The writer's "queue empty?" and its "idle" are one step: a job submitted between them (a cell's
    jobs, while the writer finishes the last cell's) once stayed queued with idle set, and a flush
    returned before it ran."""
    writer, errors = _writer()
    release, late_done, submitter = threading.Event(), threading.Event(), []
    empty = writer._queue.empty

    def empty_with_a_submit_in_between():
        answer = empty()
        if answer and not submitter:  # another thread submits right now, as a cell would
            thread = threading.Thread(target=writer.submit, args=(lambda: (release.wait(5), late_done.set()),))
            thread.start()
            submitter.append(thread)  # (after start: the test joins it as soon as it is listed)
            thread.join(0.3)  # (blocked until the writer's step is over, with the fix)
        return answer

    writer._queue.empty = empty_with_a_submit_in_between
    writer.submit(lambda: None)
    deadline = time.monotonic() + 5
    while not submitter and time.monotonic() < deadline:
        time.sleep(0.01)
    submitter[0].join(5)
    assert not writer.wait_idle(0.2) and not late_done.is_set()  # the late job is pending: not idle
    release.set()
    assert writer.wait_idle(5) and late_done.is_set() and errors == []
