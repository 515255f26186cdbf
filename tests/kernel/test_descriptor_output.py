"""What a library's C code writes straight to descriptors 1 and 2 is part of a step's output
(``tracing/fd_output.py``): recorded while the step computes, and written again when it is reused.

Before, only what Python code printed was recorded: a reused ``SVC(verbose=True).fit`` showed none of
libsvm's lines (written with C's ``printf``), and a reused LightGBM cross-validation in
koehrsen_model_tuning not the ``[Fatal]`` line LightGBM's C++ writes to stderr."""

from __future__ import annotations

import pytest

from collab_reuse.demo.runner import compare, reuse_events

from shells import plain_first_again

pytestmark = pytest.mark.kernel

CELLS = [
    "import time\nimport numpy as np\nfrom sklearn.svm import SVC\nnp.random.seed(0)  # (the fit draws libsvm's seed)\n"
    "X = np.sin(np.arange(40000.0).reshape(8000, 5) * 1.7)\n"
    "y = (X[:, 0] + (np.sin(np.arange(8000) * 12.9898) * 43758.5453 % 1) > 0.5).astype(int)",
    # (a plain run's libsvm text reaches the notebook through ipykernel's reader thread: the pause keeps
    # it before the next print in the plain run too)
    "print('before')\nmodel = SVC(verbose=True).fit(X, y)\ntime.sleep(0.5)\nprint('after', model.n_support_)",
    "print(model.score(X, y))",
]


def test_what_c_code_wrote_during_a_reused_fit_is_shown_again(tmp_path):
    plain, first, again, store = plain_first_again(tmp_path, CELLS)
    shown = "".join(o.get("text") or "" for o in plain.outputs[1]["outputs"])
    assert "optimization finished" in shown and "Total nSV" in shown  # (libsvm's printf reached the notebook)
    assert compare(plain, first) == []
    assert compare(plain, again) == []
    fits = [s["status"] for e in reuse_events(store, again.kernel_id) for s in e.get("steps", [])
            if s["op"] == "SVC.fit"]
    assert fits == ["reused"]
