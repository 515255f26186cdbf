"""Loading the extension at kernel start (``--ext=collab_reuse``) changes nothing a notebook can see."""

import nbformat
import pytest

from collab_reuse.demo.runner import compare, run_notebook

pytestmark = pytest.mark.kernel


def test_pandas_display_defaults_are_those_of_a_plain_kernel(tmp_path):
    # pandas chooses its display defaults when first imported, from whether it runs in a kernel cell;
    # the extension must not import pandas (or anything importing it) outside the user's cells
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("import pandas as pd\nprint(pd.get_option('display.max_columns'), "
                                          "pd.get_option('display.width'))"),
                nbformat.v4.new_code_cell("pd.DataFrame({f'c{i}': [i] for i in range(40)})")]
    path = tmp_path / "display.ipynb"
    nbformat.write(nb, path)
    plain = run_notebook(path, tmp_path / "plain")
    with_ext = run_notebook(path, tmp_path / "ext", store_dir=tmp_path / "store")
    assert compare(plain, with_ext) == []
    assert "20 80" in str(plain.outputs)
