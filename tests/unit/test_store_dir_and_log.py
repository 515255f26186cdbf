"""The store directory's format mark and identity, and the store's log: it never prints, never
raises, never makes a directory, and stays bounded."""
import json
import logging
import os
import shutil

import pytest

from collab_reuse.errors import StoreError
from collab_reuse.graph import ExperimentGraph
from collab_reuse.graph.storedir import MARK_FILE, STORE_FORMAT, open_store_dir
from collab_reuse.kernel.storelog import StoreLogHandler


def test_a_new_store_gets_the_mark_and_a_store_of_another_format_is_refused(tmp_path):
    store = tmp_path / "store"
    handle = open_store_dir(store)
    mark = json.loads((store / MARK_FILE).read_text())
    assert mark["format"] == STORE_FORMAT and mark["id"] == handle.token
    assert open_store_dir(store).token == handle.token  # a second kernel finds the same store
    (store / MARK_FILE).write_text(json.dumps({"format": STORE_FORMAT + 1}))
    with pytest.raises(StoreError, match="format"):
        open_store_dir(store)
    (store / MARK_FILE).write_text("{not json")
    with pytest.raises(StoreError, match="mark"):
        open_store_dir(store)


def test_a_store_from_before_the_mark_gets_one(tmp_path):
    ExperimentGraph(tmp_path / "old").close_all()
    assert not (tmp_path / "old" / MARK_FILE).exists()
    open_store_dir(tmp_path / "old", create=False)
    assert (tmp_path / "old" / MARK_FILE).exists()


def test_a_store_that_is_missing_or_not_a_directory_is_refused_without_making_one(tmp_path):
    with pytest.raises(StoreError):
        open_store_dir(tmp_path / "absent", create=False)
    assert not (tmp_path / "absent").exists()
    (tmp_path / "file").write_text("x")
    with pytest.raises(StoreError, match="not a directory"):
        open_store_dir(tmp_path / "file")


def test_a_store_deleted_or_made_again_is_no_longer_the_one_opened(tmp_path):
    handle = open_store_dir(tmp_path / "store")
    handle.check()
    shutil.rmtree(tmp_path / "store")
    with pytest.raises(StoreError, match="gone"):
        handle.check()
    (tmp_path / "store").mkdir()
    with pytest.raises(StoreError, match="made again"):
        handle.check()


def test_a_mark_written_again_in_place_is_seen_although_checks_skip_reading_an_unchanged_one(tmp_path):
    """``check`` reads the mark only when its file changed since it was read; a mark replaced by
    another store's (same size, same inode) has a new change time."""
    handle = open_store_dir(tmp_path / "store")
    for _ in range(3):
        handle.check()
    mark = tmp_path / "store" / MARK_FILE
    data = json.loads(mark.read_text())
    other = data["id"][::-1]
    assert other != data["id"] and len(other) == len(data["id"])
    before = os.stat(mark)
    text = mark.read_text().replace(data["id"], other)
    with open(mark, "r+") as f:  # (in place: the same inode, the same size)
        f.write(text)
    assert (os.stat(mark).st_ino, os.stat(mark).st_size) == (before.st_ino, before.st_size)
    with pytest.raises(StoreError, match="made again"):
        handle.check()
    mark.unlink()
    with pytest.raises(StoreError, match="was deleted"):
        handle.check()


def _record(text):
    return logging.LogRecord("collab_reuse", logging.INFO, __file__, 1, text, (), None)


def test_the_log_never_prints_raises_or_makes_the_store(tmp_path, capsys):
    handler = StoreLogHandler(tmp_path / "gone" / "collab_reuse.log")
    handler.handle(_record("into a store that is not there"))
    handler.close()
    assert handler.dropped == 1
    assert capsys.readouterr() == ("", "")  # (logging's own handler prints a traceback to the cell)
    assert not (tmp_path / "gone").exists()


def test_the_log_is_rotated_by_size_and_keeps_a_few_files(tmp_path):
    handler = StoreLogHandler(tmp_path / "collab_reuse.log", max_bytes=1000, backups=2)
    for i in range(200):
        handler.handle(_record(f"line {i:04d} " + "x" * 40))
    files = sorted(p.name for p in tmp_path.iterdir())
    assert files == ["collab_reuse.log", "collab_reuse.log.1", "collab_reuse.log.2"]
    assert sum(p.stat().st_size for p in tmp_path.iterdir()) < 3 * 1100
    assert "line 0199" in (tmp_path / "collab_reuse.log").read_text()
    handler.close()


def test_two_processes_logging_follow_each_others_rotation(tmp_path):
    first = StoreLogHandler(tmp_path / "collab_reuse.log", max_bytes=500)
    second = StoreLogHandler(tmp_path / "collab_reuse.log", max_bytes=10**6)
    first.handle(_record("first " + "x" * 600))  # first rotates the file away
    second.handle(_record("second writes to the new file"))
    assert "second writes" in (tmp_path / "collab_reuse.log").read_text()
    os.remove(tmp_path / "collab_reuse.log")
    second.handle(_record("after the file was deleted"))
    assert "after the file" in (tmp_path / "collab_reuse.log").read_text()
    first.close()
    second.close()
