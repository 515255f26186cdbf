"""Content digests of frames, series, arrays and estimators."""

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.linear_model import LogisticRegression

from collab_reuse.errors import Unreusable
from collab_reuse.fingerprint import content_digest


def frame():
    return pd.DataFrame({"a": [1, 2, 3], "b": ["x", "y", None], "c": [0.5, np.nan, 1.5]}, index=[10, 11, 12])


def test_equal_frames_have_equal_digests():
    assert content_digest(frame()) == content_digest(frame())


@pytest.mark.parametrize("change", [
    lambda d: d.assign(a=[1, 2, 4]),
    lambda d: d.astype({"a": "float64"}),
    lambda d: d.rename(columns={"a": "A"}),
    lambda d: d.set_axis([10, 11, 13]),
    lambda d: d[["b", "a", "c"]],
    lambda d: d.rename_axis("idx"),
])
def test_any_change_of_content_dtype_or_labels_changes_the_digest(change):
    assert content_digest(change(frame())) != content_digest(frame())


@settings(max_examples=50, deadline=None)
@given(st.lists(st.integers(-10**6, 10**6), min_size=1, max_size=30), st.integers(0, 29), st.integers(1, 5))
def test_changing_one_cell_changes_the_digest(values, pos, delta):
    pos = pos % len(values)
    changed = list(values)
    changed[pos] += delta
    assert content_digest(pd.Series(values)) != content_digest(pd.Series(changed))


def test_arrays_by_bytes_dtype_and_shape():
    a = np.arange(6)
    assert content_digest(a) == content_digest(np.arange(6))
    assert content_digest(a) != content_digest(a.reshape(2, 3))
    assert content_digest(a) != content_digest(a.astype("int32"))


def test_unfitted_estimators_by_class_and_params():
    assert content_digest(LogisticRegression(C=1)) == content_digest(LogisticRegression(C=1))
    assert content_digest(LogisticRegression(C=1)) != content_digest(LogisticRegression(C=2))


def test_fitted_estimator_from_outside_is_not_identified():
    est = LogisticRegression().fit([[0], [1]], [0, 1])
    with pytest.raises(Unreusable):
        content_digest(est)


def test_unhashable_cells_are_not_identified():
    with pytest.raises(Unreusable):
        content_digest(pd.Series([[1], [2]]))
