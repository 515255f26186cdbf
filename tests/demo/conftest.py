"""Fixtures of the demo tests: the demo data at scale 1, generated once per session."""
from __future__ import annotations

import pytest

from collab_reuse.demo.__main__ import demo_data


@pytest.fixture(scope="session")
def demo_data_dir(tmp_path_factory):
    return demo_data(tmp_path_factory.mktemp("demo-data"), scale=1.0, seed=0)
