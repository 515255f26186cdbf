"""The extension inside a real IPython shell: reuse, magics, fallbacks, unloading."""

import builtins
import re

import pytest
from IPython.core.interactiveshell import InteractiveShell

import collab_reuse
from collab_reuse.tracing.rewrite import HOOK

SETUP = "import numpy as np, pandas as pd\ndf = pd.DataFrame({'k': np.arange(300_000) % 97, 'v': np.arange(300_000) * 0.5})"
EXPENSIVE = "agg = df.groupby('k').agg(['mean', 'std', 'median', 'max'])\ntotal = float(agg.sum().sum())"


def run(shell, src):
    result = shell.run_cell(src)
    assert result.error_in_exec is None, result.error_in_exec
    return result


def session(shell):
    return collab_reuse.session_of(shell)


def fresh_shell(monkeypatch, store):
    monkeypatch.setenv("COLLAB_REUSE_STORE", str(store))
    InteractiveShell.clear_instance()
    ip = InteractiveShell.instance()
    ip.run_line_magic("load_ext", "collab_reuse")
    return ip


def test_a_second_kernel_reuses_what_the_first_stored(shell, tmp_path, monkeypatch):
    run(shell, SETUP)
    run(shell, EXPENSIVE)
    first_total = shell.user_ns["total"]
    assert session(shell).last_report["totals"]["computed"] >= 1
    session(shell).flush(60)
    shell.run_line_magic("unload_ext", "collab_reuse")

    other = fresh_shell(monkeypatch, tmp_path / "store")
    run(other, SETUP)
    run(other, EXPENSIVE)
    report = session(other).last_report
    assert report["totals"]["reused"] >= 1
    assert other.user_ns["total"] == first_total
    other.run_line_magic("unload_ext", "collab_reuse")


def test_status_and_explain_describe_the_session(shell, capsys):
    run(shell, SETUP)
    run(shell, EXPENSIVE)
    shell.run_line_magic("reuse", "explain")
    out = capsys.readouterr().out
    assert "DataFrameGroupBy.aggregate" in out and "computed" in out
    shell.run_line_magic("reuse", "status")
    out = capsys.readouterr().out
    assert "collab_reuse is on" in out and "this session:" in out


@pytest.mark.parametrize("line", ["bogus", "budget", "budget lots", "status now", "clear", "graph x",
                                  "budget " + "9" * 400, "budget -1GB", "graph ²", "graph 99999999999999999999"])
def test_wrong_magic_arguments_are_usage_errors(shell, line):
    from IPython.core.error import UsageError

    with pytest.raises(UsageError):
        shell.run_line_magic("reuse", line)


def test_budget_is_parsed_and_kept_in_the_store(shell):
    shell.run_line_magic("reuse", "budget 2GB")
    assert session(shell).graph.budget() == 2 * 10**9


def test_clear_needs_confirmation_and_then_empties_the_store(shell):
    run(shell, SETUP)
    run(shell, EXPENSIVE)
    session(shell).flush(60)
    assert session(shell).graph.summary()["materialized"] >= 1
    shell.run_line_magic("reuse", "clear --yes")
    assert session(shell).graph.summary()["artifacts"] == 0


def test_off_runs_cells_plainly(shell):
    run(shell, SETUP)
    shell.run_line_magic("reuse", "off")
    run(shell, EXPENSIVE)
    assert session(shell).last_report["steps"] == []


def test_noreuse_cell_runs_plainly_and_displays_its_value(shell):
    run(shell, SETUP)
    result = shell.run_cell("%%noreuse\nx = df['v'].sum()\nx")
    assert result.result == shell.user_ns["x"]
    assert session(shell).last_report["steps"] == []


def test_a_cell_that_raises_raises_the_same_and_the_next_cell_runs(shell):
    run(shell, SETUP)
    result = shell.run_cell("df['missing']")
    assert isinstance(result.error_in_exec, KeyError)
    run(shell, "y = df['v'].max()")
    assert shell.user_ns["y"] == 149999.5


def test_unloading_leaves_plain_ipython(shell):
    from collab_reuse.tracing.plain_hook import PLAIN

    transformers_before = list(shell.ast_transformers)
    assert hasattr(builtins, HOOK) and HOOK not in shell.run_line_magic("who_ls", "")
    run(shell, SETUP)
    run(shell, "def top(frame, n):\n    return frame.sort_values('v', ascending=False)['v'].head(n).tolist()")
    shell.run_line_magic("unload_ext", "collab_reuse")
    # a function rewritten while loaded runs on with the plain hooks
    assert getattr(builtins, HOOK) is PLAIN and shell.user_ns[HOOK] is PLAIN
    run(shell, "best = top(df, 2)")
    assert shell.user_ns["best"] == [149999.5, 149999.0]
    assert len(shell.ast_transformers) == len(transformers_before) - 1
    assert "reuse" not in shell.magics_manager.magics["line"]
    assert type(shell.InteractiveTB).__name__ != "StrippingFormatter"
    run(shell, "z = 1 + 1")
    shell.run_line_magic("load_ext", "collab_reuse")  # the fixture unloads again


def test_status_right_after_a_cell_shows_what_it_stored(shell, capsys):
    run(shell, SETUP)
    run(shell, EXPENSIVE)
    capsys.readouterr()
    run(shell, "%reuse status")  # inside a cell: the writer may only encode while the cell waits for it
    out = capsys.readouterr().out
    stored = re.search(r"(\d+) artifacts stored of", out)
    assert stored and int(stored.group(1)) >= 1, out
    assert session(shell).writer.wait_idle(0)


def test_unloading_gives_lightgbm_its_binning_back(shell):
    from lightgbm import basic

    from collab_reuse.tracing import binned

    run(shell, "import numpy as np, lightgbm as lgb\nX = np.random.RandomState(0).rand(400, 4)\n"
               "m = lgb.LGBMClassifier(n_estimators=3, verbose=-1).fit(X, (X[:, 0] > .5).astype(int))")
    assert basic.Dataset._Dataset__init_from_np2d is binned._hooked  # a traced LightGBM fit put it in place
    shell.run_line_magic("unload_ext", "collab_reuse")
    assert basic.Dataset._Dataset__init_from_np2d is not binned._hooked
    run(shell, "m = lgb.LGBMClassifier(n_estimators=3, verbose=-1).fit(X, (X[:, 0] > .5).astype(int))")
    shell.run_line_magic("load_ext", "collab_reuse")  # the fixture unloads again


def test_an_unusable_store_warns_once_and_cells_still_run(tmp_path, monkeypatch, capsys):
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the store should be")
    ip = fresh_shell(monkeypatch, blocker)
    try:
        run(ip, SETUP)
        run(ip, EXPENSIVE)
        err = capsys.readouterr().err
        assert err.count("collab_reuse stopped reusing: the store") == 1 and "is not a directory" in err
        assert ip.user_ns["total"] > 0
    finally:
        ip.run_line_magic("unload_ext", "collab_reuse")


def test_a_corrupted_artifact_is_recomputed_not_served(shell, tmp_path, monkeypatch):
    run(shell, SETUP)
    run(shell, EXPENSIVE)
    total = shell.user_ns["total"]
    s = session(shell)
    s.flush(60)
    for key in list(s.store.blobs.keys()):
        if not key.startswith("m:"):
            raw = s.store.blobs._cache.get(key, read=False)
            s.store.blobs._cache.set(key, bytes(raw[:-1]) + bytes([raw[-1] ^ 0xFF]))
    shell.run_line_magic("unload_ext", "collab_reuse")
    other = fresh_shell(monkeypatch, tmp_path / "store")
    try:
        run(other, SETUP)
        run(other, EXPENSIVE)
        assert other.user_ns["total"] == total
        assert collab_reuse.session_of(other).last_report["totals"]["reused"] == 0
    finally:
        other.run_line_magic("unload_ext", "collab_reuse")


def test_reports_say_what_the_store_wrote(shell):
    run(shell, SETUP)
    run(shell, EXPENSIVE)
    s = session(shell)
    s.flush(60)
    report = s.graph.events(kernel_id=s.kernel_id)[-1]
    agg = [st for st in report["steps"] if st["op"] == "DataFrameGroupBy.aggregate"]
    assert agg and agg[0]["bytes_written"] > 0
    assert report["totals"]["bytes_written"] >= agg[0]["bytes_written"]


def test_a_load_counts_for_the_next_load_decision_before_the_store_records_it(shell, monkeypatch):
    import dataclasses

    # Sorting a million byte strings: comparisons no SIMD sort speeds up (a sort of 4M floats took
    # less than loading its 32 MB on a machine with AVX-512), and 7 MB load in 0.025 s at 300 MB/s.
    run(shell, "import numpy as np\nwords = (np.arange(1_000_000) * 7919 % 1_000_003).astype('S7')\n"
               "big = np.sort(words)")
    s = session(shell)
    s.flush(60)
    info = next(a for a in s.graph.all_artifacts() if a.state == 2 and a.size > 1 << 20)
    info = dataclasses.replace(info, load_seconds=None)  # (judge it by the store's throughput)
    assert s.load_cost(info) == 0.002 + info.size / 300e6  # nothing measured yet
    held = []
    monkeypatch.setattr(s.writer, "submit", lambda job, priority=0.0: held.append(job))  # as while a cell runs
    seconds = [s.load(info.id)[3] for _ in range(3)]
    assert s.load_cost(info) == pytest.approx(sum(seconds) / 3, rel=1e-3)  # measured here, used at once
    monkeypatch.undo()
    for job in held:
        s.writer.submit(job)
    assert s.flush(60)
    assert not any(s._unrecorded_loads.values())
    assert s.load_cost(info) == pytest.approx(sum(seconds) / 3, rel=1e-3)  # now from the store's counters


def test_a_result_computed_again_in_the_same_cell_is_offered_once_as_its_latest_object(shell):
    import types

    import numpy as np

    from collab_reuse.tracing.steps import COMPUTED, ComputedValue, Step

    s = session(shell)
    s.pre_run_cell(types.SimpleNamespace(cell_id="c"))
    try:
        first, latest = np.arange(10.0), np.arange(10.0)
        for value in (first, latest):
            s.add_step(Step("same-id", "numpy.arange", COMPUTED, "array", seconds=0.5),
                       ComputedValue("same-id", value, "array", 0.5, {}))
        assert [c.value is latest for c in s.cell.candidates] == [True]
        assert len(s.cell.steps) == 2  # (both steps are reported)
    finally:
        s.cell = None


def test_a_process_forked_from_the_kernel_runs_notebook_functions_with_the_plain_hooks(shell):
    # (multiprocessing.Pool forks: the kernel's store connections may not be used in the child)
    run(shell, SETUP)
    run(shell, "import builtins, multiprocessing\n"
               "def work(n):\n"
               "    part = df[df['k'] == n]\n"
               "    return n, float(part['v'].sum()), type(getattr(builtins, '__cr__')).__name__\n"
               "with multiprocessing.get_context('fork').Pool(2) as pool:\n"
               "    results = pool.map(work, [1, 2, 3])\n"
               "here = work(1)")
    assert [r[2] for r in shell.user_ns["results"]] == ["PlainHook"] * 3
    assert shell.user_ns["here"][2] == "Tracer"  # (the kernel itself keeps tracing)
    assert [r[:2] for r in shell.user_ns["results"]][0] == shell.user_ns["here"][:2]


def test_the_hooks_are_bound_in_the_namespace_again_after_a_reset(shell):
    run(shell, SETUP)
    shell.run_line_magic("reset", "-f")
    run(shell, "import numpy as np\nx = np.arange(3).sum()")
    assert shell.user_ns[HOOK] is session(shell).tracer and HOOK not in shell.run_line_magic("who_ls", "")
