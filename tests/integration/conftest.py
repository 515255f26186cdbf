"""Shared fixtures of the notebook-equivalence tests: data and environment."""
from __future__ import annotations

from pathlib import Path

import pytest

from collab_reuse.demo.generate import generate

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"

#: what data_file_changed.ipynb reads (FIXTURE_INPUT) unless a test writes its own
INPUT_CSV = "k,v\na,1\nb,2\na,3\nc,4\nb,5\n"


@pytest.fixture(scope="session")
def fixture_env(tmp_path_factory) -> dict[str, str]:
    """Environment for the fixture notebooks: small Home Credit data and a default input file."""
    root = tmp_path_factory.mktemp("fixture-data")
    generate(root / "home-credit", scale=0.2, seed=0)
    (root / "input.csv").write_text(INPUT_CSV)
    return {"HOME_CREDIT_DATA": str(root / "home-credit"), "FIXTURE_INPUT": str(root / "input.csv")}

