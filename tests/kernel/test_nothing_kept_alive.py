"""The extension keeps nothing of the notebook's alive that a plain run lets go.

A module-level cache of parameter names once held every bound method a traced call was made with,
and with it the method's receiver: ``big.merge(...)`` kept ``big`` in memory for the kernel's life
after the notebook deleted it (and ``ax.set_title`` its figure), and every full garbage collection
walked them all.
"""

import pytest

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
