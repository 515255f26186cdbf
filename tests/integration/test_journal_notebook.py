"""A real kernel's cell reports name the notebook they ran in (as a Jupyter server tells the kernel:
``JPY_SESSION_NAME``), in the user's journal: the reuse report's time saved per notebook."""

import nbformat

from collab_reuse.analytics import gather
from collab_reuse.demo.runner import run_notebook
from collab_reuse.graph import ExperimentGraph


def test_cell_reports_name_their_notebook(tmp_path):
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(
        "import numpy as np, pandas as pd\n"
        "df = pd.DataFrame({'k': np.arange(200_000) % 7, 'v': np.arange(200_000) * 1.0})\n"
        "agg = df.groupby('k').agg(['mean', 'median'])\nprint(agg.shape)")])
    path = tmp_path / "sales-eda.ipynb"
    nbformat.write(nb, path)
    store = tmp_path / "store"
    run = run_notebook(path, tmp_path / "run", store_dir=store, timeout=300)
    assert run.outputs[0]["outputs"][0]["text"] == "(7, 2)\n"
    graph = ExperimentGraph(store, create=False)
    try:
        assert graph.journal().query("SELECT DISTINCT notebook FROM events") == [("sales-eda.ipynb",)]
        assert set(gather(graph).saved_by_notebook) == {"sales-eda.ipynb"}
    finally:
        graph.close_all()
