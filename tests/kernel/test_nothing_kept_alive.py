"""The extension keeps nothing of the notebook's alive that a plain run lets go.

A module-level cache of parameter names once held every bound method a traced call was made with,
and with it the method's receiver: ``big.merge(...)`` kept ``big`` in memory for the kernel's life
after the notebook deleted it (``le.fit``, the encoder), and every full garbage collection walked
them all.
"""

import gc

import collab_reuse
import pytest
from IPython.core.interactiveshell import InteractiveShell

from shells import plain_first_again

pytestmark = pytest.mark.kernel

CELLS = [
    "import gc, weakref\nimport numpy as np, pandas as pd\n"
    "big = pd.DataFrame({'k': np.arange(100_000) % 7, 'v': np.arange(100_000.0)})\n"
    "keys = pd.DataFrame({'k': range(7), 'name': list('abcdefg')})",
    "m = big.merge(keys, on='k')\nr = big['v'].rolling(3).mean()\nprint(len(m), len(r))",
    "gone = weakref.ref(big), weakref.ref(m)\ndel big, m, r\ngc.collect()\nprint('let go:', [x() is None for x in gone])",
]


def test_a_frame_a_traced_method_was_called_on_is_let_go_as_in_a_plain_run(tmp_path):
    plain, first, again, _ = plain_first_again(tmp_path, CELLS)
    assert plain.text(2) == "let go: [True, True]\n"
    assert first.text(2) == again.text(2) == plain.text(2)
    assert first.text(1) == again.text(1) == plain.text(1)


IN_ONE_SHELL = [
    "import numpy as np, pandas as pd\n"
    "from sklearn.linear_model import LogisticRegression\n"
    "from sklearn.model_selection import train_test_split, cross_val_score\n"
    "rng = np.random.default_rng(0)\n"
    "big = pd.DataFrame({'k': rng.integers(0, 50, 200_000), 'v': rng.normal(size=200_000),"
    " 'w': rng.normal(size=200_000)})\n"
    "big['y'] = (big['v'] > 0).astype(int)",
    "keys = pd.DataFrame({'k': range(50), 'name': [f'n{i}' for i in range(50)]})\n"
    "m = big.merge(keys, on='k')\n"
    "g = big.groupby('k').agg({'v': ['mean', 'std'], 'w': 'sum'})\n"
    "r = big['v'].rolling(5).mean()\n"
    "f = big.fillna(0).drop(columns=['w'])\n"
    "vc = big['k'].value_counts()",
    "X_tr, X_te, y_tr, y_te = train_test_split(big[['v', 'w']], big['y'], test_size=0.2, random_state=0)\n"
    "model = LogisticRegression().fit(X_tr, y_tr)\n"
    "scores = cross_val_score(LogisticRegression(), big[['v', 'w']].head(5000), big['y'].head(5000), cv=3)",
]


def _pandas_objects() -> dict[int, object]:
    import pandas as pd

    gc.collect()
    return {id(o): o for o in gc.get_objects() if isinstance(o, (pd.DataFrame, pd.Series))}


def test_nothing_of_the_notebooks_is_held_once_its_results_are_stored(tmp_path, monkeypatch):
    """Results wait for an idle kernel to be stored, then are let go: the writer thread once kept the
    last job it ran, and with it that job's results (here the four frames of ``train_test_split``), for
    as long as no other job came."""
    monkeypatch.setenv("COLLAB_REUSE_STORE", str(tmp_path / "store"))
    InteractiveShell.clear_instance()
    ip = InteractiveShell.instance()
    ip.run_line_magic("load_ext", "collab_reuse")
    try:
        before = _pandas_objects()
        for cell in IN_ONE_SHELL:
            result = ip.run_cell(cell, store_history=True)
            assert result.error_in_exec is None, result.error_in_exec
        session = collab_reuse.session_of(ip)
        assert session.flush(120)
        assert session.hits == 0 and list(session.store.blobs.keys())  # (a first run: it stored results)
        ip.run_cell("del big, keys, m, g, r, f, vc, X_tr, X_te, y_tr, y_te, model, scores", store_history=True)
        left = [o for i, o in _pandas_objects().items() if i not in before]
        assert left == [], [(type(o).__name__, o.shape) for o in left]
    finally:
        ip.run_line_magic("unload_ext", "collab_reuse")
        InteractiveShell.clear_instance()
