"""What C code writes straight to the process's stdout and stderr descriptors, seen as it happens.

A Jupyter kernel puts a pipe in place of descriptors 1 and 2 and forwards what comes through it to the
notebook, so a library's C code that writes to them shows in the cell: LightGBM's ``[Fatal]`` line, an
OpenMP warning, what a joblib worker process prints. A reused step must show that again, and a tee of
``sys.stdout`` never sees it. So, in such a kernel, ``install`` puts one more pipe in front of
ipykernel's: a thread forwards every byte as soon as it arrives (the notebook
sees it as it would have), and hands it to the recordings open at that moment.

Ending a recording first forwards whatever is still in the pipe, under the lock the thread reads with:
every byte written before that moment is in the recording, with no marker and no waiting, and has reached
the notebook's stream (the thread forwards as ipykernel's own reader does, to the same ``OutStream``):
text a call's C code wrote comes before what the cell prints after the call, as it was written.
"""

from __future__ import annotations

import array
import atexit
import fcntl
import logging
import os
import select
import sys
import termios
import threading
from typing import Any, Callable

log = logging.getLogger("collab_reuse")

Listener = Callable[[str, str], None]  # (stream name, text as latin-1: one character per byte)

STREAMS = {"stdout": 1, "stderr": 2}


class _Pipe:
    """Our pipe on one descriptor; what comes through goes where ipykernel's own reader sends it."""

    def __init__(self, name: str, fd: int, stream: Any):
        self.name, self.fd, self.stream = name, fd, stream
        self.echo = stream._original_stdstream_copy  # (the terminal the kernel started from)
        self.previous = os.dup(fd)                  # ipykernel's pipe, put back at exit
        self.read_end, write_end = os.pipe()
        os.set_blocking(self.read_end, False)
        os.dup2(write_end, fd)
        os.close(write_end)

    def forward(self, data: bytes) -> None:
        """As ipykernel's reader does: to the notebook's stream, and echoed to the terminal."""
        self.stream.write(data.decode(errors="replace"))
        view = memoryview(data)
        while view:
            try:
                view = view[os.write(self.echo, view):]
            except OSError:
                break

    def restore(self) -> None:
        os.dup2(self.previous, self.fd)


class Forwarder:
    """The pipes in front of descriptors 1 and 2, and the thread that forwards them."""

    def __init__(self, streams: dict[str, Any]) -> None:
        self._lock = threading.Lock()
        self._listeners: list[Listener] = []
        self._pipes: list[_Pipe] = []
        try:
            for name, fd in STREAMS.items():
                self._pipes.append(_Pipe(name, fd, streams[name]))
        except OSError:
            for pipe in self._pipes:
                pipe.restore()
            raise
        self._wake_read, self._wake_write = os.pipe()
        # a drain asks both pipes at once, without waiting (one system call: a traced operation drains
        # twice, and most write nothing); its own poll object, as the thread's is polled meanwhile
        self._drain_poll = select.poll()
        self._by_end = {pipe.read_end: pipe for pipe in self._pipes}
        for end in self._by_end:
            self._drain_poll.register(end, select.POLLIN)
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="collab_reuse descriptor output", daemon=True)

    def start(self) -> None:
        """Start forwarding (once the forwarder is published: a thread that stops at once must find it)."""
        self._thread.start()

    def _run(self) -> None:
        try:
            self._forward_until_closed()
        except BaseException:  # (never expected) nothing must block on a pipe nobody reads
            log.warning("the descriptor output thread stopped: output of C code is no longer recorded",
                        exc_info=True)
        finally:
            if not self._closed:
                _stop_forwarding(self)

    def _forward_until_closed(self) -> None:
        poller = select.poll()
        for end in self._by_end:
            poller.register(end, select.POLLIN)
        poller.register(self._wake_read, select.POLLIN)
        while not self._closed:
            try:
                ready = poller.poll()
            except InterruptedError:
                continue
            with self._lock:
                for end, _ in ready:
                    if end in self._by_end:
                        self._forward(self._by_end[end])

    def _forward(self, pipe: _Pipe) -> None:
        """Forward what is in ``pipe`` now (the lock held). Never raises: it runs inside the notebook's
        traced calls too."""
        while True:
            pending = array.array("i", [0])
            try:
                fcntl.ioctl(pipe.read_end, termios.FIONREAD, pending)
                data = os.read(pipe.read_end, pending[0]) if pending[0] > 0 else b""
            except OSError:
                return
            if not data:
                return
            try:
                pipe.forward(data)
            except Exception:  # (the kernel's stream is closed: nobody would see it)
                pass
            if self._listeners:
                text = data.decode("latin-1")
                for listener in list(self._listeners):
                    try:
                        listener(pipe.name, text)
                    except Exception:
                        log.debug("a listener of descriptor output failed", exc_info=True)

    def _forward_all(self) -> None:
        """Forward what is in every pipe now (the lock held)."""
        try:
            ready = self._drain_poll.poll(0)
        except (OSError, RuntimeError):  # (never expected) look at each pipe
            ready = [(pipe.read_end, 0) for pipe in self._pipes]
        for end, _ in ready:
            pipe = self._by_end.get(end)
            if pipe is not None:
                self._forward(pipe)

    def drain(self) -> None:
        """Forward everything written so far."""
        with self._lock:
            self._forward_all()

    def listen(self, listener: Listener) -> None:
        """From now on, ``listener`` gets what is written (nothing written before)."""
        with self._lock:
            self._forward_all()
            self._listeners.append(listener)

    def unlisten(self, listener: Listener) -> None:
        """``listener`` has had everything written before this call."""
        with self._lock:
            self._forward_all()
            if listener in self._listeners:
                self._listeners.remove(listener)

    def close(self) -> None:
        """Put ipykernel's pipes back (at exit: its own shutdown writes to them)."""
        with self._lock:
            self._forward_all()
            for pipe in self._pipes:
                pipe.restore()
            self._closed = True
            os.write(self._wake_write, b"x")


forwarder: Forwarder | None = None


def kernel_streams() -> dict[str, Any] | None:
    """ipykernel's ``OutStream``s, where it reads descriptors 1 and 2 through pipes (``watchfd``)."""
    streams = {name: _underlying(getattr(sys, name, None)) for name in STREAMS}
    if all(type(getattr(s, "_fid", None)) is int and type(getattr(s, "_original_stdstream_copy", None)) is int
           and getattr(s, "_original_stdstream_fd", None) == STREAMS[name] for name, s in streams.items()):
        return streams
    return None


def _underlying(stream: Any) -> Any:
    """The stream under our tees (``_stream``), if a cell is being recorded."""
    while type(stream).__name__ == "_Tee" and type(stream).__module__.startswith("collab_reuse."):
        stream = stream._stream
    return stream


def install() -> None:
    """Once per process, in a kernel that forwards its descriptors; never taken back before exit (a worker
    process may hold the pipe)."""
    global forwarder
    streams = kernel_streams() if forwarder is None else None
    if streams is None:
        return
    try:
        forwarder = Forwarder(streams)
    except OSError as exc:
        log.warning("output written straight to the process's descriptors won't be recorded: %s", exc)
        return
    forwarder.start()
    atexit.register(_close)
    os.register_at_fork(after_in_child=_forget_in_child)


def _forget_in_child() -> None:
    """A forked child has no forwarding thread (its writes reach the parent's pipe, which forwards them),
    and its copy of the lock may be held."""
    global forwarder
    forwarder = None


def _close() -> None:
    global forwarder
    if forwarder is not None:
        forwarder.close()
        forwarder = None


def _stop_forwarding(stopped: Forwarder) -> None:
    """The thread stopped: descriptors 1 and 2 go straight to ipykernel's pipes again (put back before
    the forwarder is dropped: whoever sees it gone may count on them)."""
    global forwarder
    try:
        stopped.close()
    except OSError:
        pass
    if forwarder is stopped:
        forwarder = None


def listening(listener: Listener) -> Callable[[], None]:
    """Hand ``listener`` what is written from now on, where this kernel forwards its descriptors; returns
    the call that stops it (having handed it everything written before)."""
    current = forwarder
    if current is None:
        return _nothing
    current.listen(listener)
    return lambda: current.unlisten(listener)


def _nothing() -> None:
    pass


def write(name: str, text: str) -> None:
    """Write recorded bytes to the descriptor they were written to (a replay)."""
    data = memoryview(text.encode("latin-1"))
    while data:
        data = data[os.write(STREAMS[name], data):]
    if forwarder is not None:
        forwarder.drain()
