"""What a computed result is held as until the store encodes it (``tracing.storing``)."""

import gc
import warnings

import numpy as np
import pandas as pd
import pytest

from collab_reuse.tracing import storing
from collab_reuse.tracing.registry import pandas_has_cow


def _column_by_column(rows: int, columns: int) -> pd.DataFrame:
    """A frame built as notebooks build features: one insertion per column, one block per column."""
    frame = pd.DataFrame({"id": np.arange(rows)})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # (pandas' PerformanceWarning about a fragmented frame)
        for i in range(columns):
            frame[f"f{i}"] = np.arange(rows, dtype=float) * i if i % 3 else np.arange(rows) + i
    frame["name"] = [f"n{i}" for i in range(rows)]
    return frame


def _tracked_objects(make) -> int:
    gc.collect()
    before = len(gc.get_objects())
    held = [make() for _ in range(5)]
    gc.collect()
    grown = len(gc.get_objects()) - before
    del held
    return grown


def test_a_small_fragmented_frame_is_held_consolidated_and_equal():
    frame = _column_by_column(90, 120)
    assert len(frame._mgr.blocks) > storing.FRAGMENTED_BLOCKS and storing.is_small(frame)
    held = storing.held_copy(frame)
    assert held is not frame
    assert len(held._mgr.blocks) <= 3  # one per dtype: int, float, str
    pd.testing.assert_frame_equal(held, frame)
    assert list(held.dtypes) == list(frame.dtypes)
    frame.loc[0, "f1"] = -1.0  # the user's later change doesn't reach what is held
    assert held.loc[0, "f1"] == 0.0


def test_holding_a_consolidated_copy_keeps_far_fewer_objects_for_the_collector():
    frame = _column_by_column(90, 120)
    consolidated = _tracked_objects(lambda: storing.held_copy(frame))
    shallow = _tracked_objects(lambda: frame.copy(deep=False))  # (the snapshot under Copy-on-Write)
    assert consolidated * 5 < shallow, (consolidated, shallow)


@pytest.mark.parametrize("frame", [
    pd.DataFrame({"a": np.arange(100_000.0), "b": np.arange(100_000.0)}),  # few blocks
    _column_by_column(5_000, 40),  # fragmented, but not small: a deep copy would cost memory
], ids=["few-blocks", "large"])
def test_other_frames_are_held_as_their_snapshot(frame):
    held = storing.held_copy(frame)
    assert len(held._mgr.blocks) == len(storing.snapshot(frame)._mgr.blocks)
    if pandas_has_cow():  # (without it the snapshot is a deep copy, which pandas consolidates)
        assert len(held._mgr.blocks) == len(frame._mgr.blocks)
    pd.testing.assert_frame_equal(held, frame)


def test_values_that_are_not_frames_are_held_as_their_snapshot():
    array = np.arange(10)
    assert storing.held_copy(array) is array
    series = pd.Series(np.arange(10.0))
    held = storing.held_copy(series)
    pd.testing.assert_series_equal(held, series)
