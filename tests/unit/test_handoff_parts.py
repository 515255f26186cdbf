"""Parts of the exit handoff: the writes' wire format, the store's exit-writer slots, and the forked
child's descriptors pointed at /dev/null."""
import os
import time

from collab_reuse.graph import VertexUpdate
from collab_reuse.kernel import handoff, jobs, wire
from collab_reuse.kernel.store_writes import Offer
from collab_reuse.store.formats import Encoded

WRITES = [
    jobs.RecordCell(1, [VertexUpdate("a", "pandas.read_csv", "dataframe", ["x"], 1.5)], "u", {"totals": {}},
                    ["r"], [["q", "DataFrame", 0.1]], [["k", 3, "a"]]),
    jobs.WriteOffers(1, None, [Offer("a", Encoded({"value": {"t": "json"}}, {"k1": b"abc", "k2": bytes(100_000)}),
                                     {"log": [["stdout", "hi\n"]]})], "storage_aware", 0.0),
    jobs.RecordRefused("u", {"b": "can't be encoded"}),
    jobs.RememberFile("path|1|2|3", "digest"),
    jobs.RecordLoad(10, 0.5),
    jobs.Forget(["a"]),
    jobs.Upkeep(5_000),
]


def _through_a_pipe(send, tail=b""):
    read_end, write_end = os.pipe()
    wire.widen(write_end)
    pid = os.fork()
    if pid == 0:  # a writer on the other end, as at exit
        os.close(read_end)
        send(write_end)
        os.write(write_end, tail)
        os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as stream:
        got = [jobs.decode(frame) for frame in wire.frames(stream)]
    os.waitpid(pid, 0)
    return got


def test_every_write_crosses_the_pipe_unchanged():
    assert _through_a_pipe(lambda fd: [jobs.send(fd, w) for w in WRITES]) == WRITES


def test_a_frame_cut_short_is_dropped_whole():
    got = _through_a_pipe(lambda fd: [jobs.send(fd, w) for w in WRITES[:2]], tail=wire.MAGIC + b"\x10" * 10)
    assert got == WRITES[:2]
    assert _through_a_pipe(lambda fd: None, tail=b"not a frame at all") == []


def test_an_unknown_kind_is_not_applied():
    assert jobs.decode(("format-the-disk", {}, [])) is None


def test_at_most_the_store_s_cap_of_exit_writers_hold_a_slot(tmp_path):
    first = handoff.take_slot(tmp_path, 2, 0.0)
    second = handoff.take_slot(tmp_path, 2, 0.0)
    assert first is not None and second is not None
    start = time.monotonic()
    assert handoff.take_slot(tmp_path, 2, 0.3) is None  # both taken: give up within the bound
    assert 0.3 <= time.monotonic() - start < 2
    os.close(first)  # its writer ended
    third = handoff.take_slot(tmp_path, 2, 0.0)
    assert third is not None
    for fd in (second, third):
        os.close(fd)


def test_a_forked_child_keeps_only_the_descriptors_it_was_told_to(tmp_path):
    kept_read, kept_write = os.pipe()
    user_file = open(tmp_path / "user-file.txt", "w")
    report_read, report_write = os.pipe()
    pid = os.fork()
    if pid == 0:
        handoff.replace_inherited_descriptors(keep=(kept_write, report_write))
        targets = {fd: os.readlink(f"/proc/self/fd/{fd}") for fd in os.listdir("/proc/self/fd")
                   if os.path.exists(f"/proc/self/fd/{fd}")}
        os.write(report_write, repr(targets).encode())
        user_file.write("flushed by the child's copy")  # goes to /dev/null now
        user_file.close()
        os._exit(0)
    os.close(report_write)
    os.waitpid(pid, 0)
    targets = eval(os.read(report_read, 1 << 16).decode())  # noqa: S307 - our own child's repr
    user_file.close()
    assert (tmp_path / "user-file.txt").read_text() == ""
    kept = {targets.pop(str(kept_write)), targets.pop(str(report_write))}
    assert all(t.startswith("pipe:") for t in kept)
    assert set(targets.values()) <= {"/dev/null"}, targets
    for fd in (kept_read, kept_write, report_read):
        os.close(fd)


def test_the_exit_writer_reads_ahead_only_so_far():
    import threading

    from collab_reuse.kernel.exit_writer import _Inbox

    inbox = _Inbox(limit=10)
    frame = ("load", {}, [b"x" * 6])
    inbox.put(frame)
    second = threading.Thread(target=inbox.put, args=(frame,))
    second.start()
    second.join(0.2)
    assert second.is_alive()  # 12 bytes would pass the bound: the reader waits for the writing
    assert inbox.get() == frame
    second.join(5)
    assert not second.is_alive() and inbox.get() == frame
    inbox.put(("load", {}, [b"y" * 50]))  # a frame larger than the bound still goes, alone
    inbox.put(None)
    assert inbox.get()[2] == [b"y" * 50] and inbox.get() is None
