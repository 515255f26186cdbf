"""The stored forms are pinned: a format change is a visible, versioned decision.

``tests/golden/<name>.json`` holds what ``store/formats.py`` wrote for a value of ``tests/golden/values.py``
(manifest and blobs) and the digest ``fingerprint/`` gave it, when the format was last decided
(``scripts/golden_formats.py``). Checked here:

* the golden bytes still decode, through the reader's checks, to the value (a store written then is
  read now). Under another pandas major version (``scripts/test-pandas22.sh`` runs these tests with
  pandas 2.2) the same constructor makes another value (``str`` vs ``object`` labels, datetime
  units): there the data must come back, label for label and cell for cell;
* with the libraries it was written with, encoding the value today gives the same manifest and blob
  keys, and the same digest: operation ids, and so every stored artifact, stay valid. A change here
  means the format changed: bump ``store/formats.FORMAT`` or ``fingerprint/digest.FORMAT_VERSION`` and
  write the golden files again.
"""
from __future__ import annotations

import base64
import json
from pathlib import Path

import numpy as np
import pytest

from collab_reuse.fingerprint.digest import FORMAT_VERSION, digest_parts
from collab_reuse.fingerprint.values import content_digest
from collab_reuse.store import formats, keys
from collab_reuse.store.formats import FORMAT
from collab_reuse.store.fidelity import verify_roundtrip
from tests.golden.values import VALUES, model_data

GOLDEN = Path(__file__).resolve().parents[1] / "golden"


def _golden(name: str) -> dict:
    return json.loads((GOLDEN / f"{name}.json").read_text())


def _versions() -> dict[str, str]:
    import pandas
    import pyarrow
    import sklearn

    return {"numpy": np.__version__, "pandas": pandas.__version__, "pyarrow": pyarrow.__version__,
            "sklearn": sklearn.__version__}


def _same_major(golden: dict, library: str) -> bool:
    return golden["versions"][library].split(".")[0] == _versions()[library].split(".")[0]


def _same_data(a, b) -> bool:
    """Frames with the same labels and cells (of whatever dtypes two pandas versions give them)."""
    return (list(a.columns) == list(b.columns) and list(a.index) == list(b.index)
            and all(a[c].tolist() == b[c].tolist() or (a[c].isna() == b[c].isna()).all()
                    and a[c].dropna().tolist() == b[c].dropna().tolist() for c in a.columns))


def _decode(golden: dict):
    blobs = {key: base64.b64decode(data) for key, data in golden["blobs"].items()}
    for key, data in blobs.items():
        assert keys.content_key(data) == key  # the golden file is intact
    return formats.decode(golden["manifest"], blobs.__getitem__, allow_pickle=False)


@pytest.mark.parametrize("name", sorted(VALUES))
def test_the_golden_form_is_of_this_format(name):
    golden = _golden(name)
    assert golden["store_format"] == FORMAT and golden["digest_format"] == FORMAT_VERSION, (
        "the format version changed: write the golden files again (scripts/golden_formats.py)")


@pytest.mark.parametrize("name", sorted(VALUES))
def test_golden_bytes_decode_to_the_value(name):
    golden = _golden(name)
    value, back = VALUES[name](), _decode(golden)
    if name == "frame" and not _same_major(golden, "pandas"):
        assert _same_data(value, back)
    elif name == "model":
        X, _ = model_data()
        assert type(back) is type(value)
        assert np.array_equal(back.predict_proba(X), value.predict_proba(X))
        assert back.get_params() == value.get_params()
    else:
        verify_roundtrip(value, back)


@pytest.mark.parametrize("name", sorted(VALUES))
def test_encoding_today_gives_the_golden_form(name):
    golden = _golden(name)
    if golden["versions"] != _versions():
        pytest.skip(f"golden {name} was written with {golden['versions']}, this is {_versions()}: "
                    "its bytes may differ (the decoding test still reads them)")
    encoded = formats.encode(VALUES[name](), allow_pickle=False)
    assert encoded.manifest == golden["manifest"]
    assert sorted(encoded.blobs) == sorted(golden["blobs"])


@pytest.mark.parametrize("name", sorted(set(VALUES) - {"model"}))
def test_the_digest_of_a_value_is_pinned(name):
    if name == "frame" and not _same_major(_golden(name), "pandas"):
        pytest.skip("another pandas major version makes another frame (other dtypes), of another digest")
    assert digest_parts(VALUES[name](), resolve=content_digest) == _golden(name)["digest"]

