"""Turning values into content-keyed blobs and back, without pickle where we can.

Frames are split into one Arrow IPC blob per column plus blobs for the row and
column indexes; each blob's key is the digest of its bytes, so identical
columns of different frames are one blob (the paper's storage-aware idea, with
sound column identity: equal keys mean equal bytes). Arrays are ``.npy``;
plain scalars and containers are JSON. scikit-learn and LightGBM objects are
stored as pickle would rebuild them (class, constructor arguments and state, by
the reduce protocol) but with every part in one of these safe forms, so a
forest's trees are raw node arrays that load at disk speed (a 300 MB forest in
under a second, where its skops file took 3-5 s); a model that can't be held so is a
skops file. Pickle serves only what nothing else does, and only when trusted.

Every encoding is checked by decoding it and comparing with the original
(``verify_roundtrip``): a value that would come back different is not stored.
"""

from __future__ import annotations

import collections
import copyreg
import importlib
import io
import math
from dataclasses import dataclass, field
from typing import Any, Callable

from ..errors import CorruptArtifact, Unreusable
from ..fingerprint import digest_bytes
from ..fingerprint.values import is_estimator

MANIFEST_VERSION = 1
_TEXT_BLOB = 1 << 16  # strings longer than this (e.g. a LightGBM model) go to a blob of their own
_STR_ARRAY_ITEMS = 100_000  # object arrays of strings up to this size are stored as JSON lists
#: Libraries whose objects are stored as their class, constructor arguments and state (no code runs
#: on load but the class's own constructor and __setstate__); LightGBM's state is its model text.
_STATE_LIBRARIES = ("lightgbm.", "sklearn.")
_FACTORIES = {dict: "dict", list: "list", int: "int", float: "float", collections.OrderedDict: "OrderedDict"}
_SKOPS_TRUSTED_PREFIXES = ("sklearn.", "lightgbm.", "numpy.", "scipy.", "builtins.", "collections.", "xgboost.", "skops.")


@dataclass
class Encoded:
    """A manifest (JSON-able) and the blobs it references by content key."""

    manifest: dict
    blobs: dict[str, bytes] = field(default_factory=dict)

    def add_blob(self, data: bytes) -> str:
        key = digest_bytes(data)
        self.blobs[key] = data
        return key


def kind_of(value: Any) -> str:
    """The Experiment Graph's vertex kind of a value."""
    module = type(value).__module__.split(".", 1)[0]
    name = type(value).__name__
    if module == "pandas":
        return {"DataFrame": "dataframe", "Series": "series"}.get(name, "other")
    if module == "numpy" and name == "ndarray":
        return "array"
    if is_estimator(value):
        return "model"
    return "other"


def encode(value: Any, trust_pickle: bool) -> Encoded:
    """Encode a value; raises ``Unreusable`` when it can't be stored faithfully."""
    out = Encoded(manifest={})
    out.manifest = {"v": MANIFEST_VERSION, "value": _encode_tree(value, out, trust_pickle, 0)}
    return out


def decode(manifest: dict, get_blob: Callable[[str], bytes], trust_pickle: bool) -> Any:
    """Rebuild a value; raises ``CorruptArtifact`` when a blob is missing or damaged."""
    if manifest.get("v") != MANIFEST_VERSION:
        raise CorruptArtifact(f"manifest version {manifest.get('v')} is not {MANIFEST_VERSION}")
    return _decode_tree(manifest["value"], get_blob, trust_pickle)


def blob_keys(manifest: dict) -> list[str]:
    """Every blob key a manifest references."""
    keys: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for k, v in node.items():
                if k in ("key", "index", "columns") and isinstance(v, str):
                    keys.append(v)
                elif k == "cols":
                    keys.extend(c[len(_PICKLED):] if c.startswith(_PICKLED) else c for c in v)
                else:
                    walk(v)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(manifest.get("value"))
    return keys


# -- the tree of containers and leaves -------------------------------------------------------

def _encode_tree(value: Any, out: Encoded, trust_pickle: bool, depth: int) -> dict:
    if depth > 20:
        raise Unreusable("value nested too deeply to store")
    t = type(value)
    if t is str and len(value) > _TEXT_BLOB:
        return {"t": "text", "key": out.add_blob(value.encode("utf-8", "surrogatepass"))}
    if value is None or t in (bool, int, str):
        return {"t": "json", "x": value}
    if t is float:
        return {"t": "float", "x": repr(value)}
    if t is collections.OrderedDict or (t is collections.defaultdict and value.default_factory in _FACTORIES):
        node = {"t": "odict" if t is collections.OrderedDict else "ddict",
                "items": [[_encode_tree(k, out, trust_pickle, depth + 1),
                           _encode_tree(v, out, trust_pickle, depth + 1)] for k, v in value.items()]}
        if t is collections.defaultdict:
            node["factory"] = _FACTORIES[value.default_factory]
        return node
    if t in (tuple, list):
        return {"t": t.__name__, "items": [_encode_tree(v, out, trust_pickle, depth + 1) for v in value]}
    if t is dict:
        return {"t": "dict", "items": [[_encode_tree(k, out, trust_pickle, depth + 1),
                                         _encode_tree(v, out, trust_pickle, depth + 1)] for k, v in value.items()]}
    module = t.__module__.split(".", 1)[0]
    if module == "numpy":
        return _encode_numpy(value, out, trust_pickle)
    if module == "pandas":
        return _encode_pandas(value, out, trust_pickle)
    if t.__module__.startswith(_STATE_LIBRARIES):
        return _encode_library_object(value, out, trust_pickle)
    if kind_of(value) == "model":
        return _encode_model(value, out, trust_pickle)
    return _encode_pickle(value, out, trust_pickle)


def _load_npy(data: bytes | memoryview) -> Any:
    """An array from .npy bytes, using the buffer in place when it is writable (no copy)."""
    import numpy as np
    from numpy.lib import format as npy

    data = memoryview(data)
    header = io.BytesIO(bytes(data[:65536]))
    try:
        version = npy.read_magic(header)
        read_header = npy.read_array_header_1_0 if version == (1, 0) else npy.read_array_header_2_0
        shape, fortran, dtype = read_header(header)
    except ValueError:  # an unusual header: numpy reads it (and copies)
        return np.load(io.BytesIO(data), allow_pickle=False)
    if dtype.hasobject:
        raise CorruptArtifact("stored array holds Python objects")
    count = int(np.prod(shape, dtype=np.int64))
    array = np.frombuffer(data, dtype=dtype, count=count, offset=header.tell())
    if data.readonly or not array.flags.aligned:
        array = array.copy()  # as np.load gives it: writable, aligned, owning its memory
    return array.reshape(shape, order="F" if fortran else "C")


def _decode_tree(node: dict, get_blob: Callable[[str], bytes], trust_pickle: bool) -> Any:
    t = node["t"]
    if t == "json":
        return node["x"]
    if t == "float":
        return float(node["x"])
    if t in ("tuple", "list"):
        items = [_decode_tree(n, get_blob, trust_pickle) for n in node["items"]]
        return tuple(items) if t == "tuple" else items
    if t in ("dict", "odict", "ddict"):
        pairs = [(_decode_tree(k, get_blob, trust_pickle), _decode_tree(v, get_blob, trust_pickle))
                 for k, v in node["items"]]
        if t == "ddict":
            factory = {name: f for f, name in _FACTORIES.items()}.get(node["factory"])
            if factory is None:
                raise CorruptArtifact(f"unknown defaultdict factory {node['factory']!r}")
            return collections.defaultdict(factory, pairs)
        return dict(pairs) if t == "dict" else collections.OrderedDict(pairs)
    if t == "text":
        return str(get_blob(node["key"]), "utf-8", "surrogatepass")
    if t == "state":
        return _decode_state_object(node, get_blob, {})
    if t == "npscalar":
        import numpy as np

        return np.frombuffer(bytes.fromhex(node["x"]), dtype=np.dtype(node["dtype"]))[0]
    if t == "ndarray":
        return _load_npy(get_blob(node["key"]))
    if t in ("strarray", "dtype"):
        import numpy as np

        if t == "dtype":
            return np.dtype(node["x"])
        strings = np.empty(len(node["items"]), dtype=object)
        strings[:] = node["items"]
        return strings.reshape(node["shape"])
    if t in ("frame", "series", "index"):
        return _decode_pandas(node, get_blob, trust_pickle)
    if t == "skops":
        return _skops_load(get_blob(node["key"]))
    if t == "pickle":
        if not trust_pickle:
            raise CorruptArtifact("pickled artifact in a store not trusted for pickle")
        import pickle

        return pickle.loads(get_blob(node["key"]))
    raise CorruptArtifact(f"unknown manifest node {t!r}")


# -- numpy ---------------------------------------------------------------------------------

def _encode_numpy(value: Any, out: Encoded, trust_pickle: bool) -> dict:
    import numpy as np

    if isinstance(value, np.generic) and not value.dtype.hasobject:
        return {"t": "npscalar", "dtype": value.dtype.str, "x": value.tobytes().hex()}
    if type(value) is np.ndarray and not value.dtype.hasobject:  # (a subclass, e.g. masked, is more than its data)
        buf = io.BytesIO()
        np.save(buf, value, allow_pickle=False)
        return {"t": "ndarray", "key": out.add_blob(buf.getvalue())}
    if (type(value) is np.ndarray and value.dtype == object and value.size <= _STR_ARRAY_ITEMS
            and all(type(x) is str for x in value.flat)):  # a fitted estimator's feature_names_in_
        return {"t": "strarray", "shape": list(value.shape), "items": value.ravel().tolist()}
    if isinstance(value, np.dtype) and value.names is None and value.subdtype is None and value.metadata is None:
        return {"t": "dtype", "x": value.str}  # e.g. the dtype an imputer was fitted on
    return _encode_pickle(value, out, trust_pickle)


# -- pandas --------------------------------------------------------------------------------

def _arrow_bytes(table: Any) -> bytes:
    import pyarrow as pa

    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return sink.getvalue().to_pybytes()


def _arrow_table(data: bytes) -> Any:
    import pyarrow as pa

    return pa.ipc.open_stream(data).read_all()


_PICKLED = "p:"  # prefix of a column entry stored with pickle (mixed-type object columns)


def _encode_column(series: Any, out: Encoded, trust_pickle: bool) -> str:
    """A column as Arrow; an object column Arrow can't hold (mixed types) as pickle, if trusted."""
    import pandas as pd
    import pyarrow as pa

    try:
        table = pa.Table.from_pandas(pd.DataFrame({"v": series.array}), preserve_index=False)
    except (pa.ArrowException, TypeError, ValueError) as exc:
        if str(series.dtype) != "object" or not trust_pickle:
            raise Unreusable(f"column of dtype {series.dtype} has no Arrow form: {exc}") from None
        import pickle

        try:
            return _PICKLED + out.add_blob(pickle.dumps(series.to_numpy(dtype=object), protocol=5))
        except Exception as pexc:
            raise Unreusable(f"an object column can't be serialized: {pexc}") from None
    return out.add_blob(_arrow_bytes(table))


def _encode_index(index: Any, out: Encoded) -> dict:
    import pandas as pd
    import pyarrow as pa

    if type(index) is pd.RangeIndex:
        return {"range": [index.start, index.stop, index.step], "name": _label(index.name)}
    try:
        table = pa.Table.from_pandas(pd.DataFrame(index=index), preserve_index=True)
    except (pa.ArrowException, TypeError, ValueError) as exc:
        raise Unreusable(f"index of dtype {index.dtype} has no Arrow form: {exc}") from None
    return {"key": out.add_blob(_arrow_bytes(table)), "dtype": str(index.dtype)}


def _decode_index(node: dict, get_blob: Callable[[str], bytes]) -> Any:
    import pandas as pd

    if "range" in node:
        start, stop, step = node["range"]
        return pd.RangeIndex(start, stop, step, name=_unlabel(node["name"]))
    index = _arrow_table(get_blob(node["key"])).to_pandas().index
    if node["dtype"] == "object" and str(index.dtype) != "object":
        index = index.astype(object)
    return index


def _label(label: Any) -> Any:
    """Column/series names as JSON; anything that isn't a plain scalar or tuple isn't storable."""
    t = type(label)
    if label is None or t in (bool, int, str):
        return {"t": "json", "x": label}
    if t is float:
        return {"t": "float", "x": repr(label)}
    if t is tuple:
        return {"t": "tuple", "items": [_label(x) for x in label]}
    import numpy as np

    if isinstance(label, np.generic) and not label.dtype.hasobject:
        return {"t": "npscalar", "dtype": label.dtype.str, "x": label.tobytes().hex()}
    raise Unreusable(f"a label of type {t.__name__} can't be stored")


def _unlabel(node: dict) -> Any:
    return _decode_tree(node, lambda key: b"", False)


def _encode_pandas(value: Any, out: Encoded, trust_pickle: bool) -> dict:
    import pandas as pd

    if isinstance(value, pd.DataFrame) and type(value) is pd.DataFrame:
        if value.attrs:
            raise Unreusable("frames with .attrs are not stored")
        return {"t": "frame", "index": _encode_index(value.index, out), "columns": _encode_index(value.columns, out),
                "cols": [_encode_column(value.iloc[:, i], out, trust_pickle) for i in range(value.shape[1])],
                "dtypes": [str(dt) for dt in value.dtypes], "dup": value.flags.allows_duplicate_labels}
    if isinstance(value, pd.Series) and type(value) is pd.Series:
        if value.attrs:
            raise Unreusable("series with .attrs are not stored")
        return {"t": "series", "index": _encode_index(value.index, out),
                "cols": [_encode_column(value, out, trust_pickle)],
                "dtypes": [str(value.dtype)], "name": _label(value.name), "dup": value.flags.allows_duplicate_labels}
    if isinstance(value, pd.Index):
        return {"t": "index", "index": _encode_index(value, out)}
    return _encode_pickle(value, out, trust_pickle)


def _decode_column(key: str, dtype: str, get_blob: Callable[[str], bytes], trust_pickle: bool) -> Any:
    import pandas as pd

    if key.startswith(_PICKLED):
        if not trust_pickle:
            raise CorruptArtifact("pickled column in a store not trusted for pickle")
        import pickle

        return pd.Series(pickle.loads(get_blob(key[len(_PICKLED):])), dtype=object)
    col = _arrow_table(get_blob(key)).to_pandas()["v"]
    if dtype == "object" and str(col.dtype) != "object":
        col = col.astype(object)
    return col


def _decode_pandas(node: dict, get_blob: Callable[[str], bytes], trust_pickle: bool) -> Any:
    import pandas as pd

    if node["t"] == "index":
        return _decode_index(node["index"], get_blob)
    index = _decode_index(node["index"], get_blob)
    cols = [_decode_column(k, dt, get_blob, trust_pickle) for k, dt in zip(node["cols"], node["dtypes"])]
    if node["t"] == "series":
        series = pd.Series(cols[0].array, index=index, name=_unlabel(node["name"]), dtype=cols[0].dtype, copy=False)
        return series.set_flags(allows_duplicate_labels=node["dup"])
    columns = _decode_index(node["columns"], get_blob)
    frame = pd.concat(cols, axis=1, ignore_index=True) if cols else pd.DataFrame(index=range(len(index)))
    frame.index = index
    frame.columns = columns
    return frame.set_flags(allows_duplicate_labels=node["dup"])


# -- models --------------------------------------------------------------------------------

def _encode_model(value: Any, out: Encoded, trust_pickle: bool) -> dict:
    try:
        import skops.io as sio

        data = sio.dumps(value)  # the store's round-trip check loads it back through the allow-list
        return {"t": "skops", "key": out.add_blob(data)}
    except Exception:  # skops can't represent it (e.g. a C-level handle): pickle if trusted
        return _encode_pickle(value, out, trust_pickle)


def _encode_library_object(value: Any, out: Encoded, trust_pickle: bool) -> dict:
    """A scikit-learn or LightGBM object by its reduce protocol; a model that doesn't fit that
    goes to skops, anything else to pickle (if trusted)."""
    scratch = Encoded(manifest={})  # a failed attempt leaves no blobs behind
    try:
        node = _encode_state_object(value, scratch, {id(value): (0, value)}, 0)
    except Unreusable:
        if kind_of(value) == "model":
            return _encode_model(value, out, trust_pickle)
        return _encode_pickle(value, out, trust_pickle)
    out.blobs.update(scratch.blobs)
    return {**node, "id": 0}


#: id of each object or array met while encoding one object -> (its number, the object itself,
#: kept alive so that no temporary's id is reused), to store a second meeting as a reference.
_Memo = dict[int, tuple[int, Any]]


def _encode_state_object(value: Any, out: Encoded, memo: _Memo, depth: int) -> dict:
    """What pickle would record (class, constructor arguments, state), every part in a safe form;
    only "construct, then set the state" is accepted."""
    cls = type(value)
    reduced = _reduced(value)
    if reduced is None:
        raise Unreusable(f"{cls.__qualname__} doesn't reduce to a constructor and a state")
    constructor, args, state = reduced
    if constructor is copyreg.__newobj__ and args == (cls,):
        node: dict = {"t": "state", "cls": _class_name(cls)}
    elif constructor is cls:
        node = {"t": "state", "cls": _class_name(cls), "args": _encode_state_part(list(args), out, memo, depth)}
    else:
        raise Unreusable(f"{cls.__qualname__} is rebuilt by {getattr(constructor, '__qualname__', constructor)}")
    if state is not None:
        if not isinstance(state, dict) or not all(type(key) is str for key in state):
            raise Unreusable(f"{cls.__qualname__} has no dict state")
        node["items"] = [[key, _encode_state_part(part, out, memo, depth)] for key, part in state.items()]
    return node


def _encode_state_part(part: Any, out: Encoded, memo: _Memo, depth: int) -> dict:
    """One part of an object's state: objects of the same libraries by their own state (strictly:
    a part that can't be stored fails the whole object), an object or array met before as a
    reference to it (as pickle keeps a forest's template estimator one object), containers item by
    item, the rest as any value but never pickled."""
    if depth > 20:
        raise Unreusable("object state nested too deeply")
    t = type(part)
    library_object = t.__module__.startswith(_STATE_LIBRARIES)
    if library_object or (t.__module__ == "numpy" and t.__name__ == "ndarray"):
        if id(part) in memo:
            return {"t": "ref", "n": memo[id(part)][0]}
        number = len(memo)
        memo[id(part)] = (number, part)
        if library_object:
            node = _encode_state_object(part, out, memo, depth + 1)
        else:
            node = _encode_tree(part, out, False, depth + 1)
        return {**node, "id": number}
    if t in (list, tuple):
        return {"t": t.__name__, "items": [_encode_state_part(x, out, memo, depth + 1) for x in part]}
    if t is dict and all(type(k) is str for k in part):
        return {"t": "sdict", "items": [[k, _encode_state_part(v, out, memo, depth + 1)] for k, v in part.items()]}
    return _encode_tree(part, out, False, depth + 1)


def _class_name(cls: type) -> str:
    return f"{cls.__module__}:{cls.__qualname__}"


def _decode_state_object(node: dict, get_blob: Callable[[str], bytes], memo: dict[int, Any]) -> Any:
    module, _, qualname = node["cls"].partition(":")
    if not module.startswith(_STATE_LIBRARIES):
        raise CorruptArtifact(f"state object of a class outside the allow-list: {node['cls']}")
    cls: Any = importlib.import_module(module)
    for part in qualname.split("."):
        cls = getattr(cls, part)
    if not isinstance(cls, type):
        raise CorruptArtifact(f"state object names {node['cls']}, which is not a class")
    if "args" in node:  # a class that pickles as a constructor call (a tree's node store)
        obj = cls(*_decode_state_part(node["args"], get_blob, memo))
    else:
        obj = cls.__new__(cls)
    if "id" in node:
        memo[node["id"]] = obj
    if "items" not in node:
        return obj
    state = {key: _decode_state_part(part, get_blob, memo) for key, part in node["items"]}
    if hasattr(obj, "__setstate__"):  # as pickle would: the class rebuilds itself (a Booster from its text)
        obj.__setstate__(state)
    else:
        obj.__dict__.update(state)
    return obj


def _decode_state_part(node: dict, get_blob: Callable[[str], bytes], memo: dict[int, Any]) -> Any:
    t = node["t"]
    if t == "ref":
        if node["n"] not in memo:
            raise CorruptArtifact(f"reference to object {node['n']}, which comes later or not at all")
        return memo[node["n"]]
    if t == "state":
        return _decode_state_object(node, get_blob, memo)
    if t in ("list", "tuple"):
        items = [_decode_state_part(n, get_blob, memo) for n in node["items"]]
        return tuple(items) if t == "tuple" else items
    if t == "sdict":
        return {key: _decode_state_part(n, get_blob, memo) for key, n in node["items"]}
    value = _decode_tree(node, get_blob, False)
    if "id" in node:
        memo[node["id"]] = value
    return value


def _skops_load(data: bytes) -> Any:
    import skops.io as sio

    data = bytes(data)
    untrusted = sio.get_untrusted_types(data=data)
    refused = [t for t in untrusted if not t.startswith(_SKOPS_TRUSTED_PREFIXES)]
    if refused:
        raise CorruptArtifact(f"model file names types outside the allow-list: {refused[:3]}")
    return sio.loads(data, trusted=untrusted)


def _encode_pickle(value: Any, out: Encoded, trust_pickle: bool) -> dict:
    if not trust_pickle:
        raise Unreusable(f"a {type(value).__name__} needs pickle, which this store does not trust")
    import pickle

    try:
        data = pickle.dumps(value, protocol=5)
    except Exception as exc:  # locks, generators, open files, lambdas...
        raise Unreusable(f"a {type(value).__name__} can't be serialized: {exc}") from None
    return {"t": "pickle", "key": out.add_blob(data)}


# -- fidelity --------------------------------------------------------------------------------

def faithful_by_construction(value: Any) -> bool:
    """Values whose encoding copies bytes and nothing else: numeric arrays, and frames/series of numeric
    numpy columns under a RangeIndex with plain string or integer labels. No need to decode them to check."""
    import numpy as np

    module = type(value).__module__.split(".", 1)[0]
    if module == "numpy":
        return type(value) is np.ndarray and value.dtype.kind in "biuf"
    if module != "pandas":
        return False
    import pandas as pd

    if type(value) is pd.Series:
        frame_like, labels = value.to_frame(), [value.name]
    elif type(value) is pd.DataFrame:
        frame_like, labels = value, list(value.columns)
    else:
        return False
    return (type(frame_like.index) is pd.RangeIndex and not frame_like.attrs
            and all(isinstance(dt, np.dtype) and dt.kind in "biuf" for dt in frame_like.dtypes)
            and all(type(label) in (str, int) for label in labels)
            and type(value.columns if type(value) is pd.DataFrame else value.index) in (pd.Index, pd.RangeIndex)
            and str(value.columns.dtype if type(value) is pd.DataFrame else "str") in ("str", "object", "int64"))


def verify_roundtrip(original: Any, decoded: Any) -> None:
    """Raise ``Unreusable`` unless ``decoded`` is indistinguishable from ``original``."""
    if not _same(original, decoded, 0, {}):
        raise Unreusable(f"a {type(original).__name__} does not come back identical from storage")


def _same(a: Any, b: Any, depth: int, seen: dict[tuple[int, int], tuple]) -> bool:
    """Deep equality as storage must keep it: same types all the way down. ``seen``: pairs being
    compared already (a structure that contains itself is the same if nothing else differs),
    holding them so that no temporary's id (a reduced state) is reused while comparing."""
    if type(a) is not type(b) or depth > 20:
        return False
    if isinstance(a, type):
        return a is b
    t = type(a)
    if t in (tuple, list, dict) or t.__module__.startswith(_STATE_LIBRARIES):
        if (id(a), id(b)) in seen:
            return True
        seen[id(a), id(b)] = (a, b)
    if t in (tuple, list):
        return len(a) == len(b) and all(_same(x, y, depth + 1, seen) for x, y in zip(a, b))
    if t is dict:
        return list(a.keys()) == list(b.keys()) and all(_same(a[k], b[k], depth + 1, seen) for k in a)
    if t is float:
        return (math.isnan(a) and math.isnan(b)) or a == b
    module = t.__module__.split(".", 1)[0]
    if module == "pandas":
        return _same_pandas(a, b)
    if module == "numpy":
        same = _same_numpy(a, b, depth, seen)
        if same is not None:
            return same
    if module == "numpy" or t.__module__.startswith(_STATE_LIBRARIES):
        reduced = _reduced(a), _reduced(b)
        if reduced[0] is not None and reduced[1] is not None:  # what pickle would record, part by part
            return reduced[0][0] is reduced[1][0] and _same(reduced[0][1:], reduced[1][1:], depth + 1, seen)
    if kind_of(a) == "model":
        return type(a) is type(b) and a.get_params(deep=False).keys() == b.get_params(deep=False).keys()
    try:
        return bool(a == b)
    except Exception:
        return True  # pickled opaque objects: pickle is faithful by construction


def _same_numpy(a: Any, b: Any, depth: int, seen: dict) -> bool | None:
    """``_same`` for numpy's values; None for other numpy objects (compared as pickle records them)."""
    import numpy as np

    if type(a) is np.ndarray:
        if a.dtype != b.dtype or a.shape != b.shape:
            return False
        if a.dtype.hasobject:  # (e.g. a boosting model's grid of trees)
            return all(_same(x, y, depth + 1, seen) for x, y in zip(a.flat, b.flat))
        return np.array_equal(a, b, equal_nan=a.dtype.kind in "fc")
    if isinstance(a, np.dtype):
        return a == b
    if isinstance(a, np.generic):
        return a.dtype == b.dtype and a.tobytes() == b.tobytes()
    if isinstance(a, np.ma.MaskedArray):  # (its fill value may be set only lazily)
        return (_same(a.data, b.data, depth + 1, seen)
                and _same(np.ma.getmaskarray(a), np.ma.getmaskarray(b), depth + 1, seen))
    if isinstance(a, np.random.RandomState):  # the state of its draws (not how it was seeded)
        return _same(a.get_state(legacy=False), b.get_state(legacy=False), depth + 1, seen)
    if isinstance(a, (np.random.Generator, np.random.BitGenerator)):
        generators = (a.bit_generator, b.bit_generator) if isinstance(a, np.random.Generator) else (a, b)
        return _same(generators[0].state, generators[1].state, depth + 1, seen)
    return None


def _reduced(value: Any) -> tuple | None:
    """(constructor, arguments, state) of an object rebuilt by "construct, then set the state"."""
    try:
        reduced = value.__reduce_ex__(5)
    except Exception:
        return None
    if not isinstance(reduced, tuple) or len(reduced) < 2 or any(x is not None for x in reduced[3:]):
        return None
    return reduced[0], tuple(reduced[1]), reduced[2] if len(reduced) > 2 else None


def _same_pandas(a: Any, b: Any) -> bool:
    """Same dtypes, labels and flags; values compared where Arrow could change them.

    Numeric and boolean numpy columns survive Arrow bit for bit (their bytes are
    copied), so only other columns (objects, strings, categoricals, dates,
    extension types) and the indexes are compared by content digest.
    """
    import pandas as pd

    from ..fingerprint.values import content_digest

    try:
        if isinstance(a, pd.Index):
            return content_digest(a) == content_digest(b)
        if a.flags.allows_duplicate_labels != b.flags.allows_duplicate_labels:
            return False
        if content_digest(a.index) != content_digest(b.index):
            return False
        if isinstance(a, pd.Series):
            return a.name == b.name and type(a.name) is type(b.name) and _same_column(a, b)
        if content_digest(a.columns) != content_digest(b.columns):
            return False
        return all(_same_column(a.iloc[:, i], b.iloc[:, i]) for i in range(a.shape[1]))
    except Unreusable:
        return False


def _same_column(a: Any, b: Any) -> bool:
    import numpy as np

    from ..fingerprint.values import content_digest

    if a.dtype != b.dtype or len(a) != len(b):
        return False
    if isinstance(a.dtype, np.dtype) and a.dtype.kind in "biuf":
        return True  # copied byte for byte
    if getattr(a.dtype, "storage", None) == "pyarrow" or type(a.dtype).__name__ == "ArrowDtype":
        import pyarrow as pa

        def arrow_of(column: Any) -> Any:
            arr = pa.array(column.array)
            return arr.combine_chunks() if isinstance(arr, pa.ChunkedArray) else arr

        return arrow_of(a).equals(arrow_of(b))  # Arrow-backed: compare the Arrow arrays themselves
    return content_digest(a.reset_index(drop=True)) == content_digest(b.reset_index(drop=True)) and \
        _same_object_cells(a, b)


def _same_object_cells(a: Any, b: Any) -> bool:
    """assert_*_equal treats None and NaN alike in object columns; printing does not."""
    if str(a.dtype) != "object":
        return True
    return [type(x) for x in a.array] == [type(x) for x in b.array]
