"""Single flight through real kernels (issue 17): two kernels on one store needing the same missing
result at once compute it once; the second waits for the first and loads what it stored. A kernel
killed while it holds a lease lets go of it (the OS releases its locks)."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from pathlib import Path

import pytest
from jupyter_client.manager import start_new_kernel

from collab_reuse.kernel.storelog import LOG_NAME

pytestmark = pytest.mark.timeout(600)

SETUP = """%load_ext collab_reuse
import numpy as np
from sklearn.cluster import KMeans
X = np.random.default_rng(0).random((120_000, 12))"""

FIT = "model = KMeans(n_clusters=12, n_init=6, random_state=0).fit(X)\nprint(round(float(model.inertia_), 6))"

STEPS = """import json as _json, collab_reuse as _c
print(_json.dumps([[s["op"], s["status"]] for s in _c.session_of(get_ipython()).last_report["steps"]]))"""


class Kernel:
    """A real kernel (jupyter_client) on the given store."""

    def __init__(self, store: str):
        env = {**os.environ, "COLLAB_REUSE_STORE": store}
        self.manager, self.client = start_new_kernel(kernel_name="python3", env=env)

    def run(self, code: str, timeout: float = 300) -> tuple[str, list[dict]]:
        """(stdout text, error outputs) of one cell."""
        text, errors = [], []

        def hook(msg: dict) -> None:
            if msg["msg_type"] == "stream" and msg["content"]["name"] == "stdout":
                text.append(msg["content"]["text"])
            elif msg["msg_type"] == "error":
                errors.append(msg["content"])

        self.client.execute_interactive(code, timeout=timeout, output_hook=hook)
        return "".join(text), errors

    def steps(self) -> list[list[str]]:
        out, errors = self.run(STEPS)
        assert not errors, errors
        return json.loads(out)

    def close(self) -> None:
        self.client.stop_channels()
        self.manager.shutdown_kernel(now=True)


@pytest.fixture
def kernels(tmp_path):
    started: list[Kernel] = []

    def start() -> Kernel:
        kernel = Kernel(str(tmp_path / "store"))
        started.append(kernel)
        return kernel

    yield start
    for kernel in started:
        try:
            kernel.close()
        except Exception:
            pass


def _fit_statuses(steps: list[list[str]]) -> list[str]:
    return [status for op, status in steps if op.endswith("KMeans.fit")]


def _log(store: Path) -> str:
    return (store / LOG_NAME).read_text()


def test_two_kernels_needing_the_same_result_at_once_compute_it_once(kernels, tmp_path):
    store = tmp_path / "store"
    first, second = kernels(), kernels()
    for kernel in (first, second):
        out, errors = kernel.run(SETUP)
        assert not errors, errors
    results: dict[str, tuple[str, list[dict]]] = {}

    def fit(name: str, kernel: Kernel) -> None:
        results[name] = kernel.run(FIT)

    thread = threading.Thread(target=fit, args=("first", first))
    thread.start()
    time.sleep(1.0)  # the first kernel is computing the fit
    fit("second", second)
    thread.join()
    assert not results["first"][1] and not results["second"][1], results
    assert results["first"][0] == results["second"][0], "both kernels print what a plain run prints"
    assert _fit_statuses(first.steps()) == ["computed"]
    assert _fit_statuses(second.steps()) == ["reused"], "the second kernel loaded the first one's fit"
    waits = [line for line in _log(store).splitlines() if "for another kernel computing it" in line]
    assert len(waits) == 1 and "KMeans.fit" in waits[0] and "it let go" in waits[0], waits


def test_a_lease_of_a_killed_kernel_does_not_hold_up_the_others(kernels, tmp_path):
    doomed, other = kernels(), kernels()
    for kernel in (doomed, other):
        out, errors = kernel.run(SETUP)
        assert not errors, errors
    doomed.client.execute(FIT)  # computing (holding the fit's lease) when it is killed
    time.sleep(2.0)
    os.kill(doomed.manager.provisioner.process.pid, signal.SIGKILL)
    started = time.monotonic()
    out, errors = other.run(FIT)
    assert not errors, errors
    assert _fit_statuses(other.steps()) == ["computed"]
    assert time.monotonic() - started < 100, "the killed kernel's lease was let go: no wait up to the 120 s bound"
    waits = [line for line in _log(tmp_path / "store").splitlines() if "for another kernel computing it" in line]
    assert all("it let go" in line for line in waits), waits
