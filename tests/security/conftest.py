"""The victim notebook's first runs, once per test module (the helpers are in hostile.py)."""

import pytest

from hostile import Runs, first_runs


@pytest.fixture(scope="module")
def notebook_runs(tmp_path_factory) -> Runs:
    return first_runs(tmp_path_factory)
