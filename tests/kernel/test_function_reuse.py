"""Calls of notebook functions are reused whole only when they have no effect besides their result."""

import json

import collab_reuse
import pytest
from IPython.core.interactiveshell import InteractiveShell

from collab_reuse.tracing.registry import pandas_has_cow

from shells import statuses, two_runs

# A stored call is deferred only when its frame arguments can be frozen (Copy-on-Write: pandas 3, or
# pandas 2 with the option on); without it, it is loaded at the call.
DEFERS = pandas_has_cow()

SETUP = ("import numpy as np, pandas as pd\n"
         "df = pd.DataFrame({'k': np.arange(200_000) % 101, 'v': np.arange(200_000) * 0.5})")


def corrupt_store(session):
    """Flip the last byte of every stored value blob (so every stored result fails its content
    check when loaded; the manifests stay readable)."""
    keys = list(session.store.blobs.keys())
    manifests = {json.loads(session.store.blobs.get_row(k))["body"] for k in keys if k.startswith("m:")}
    for key in keys:
        if not key.startswith("m:") and key not in manifests:
            raw = session.store.blobs._cache.get(key, read=False)
            session.store.blobs._cache.set(key, bytes(raw[:-1]) + bytes([raw[-1] ^ 0xFF]))


def test_a_pure_helper_is_reused_whole(tmp_path, monkeypatch):
    helper = ("def summarize(frame, col):\n"
              "    out = frame.groupby(col).agg(['mean', 'std', 'max', 'median'])\n"
              "    print('summarized', len(out))\n"
              "    return out\n")
    spaces, reports = two_runs(tmp_path, monkeypatch, [SETUP, helper, "s = summarize(df, 'k')\nn = len(s)"])
    assert statuses(reports[0], "summarize()") == ["computed"]
    # stored: deferred at the call, loaded (never run) where its value is needed
    assert statuses(reports[1], "summarize()") == (["deferred", "reused"] if DEFERS else ["reused"])
    assert spaces[0]["s"].equals(spaces[1]["s"])


def test_a_helper_that_changes_its_argument_runs_every_time(tmp_path, monkeypatch):
    helper = ("def add_feature(frame):\n"
              "    frame['w'] = frame.groupby('k')['v'].transform('median')\n"
              "    return frame['w'].sum()\n")
    spaces, reports = two_runs(tmp_path, monkeypatch, [SETUP, helper, "total = add_feature(df)"])
    assert "w" in spaces[1]["df"].columns  # the in-place change happened in the second run too
    assert statuses(reports[1], "add_feature()") == []


def test_a_helper_that_appends_to_a_global_runs_every_time(tmp_path, monkeypatch):
    helper = ("seen = []\n"
              "def note(frame):\n"
              "    seen.append(len(frame))\n"
              "    return frame.groupby('k')['v'].median()\n")
    spaces, _ = two_runs(tmp_path, monkeypatch, [SETUP, helper, "m = note(df)"])
    assert spaces[1]["seen"] == [200_000]


def test_a_helper_that_extends_a_list_it_is_given_runs_every_time(tmp_path, monkeypatch):
    helper = ("def note_size(frame, sizes):\n"
              "    sizes += [len(frame)]\n"
              "    return frame.groupby('k')['v'].median()\n"
              "sizes = []")
    spaces, reports = two_runs(tmp_path, monkeypatch, [SETUP, helper, "m = note_size(df, sizes)"])
    assert spaces[1]["sizes"] == [200_000], "the in-place change happened in the second run too"
    assert statuses(reports[1], "note_size()") == ["not_reusable"]


def test_a_helper_counting_with_plus_equals_on_numbers_is_reused_whole(tmp_path, monkeypatch):
    """``n += 0`` leaves ``n`` the very same int object: once taken for an in-place change, which made
    the helper impure. Numbers and strings can't be changed in place."""
    helper = ("def missing_then_medians(frame):\n"
              "    n_missing = 0\n"
              "    for col in frame.columns:\n"
              "        n_missing += int(frame[col].isna().sum())\n"
              "    return n_missing, frame.groupby('k')['v'].median()\n")
    spaces, reports = two_runs(tmp_path, monkeypatch, [SETUP, helper, "n, m = missing_then_medians(df)"])
    assert statuses(reports[0], "missing_then_medians()") == ["computed"]
    assert "reused" in statuses(reports[1], "missing_then_medians()")
    assert spaces[1]["n"] == 0 and spaces[0]["m"].equals(spaces[1]["m"])


def test_a_helper_that_writes_a_file_is_judged_impure_while_it_runs(tmp_path, monkeypatch):
    out = tmp_path / "out.csv"
    helper = ("def export(frame, path):\n"
              "    agg = frame.groupby('k')['v'].median()\n"
              "    agg.to_csv(path)\n"
              "    return agg\n")
    spaces, reports = two_runs(tmp_path, monkeypatch, [SETUP, helper, f"e = export(df, {str(out)!r})"])
    assert [s["reason"] for s in reports[0]["steps"] if s["op"] == "export()"][0].startswith("it calls")
    out.unlink()
    spaces, _ = two_runs(tmp_path, monkeypatch, [SETUP, helper, f"e = export(df, {str(out)!r})"])
    assert out.exists()


def test_calls_without_data_arguments_run_directly(tmp_path, monkeypatch):
    helper = "def fib(n):\n    return n if n < 2 else fib(n - 1) + fib(n - 2)\n"
    spaces, reports = two_runs(tmp_path, monkeypatch, [helper, "x = fib(18)"])
    assert spaces[1]["x"] == 2584
    assert statuses(reports[1], "fib()") == []


BIG = ("import numpy as np, pandas as pd\n"
       "df = pd.DataFrame({'k': np.arange(2_000_000) % 1009, 'v': np.arange(2_000_000) * 0.5})")
SUMMARIZE = ("def summarize(frame, col):\n"
             "    out = frame.groupby(col).agg(['mean', 'std', 'max', 'median'])\n"
             "    print('summarized', len(out))\n"
             "    return out\n")


@pytest.mark.skipif(not DEFERS, reason="deferring a call with frame arguments needs Copy-on-Write")
def test_a_stored_call_whose_value_nothing_needs_is_never_loaded(tmp_path, monkeypatch, capsys):
    enrich = ("def enrich(frame):\n"
              "    out = frame.assign(smooth=frame['v'].rolling(25).median(), rank=frame.groupby('k')['v'].rank())\n"
              "    print('enriched', len(out))\n"
              "    return out\n")
    cells = [BIG, enrich, "e = enrich(df)\nshape = e.shape"]
    spaces, reports = two_runs(tmp_path, monkeypatch, cells)
    assert capsys.readouterr().out.count("enriched 2000000") == 2  # what it printed is replayed at the call
    assert statuses(reports[1], "enrich()") == ["deferred"]
    assert statuses(reports[1], "DataFrame.shape") == ["reused"]  # (the shape of a large frame is stored)
    assert spaces[0]["shape"] == spaces[1]["shape"] == (2_000_000, 4)


@pytest.mark.skipif(not DEFERS, reason="deferring a call with frame arguments needs Copy-on-Write")
def test_a_deferred_call_whose_stored_result_is_damaged_runs_where_its_value_is_needed(tmp_path, monkeypatch):
    cells = [BIG, SUMMARIZE, "s = summarize(df, 'k')\nn = len(s)"]
    spaces, reports = two_runs(tmp_path, monkeypatch, cells, between=corrupt_store)
    assert statuses(reports[1], "summarize()") == ["deferred", "computed"]
    assert spaces[0]["s"].equals(spaces[1]["s"])


@pytest.mark.skipif(not DEFERS, reason="deferring a call with frame arguments needs Copy-on-Write")
def test_a_damaged_deferred_call_whose_globals_changed_since_says_so(tmp_path, monkeypatch):
    helper = SUMMARIZE.replace("agg(", "agg(STATS").replace("['mean', 'std', 'max', 'median']", "")
    cells = [BIG, "STATS = ['mean', 'max', 'median']\n" + helper, "s = summarize(df, 'k')"]
    monkeypatch.setenv("COLLAB_REUSE_STORE", str(tmp_path / "store"))
    for run in range(2):
        InteractiveShell.clear_instance()
        ip = InteractiveShell.instance()
        ip.run_line_magic("load_ext", "collab_reuse")
        for cell in cells:
            assert ip.run_cell(cell).error_in_exec is None
        if run == 0:
            collab_reuse.session_of(ip).flush(60)
            corrupt_store(collab_reuse.session_of(ip))
            ip.run_line_magic("unload_ext", "collab_reuse")
    try:
        assert statuses(collab_reuse.session_of(ip).last_report, "summarize()") == ["deferred"]
        ip.run_cell("STATS = ['min']")
        error = ip.run_cell("n = len(s)").error_in_exec
        assert isinstance(error, RuntimeError) and "re-run the cell" in str(error)
        assert ip.run_cell("s = summarize(df, 'k')\nn = len(s)").error_in_exec is None
        assert list(ip.user_ns["s"].columns.get_level_values(1).unique()) == ["min"]
    finally:
        ip.run_line_magic("unload_ext", "collab_reuse")
        InteractiveShell.clear_instance()


@pytest.mark.skipif(not DEFERS, reason="deferring the body's operations on frames needs Copy-on-Write")
def test_a_recomputed_call_whose_body_was_deferred_keeps_the_ids_after_it(tmp_path, monkeypatch):
    """Its body's operations are deferred on a second run (seen quiet), and its result, changed in
    place inside the call, comes back as a lazy: what follows must still know it by the call's id."""
    helper = ("def per_key(frame):\n"
              "    out = frame.groupby('k').agg(['mean', 'max', 'median']).reset_index()\n"
              "    out.columns = ['k', 'mean', 'max', 'median']\n"
              "    return out\n")
    cells = [BIG, helper, "r = per_key(df)", "top = r.sort_values('median').head(3)"]

    def evict_the_call(session):  # as a full budget would
        ids = [a.id for a in session.graph.all_artifacts() if a.op == "per_key()" and a.state == 2]
        assert ids
        for key in session.graph.unmaterialize(ids):
            session.store.blobs.delete(key)

    spaces, reports = two_runs(tmp_path, monkeypatch, cells, between=evict_the_call)

    def ids(report):
        return [(s["op"], s["id"]) for s in report["steps"] if s["op"] in ("DataFrame.sort_values", "DataFrame.head")]

    assert len(ids(reports[0])) == 2 and ids(reports[1]) == ids(reports[0])
    assert spaces[0]["top"].equals(spaces[1]["top"])


RESEEDING = ("def jitter(frame):\n"
             "    np.random.seed(0)  # reseeded before any draw: the result is the same from any state\n"
             "    noise = np.random.normal(size=len(frame))\n"
             "    return frame.assign(v=frame['v'] + noise).groupby('k')['v'].agg(['mean', 'std', 'median'])\n")


def test_a_helper_that_reseeds_before_drawing_is_reused_from_any_state_and_leaves_the_state_as_it_would(
        tmp_path, monkeypatch):
    # the two shells share one process: the second starts from wherever the first left numpy's generator
    spaces, reports = two_runs(tmp_path, monkeypatch,
                               [SETUP, RESEEDING, "j = jitter(df)\nafter = np.random.rand(3)"])
    assert statuses(reports[0], "jitter()") == ["computed"]
    assert statuses(reports[1], "jitter()") == ["reused"]
    assert spaces[0]["j"].equals(spaces[1]["j"])
    assert (spaces[0]["after"] == spaces[1]["after"]).all()


PICKING = ("import random\n"
           "def pick(frame):\n"
           "    rows = random.sample(range(len(frame)), 50_000)\n"
           "    return frame.iloc[rows].groupby('k')['v'].agg(['mean', 'std', 'median'])\n")


def test_a_helper_drawing_from_pythons_random_is_named_by_its_state_and_puts_it_back_when_reused(
        tmp_path, monkeypatch):
    spaces, reports = two_runs(tmp_path, monkeypatch,
                               [SETUP, PICKING, "random.seed(1)", "p = pick(df)\nlater = random.random()"])
    assert statuses(reports[1], "pick()") == ["reused"]
    assert spaces[0]["p"].equals(spaces[1]["p"])
    assert spaces[0]["later"] == spaces[1]["later"]  # as if pick had drawn its sample


def test_a_helper_drawing_from_an_unseeded_pythons_random_is_computed_every_time(tmp_path, monkeypatch):
    spaces, reports = two_runs(tmp_path, monkeypatch, [SETUP, PICKING, "p = pick(df)"])
    assert statuses(reports[0], "pick()") == ["computed"]
    assert statuses(reports[1], "pick()") == ["computed"]
    assert not spaces[0]["p"].equals(spaces[1]["p"])  # (two draws of 50,000 rows of 200,000 differ)


def test_a_step_drawing_from_the_seeded_global_generator_is_reused_by_the_next_kernel(tmp_path, monkeypatch):
    # (its id names the state it drew from: once, not once more when it is recorded again)
    cells = [SETUP, "np.random.seed(0)",
             "noise = np.random.rand(len(df))\n"
             "agg = df.assign(n=noise).groupby('k')['n'].agg(['mean', 'std', 'median', 'max'])\n"
             "total = float(agg['mean'].sum())\nafter = np.random.rand(2)"]
    spaces, reports = two_runs(tmp_path, monkeypatch, cells)
    assert statuses(reports[0], "SeriesGroupBy.aggregate") == ["computed"]
    assert statuses(reports[1], "SeriesGroupBy.aggregate")[-1] == "reused"
    assert spaces[0]["agg"].equals(spaces[1]["agg"]) and (spaces[0]["after"] == spaces[1]["after"]).all()


def test_xgboosts_cross_validation_reseeds_numpys_generator_and_is_reused_from_any_state(tmp_path, monkeypatch):
    # (xgboost.cv calls np.random.seed(seed) before shuffling its folds: its result doesn't depend on the
    # state it started from, and a reuse leaves the generator where the computation would have)
    cells = ["import numpy as np, xgboost as xgb\nrng = np.random.RandomState(0)\nX = rng.rand(4000, 6)\n"
             "dtrain = xgb.DMatrix(X, label=(X[:, 0] > 0.5).astype(int))",
             "np.random.rand(int(np.random.randint(1, 50)))  # (fresh entropy: another state at every run)",
             "res = xgb.cv({'max_depth': 3, 'eta': 0.3, 'objective': 'binary:logistic', 'nthread': 1}, dtrain,\n"
             "             num_boost_round=30, nfold=3, seed=7)\nafter = np.random.rand(2)"]
    spaces, reports = two_runs(tmp_path, monkeypatch, cells)
    assert statuses(reports[0], "xgboost.cv") == ["computed"]
    assert statuses(reports[1], "xgboost.cv") == ["reused"]
    assert spaces[0]["res"].equals(spaces[1]["res"]) and (spaces[0]["after"] == spaces[1]["after"]).all()


def test_operators_on_numpy_and_pandas_scalars_are_not_traced_operations(tmp_path, monkeypatch):
    """``frame[c].dtype == 'object'`` over every column was a traced operation per column; a dtype, a
    numpy scalar or a Timestamp is a value like an int. An operator on a frame or series still is one."""
    cells = [SETUP + "\ndf['name'] = (df['k'] % 7).astype(str)\ndf['when'] = pd.Timestamp('2024-01-01')",
             "def text_columns(frame):\n"
             "    return [c for c in frame.columns if frame[c].dtype == 'object' or frame[c].dtype == 'str']\n",
             "names = text_columns(df)\n"
             "total = df['v'].sum() * 2 + np.float64(1)\n"
             "later = df['when'].iloc[0] + pd.Timedelta(days=1) > pd.Timestamp('2024-01-01')\n"
             "flags = df['v'] > 10"]
    spaces, reports = two_runs(tmp_path, monkeypatch, cells)
    ops = [s["op"] for s in reports[0]["steps"]]
    assert not any(op.startswith("op.") for op in ops if op != "op.Gt"), ops
    assert ops.count("op.Gt") == 1  # (the series comparison)
    assert spaces[0]["names"] == spaces[1]["names"] == ["name"]
    assert spaces[0]["total"] == spaces[1]["total"] == 200_000 * 199_999 * 0.5 + 1
    assert spaces[0]["later"] is spaces[1]["later"] and bool(spaces[0]["later"])
