"""The demo notebooks at scale 1: plain runs are deterministic, reuse changes nothing and reuses."""
from __future__ import annotations

import pytest

from collab_reuse.demo.__main__ import DEMO_NOTEBOOKS, NOTEBOOKS_DIR
from collab_reuse.demo.runner import compare, reuse_totals, run_notebook, run_parallel

pytestmark = pytest.mark.kernel

EXPECTED_FILES = {
    "01_introduction.ipynb": {"submission_log_reg.csv", "submission_random_forest.csv",
                              "submission_random_forest_domain.csv"},
    "02_feature_engineering.ipynb": {"control.csv", "test_two.csv"},
}


def _run(name, workdir, data, store=None):
    return lambda: run_notebook(NOTEBOOKS_DIR / name, workdir, store_dir=store,
                                env={"HOME_CREDIT_DATA": str(data)}, timeout=600)


@pytest.mark.parametrize("name", DEMO_NOTEBOOKS)
def test_demo_notebook_is_deterministic_plain_and_identical_with_reuse(name, demo_data_dir, tmp_path):
    """Two plain runs agree (else nothing could be compared); with a store, the first run
    and a re-run in a new kernel agree with them, and the re-run reuses.

    Plain runs are paired with the reuse runs (two kernels at a time) to halve the wall time.
    """
    store = tmp_path / "store"
    plain, first = run_parallel(_run(name, tmp_path / "plain", demo_data_dir),
                                _run(name, tmp_path / "first", demo_data_dir, store))
    plain2, rerun = run_parallel(_run(name, tmp_path / "plain2", demo_data_dir),
                                 _run(name, tmp_path / "rerun", demo_data_dir, store))
    assert plain.errors == []
    assert set(plain.files) == EXPECTED_FILES[name]
    assert not (diffs := compare(plain, plain2)), "two plain runs differ:\n" + "\n".join(diffs)
    assert first.extension_loaded and rerun.extension_loaded
    assert not (diffs := compare(plain, first)), "first run:\n" + "\n".join(diffs)
    assert not (diffs := compare(plain, rerun)), "re-run:\n" + "\n".join(diffs)
    totals = reuse_totals(store, rerun.kernel_id)
    assert totals.get("reused", 0) > 0, f"the re-run reused nothing: {totals}"
