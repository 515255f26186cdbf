"""``tracing/fd_output.py`` with real pipes and descriptors, in a child process (it replaces descriptors 1
and 2, which pytest's own capture holds here). The child stands up two streams shaped like ipykernel's
``OutStream`` (what the forwarder checks for and writes to), installs the forwarder and reports what the
captures recorded and what reached the streams."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

SETUP = textwrap.dedent(r'''
    import ctypes, json, os, sys, time

    class KernelStream:  # what the forwarder needs of ipykernel's OutStream
        def __init__(self, name, fd):
            self.name, self._fid, self._original_stdstream_fd = name, -1, fd
            self._original_stdstream_copy = os.open(os.devnull, os.O_WRONLY)  # (the terminal)
            self.received = []
        def write(self, text):
            self.received.append(text)
        def flush(self):
            pass

    streams = {"stdout": KernelStream("stdout", 1), "stderr": KernelStream("stderr", 2)}
    real_out = os.dup(1)
    sys.stdout, sys.stderr = streams["stdout"], streams["stderr"]
    from collab_reuse.tracing import fd_output
''')

CHILD = SETUP + textwrap.dedent(r'''
    from collab_reuse.tracing.capture import Capture, replay
    fd_output.install()
    assert fd_output.forwarder is not None
    libc = ctypes.CDLL(None)

    os.write(2, b"before any capture\n")
    with Capture(warnings=False) as outer:
        os.write(2, b"outer \xff\n")
        with Capture(warnings=False) as inner:
            libc.write(1, b"from C\n", 7)
            sys.stdout.write("from Python\n")
        os.write(2, b"after inner\n")
    os.write(1, b"after all\n")
    fd_output.forwarder.drain()
    received = {name: "".join(s.received) for name, s in streams.items()}
    for s in streams.values():
        s.received.clear()
    replay(inner.log, None)
    replayed = {name: "".join(s.received) for name, s in streams.items()}
    fd_output._close()
    os.write(real_out, json.dumps({"outer": outer.log, "inner": inner.log, "received": received,
                                   "replayed": replayed, "fd1_restored": os.path.sameopenfile(1, real_out)}).encode())
''')


def test_what_c_code_writes_is_recorded_by_the_captures_open_then_and_forwarded():
    done = subprocess.run([sys.executable, "-c", CHILD], capture_output=True, timeout=60)
    assert done.returncode == 0, done.stderr.decode()
    got = json.loads(done.stdout)
    # (the thread hands C's text over as it arrives, so its place among Python's writes is not fixed)
    assert sorted(got["inner"]) == [["fd", "stdout", "from C\n"], ["stdout", "from Python\n"]]
    # the outer capture saw everything written while it was open, bytes that are not UTF-8 included
    assert ["fd", "stderr", "outer \xff\n"] in got["outer"] and ["fd", "stderr", "after inner\n"] in got["outer"]
    assert ["fd", "stdout", "from C\n"] in got["outer"]
    assert not any("before any capture" in str(e) or "after all" in str(e) for e in got["outer"])
    # everything reached the notebook's streams, as ipykernel's reader would have sent it
    assert got["received"]["stderr"] == "before any capture\nouter \ufffd\nafter inner\n"
    lines = got["received"]["stdout"].splitlines(keepends=True)
    assert sorted(lines[:2]) == ["from C\n", "from Python\n"] and lines[2:] == ["after all\n"]
    # a replay writes the recorded bytes to the same descriptor again, in the recorded order
    assert got["replayed"]["stdout"] == "".join(entry[-1] for entry in got["inner"])
    assert got["fd1_restored"]


FAILING = SETUP + textwrap.dedent(r'''
    kernel_pipe = os.dup(2)  # (stands for ipykernel's pipe: what descriptor 2 was before)
    fd_output.install()
    got = []
    fd_output.forwarder.listen(lambda name, text: 1 / 0)  # a listener that fails
    fd_output.forwarder.listen(lambda name, text: got.append(text))
    os.write(2, b"still forwarded\n")
    fd_output.forwarder.drain()
    alive = fd_output.forwarder._thread.is_alive()

    def broken(self):
        raise RuntimeError("the thread stops")

    fd_output._close()  # (a second forwarder whose thread dies at once)
    fd_output.Forwarder._forward_until_closed = broken
    fd_output.install()
    for _ in range(100):
        if fd_output.forwarder is None:
            break
        time.sleep(0.01)
    os.write(real_out, json.dumps({"got": got, "alive": alive, "gone": fd_output.forwarder is None,
                                   "restored": os.path.sameopenfile(2, kernel_pipe)}).encode())
''')


def test_a_failing_listener_or_a_stopped_thread_never_blocks_the_descriptors():
    done = subprocess.run([sys.executable, "-c", FAILING], capture_output=True, timeout=60)
    assert done.returncode == 0, done.stderr.decode()
    got = json.loads(done.stdout)
    assert got["got"] == ["still forwarded\n"] and got["alive"]
    # the second forwarder's thread stopped: it is dropped, and descriptor 2 is ipykernel's pipe again
    assert got["gone"] and got["restored"]
