"""Attacks by a colleague who can write the store's files (issue 16, items 1-6).

One test per attack, each writing what such a colleague can write. Where the effect would be
in a kernel, the attack is made on a real store between a notebook's first run and its re-run
in a new Jupyter kernel: the re-run's outputs must be the plain run's, nothing foreign may run
(a payload would create a marker file), the tampered artifact must be read, refused (the store's
log says why) and recomputed (the event report never calls it reused), and the kernel must
live to the last cell.
"""

from __future__ import annotations

import json
import os
import pickle
import re
import sys
import types
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from collab_reuse.demo.runner import compare
from collab_reuse.errors import CorruptArtifact, IncompatibleStore
from collab_reuse.store import ArtifactStore, DiskcacheBlobs, MemoryBlobs, formats, keys
from collab_reuse.store.blobs import MARK

from hostile import (Payload, keep_only, log_of, manifest_of, npy_bytes, plant, refusals, row_of, sql_everywhere,
                     statuses, stored, value_file)


@pytest.fixture
def disk(tmp_path):
    blobs = DiskcacheBlobs(tmp_path / "store" / "blobs")
    yield blobs
    blobs.close()


def _forest(n_estimators: int = 3):
    from sklearn.ensemble import RandomForestClassifier

    X = np.random.RandomState(0).rand(400, 3)
    return RandomForestClassifier(n_estimators=n_estimators, random_state=0).fit(X, X[:, 0] > 0.5), X


def _nodes(tree: dict) -> list[dict]:
    """Every ``state`` node of a manifest's value tree, in order."""
    found, stack = [], [tree]
    while stack:
        node = stack.pop(0)
        if isinstance(node, dict):
            if node.get("t") == "state":
                found.append(node)
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return found


def _field(state_node: dict, name: str) -> dict:
    return next(part for key, part in state_node["items"] if key == name)


def _rewrite(store_dir: Path, artifact_id: str, edit) -> None:
    """Re-plant an artifact's manifest after ``edit(value_tree, read_blob) -> {new key: bytes}``, as a
    writer would: the new manifest is well formed and every key is its bytes' hash."""
    manifest = manifest_of(store_dir, artifact_id)
    backend = DiskcacheBlobs(store_dir / "blobs")
    try:
        added = edit(manifest["value"], lambda k: bytes(backend.get(k)))
        blobs = {k: added[k] if k in added else bytes(backend.get(k)) for k in formats.blob_keys(manifest)}
    finally:
        backend.close()
    plant(store_dir, artifact_id, manifest["value"], blobs, manifest["kind"], manifest["type"], manifest["extra"])


def _attack_rerun(notebook_runs, tmp_path, target_op: str, tamper, refusal: str, marker: Path | None = None,
                  keep: tuple[str, ...] = ()):
    """Tamper with a copy of the first run's store, re-run in a new kernel, check the re-run against
    the plain run and the target artifact's fate."""
    store = notebook_runs.copy_store(tmp_path / "store")
    target = stored(store, target_op)
    keep_only(store, target, *(stored(store, op) for op in keep))
    tamper(store, target)
    rerun = notebook_runs.rerun(store, tmp_path / "rerun")
    assert rerun.extension_loaded
    assert compare(notebook_runs.plain, rerun) == []  # every cell ran: the kernel lived to the end
    if marker is not None:
        assert not marker.exists(), "the payload ran"
    fate = statuses(store, rerun.kernel_id, target)
    assert fate and "reused" not in fate, fate
    assert refusal in log_of(store), f"the store's log does not say {refusal!r}"
    assert any(refusal in detail for detail in refusals(store, rerun.kernel_id)), \
        f"no step of the re-run says its stored result was refused ({refusal!r})"
    return rerun


# -- 1. a class named by an attribute path that leaves the library -----------------------------

def _attribute_path_to_popen() -> str:
    """A ``module:attr.attr.Popen`` path from a scikit-learn module to ``subprocess.Popen``, as
    ``getattr`` walking a qualname would follow it."""
    import subprocess

    import sklearn.ensemble  # noqa: F401 (loads the modules to search)

    for name, module in list(sys.modules.items()):
        if not name.startswith("sklearn.") or module is None:
            continue
        for attr, value in list(vars(module).items()):
            if isinstance(value, types.ModuleType):
                if getattr(value, "Popen", None) is subprocess.Popen:
                    return f"{name}:{attr}.Popen"
                for sub, inner in list(vars(value).items()):
                    if isinstance(inner, types.ModuleType) and getattr(inner, "Popen", None) is subprocess.Popen:
                        return f"{name}:{attr}.{sub}.Popen"
    return "sklearn.externals.array_api_compat.numpy:f2py.subprocess.Popen"


def _popen_node(marker: Path) -> dict:
    argv = {"t": "list", "items": [{"t": "json", "x": "touch"}, {"t": "json", "x": str(marker)}]}
    return {"t": "state", "cls": _attribute_path_to_popen(), "args": {"t": "list", "items": [argv]}}


@pytest.mark.parametrize("name", ["popen", "re-export", "nested", "module-only"])
def test_1_a_class_named_by_an_attribute_path_is_refused_and_nothing_runs(disk, tmp_path, name):
    marker = tmp_path / "ran"
    node = {"popen": _popen_node(marker),
            "re-export": {"t": "state", "cls": "sklearn.ensemble:RandomForestClassifier"},
            "nested": {"t": "state", "cls": "sklearn.tree._tree:Tree.__class__"},
            "module-only": {"t": "state", "cls": "sklearn.tree._tree:"}}[name]
    plant(disk.directory.parent, "m1", node, {}, "model", "subprocess:Popen")
    with pytest.raises(CorruptArtifact, match="outside the allow-list"):
        ArtifactStore(disk).get("m1")
    assert not marker.exists()


@pytest.mark.kernel
def test_1_in_a_kernel_a_model_manifest_naming_popen_runs_nothing(notebook_runs, tmp_path):
    marker = tmp_path / "ran"

    def tamper(store, target):
        plant(store, target, {"t": "tuple", "items": [_popen_node(marker), {"t": "json", "x": None}]}, {},
              "other", "builtins:tuple", {"fitted_self": True, "result_is_self": True, "log": []})

    _attack_rerun(notebook_runs, tmp_path, "RandomForestClassifier.fit", tamper, "outside the allow-list", marker)


# -- 2. a pickle planted under an operation's id -------------------------------------------------

def _plant_pickle(store_dir: Path, artifact_id: str, marker: Path, user: str | None = None,
                  as_column: bool = False) -> None:
    data = pickle.dumps(Payload(marker))
    key = keys.content_key(data)
    if as_column:  # a frame whose one column is "pickled"
        tree = {"t": "series", "index": {"range": [0, 1, 1], "name": {"t": "json", "x": None}}, "cols": [f"p:{key}"],
                "dtypes": ["object"], "name": {"t": "json", "x": "v"}, "dup": True}
        plant(store_dir, artifact_id, tree, {key: data}, "series", "pandas.Series", user=user)
    else:
        plant(store_dir, artifact_id, {"t": "pickle", "key": key}, {key: data}, "dataframe",
              "pandas.DataFrame", user=user)


@pytest.mark.parametrize("as_column", [False, True])
def test_2_a_pickle_planted_in_a_default_store_never_runs(disk, tmp_path, as_column):
    marker = tmp_path / "ran"
    _plant_pickle(disk.directory.parent, "p", marker, as_column=as_column)
    with pytest.raises(CorruptArtifact, match="never loaded"):
        ArtifactStore(disk).get("p")  # trust_pickle is off by default
    assert not marker.exists()


def test_2_pickle_needs_the_users_consent_a_private_store_and_their_own_write(disk, tmp_path):
    marker = tmp_path / "ran"
    store_dir = disk.directory.parent
    os.chmod(store_dir, 0o700)
    benign = pickle.dumps({1, 2})
    key = keys.content_key(benign)
    plant(store_dir, "mine", {"t": "pickle", "key": key}, {key: benign}, "other", "builtins:set")
    assert disk.private()
    assert ArtifactStore(disk, trust_pickle=True).get("mine")[0] == {1, 2}  # the gate can open

    _plant_pickle(store_dir, "theirs", marker)
    rows = sql_everywhere(store_dir, "UPDATE Cache SET value=? WHERE key=?",
                          (json.dumps({**row_of(store_dir, "theirs"), "writer": {"uid": 4242, "user": "mallory"}})
                           .encode(), "m:theirs"))
    assert rows == 1
    with pytest.raises(CorruptArtifact, match="never loaded"):
        ArtifactStore(disk, trust_pickle=True).get("theirs")  # a row another uid wrote
    for path, mode in ((store_dir, 0o770), (disk.directory, 0o777)):  # a store others can write
        os.chmod(path, mode)
        assert not disk.private()
        with pytest.raises(CorruptArtifact, match="never loaded"):
            ArtifactStore(disk, trust_pickle=True).get("mine")
        os.chmod(path, 0o700 if path == store_dir else 0o755)
    assert not marker.exists()


def test_2_a_store_owned_by_another_user_is_not_private(disk):
    import pwd

    nobody = pwd.getpwnam("nobody").pw_uid
    shard_db = next(disk.directory.glob("*/cache.db"))
    os.chown(shard_db, nobody, -1)
    assert not disk.private()
    os.chown(shard_db, os.geteuid(), -1)
    os.chown(disk.directory.parent, nobody, -1)
    assert not disk.private()


@pytest.mark.kernel
def test_2_in_a_kernel_a_pickle_under_the_read_csv_id_never_runs(notebook_runs, tmp_path):
    marker = tmp_path / "ran"
    _attack_rerun(notebook_runs, tmp_path, "pandas.read_csv",
                  lambda store, target: _plant_pickle(store, target, marker), "never loaded", marker)


# -- 3. a blob replaced by other content under the same key ------------------------------------

@pytest.mark.parametrize("size", [100, 200_000])  # an SQLite row, a file
def test_3_a_blob_replaced_under_its_key_is_refused(disk, size):
    original, other = os.urandom(size), os.urandom(size)
    key = keys.content_key(original)
    disk.put(key, original)
    assert bytes(disk.get(key)) == original
    disk._cache.set(key, other)  # (as raw diskcache, or anyone writing the file or row, can)
    with pytest.raises(CorruptArtifact, match="does not hold the bytes its key names"):
        disk.get(key)


def test_3_a_shared_column_replaced_poisons_no_frame(disk):
    store = ArtifactStore(disk)
    base = pd.DataFrame({"a": np.arange(10_000), "b": np.arange(10_000) * 2.0})
    store.put("base", store.encode(base))
    store.put("more", store.encode(base.assign(c=1.0)))
    shared = set(manifest_of(disk.directory.parent, "base")["blobs"]) & set(manifest_of(disk.directory.parent,
                                                                                          "more")["blobs"])
    column = max(shared, key=lambda k: len(disk.get(k)))
    poisoned = formats.encode(pd.DataFrame({"a": np.arange(10_000) + 1}), False)
    disk._cache.set(column, next(iter(poisoned.blobs.values())))
    for artifact in ("base", "more"):
        with pytest.raises(CorruptArtifact):
            store.get(artifact)


def test_3_a_valid_frame_by_an_untrusted_writer_is_refused_when_the_reader_says_so(disk):
    """The limitation the manifest documents: a well-formed manifest for any id can be written by
    anyone who can write the store. What a reader can do is refuse writers it does not trust."""
    store_dir = disk.directory.parent
    forged = formats.encode(pd.DataFrame({"a": [1.0, 2.0, 999.0]}), False)
    plant(store_dir, "read_csv-id", forged.manifest["value"], forged.blobs, "dataframe", forged.manifest["type"],
          user="mallory")
    served, _, _ = ArtifactStore(disk).get("read_csv-id")  # everyone trusted (the default): served
    assert served["a"].tolist() == [1.0, 2.0, 999.0]
    assert manifest_of(store_dir, "read_csv-id")["writer"].user == "mallory"  # (recorded for issue 17's rules)
    careful = ArtifactStore(disk, trusted_writers=lambda writer: writer.user != "mallory")
    with pytest.raises(CorruptArtifact, match="does not trust"):
        careful.get("read_csv-id")


@pytest.mark.kernel
def test_3_in_a_kernel_a_replaced_column_of_the_read_csv_frame_is_recomputed(notebook_runs, tmp_path):
    def tamper(store, target):
        manifest = manifest_of(store, target)
        backend = DiskcacheBlobs(store / "blobs")
        column = manifest["value"]["cols"][0]
        other = formats.encode(pd.DataFrame({"v": np.zeros(30000)}), False)
        backend._cache.set(column, next(iter(other.blobs.values())))  # other bytes under the same key
        backend.close()

    _attack_rerun(notebook_runs, tmp_path, "pandas.read_csv", tamper, "does not hold the bytes its key names")


# -- 4. a forest whose trees index outside their node arrays ------------------------------------

def _tamper_first_tree(value: dict, read_blob, how: str) -> dict[str, bytes]:
    tree = next(n for n in _nodes(value) if n["cls"] == "sklearn.tree._tree:Tree")
    nodes_part = _field(tree, "nodes")
    nodes = np.load(__import__("io").BytesIO(read_blob(nodes_part["key"])))
    inner = np.flatnonzero(nodes["left_child"] >= 0)
    if how == "child out of range":
        nodes["left_child"][inner[-1]] = 10**6
    elif how == "cycle":
        nodes["right_child"][inner[-1]] = 0
    elif how == "feature out of range":
        nodes["feature"][inner[0]] = 99
    elif how == "depth too small":
        _field(tree, "max_depth")["x"] = 1
    elif how == "values too short":
        values_part = _field(tree, "values")
        values = np.load(__import__("io").BytesIO(read_blob(values_part["key"])))[:-1]
        values_part["key"] = keys.content_key(npy_bytes(values))
        return {values_part["key"]: npy_bytes(values)}
    elif how == "nodes of another dtype":
        nodes = nodes.astype([(name, "<i4" if name.endswith("child") else dt) for name, (dt, _) in
                              nodes.dtype.fields.items()])
    elif how == "more outputs than classes":
        tree["args"]["items"][2] = {"t": "json", "x": 7}
    data = npy_bytes(nodes)
    nodes_part["key"] = keys.content_key(data)
    return {nodes_part["key"]: data}


@pytest.mark.parametrize("how", ["child out of range", "cycle", "feature out of range", "depth too small",
                                 "values too short", "nodes of another dtype", "more outputs than classes"])
def test_4_a_forest_with_hostile_tree_arrays_is_refused_before_native_code_sees_them(disk, how):
    store = ArtifactStore(disk)
    forest, _ = _forest()
    store.put("f", store.encode(forest))
    _rewrite(disk.directory.parent, "f", lambda value, read: _tamper_first_tree(value, read, how))
    with pytest.raises(CorruptArtifact):  # (a segfault would end this process, not raise)
        store.get("f")


@pytest.mark.kernel
def test_4_in_a_kernel_a_forest_with_out_of_range_children_is_recomputed_and_the_kernel_lives(notebook_runs,
                                                                                              tmp_path):
    def tamper(store, target):
        _rewrite(store, target, lambda value, read: _tamper_first_tree(value, read, "child out of range"))

    _attack_rerun(notebook_runs, tmp_path, "RandomForestClassifier.fit", tamper, "not a tree")


def _lightgbm_text() -> str:
    import lightgbm as lgb

    rng = np.random.default_rng(0)
    X = pd.DataFrame({"a": rng.normal(size=300), "b": pd.Categorical(rng.integers(0, 5, 300)), "c": rng.normal(size=300)})
    return lgb.LGBMClassifier(n_estimators=2, num_leaves=4, verbose=-1).fit(X, rng.integers(0, 3, 300)) \
        .booster_.model_to_string()


@pytest.mark.parametrize("edit", [
    lambda t: t.replace("left_child=1 -1 -3", "left_child=1 -1 99", 1),  # (LightGBM segfaults at predict)
    lambda t: t.replace("right_child=-2 2 -4", "right_child=-2 1 -4", 1),  # a cycle (LightGBM hangs)
    lambda t: t.replace("tree_sizes=", "tree_sizes=99999", 1),  # (LightGBM segfaults on load)
    lambda t: t.replace("split_feature=2 2 0", "split_feature=2 2 9", 1),
    lambda t: t.replace("num_class=3", "num_class=4", 1),
    lambda t: t.replace("multiclass num_class:3", "multiclass num_class:9", 1),
    lambda t: t.replace("[linear_tree: 0]", "[linear_tree: 1]", 1),
    lambda t: t.replace("version=v4", "version=v4\nsomething=else", 1),
    lambda t: t + "\x00",
    # numbers that are not numbers, the count of items kept (each line is matched as a whole)
    lambda t: re.sub(r"split_gain=\S+", "split_gain=0x1F", t, count=1),
    lambda t: re.sub(r"threshold=\S+ ", "threshold=1.0e+ ", t, count=1),
    lambda t: re.sub(r"leaf_value=(\S+) (\S+)", r"leaf_value=\1 \2\t", t, count=1),
    lambda t: re.sub(r"leaf_count=\S+", "leaf_count=1.5", t, count=1),
])
def test_4_lightgbm_model_text_with_an_out_of_range_index_is_refused(edit):
    from collab_reuse.store.lightgbm_text import check_model_text

    text = _lightgbm_text()
    assert "left_child=1 -1 -3" in text and "right_child=-2 2 -4" in text
    check_model_text(text)
    with pytest.raises(CorruptArtifact):
        check_model_text(edit(text))


_FUZZ_LOADER = """
import sys, json, numpy as np, lightgbm as lgb
texts = json.load(open(sys.argv[1]))
X = np.random.default_rng(1).normal(size=(64, 3)); X[:, 1] = np.round(np.abs(X[:, 1]) * 3)
for text in texts:
    try:
        booster = lgb.Booster(model_str=text)
    except lgb.basic.LightGBMError:
        continue
    booster.predict(X)
print("survived", len(texts))
"""


def _survives_in_a_child(loader: str, accepted: list, tmp_path) -> None:
    """Run ``loader`` on what the check accepted in a child process: a crash there is a hole in the check."""
    import subprocess

    (tmp_path / "accepted.json").write_text(json.dumps(accepted))
    done = subprocess.run([sys.executable, "-c", loader, str(tmp_path / "accepted.json")], capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 0 and "survived" in done.stdout, (done.returncode, done.stderr[-2000:])


def test_4_lightgbm_never_crashes_on_a_model_text_the_check_accepts(tmp_path):
    """Fuzz: mutate numbers and lines of a real model text; whatever ``check_model_text`` accepts,
    LightGBM loads and predicts with, in a child process (a crash there is a hole in the check)."""
    import random
    import re

    from collab_reuse.store.lightgbm_text import check_model_text

    text = _lightgbm_text()
    numbers = [m.span() for m in re.finditer(r"-?[0-9]+", text)]
    lines = text.split("\n")
    rng = random.Random(16)
    accepted, refused = [], 0
    for _ in range(3000):
        if rng.random() < 0.7:
            start, end = rng.choice(numbers)
            mutated = text[:start] + str(rng.choice([-1, 0, 1, 2, 3, 4, 5, 9, 99, -99, 2**31, rng.randint(-5, 10)])) \
                + text[end:]
        else:
            i = rng.randrange(len(lines))
            mutated = "\n".join(lines[:i] + lines[i + 1:] if rng.random() < 0.5 else lines[:i] + [lines[i]] + lines[i:])
        try:
            check_model_text(mutated)
            accepted.append(mutated)
        except CorruptArtifact:
            refused += 1
    assert refused > 1000 and accepted  # both sides exercised
    _survives_in_a_child(_FUZZ_LOADER, accepted, tmp_path)


def _xgboost_model() -> dict:
    xgb = pytest.importorskip("xgboost")
    X = np.random.default_rng(0).normal(size=(120, 4))
    model = xgb.XGBClassifier(n_estimators=4, max_depth=3).fit(X, (X[:, 0] * 2).astype(int).clip(0, 2) % 3)
    return json.loads(bytes(model.get_booster().save_raw(raw_format="json")))


def _first_inner(tree: dict) -> int:
    return next(i for i, c in enumerate(tree["left_children"]) if c != -1)


def _edit_tree(edit):
    def apply(model: dict) -> dict:
        edit(model["learner"]["gradient_booster"]["model"]["trees"][1])
        return model
    return apply


@pytest.mark.parametrize("edit", [
    _edit_tree(lambda t: t["left_children"].__setitem__(_first_inner(t), 999)),  # a child out of range
    _edit_tree(lambda t: t["right_children"].__setitem__(_first_inner(t), 0)),  # back to the root: a cycle
    _edit_tree(lambda t: t["left_children"].__setitem__(_first_inner(t), t["right_children"][_first_inner(t)])),
    _edit_tree(lambda t: t["split_indices"].__setitem__(_first_inner(t), 40)),  # a feature out of range
    _edit_tree(lambda t: t["split_type"].__setitem__(_first_inner(t), 1)),  # a categorical split
    _edit_tree(lambda t: t["parents"].__setitem__(0, 3)),
    _edit_tree(lambda t: t["tree_param"].__setitem__("num_nodes", "999")),
    _edit_tree(lambda t: t["tree_param"].__setitem__("size_leaf_vector", "3")),
    lambda m: m["learner"]["gradient_booster"]["model"]["tree_info"].__setitem__(0, 7) or m,  # an output group
    lambda m: m["learner"]["gradient_booster"]["model"]["iteration_indptr"].__setitem__(-1, 99) or m,
    lambda m: m["learner"]["gradient_booster"].__setitem__("name", "dart") or m,
    lambda m: m["learner"]["learner_model_param"].__setitem__("num_feature", "2") or m,
])
def test_4_an_xgboost_model_with_an_out_of_range_offset_is_refused(edit):
    from collab_reuse.store.xgboost_json import check_model_json

    model = _xgboost_model()
    check_model_json(json.dumps(model).encode())
    with pytest.raises(CorruptArtifact):
        check_model_json(json.dumps(edit(model)).encode())


def _xgboost_config() -> dict:
    xgb = pytest.importorskip("xgboost")
    X = np.random.default_rng(0).normal(size=(60, 3))
    return json.loads(xgb.XGBRegressor(n_estimators=2).fit(X, X[:, 0]).get_booster().save_config())


@pytest.mark.parametrize("edit", [
    lambda c: c["learner"]["generic_param"].__setitem__("device", "cuda"),  # another device than the reader's
    lambda c: c["learner"]["generic_param"].__setitem__("nthread", {"deep": ["x"]}),  # a list of texts
    lambda c: c["learner"]["generic_param"].__setitem__("seed", "9" * 300),  # an overlong value
    lambda c: c["learner"]["generic_param"].__setitem__("x" * 80, "1"),  # an overlong name
    lambda c: c["learner"]["objective"].__setitem__("name", 3.5),  # not a text, flag or number
    lambda c: c.__setitem__("learner", [c["learner"]]),  # not a learner's
    lambda c: c["learner"].__setitem__("metrics", [{"name": "rmse"}] * 100),  # an overlong list
    lambda c: c["learner"]["generic_param"].update({f"p{i}": "x" * 200 for i in range(400)}),  # over 64 KB
])
def test_4_an_xgboost_configuration_other_than_a_cpu_learners_settings_is_refused(edit):
    from collab_reuse.store.xgboost_json import check_config_json

    config = _xgboost_config()
    check_config_json(json.dumps(config).encode())
    edit(config)
    with pytest.raises(CorruptArtifact):
        check_config_json(json.dumps(config).encode())


_XGB_FUZZ_LOADER = """
import sys, json, numpy as np, xgboost as xgb
docs = json.load(open(sys.argv[1]))
X = xgb.DMatrix(np.random.default_rng(1).normal(size=(64, 4)))
for doc in docs:
    booster = xgb.Booster()
    try:
        booster.load_model(bytearray(json.dumps(doc).encode()))
        booster.predict(X)
    except xgb.core.XGBoostError:
        continue
print("survived", len(docs))
"""


def test_4_xgboost_never_crashes_on_a_model_the_check_accepts(tmp_path):
    """Fuzz: set numbers of a real model's trees to hostile values; whatever ``check_model_json``
    accepts, XGBoost loads and predicts with, in a child process."""
    import copy
    import random

    from collab_reuse.store.xgboost_json import check_model_json

    model = _xgboost_model()
    trees = model["learner"]["gradient_booster"]["model"]["trees"]
    rng = random.Random(20)
    accepted, refused = [], 0
    for _ in range(1500):
        doc = copy.deepcopy(model)
        tree = doc["learner"]["gradient_booster"]["model"]["trees"][rng.randrange(len(trees))]
        key = rng.choice(["left_children", "right_children", "parents", "split_indices", "split_type", "default_left"])
        tree[key][rng.randrange(len(tree[key]))] = rng.choice([-2, -1, 0, 1, 2, 3, 5, 7, 99, 2**31, -2**31])
        try:
            check_model_json(json.dumps(doc).encode())
            accepted.append(doc)
        except CorruptArtifact:
            refused += 1
    assert refused > 300 and accepted  # both sides exercised
    _survives_in_a_child(_XGB_FUZZ_LOADER, accepted, tmp_path)


# -- 5. a diskcache row marked as pickled -----------------------------------------------------

def test_5_a_row_marked_pickled_is_never_unpickled(disk, tmp_path):
    marker = tmp_path / "ran"
    store = ArtifactStore(disk)
    store.put("x", store.encode(pd.DataFrame({"a": [1, 2, 3]})))
    payload = pickle.dumps(Payload(marker))
    body = row_of(disk.directory.parent, "x")["body"]
    for key in ("m:x", body):  # diskcache's MODE_PICKLE is 4
        assert sql_everywhere(disk.directory.parent, "UPDATE Cache SET mode=4, value=? WHERE key=?",
                              (payload, key)) == 1
        with pytest.raises(CorruptArtifact, match="never decoded"):
            store.get("x")
    sql_everywhere(disk.directory.parent, "INSERT INTO Cache(key, raw, store_time, access_time, mode, value) "
                   "VALUES(?, 0, 0, 0, 1, ?)", (payload, b"x"))  # a row whose key diskcache would unpickle
    assert all(isinstance(k, str) for k in disk.keys())
    assert not marker.exists()


def test_5_a_row_naming_a_file_outside_the_store_is_neither_read_nor_deleted(disk, tmp_path):
    victim = tmp_path / "victim.txt"
    victim.write_text("the reader's own file")
    data = os.urandom(100_000)  # a file-backed blob
    key = keys.content_key(data)
    disk.put(key, data)
    for name in (str(victim), "../../victim.txt", "00/00/../../../victim.txt"):
        sql_everywhere(disk.directory.parent, "UPDATE Cache SET filename=? WHERE key=?", (name, key))
        with pytest.raises(CorruptArtifact, match="not one of the store's"):
            disk.get(key)
    disk.delete(key)
    assert victim.read_text() == "the reader's own file"


@pytest.mark.parametrize("kind", ["symlink", "fifo"])
def test_5_a_value_file_that_is_a_link_or_a_pipe_is_refused_without_blocking(disk, tmp_path, kind):
    data = os.urandom(100_000)
    key = keys.content_key(data)
    disk.put(key, data)
    path = value_file(disk.directory.parent, key)
    path.unlink()
    if kind == "symlink":
        (tmp_path / "elsewhere").write_bytes(data)
        os.symlink(tmp_path / "elsewhere", path)
    else:
        os.mkfifo(path)
    with pytest.raises(CorruptArtifact):
        disk.get(key)


@pytest.mark.kernel
def test_5_in_a_kernel_a_manifest_row_marked_pickled_never_runs(notebook_runs, tmp_path):
    marker = tmp_path / "ran"

    def tamper(store, target):
        assert sql_everywhere(store, "UPDATE Cache SET mode=4, value=? WHERE key=?",
                              (pickle.dumps(Payload(marker)), f"m:{target}")) == 1

    _attack_rerun(notebook_runs, tmp_path, "RandomForestClassifier.fit", tamper, "never decoded", marker)


# -- 6. swapped bytes, swapped keys, swapped manifests ---------------------------------------------

def test_6_two_blobs_bytes_swapped_are_refused(disk):
    store = ArtifactStore(disk)
    store.put("a", store.encode(np.arange(50_000.0)))
    store.put("b", store.encode(np.arange(50_000) * 3))
    ka = next(iter(formats.blob_keys(manifest_of(disk.directory.parent, "a"))))
    kb = next(iter(formats.blob_keys(manifest_of(disk.directory.parent, "b"))))
    path_a, path_b = value_file(disk.directory.parent, ka), value_file(disk.directory.parent, kb)
    bytes_a, bytes_b = path_a.read_bytes(), path_b.read_bytes()
    path_a.write_bytes(bytes_b)
    path_b.write_bytes(bytes_a)
    for artifact in ("a", "b"):
        with pytest.raises(CorruptArtifact, match="does not hold the bytes"):
            store.get(artifact)


def test_6_two_rows_keys_swapped_are_refused(disk):
    store = ArtifactStore(disk)
    forest, _ = _forest(2)
    store.put("model", store.encode(forest))
    store.put("score", store.encode(0.75))
    root = disk.directory.parent
    # (each row lives in the shard its key hashes to: swapping keys is swapping the rows' contents)
    model_row, score_row = (json.dumps(row_of(root, a)).encode() for a in ("model", "score"))
    assert sql_everywhere(root, "UPDATE Cache SET value=? WHERE key='m:model'", (score_row,)) == 1
    assert sql_everywhere(root, "UPDATE Cache SET value=? WHERE key='m:score'", (model_row,)) == 1
    for artifact in ("model", "score"):
        with pytest.raises(CorruptArtifact, match="manifest row under"):
            store.get(artifact)


def test_6_two_manifests_bodies_swapped_are_refused(disk):
    store = ArtifactStore(disk)
    store.put("coef", store.encode(np.arange(4.0)))
    store.put("classes", store.encode(np.array([0, 1])))
    root = disk.directory.parent
    rows = {a: row_of(root, a) for a in ("coef", "classes")}
    for a, b in (("coef", "classes"), ("classes", "coef")):
        forged = {**rows[a], "body": rows[b]["body"], "size": rows[b]["size"]}  # the row's own id kept
        disk.put_row(f"m:{a}", json.dumps(forged).encode())
    for artifact in ("coef", "classes"):
        with pytest.raises(CorruptArtifact, match="manifest of"):
            store.get(artifact)


def test_6_a_value_of_another_kind_than_the_graph_says_is_refused(disk):
    store = ArtifactStore(disk)
    store.put("model", store.encode(0.5))  # a valid manifest for the model's id, holding a float
    with pytest.raises(CorruptArtifact, match="Experiment Graph says it is a model"):
        store.get("model", expect_kind="model")
    type_lie = formats.encode(0.5, False)
    plant(disk.directory.parent, "m2", type_lie.manifest["value"], {}, "model", "sklearn.ensemble._forest:X")
    with pytest.raises(CorruptArtifact, match="not the"):
        store.get("m2")


@pytest.mark.kernel
def test_6_in_a_kernel_two_rows_keys_swapped_are_both_recomputed(notebook_runs, tmp_path):
    def tamper(store, target):
        frame = stored(store, "pandas.read_csv")
        row_target, row_frame = (json.dumps(row_of(store, a)).encode() for a in (target, frame))
        sql_everywhere(store, "UPDATE Cache SET value=? WHERE key=?", (row_frame, f"m:{target}"))
        sql_everywhere(store, "UPDATE Cache SET value=? WHERE key=?", (row_target, f"m:{frame}"))

    _attack_rerun(notebook_runs, tmp_path, "RandomForestClassifier.fit", tamper, "manifest row under",
                  keep=("pandas.read_csv",))


# -- the store's format mark -----------------------------------------------------------------

def test_a_store_of_another_format_is_not_read(tmp_path):
    DiskcacheBlobs(tmp_path / "new").close()
    assert (tmp_path / "new" / MARK).read_text() == "collab_reuse blob store format 2\n"
    DiskcacheBlobs(tmp_path / "new").close()  # reopened: the same format
    (tmp_path / "new" / MARK).write_text("collab_reuse blob store format 3\n")
    with pytest.raises(IncompatibleStore, match="another format"):
        DiskcacheBlobs(tmp_path / "new")
    (tmp_path / "old" / "000").mkdir(parents=True)  # a store written before the mark existed
    with pytest.raises(IncompatibleStore, match="older"):
        DiskcacheBlobs(tmp_path / "old")


def test_a_manifest_row_of_the_old_format_is_refused(disk):
    disk.put_row("m:old", json.dumps({"v": 1, "value": {"t": "json", "x": 1}, "extra": {}}).encode())
    with pytest.raises(CorruptArtifact):
        ArtifactStore(disk).get("m:old"[2:])


# -- property tests: random bytes give a value or CorruptArtifact, never anything else --------

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=5000), st.binary(max_size=5000), st.booleans())
def test_reading_a_key_returns_exactly_its_bytes_or_refuses(data, other, right_key):
    blobs = MemoryBlobs()
    key = keys.content_key(data)
    blobs._data[key] = data if right_key else other
    if right_key or data == other:
        assert bytes(blobs.get(key)) == data
    else:
        with pytest.raises(CorruptArtifact):
            blobs.get(key)


_json = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
                     lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.sampled_from(
                         ["t", "x", "key", "items", "cls", "args", "cols", "dtypes", "index", "range", "name", "dup",
                          "shape", "dtype", "id", "n", "columns", "legacy", "state", "factory", "numbers",
                          "interned", "i", "kind", "seed", "config"]), inner, max_size=5),
                     max_leaves=25)
_node_types = st.sampled_from(["json", "float", "tuple", "list", "dict", "odict", "ddict", "text", "state", "npscalar",
                               "ndarray", "strarray", "dtype", "frame", "series", "index", "pickle", "slice", "ref",
                               "objarray", "rng", "global_rng", "masked", "type", "func", "sdict"])


@st.composite
def _manifest_values(draw):
    value = draw(_json)
    if isinstance(value, dict):
        value["t"] = draw(_node_types)
    return value


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_manifest_values(), st.sampled_from(["model", "dataframe", "other", "array"]), st.binary(max_size=300))
def test_any_manifest_gives_a_value_or_corrupt_artifact(value, kind, blob):
    store = ArtifactStore(MemoryBlobs())
    key = keys.content_key(blob)
    value_blobs = {key: blob} if isinstance(value, dict) and "key" in value else {}
    if isinstance(value, dict) and "key" in value:
        value["key"] = key
    try:
        encoded = formats.Encoded({"kind": kind, "type": "builtins:int", "value": value}, value_blobs)
        store.put("x", encoded)
    except (TypeError, ValueError):
        return  # (not JSON: no writer could store it)
    try:
        store.get("x")
    except CorruptArtifact:
        pass


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=400), st.binary(max_size=400))
def test_random_bytes_as_a_manifest_row_or_body_give_corrupt_artifact(row, body):
    blobs = MemoryBlobs()
    store = ArtifactStore(blobs)
    blobs.put_row("m:x", row)
    with pytest.raises(CorruptArtifact):
        store.get("x")
    body_key = keys.content_key(body)
    blobs.put(body_key, body)
    blobs.put_row("m:x", json.dumps({"format": 2, "id": "x", "writer": {"uid": 0, "user": "u"}, "body": body_key,
                                     "size": len(body)}).encode())
    with pytest.raises(CorruptArtifact):
        store.get("x")


# -- what a reused step replays runs in the reader's cell --------------------------------------

@pytest.mark.parametrize("extra, accepted", [
    ({"log": [["stdout", "hello\n"], ["warning", "builtins:UserWarning", "careful", "<stdin>", 1]]}, True),
    ({"log": [["warning", "sklearn.exceptions:ConvergenceWarning", "slow", "/no/such/file.py", 3]]}, True),
    ({"log": [["warning", "builtins:UserWarning", "x", "FIFO", 1]]}, False),  # the read would block
    ({"log": [["warning", "builtins:UserWarning", "x", "/etc/passwd", 1]]}, False),  # shown in the cell
    ({"log": [["warning", "os:system", "x", "<stdin>", 1]]}, False),
    ({"log": [["warning", "sklearn:exceptions.ConvergenceWarning", "x", "<stdin>", 1]]}, False),  # a path
    ({"log": [["stdout", 5]]}, False),
    ({"log": [["fd", "stderr", "[Fatal] \xff bytes\n"]]}, True),  # what C code wrote, one character per byte
    ({"log": [["fd", "stderr", "\u0100"]]}, False),  # not a byte: the replay could not write it
    ({"log": [["fd", "stdin", "x"]]}, False),
    ({"log": [["fd", 2, "x"]]}, False),
    ({"rng_after": {"np": ["MT19937", [0] * 3, 0, 0, 0.0]}}, False),
    ({"rng_after": {"np": ["MT19937", [1] * 624, 624, 0, 0.0], "py": [3, [1] * 624 + [624], None]}}, True),
    ({"rng_after": {"np": ["MT19937", [1] * 624, 624, 0, 0.0]}}, False),  # (Python's random not put back)
    ({"rng_after": {"np": ["MT19937", [1] * 624, 624, 0, 0.0], "py": [3, [1] * 624 + [625], None]}}, False),
    ({"rng_after": {"np": ["MT19937", [1] * 624, 624, 0, 0.0], "py": [3, [2**32] * 624 + [1], None]}}, False),
    ({"log": [], "run_this": "os.system('x')"}, False),
])
def test_a_replay_record_reading_a_pipe_or_naming_a_foreign_class_is_refused(disk, tmp_path, extra, accepted):
    import sklearn.exceptions  # noqa: F401

    fifo = tmp_path / "fifo.py"
    os.mkfifo(fifo)
    extra = json.loads(json.dumps(extra).replace('"FIFO"', json.dumps(str(fifo))))
    store = ArtifactStore(disk)
    store.put("x", store.encode(1.5), extra)
    if accepted:
        assert store.get("x")[1] == extra
    else:
        with pytest.raises(CorruptArtifact, match="replay record"):
            store.get("x")


@pytest.mark.parametrize("field", ["transform", "_parameter_constraints", "__class__"])
def test_a_stored_state_may_not_replace_what_the_class_defines(disk, field):
    from sklearn.preprocessing import StandardScaler

    store = ArtifactStore(disk)
    store.put("s", store.encode(StandardScaler().fit(np.arange(6.0).reshape(3, 2))))

    def edit(value, read):
        value["items"].append([field, {"t": "func", "name": "sklearn.metrics._regression:r2_score"}])
        return {}

    _rewrite(disk.directory.parent, "s", edit)
    with pytest.raises(CorruptArtifact, match="replace what its class defines|bad or repeated field"):
        store.get("s")


# -- libsvm models: arrays its C code trusts ----------------------------------------------------

def _libsvm_models() -> dict:
    from sklearn.svm import SVC, SVR, OneClassSVM

    X = np.random.default_rng(0).normal(size=(90, 3))
    return {"svc": SVC().fit(X, (X[:, 0] * 2).astype(int).clip(-1, 1)), "svr": SVR().fit(X, X[:, 0]),
            "oneclass": OneClassSVM().fit(X)}


@pytest.mark.parametrize("model, field, value", [
    ("svc", "_n_support", lambda v: (v + 1).astype(np.int32)),           # counts not summing to the vectors
    ("svc", "_n_support", lambda v: v[:2].copy()),                        # fewer classes than classes_
    ("svc", "support_vectors_", lambda v: v[:-1].copy()),                 # fewer vectors than counted
    ("svc", "support_vectors_", lambda v: np.asfortranarray(v)),          # not C-ordered
    ("svc", "_dual_coef_", lambda v: v[:, :-1].copy()),
    ("svc", "_intercept_", lambda v: v[:1].copy()),
    ("svc", "_probA", lambda v: np.ones(7)),
    ("svc", "support_", lambda v: v.astype(np.int64)),
    ("svc", "kernel", lambda v: "precomputed"),
    ("svr", "_n_support", lambda v: np.array([3, 0], dtype=np.int32)),
    ("svr", "_n_support", lambda v: np.array([v[0], v[0], v[0]], dtype=np.int32)),
    ("svr", "_sparse", lambda v: True),
    ("oneclass", "support_vectors_", lambda v: v[:, :2].copy()),         # other features than it was fitted on
])
def test_a_libsvm_model_whose_arrays_do_not_fit_together_is_refused(model, field, value):
    from collab_reuse.store import validate

    fitted = _libsvm_models()[model]
    validate.after_state(fitted)  # as fitted: accepted
    setattr(fitted, field, value(getattr(fitted, field)))
    with pytest.raises(CorruptArtifact):
        validate.after_state(fitted)


_SVM_LOADER = """
import sys, pickle, numpy as np
models = pickle.load(open(sys.argv[1].replace('.json', '.pkl'), 'rb'))
X = np.random.default_rng(1).normal(size=(40, 3))
for model in models:
    model.predict(X)
    model.decision_function(X)
print("survived", len(models))
"""


def test_libsvm_never_crashes_on_a_model_the_check_accepts(tmp_path):
    """Fuzz: resize, retype and renumber a fitted SVC's arrays; whatever the check accepts, libsvm
    predicts with in a child process (a crash there is a hole in the check)."""
    import copy
    import random

    from collab_reuse.store import validate

    base = _libsvm_models()["svc"]
    fields = ["support_vectors_", "support_", "_n_support", "_dual_coef_", "_intercept_", "_probA", "_probB",
              "class_weight_"]
    rng = random.Random(7)
    accepted, refused = [], 0
    for _ in range(1500):
        model = copy.deepcopy(base)
        field = rng.choice(fields)
        value = getattr(model, field)
        change = rng.random()
        if change < 0.3 and len(value):
            value = value[:rng.randrange(len(value))].copy()                        # fewer rows
        elif change < 0.5:
            value = np.concatenate([value, value[:1]]) if len(value) else value    # one more row
        elif change < 0.7 and value.size:
            value = value.copy()
            value.flat[rng.randrange(value.size)] = rng.choice([-1, 0, 1, 5, 10**6, -(10**6)])  # a wrong count/index
        elif change < 0.85:
            value = value.astype(rng.choice([np.int64, np.float32, np.int32, np.float64]))
        setattr(model, field, value)
        try:
            validate.after_state(model)
            accepted.append(model)
        except CorruptArtifact:
            refused += 1
    assert refused > 300 and accepted  # both sides exercised
    (tmp_path / "accepted.pkl").write_bytes(pickle.dumps(accepted))
    _survives_in_a_child(_SVM_LOADER, [], tmp_path)
