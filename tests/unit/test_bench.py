"""The bench's choice of demo notebooks (``--notebooks``)."""

import pytest

from collab_reuse.bench import selected_notebooks

NAMES = ["01_introduction.ipynb", "02_feature_engineering.ipynb"]


def test_notebooks_are_chosen_by_stem_or_file_name_in_demo_order():
    assert selected_notebooks(NAMES, None) == NAMES
    assert selected_notebooks(NAMES, ["02_feature_engineering"]) == NAMES[1:]
    assert selected_notebooks(NAMES, ["02_feature_engineering.ipynb", "01_introduction"]) == NAMES


def test_an_unknown_notebook_is_refused_with_the_names_there_are():
    with pytest.raises(SystemExit, match="no demo notebook 03_x; there are 01_introduction, 02_feature_engineering"):
        selected_notebooks(NAMES, ["03_x"])
