"""A kernel restarted through jupyter_server's REST API right after a Run All runs its next cell.

The restarted kernel binds the same ports as the one that exited; the process that writes the
exited kernel's pending results must hold none of them (it used to inherit them: "Address already
in use", and the first execution after the restart was lost). Cells run back to back through the
kernel's channels, with no idle time, so the results are all pending when the restart comes.
"""

from __future__ import annotations

import json
import time

import pytest

from collab_reuse.graph import ExperimentGraph
from collab_reuse.kernel.handoff import pending_writers, wait_for_writers

pytestmark = pytest.mark.kernel

RUN_ALL = [
    "import numpy as np, pandas as pd",
    "df = pd.DataFrame({'k': np.arange(400_000) % 97, 'v': np.arange(400_000) * 0.5})",
    "agg = df.groupby('k').agg(['mean', 'std', 'median', 'max'])\nprint(round(float(agg.sum().sum()), 3))",
    "big = np.argsort(np.sin(np.arange(3_000_000.0)), kind='stable')\nprint(int(big[:10].sum()))",
]
#: a 190 MB result, seconds to encode: a forked child encodes the backlog, and outlives the restart
LARGE = "ranked = pd.DataFrame(np.sin(np.arange(24_000_000.0)).reshape(-1, 12)).rank()\nprint(ranked.shape)"


@pytest.fixture
def kernels_load_collab_reuse(tmp_path, monkeypatch, store_dir):
    """Every kernel the server starts loads collab_reuse by configuration, as on a hub."""
    profile = tmp_path / "ipython" / "profile_default"
    profile.mkdir(parents=True)
    (profile / "ipython_kernel_config.py").write_text(
        'c.InteractiveShellApp.extensions = ["collab_reuse"]\n'
        "c.InteractiveShellApp.reraise_ipython_extension_failures = True\n"
        "c.CollabReuse.idle_seconds = 3600.0\n"  # nothing is encoded while the kernel lives
        "c.CollabReuse.min_saving = 0.0\n"
        'c.HistoryManager.hist_file = ":memory:"\n')
    monkeypatch.setenv("IPYTHONDIR", str(tmp_path / "ipython"))
    return store_dir


async def execute(client, code: str, timeout: float = 60) -> tuple[dict, str]:
    """(the execute reply's content, the text the cell printed)."""
    msg_id = client.execute(code)
    deadline = time.monotonic() + timeout
    text = []
    while True:
        msg = await client.get_iopub_msg(timeout=max(deadline - time.monotonic(), 0.1))
        if msg["parent_header"].get("msg_id") != msg_id:
            continue
        if msg["msg_type"] == "stream":
            text.append(msg["content"]["text"])
        if msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
            break
    while True:
        reply = await client.get_shell_msg(timeout=max(deadline - time.monotonic(), 0.1))
        if reply["parent_header"].get("msg_id") == msg_id:
            return reply["content"], "".join(text)


@pytest.mark.parametrize("cells, encoder", [(RUN_ALL, "the kernel encoded its"),
                                            (RUN_ALL + [LARGE], "encodes the rest")],
                         ids=["small-backlog", "large-backlog"])
async def test_a_restart_right_after_a_run_all_runs_the_next_cell(jp_fetch, jp_serverapp, kernels_load_collab_reuse,
                                                                  cells, encoder):
    store = kernels_load_collab_reuse
    started = json.loads((await jp_fetch("api", "kernels", method="POST", body=json.dumps({"name": "python3"}))).body)
    kernel_id = started["id"]
    client = jp_serverapp.kernel_manager.get_kernel(kernel_id).client()
    client.start_channels()
    try:
        await client.wait_for_ready(timeout=120)
        _, active = await execute(client, "import collab_reuse; print(collab_reuse.session_of(get_ipython()).active)")
        assert active == "True\n"
        for code in cells:
            reply, _ = await execute(client, code)
            assert reply["status"] == "ok", reply

        response = await jp_fetch("api", "kernels", kernel_id, "restart", method="POST", body="")
        assert response.code == 200

        reply, printed = await execute(client, "print(6 * 7)", timeout=60)
        assert reply["status"] == "ok" and printed == "42\n", (reply, printed)
        assert reply["execution_count"] == 1  # the new kernel's first execution, not lost
    finally:
        client.stop_channels()
        await jp_fetch("api", "kernels", kernel_id, method="DELETE")

    wait_for_writers(store, timeout=120)
    assert pending_writers(store) == []
    graph = ExperimentGraph(store, create=False)
    try:
        assert len(graph.materialized_ids()) >= 2  # the pending results were written after the restart
    finally:
        graph.close()
    log = (store / "collab_reuse.log").read_text()
    assert encoder in log and "the exit writer applied" in log and "Address already in use" not in log
