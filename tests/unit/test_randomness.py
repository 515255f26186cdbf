"""The global random generators as inputs: which moved, whether a call reseeded them first, putting them back."""

import random

import numpy as np
import pytest

from collab_reuse.tracing import randomness


def test_the_probe_sees_a_draw_from_either_generator_and_names_which_moved():
    before = randomness.snapshot()
    assert randomness.moved(before, randomness.snapshot()) == ""
    np.random.rand()
    assert randomness.moved(before, randomness.snapshot()) == "np"
    middle = randomness.snapshot()
    random.random()
    assert randomness.moved(middle, randomness.snapshot()) == "py"
    assert randomness.moved(before, randomness.snapshot()) == "np+py"


def test_a_digest_takes_only_the_generators_named():
    before = randomness.snapshot()
    random.random()  # Python's moved, numpy's did not
    after = randomness.snapshot()
    assert randomness.digest(before, "np") == randomness.digest(after, "np")
    assert randomness.digest(before, "py") != randomness.digest(after, "py")


@pytest.mark.parametrize("body, depends", [
    (lambda: (np.random.seed(3), np.random.rand()), ""),                         # reseeded, then drew
    (lambda: (np.random.rand(), np.random.seed(3), np.random.rand()), "np"),     # drew before reseeding
    (lambda: (random.seed(5), random.random()), ""),
    (lambda: (np.random.seed(3), np.random.rand(), random.random()), "py"),      # Python's drawn unseeded
    (lambda: (np.random.seed(3), random.seed(5), random.random(), np.random.rand()), ""),
    (lambda: np.random.set_state(np.random.RandomState(7).get_state()), ""),
    (lambda: np.random.rand(), "np"),
    (lambda: None, ""),                                                           # moved nothing
])
def test_a_call_that_reseeds_before_drawing_computes_the_same_from_any_state(body, depends):
    np.random.seed(3)
    np.random.rand()  # (the state the second case leaves: drawing then reseeding may land where it began)
    before = randomness.snapshot()
    with randomness.Reseeds(before) as reseeds:
        body()
    assert reseeds.depends(randomness.snapshot()) == depends
    assert np.random.seed.__module__ == "numpy.random" and type(np.random.seed) is not type(body)  # put back


def test_restoring_never_counts_as_reseeding_and_puts_both_generators_back():
    state = randomness.full_state_json()
    drawn = (np.random.rand(), random.random())
    with randomness.Reseeds(randomness.snapshot()) as reseeds:
        randomness.restore(state)
    assert reseeds.first == {}
    assert (np.random.rand(), random.random()) == drawn
