"""Parameter digests: deterministic, type-tagged, pinned by golden values."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from collab_reuse.errors import Unreusable
from collab_reuse.fingerprint import digest_parts

literals = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text() | st.binary(),
    lambda children: st.lists(children, max_size=4) | st.tuples(children, children)
    | st.dictionaries(st.text(max_size=5), children, max_size=4),
    max_leaves=12,
)


def test_golden_digests_are_stable_across_versions_of_the_code():
    # a change here invalidates every store: bump FORMAT_VERSION when it is meant
    assert digest_parts("x") == "0ae81bca8912239d1fd87fca508ee18a"
    assert digest_parts("pandas.read_csv", {"sep": ","}, (1, 2.5, None)) == "884a8a2664590880b98418e193856706"


@given(literals)
def test_equal_values_have_equal_digests(value):
    assert digest_parts(value) == digest_parts(value)


@pytest.mark.parametrize("a, b", [(1, 1.0), (1, True), (1, "1"), ((1, 2), [1, 2]), (b"a", "a"), (0.0, -0.0),
                                  (None, "None"), ({"a": 1, "b": 2}, {"b": 2, "a": 1}), (np.int64(1), 1),
                                  (np.float32(1), np.float64(1))])
def test_values_of_different_type_or_order_never_collide(a, b):
    assert digest_parts(a) != digest_parts(b)


def test_sets_are_order_insensitive():
    assert digest_parts({3, 1, 2}) == digest_parts({1, 2, 3})


def test_nan_is_one_value():
    assert digest_parts(float("nan")) == digest_parts(float("nan"))


def test_unknown_objects_need_a_resolver():
    with pytest.raises(Unreusable):
        digest_parts(object())


def test_resolver_names_objects():
    obj = object()
    assert digest_parts(obj, resolve=lambda v: "id-1") == digest_parts(object(), resolve=lambda v: "id-1")
    assert digest_parts(obj, resolve=lambda v: "id-1") != digest_parts(obj, resolve=lambda v: "id-2")
