"""Issue 17's load check on a real JupyterHub: eight kernels of two users run one notebook at once on
one team store. Every output is the plain run's; the costly step (a forest's fit) is computed once and
loaded by the seven others (single flight: kernel/leases.py); after every kernel exited and its
writer finished, every stored artifact reads back and verifies. The time of each kernel against one
kernel alone is written to test-artifacts/hub-team-load.txt (and the hub timings)."""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from hub_notebook import KernelCheck, run_as
from hub_session import ALICE, ARTIFACTS, BOB, TIMINGS

from collab_reuse.graph import ExperimentGraph
from collab_reuse.kernel.handoff import pending_writers, wait_for_writers
from collab_reuse.kernel.storelog import LOG_NAME
from collab_reuse.store import open_artifacts

pytestmark = [pytest.mark.hub, pytest.mark.timeout(1500)]

KERNELS = 8
FIT = "RandomForestClassifier.fit"


def load_cells(csv: Path) -> list[str]:
    """Read a table, aggregate it, fit a forest (the costly step), show the results."""
    return [
        f"import pandas as pd\nframe = pd.read_csv({str(csv)!r})\nframe.shape",
        "by_region = frame.groupby('region').agg(units=('units', 'sum'), mean_price=('price', 'mean'))\nby_region",
        "from sklearn.ensemble import RandomForestClassifier\nX = frame[['units', 'price', 'age', 'visits']]\n"
        "y = frame['returned']\n"
        "forest = RandomForestClassifier(n_estimators=40, max_depth=12, random_state=0).fit(X, y)\n"
        "print('accuracy', round(forest.score(X, y), 6))",
        "print(by_region.round(3).to_string())",
    ]


@pytest.fixture(scope="module")
def tables(data_dir) -> dict[str, Path]:
    """Two world-readable copies of one generated table: one for the kernel alone, one for the eight."""
    rng = np.random.default_rng(7)
    n = 60_000
    frame = pd.DataFrame({"region": rng.choice(["north", "south", "east", "west"], n),
                          "units": rng.integers(1, 50, n), "price": rng.normal(20, 5, n).round(2),
                          "age": rng.integers(18, 80, n), "visits": rng.poisson(3, n)})
    frame["returned"] = (rng.random(n) < 0.05 + 0.004 * frame["units"] + 0.01 * frame["visits"]).astype(int)
    made = {}
    for name in ("alone", "together"):
        path = data_dir / f"load-{name}.csv"
        frame.to_csv(path, index=False)
        os.chmod(path, 0o644)
        made[name] = path
    return made


@pytest.fixture(scope="module")
def plain_load(hub_env, hub_base, tables) -> list[dict]:
    """The plain run of the load notebook (tests/hub/plain_run.py, as the ``plain`` fixture)."""
    cells_file = hub_base / "load-cells.json"
    cells_file.write_text(json.dumps(load_cells(tables["together"])))
    done = subprocess.run([str(hub_env / "bin" / "python"), str(Path(__file__).with_name("plain_run.py")),
                           str(cells_file), str(hub_base / "plain-load")], capture_output=True, text=True,
                          timeout=600, cwd=hub_base)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout)


def test_eight_kernels_of_two_users_at_once(hub, servers, store_dir, tables, plain_load):
    started = time.monotonic()
    alone_runs, alone_check = run_as(hub, ALICE, load_cells(tables["alone"]), label="load_alone")
    alone = time.monotonic() - started
    assert alone_check.active, alone_check.failure
    assert alone_runs == plain_load
    wait_for_writers(store_dir, 300)  # (the kernel's last reports too: they are written after it exits)
    graph = ExperimentGraph(store_dir, create=False)
    mark = time.time()  # (the cell reports after it: each user's journal, which root reads)

    users = [ALICE if i % 2 == 0 else BOB for i in range(KERNELS)]
    results: dict[int, tuple[list[dict], KernelCheck, float]] = {}
    failures: list[BaseException] = []
    gate = threading.Barrier(KERNELS)

    def run(i: int) -> None:
        try:
            gate.wait()
            t0 = time.monotonic()
            runs, check = run_as(hub, users[i], load_cells(tables["together"]), label=f"load_{i}")
            results[i] = (runs, check, time.monotonic() - t0)
        except BaseException as exc:  # (reported below, in the test's thread)
            failures.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(KERNELS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not failures, failures
    for i, (runs, check, _) in sorted(results.items()):
        assert check.active, (i, check.failure)
        assert runs == plain_load, f"kernel {i} ({users[i]}) shows what the plain run shows"

    fits = []
    seen = []
    journals = graph.readable_journals()
    assert len(journals) == 2, [j.path for j in journals]  # alice's and bob's, in their own confidential dirs
    for _, report in sorted(row for journal in journals
                            for row in journal.query("SELECT time, report FROM events WHERE time>?", (mark,))):
        event = json.loads(report)
        for step in event["steps"]:
            if step["op"].endswith(FIT):
                fits.append(step["status"])
                seen.append(f"{event['kernel_id'][:8]} {event['user']} {step['id'][:8]} {step['status']} {step['seconds']:.2f}")
    (ARTIFACTS / "hub-team-load-store.log").write_text((store_dir / LOG_NAME).read_text())
    logged = (store_dir / LOG_NAME).read_text().splitlines()
    waits = [line for line in logged if f"{FIT}: waited" in line]
    # every file the notebook reads is the team's: no kernel's results may become its user's alone (a
    # kernel reading a teammate's namespace once took the store's own opens for the notebook's)
    assert not [line for line in logged if "for its user only" in line], "\n".join(logged)
    # (a kernel may replay the whole cell instead: kernel/replay.py; then its report has no fit step)
    assert fits.count("computed") == 1 and set(fits) == {"computed", "reused"}, "\n".join([str(fits)] + seen + waits)

    wait_for_writers(store_dir, 300)
    assert not pending_writers(store_dir), "the exited kernels' writers finished"
    store = open_artifacts(store_dir)
    stored = sorted(graph.materialized_ids())
    for artifact_id in stored:
        store.get(artifact_id)  # raises on a lost or damaged artifact
    times = [seconds for _, _, seconds in results.values()]
    TIMINGS["load_alone_seconds"] = alone
    TIMINGS["load_kernel_seconds_mean"] = statistics.mean(times)
    TIMINGS["load_kernel_seconds_max"] = max(times)
    (ARTIFACTS / "hub-team-load.txt").write_text(
        f"one kernel alone (alice, fresh results): {alone:.1f} s\n"
        f"{KERNELS} kernels at once ({', '.join(users)}), each: "
        + ", ".join(f"{s:.1f}" for s in times)
        + f" s; mean {statistics.mean(times):.1f} s, max {max(times):.1f} s "
        f"({statistics.mean(times) / alone:.2f}x / {max(times) / alone:.2f}x the kernel alone)\n"
        f"{FIT}: {fits.count('computed')} computed, {fits.count('reused')} reused "
        f"({KERNELS - len(fits)} kernels replayed the whole cell); {len(waits)} waited for the kernel computing it\n"
        f"stored artifacts read back and verified: {len(stored)}\n")
