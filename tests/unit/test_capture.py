"""Capture: what an operation prints and warns is recorded for replay, and reaches the user as in a
plain run: at the moment it happens, through the user's warning filters."""

import sys
import warnings

import pytest

from collab_reuse.tracing.capture import Capture, replay


class Shown:
    """The user's side: their stdout and their warnings.showwarning, in one ordered list."""

    def __init__(self):
        self.events = []

    def write(self, text):
        self.events.append(("out", text))
        return len(text)

    def flush(self):
        pass

    def showwarning(self, message, category, filename, lineno, file=None, line=None):
        self.events.append(("warning", str(message)))


@pytest.fixture
def shown(monkeypatch):
    """(pytest sets its own sys.stdout between a fixture and the test: each test calls ``install``)"""
    user = Shown()
    user.install = lambda: (monkeypatch.setattr(sys, "stdout", user),
                            monkeypatch.setattr(warnings, "showwarning", user.showwarning))
    with warnings.catch_warnings():
        warnings.simplefilter("default")
        yield user


def operation():
    print("before")
    warnings.warn("careful", FutureWarning)
    print("after")
    return 42


def test_a_warning_reaches_the_user_between_the_writes_around_it(shown):
    shown.install()
    with Capture(tee=True, frame=sys._getframe()) as capture:
        operation()
    assert [e for e in shown.events if e != ("out", "\n")] == [("out", "before"), ("warning", "careful"),
                                                               ("out", "after")]
    assert [entry[0] for entry in capture.log if entry[1:2] != ["\n"]] == ["stdout", "warning", "stdout"]


def test_a_warning_the_user_made_an_error_raises_where_it_is_warned(shown):
    shown.install()
    warnings.simplefilter("error", FutureWarning)
    with pytest.raises(FutureWarning, match="careful"):
        with Capture(tee=True, frame=sys._getframe()):
            operation()
    assert ("out", "after") not in shown.events  # the operation stopped at the warning, as in a plain run


def test_an_ignored_warning_is_not_shown_but_kept_for_a_replay_elsewhere(shown):
    shown.install()
    warnings.simplefilter("ignore", FutureWarning)
    with Capture(tee=True, frame=sys._getframe()) as capture:
        operation()
    assert ("warning", "careful") not in shown.events
    assert ["warning", "builtins:FutureWarning", "careful"] == capture.log[1][:3]  # (after the "before" line)
    warnings.simplefilter("default", FutureWarning)
    replay(capture.log, sys._getframe())
    assert ("warning", "careful") in shown.events


def test_without_the_users_frame_warnings_are_only_recorded(shown):
    shown.install()
    with Capture(tee=False) as capture:
        operation()
    assert ("warning", "careful") not in shown.events
    assert capture.log[0][:3] == ["warning", "builtins:FutureWarning", "careful"]


def test_the_users_filters_and_showwarning_are_back_after(shown):
    shown.install()
    filters = list(warnings.filters)
    with Capture(tee=True, frame=sys._getframe()):
        operation()
    assert warnings.filters == filters and warnings.showwarning == shown.showwarning
    assert sys.stdout is shown


def test_a_capture_keeps_at_most_its_bound_and_says_why_it_is_not_storable(shown, monkeypatch):
    from collab_reuse.tracing import capture as capture_module

    monkeypatch.setattr(capture_module, "MAX_CAPTURED", 10_000)
    shown.install()
    with Capture(tee=True) as captured:
        for _ in range(100):
            print("x" * 99)  # 10 KB in 200 writes
    assert captured.overflowed and captured.log == [["overflow"]]  # not empty: it did print
    assert not captured.replayable and "printed more than" in captured.unstorable
    assert "".join(text for kind, text in shown.events if kind == "out").count("x" * 99) == 100  # all shown


def test_a_capture_within_its_bound_is_replayable(shown):
    shown.install()
    with Capture(tee=True) as captured:
        print("small")
    assert not captured.overflowed and captured.replayable and captured.unstorable is None
    assert captured.log == [["stdout", "small\n"]]


def test_consecutive_writes_to_one_stream_are_kept_as_one_entry_in_order(shown):
    """A call printing a line per iteration made an entry per write: thousands of small lists, held
    until the store wrote them and walked by every full garbage collection meanwhile."""
    shown.install()
    with Capture(tee=True, frame=sys._getframe()) as captured:
        for i in range(1000):
            print(f"iteration {i}")
        print("warned", file=sys.stderr)
        warnings.warn("careful", FutureWarning)
        print("done")
    assert [entry[0] for entry in captured.log] == ["stdout", "stderr", "warning", "stdout"]
    assert captured.log[0][1] == "".join(f"iteration {i}\n" for i in range(1000))
    assert captured.log[1][1] == "warned\n" and captured.log[3][1] == "done\n"


def test_a_compacted_log_replays_the_same_text_in_the_same_order(shown):
    shown.install()
    with Capture(tee=True, frame=sys._getframe()) as captured:
        operation()
        for i in range(50):
            print(i, end=" ")
    live = list(shown.events)
    shown.events.clear()
    replay(captured.log, sys._getframe())
    def text_and_warnings(events):
        out, joined = [], ""
        for kind, text in events:
            if kind == "out":
                joined += text
                continue
            out += [("out", joined), (kind, text)] if joined else [(kind, text)]
            joined = ""
        return out + ([("out", joined)] if joined else [])
    assert text_and_warnings(shown.events) == text_and_warnings(live)
    assert len(captured.log) == 3  # "before\n", the warning, "after\n" and the numbers


def test_a_thread_running_before_the_operation_writes_through_unrecorded(shown):
    """A thread that was already running (a progress monitor, a timer) is not the operation's: a plain
    run shows what it writes once, so a reuse must not replay it; and it doesn't make the operation
    "not quiet"."""
    import threading
    shown.install()
    go, done = threading.Event(), threading.Event()

    def bystander():
        go.wait(10)
        print("tick from a monitor")
        warnings.warn("the monitor's warning", UserWarning)
        done.set()

    thread = threading.Thread(target=bystander)
    thread.start()
    with Capture(tee=True, frame=sys._getframe()) as capture:
        go.set()
        assert done.wait(10)
        print("the operation's own")
    thread.join()
    assert ("out", "tick from a monitor") in shown.events and ("warning", "the monitor's warning") in shown.events
    assert [entry[1] for entry in capture.log] == ["the operation's own\n"]


def test_a_thread_the_operation_starts_is_the_operations(shown):
    import threading
    shown.install()
    with Capture(tee=True, frame=sys._getframe()) as capture:
        worker = threading.Thread(target=lambda: (print("from a worker"), warnings.warn("worker's", UserWarning)))
        worker.start()
        worker.join()
    assert [entry[0] for entry in capture.log] == ["stdout", "warning"]
    assert capture.log[0][1] == "from a worker\n" and capture.log[1][2] == "worker's"


class _Cycle:
    """Garbage only a collection frees, whose finalizer warns and prints (as an unclosed file warns)."""

    def __init__(self):
        self.me = self

    def __del__(self):
        warnings.warn("unclosed resource of an object long dropped", ResourceWarning)
        print("a finalizer prints")


def test_what_finalizers_say_while_a_collection_runs_inside_the_operation_is_not_its_own(shown):
    """A collection runs wherever allocation happens to trigger it: a warning or a write from the
    finalizers it runs is issued as the user's filters say, and not kept as the operation's (it made
    the operation "not quiet", and a later run could not defer it)."""
    import gc
    shown.install()
    warnings.simplefilter("always", ResourceWarning)  # (the user's filters: shown)
    _Cycle()
    with Capture(tee=True, frame=sys._getframe()) as capture:
        gc.collect()
        print("the operation's own")
    assert ("warning", "unclosed resource of an object long dropped") in shown.events
    assert ("out", "a finalizer prints") in shown.events
    assert [entry[1] for entry in capture.log] == ["the operation's own\n"]
    warnings.simplefilter("ignore", ResourceWarning)  # (Python's default: not shown, as in a plain run)
    shown.events.clear()
    _Cycle()
    with Capture(tee=True, frame=sys._getframe()) as capture:
        gc.collect()
    assert not [e for e in shown.events if e[0] == "warning"] and capture.log == []
    assert "_collection" not in repr(gc.callbacks)  # (each capture takes its callback back)
