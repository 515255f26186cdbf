"""Turning values into content-keyed blobs and back, data only.

Frames are split into one Arrow IPC blob per column plus blobs for the row and column
indexes; each blob's key is the hash of its bytes (``keys.py``), so identical columns of
different frames are one blob (the paper's storage-aware idea, with sound column identity:
equal keys mean equal bytes). Arrays are ``.npy``; plain scalars and containers are JSON, and
so are object columns of mixed scalars (``[0, 1, "overall"]``). scikit-learn and LightGBM
objects are their reduced state (``state.py``).

Decoding is data only: a node names one of the forms above, nothing else (no class, no
function, no module), and every part is checked before it is used: JSON leaves by type, arrays
without Python objects, Arrow tables validated in full (offsets, lengths, UTF-8) with only
known extension types and plain time zone names, frames whose columns all have the index's
length. Pickle is the one exception, written and read only when the caller says so
(``artifacts.py``: the user asked for it and only the user can write the store).
"""

from __future__ import annotations

import collections
import io
import json
import re
import sys
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Callable

import numpy as np

from ..errors import CorruptArtifact, Unreusable
from ..fingerprint.values import is_estimator
from . import keys, state

_TEXT_BLOB = 1 << 16  # strings longer than this (e.g. a LightGBM model) go to a blob of their own
_STR_ARRAY_ITEMS = 100_000  # object arrays of strings up to this size are stored as JSON lists
FACTORIES = {dict: "dict", list: "list", int: "int", float: "float", collections.OrderedDict: "OrderedDict"}
FACTORY_BY_NAME = {name: factory for factory, name in FACTORIES.items()}
_PICKLED, _SCALARS = "p:", "j:"  # prefixes of a column stored with pickle, or as JSON scalars
_CODED = "c:"  # prefix of a categorical column stored as its codes and its categories (two blobs)
_DTYPE_TEXT = re.compile(r"[<>|=]?[?bBhHiIlLqQefdgFDGbiufcmMOSUV][0-9]{0,4}(?:\[[0-9]*[a-zA-Z]+\])?")
_TIME_ZONE = re.compile(r"(?:UTC|[+-][0-9]{2}:[0-9]{2}|[A-Za-z][A-Za-z0-9_+-]*(?:/[A-Za-z0-9_+-]+){0,3})")
_ARROW_EXTENSIONS = {"pandas.period", "pandas.interval"}


#: the version of the stored forms this module writes (in every manifest; a reader refuses other versions).
#: 3: every part of a library object but a number is numbered, so that what it shares is shared again
FORMAT = 3


@dataclass
class Encoded:
    """A manifest (JSON-able: the value's tree, its kind and type) and the blobs it references by
    content key."""

    manifest: dict
    blobs: dict[str, bytes] = field(default_factory=dict)

    def add_blob(self, data: bytes) -> str:
        key = keys.content_key(data)
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


def type_name(value: Any) -> str:
    """``module:qualname`` of the value's class, by the name its package exports when it does
    (``pandas:DataFrame``, whether pandas defines it in ``pandas`` (3) or ``pandas.core.frame`` (2.2)):
    the manifest's claim then means the same class to readers with another version of the library."""
    cls = type(value)
    package = sys.modules.get(cls.__module__.split(".", 1)[0])
    if package is not None and getattr(package, cls.__qualname__, None) is cls:
        return f"{package.__name__}:{cls.__qualname__}"
    return f"{cls.__module__}:{cls.__qualname__}"


def encode(value: Any, allow_pickle: bool) -> Encoded:
    """Encode a value; raises ``Unreusable`` when it can't be stored faithfully."""
    out = Encoded(manifest={})
    out.manifest = {"kind": kind_of(value), "type": type_name(value),
                    "value": encode_tree(value, out, allow_pickle, 0)}
    return out


def decode(manifest: dict, get_blob: Callable[[str], bytes], allow_pickle: bool) -> Any:
    """Rebuild a value of the kind and type the manifest says; ``CorruptArtifact`` when a blob is
    missing or damaged or anything in the manifest is not what this module writes."""
    try:
        value = decode_tree(manifest["value"], get_blob, allow_pickle)
    except CorruptArtifact:
        raise
    except Exception as exc:  # a malformed node or part (a missing field, a wrong type)
        raise CorruptArtifact(f"the stored value can't be decoded: {type(exc).__name__}: {str(exc)[:200]}") from None
    if type_name(value) != manifest.get("type") or kind_of(value) != manifest.get("kind"):
        raise CorruptArtifact(f"the stored value is a {type_name(value)} ({kind_of(value)}), not the "
                              f"{str(manifest.get('type'))[:80]} ({str(manifest.get('kind'))[:20]}) its manifest says")
    return value


def blob_keys(manifest: dict) -> set[str]:
    """Every blob key a manifest's value references."""
    found: set[str] = set()

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for k, v in node.items():
                if (k in ("key", "codes") or k == "config" and node.get("t") == "xgboost") and isinstance(v, str):
                    # (codes: of a categorical index; config: an XGBoost model's)
                    found.add(v)
                elif k == "cols" and isinstance(v, list):
                    for c in v:
                        found.update(_column_keys(c)[1])
                else:
                    walk(v)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(manifest.get("value"))
    return found


def uses_pickle(manifest: dict) -> bool:
    """Does a manifest's value hold anything pickled (a node or a column)?"""
    stack = [manifest.get("value")]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            if node.get("t") == "pickle":
                return True
            cols = node.get("cols")
            if isinstance(cols, list) and any(isinstance(c, str) and c.startswith(_PICKLED) for c in cols):
                return True
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return False


# -- the tree of containers and leaves -------------------------------------------------------

def _is_bunch(value: Any) -> bool:
    """scikit-learn's ``Bunch`` exactly (not a subclass), without importing scikit-learn. (Stored only
    when it holds no deprecated-key warnings, its one attribute: they would be lost.)"""
    t = type(value)
    return t.__name__ == "Bunch" and t.__module__ == "sklearn.utils._bunch"


def encode_tree(value: Any, out: Encoded, allow_pickle: bool, depth: int) -> dict:
    if depth > 20:
        raise Unreusable("value nested too deeply to store")
    t = type(value)
    if t is str and len(value) > _TEXT_BLOB:
        return {"t": "text", "key": out.add_blob(value.encode("utf-8", "surrogatepass"))}
    if value is None or t in (bool, int, str):
        return {"t": "json", "x": value}
    if t is float:
        return {"t": "float", "x": repr(value)}
    if t is collections.OrderedDict or (t is collections.defaultdict and value.default_factory in FACTORIES):
        node = {"t": "odict" if t is collections.OrderedDict else "ddict",
                "items": [[encode_tree(k, out, allow_pickle, depth + 1),
                           encode_tree(v, out, allow_pickle, depth + 1)] for k, v in value.items()]}
        if t is collections.defaultdict:
            node["factory"] = FACTORIES[value.default_factory]
        return node
    if t in (tuple, list):
        return {"t": t.__name__, "items": [encode_tree(v, out, allow_pickle, depth + 1) for v in value]}
    if t is slice and all(x is None or type(x) is int for x in (value.start, value.stop, value.step)):
        return {"t": "slice", "x": [value.start, value.stop, value.step]}  # (a ColumnTransformer's columns)
    if t is dict:
        return {"t": "dict", "items": [[encode_tree(k, out, allow_pickle, depth + 1),
                                         encode_tree(v, out, allow_pickle, depth + 1)] for k, v in value.items()]}
    if _is_bunch(value) and all(type(k) is str for k in value) and not any(vars(value).values()):
        # (scikit-learn's results: permutation_importance, load_* datasets; a dict with attribute access)
        return {"t": "bunch", "items": [[k, encode_tree(v, out, allow_pickle, depth + 1)] for k, v in value.items()]}
    module = t.__module__.split(".", 1)[0]
    if module == "numpy":
        return _encode_numpy(value, out, allow_pickle)
    if module == "pandas":
        return _encode_pandas(value, out, allow_pickle)
    if state.is_library_object(value):
        return _encode_library_object(value, out, allow_pickle)
    return _encode_pickle(value, out, allow_pickle)


def new_mapping(kind: str, factory: Any) -> dict:
    """An empty dict, OrderedDict or defaultdict (of a known factory, by its stored name), as a
    stored node names it; anything else is a corrupt artifact."""
    if kind == "ddict":
        made = FACTORY_BY_NAME.get(factory) if type(factory) is str else None
        if made is None:
            raise CorruptArtifact(f"unknown defaultdict factory {str(factory)[:40]!r}")
        return collections.defaultdict(made)
    if kind not in ("dict", "odict"):
        raise CorruptArtifact(f"unknown kind of dict {str(kind)[:20]!r}")
    return {} if kind == "dict" else collections.OrderedDict()


def decode_tree(node: dict, get_blob: Callable[[str], bytes], allow_pickle: bool) -> Any:
    t = node["t"]
    if t == "json":
        if node["x"] is not None and type(node["x"]) not in (bool, int, str):
            raise CorruptArtifact("a JSON leaf holds a container")
        return node["x"]
    if t == "float":
        return float(_text(node["x"]))
    if t in ("tuple", "list"):
        items = [decode_tree(n, get_blob, allow_pickle) for n in node["items"]]
        return tuple(items) if t == "tuple" else items
    if t in ("dict", "odict", "ddict"):
        pairs = [(decode_tree(k, get_blob, allow_pickle), decode_tree(v, get_blob, allow_pickle))
                 for k, v in node["items"]]
        mapping = new_mapping(t, node.get("factory"))
        mapping.update(pairs)
        return mapping
    if t == "bunch":
        from sklearn.utils import Bunch

        items = node["items"]
        if type(items) is not list or not all(type(p) is list and len(p) == 2 and type(p[0]) is str for p in items):
            raise CorruptArtifact("a stored Bunch's keys are not text")
        return Bunch(**{k: decode_tree(v, get_blob, allow_pickle) for k, v in items})
    if t == "text":
        return str(get_blob(node["key"]), "utf-8", "surrogatepass")
    if t == "slice":
        bounds = node["x"]
        if type(bounds) is not list or len(bounds) != 3 or not all(x is None or type(x) is int for x in bounds):
            raise CorruptArtifact("a stored slice is not three integers or None")
        return slice(*bounds)
    if t == "state":
        return state.decode_object(node, get_blob, {})
    if t in ("npscalar", "ndarray", "strarray", "dtype"):
        return _decode_numpy(node, get_blob)
    if t in ("frame", "series", "index"):
        return _decode_pandas(node, get_blob, allow_pickle)
    if t == "pickle":
        return _load_pickle(get_blob(node["key"]), allow_pickle)
    raise CorruptArtifact(f"unknown manifest node {str(t)[:40]!r}")


def _text(value: Any) -> str:
    if type(value) is not str:
        raise CorruptArtifact("a manifest field that holds text holds something else")
    return value


# -- numpy ---------------------------------------------------------------------------------

def is_string_array(value: Any) -> bool:
    return value.size <= _STR_ARRAY_ITEMS and all(type(x) is str for x in value.flat)


def _encode_numpy(value: Any, out: Encoded, allow_pickle: bool) -> dict:
    if isinstance(value, np.generic) and not value.dtype.hasobject:
        return {"t": "npscalar", "dtype": value.dtype.str, "x": value.tobytes().hex()}
    if type(value) is np.ndarray and not value.dtype.hasobject:  # (a subclass, e.g. masked, is more than its data)
        return {"t": "ndarray", "key": out.add_blob(npy_bytes(value))}
    if type(value) is np.ndarray and value.dtype == object and is_string_array(value):
        return {"t": "strarray", "shape": list(value.shape), "items": value.ravel().tolist()}  # e.g. feature_names_in_
    if isinstance(value, np.dtype) and value.names is None and value.subdtype is None and value.metadata is None:
        return {"t": "dtype", "x": value.str}  # e.g. the dtype an imputer was fitted on
    return _encode_pickle(value, out, allow_pickle)


def npy_bytes(array: Any) -> bytes:
    """``np.save``'s bytes, but with a record array's padding as it is in memory: ``np.save`` into a
    buffer copies records field by field and writes padding nobody initialized (a tree's nodes would then
    pickle, and ``joblib.dump``, to other bytes after a load; and no two stores of one tree would agree)."""
    header = np.lib.format.header_data_from_array_1_0(array)
    buf = io.BytesIO()
    try:
        np.lib.format.write_array_header_1_0(buf, header)
    except ValueError:  # (a header over 64 KB: a record of thousands of fields)
        buf = io.BytesIO()
        np.lib.format.write_array_header_2_0(buf, header)
    data = array.T if header["fortran_order"] else array  # (its bytes in the order the header says)
    return b"".join([buf.getvalue(), memoryview(data).cast("B") if data.flags.c_contiguous and data.ndim
                     and data.size else data.tobytes()])


def _decode_numpy(node: dict, get_blob: Callable[[str], bytes]) -> Any:
    t = node["t"]
    if t == "ndarray":
        return _load_npy(get_blob(node["key"]))
    if t == "strarray":
        items, shape = node["items"], node["shape"]
        if (type(items) is not list or not all(type(x) is str for x in items) or type(shape) is not list
                or not all(type(n) is int and n >= 0 for n in shape) or int(np.prod(shape)) != len(items)):
            raise CorruptArtifact("a stored string array is not strings of its shape")
        strings = np.empty(len(items), dtype=object)
        strings[:] = items
        return strings.reshape(shape)
    dtype = _dtype(node["dtype"] if t == "npscalar" else node["x"])
    if t == "dtype":
        return dtype
    raw = bytes.fromhex(_text(node["x"]))
    if dtype.hasobject or len(raw) != dtype.itemsize:
        raise CorruptArtifact("a stored numpy scalar does not fill its dtype")
    return np.frombuffer(raw, dtype=dtype)[0]


def _dtype(text: Any) -> Any:
    """A plain numpy dtype from its string (no structured or huge ones: a stored dtype is a column's)."""
    if type(text) is not str or not _DTYPE_TEXT.fullmatch(text):
        raise CorruptArtifact(f"{str(text)[:40]!r} is not a plain dtype")
    dtype = np.dtype(text)
    if dtype.itemsize > 4096:
        raise CorruptArtifact(f"a stored dtype of {dtype.itemsize} bytes")
    return dtype


def _npy_header_length(data: memoryview) -> int:
    """Bytes of the .npy magic and header (numpy's format: version 1 has a 2-byte length, 2 and 3 a
    4-byte one); at most 64 KB, what numpy itself reads."""
    if len(data) < 10:
        return len(data)
    if data[6] == 1:
        return min(10 + int.from_bytes(data[8:10], "little"), 65536)
    return min(12 + int.from_bytes(data[8:12], "little"), 65536) if len(data) >= 12 else len(data)


@lru_cache(maxsize=4096)
def _npy_header(header: bytes) -> tuple[tuple, bool, Any, int]:
    """(shape, Fortran order, dtype, data offset) of a .npy header, parsed by numpy (a literal, never
    with pickle). Cached: a stored forest's thousands of node arrays share a few dozen headers, and
    numpy parses each with ``ast.literal_eval``."""
    from numpy.lib import format as npy

    stream = io.BytesIO(header)
    version = npy.read_magic(stream)
    read_header = npy.read_array_header_1_0 if version == (1, 0) else npy.read_array_header_2_0
    shape, fortran, dtype = read_header(stream)
    return shape, fortran, dtype, stream.tell()


def _load_npy(data: bytes | memoryview) -> Any:
    """An array from .npy bytes, using the buffer in place when it is writable (no copy)."""
    data = memoryview(data)
    try:
        shape, fortran, dtype, offset = _npy_header(bytes(data[:_npy_header_length(data)]))
    except ValueError:  # an unusual header: numpy reads it (and copies), never with pickle
        return np.load(io.BytesIO(data), allow_pickle=False)
    if dtype.hasobject:
        raise CorruptArtifact("stored array holds Python objects")
    count = int(np.prod(shape, dtype=np.int64))
    array = np.frombuffer(data, dtype=dtype, count=count, offset=offset)  # (ValueError if too short)
    if data.readonly or not array.flags.aligned:
        # as np.load gives it: writable and aligned. Copied as bytes: ndarray.copy copies a record array
        # field by field and leaves its padding unwritten (a tree would then dump to other bytes)
        raw = np.empty(count * dtype.itemsize, np.uint8)
        raw[:] = array.view(np.uint8) if count else raw
        array = raw.view(dtype)
    return array.reshape(shape, order="F" if fortran else "C")


# -- pandas --------------------------------------------------------------------------------

def _arrow_bytes(table: Any) -> bytes:
    import pyarrow as pa

    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return sink.getvalue().to_pybytes()


def _arrow_table(data: bytes | memoryview) -> Any:
    """An Arrow table from IPC bytes, validated in full before pandas sees it (Arrow trusts the
    offsets and lengths in its buffers until told to check them)."""
    import pyarrow as pa

    table = pa.ipc.open_stream(pa.py_buffer(data)).read_all()
    _check_schema(table.schema)
    table.validate(full=True)
    return table


def _check_schema(schema: Any) -> None:
    """Only plain Arrow types, pandas' own extension types and plain time zone names (a zone name
    is looked up as a file by some libraries)."""
    import pyarrow as pa

    def check_type(t: Any) -> None:
        if isinstance(t, pa.ExtensionType):
            if t.extension_name not in _ARROW_EXTENSIONS:
                raise CorruptArtifact(f"a stored column of Arrow extension type {t.extension_name[:40]!r}")
            t = t.storage_type
        if pa.types.is_timestamp(t) and t.tz is not None and not _TIME_ZONE.fullmatch(t.tz):
            raise CorruptArtifact(f"a stored column in the time zone {t.tz[:40]!r}")
        for i in range(t.num_fields):
            check_type(t.field(i).type)
        if pa.types.is_dictionary(t):
            check_type(t.value_type)

    for f in schema:
        check_type(f.type)
    meta = (schema.metadata or {}).get(b"pandas")
    if meta is not None:
        zones = re.findall(r'"timezone":\s*"([^"]*)"', meta.decode("utf-8", "replace"))
        if any(not _TIME_ZONE.fullmatch(z) for z in zones):
            raise CorruptArtifact("stored pandas metadata names an unusual time zone")


def _encode_column(series: Any, out: Encoded, allow_pickle: bool) -> str:
    """A column as Arrow; an object column Arrow can't hold (mixed types) as JSON scalars, else
    as pickle if allowed."""
    import pandas as pd
    import pyarrow as pa

    if _has_interval_categories(series.dtype):
        codes, categories = _encode_categorical(series.array, out)
        return f"{_CODED}{codes}:{categories['key']}:{'o' if series.dtype.ordered else 'u'}"
    try:
        table = pa.Table.from_pandas(pd.DataFrame({"v": series.array}), preserve_index=False)
    except (pa.ArrowException, TypeError, ValueError) as exc:
        if str(series.dtype) != "object":
            raise Unreusable(f"column of dtype {series.dtype} has no Arrow form: {exc}") from None
        try:
            return _SCALARS + out.add_blob(json.dumps([_label(x) for x in series.array]).encode())
        except Unreusable:
            pass
        if not allow_pickle:
            raise Unreusable(f"an object column of other than scalars needs pickle, not allowed here: {exc}") from None
        import pickle

        try:
            return _PICKLED + out.add_blob(pickle.dumps(series.to_numpy(dtype=object), protocol=5))
        except Exception as pexc:
            raise Unreusable(f"an object column can't be serialized: {pexc}") from None
    return out.add_blob(_arrow_bytes(table))


def _column_keys(entry: Any) -> tuple[str, list[str]]:
    """(how a column is stored: "arrow", "json", "pickle" or "coded"; its blob keys)."""
    if type(entry) is not str:
        raise CorruptArtifact("a column entry is not a key")
    if entry.startswith(_PICKLED):
        return "pickle", [entry[len(_PICKLED):]]
    if entry.startswith(_SCALARS):
        return "json", [entry[len(_SCALARS):]]
    if entry.startswith(_CODED):
        parts = entry[len(_CODED):].split(":")
        if len(parts) != 3 or parts[2] not in ("o", "u"):
            raise CorruptArtifact("a categorical column entry is malformed")
        return "coded", parts[:2]
    return "arrow", [entry]


def _has_interval_categories(dtype: Any) -> bool:
    """Categories that are intervals (``pd.cut``/``pd.qcut``): Arrow writes them, but pandas can't
    read them back (its interval extension type fails inside a dictionary), so they are stored
    as codes and categories apart."""
    import pandas as pd

    return isinstance(dtype, pd.CategoricalDtype) and isinstance(dtype.categories, pd.IntervalIndex)


def _encode_categorical(values: Any, out: Encoded) -> tuple[str, dict]:
    """A categorical's codes (one Arrow column) and its categories (an index)."""
    import pandas as pd
    import pyarrow as pa

    codes = pa.Table.from_pandas(pd.DataFrame({"v": values.codes}), preserve_index=False)
    return out.add_blob(_arrow_bytes(codes)), _encode_index(values.categories, out)


def _decode_categorical(codes_key: str, categories: dict, ordered: bool, get_blob: Callable[[str], bytes]) -> Any:
    """A categorical from its stored codes and categories; codes out of range are refused."""
    import pandas as pd

    codes = _arrow_table(get_blob(codes_key)).column("v").to_numpy()
    if codes.dtype.kind != "i":
        raise CorruptArtifact("a categorical's stored codes are not integers")
    try:
        return pd.Categorical.from_codes(codes, dtype=pd.CategoricalDtype(_decode_index(categories, get_blob), ordered))
    except (ValueError, TypeError) as exc:
        raise CorruptArtifact(f"a stored categorical is malformed: {exc}") from None


def _decode_column(entry: str, dtype: Any, get_blob: Callable[[str], bytes], allow_pickle: bool) -> Any:
    import pandas as pd

    how, (key, *more) = _column_keys(entry)
    if how == "coded":
        return pd.Series(_decode_categorical(key, {"key": more[0], "dtype": "interval"}, entry.endswith(":o"),
                                             get_blob), copy=False)
    if how == "pickle":
        values = _load_pickle(get_blob(key), allow_pickle)
        if type(values) is not np.ndarray:
            raise CorruptArtifact("a pickled column is not an array")
        return pd.Series(values, dtype=object)
    if how == "json":
        items = json.loads(bytes(get_blob(key)))
        if type(items) is not list:
            raise CorruptArtifact("a JSON column is not a list")
        values = np.empty(len(items), dtype=object)
        values[:] = [_unlabel(x) for x in items]
        return pd.Series(values, dtype=object)
    col = _arrow_table(get_blob(key)).to_pandas()["v"]
    if dtype == "object" and str(col.dtype) != "object":
        col = col.astype(object)
    return col


def _encode_index(index: Any, out: Encoded) -> dict:
    import pandas as pd
    import pyarrow as pa

    if type(index) is pd.RangeIndex:
        return {"range": [index.start, index.stop, index.step], "name": _label(index.name)}
    if type(index) is pd.CategoricalIndex and _has_interval_categories(index.dtype):
        codes, categories = _encode_categorical(index.array, out)
        return {"codes": codes, "categories": categories, "ordered": bool(index.dtype.ordered),
                "name": _label(index.name)}
    try:
        table = pa.Table.from_pandas(pd.DataFrame(index=index), preserve_index=True)
    except (pa.ArrowException, TypeError, ValueError) as exc:
        raise Unreusable(f"index of dtype {index.dtype} has no Arrow form: {exc}") from None
    return {"key": out.add_blob(_arrow_bytes(table)), "dtype": str(index.dtype)}


def _decode_index(node: dict, get_blob: Callable[[str], bytes]) -> Any:
    import pandas as pd

    if "range" in node:
        start, stop, step = node["range"]
        if not all(type(n) is int for n in (start, stop, step)):
            raise CorruptArtifact("a stored range index is not three integers")
        return pd.RangeIndex(start, stop, step, name=_unlabel(node["name"]))
    if "codes" in node:
        if type(node["codes"]) is not str or type(node["ordered"]) is not bool or type(node["categories"]) is not dict:
            raise CorruptArtifact("a stored categorical index is malformed")
        values = _decode_categorical(node["codes"], node["categories"], node["ordered"], get_blob)
        return pd.CategoricalIndex(values, name=_unlabel(node["name"]))
    index = _arrow_table(get_blob(node["key"])).to_pandas().index
    if node["dtype"] == "object" and str(index.dtype) != "object":
        index = index.astype(object)
    return index


def _label(label: Any) -> Any:
    """Column/series names (and the items of mixed object columns) as JSON; anything that isn't a
    plain scalar or tuple isn't storable."""
    t = type(label)
    if label is None or t in (bool, int, str):
        return {"t": "json", "x": label}
    if t is float:
        return {"t": "float", "x": repr(label)}
    if t is tuple:
        return {"t": "tuple", "items": [_label(x) for x in label]}
    if isinstance(label, np.generic) and not label.dtype.hasobject:
        return {"t": "npscalar", "dtype": label.dtype.str, "x": label.tobytes().hex()}
    raise Unreusable(f"a label of type {t.__name__} can't be stored")


def _unlabel(node: Any) -> Any:
    if type(node) is not dict or node.get("t") not in ("json", "float", "tuple", "npscalar"):
        raise CorruptArtifact("a stored label is not a scalar or tuple")
    if node["t"] == "tuple":
        return tuple(_unlabel(x) for x in node["items"])
    return decode_tree(node, _no_blob, False)


def _no_blob(key: str) -> bytes:
    raise CorruptArtifact("a label refers to a blob")


def _encode_pandas(value: Any, out: Encoded, allow_pickle: bool) -> dict:
    import pandas as pd

    if isinstance(value, pd.DataFrame) and type(value) is pd.DataFrame:
        if value.attrs:
            raise Unreusable("frames with .attrs are not stored")
        return {"t": "frame", "index": _encode_index(value.index, out), "columns": _encode_index(value.columns, out),
                "cols": [_encode_column(value.iloc[:, i], out, allow_pickle) for i in range(value.shape[1])],
                "dtypes": [str(dt) for dt in value.dtypes], "dup": value.flags.allows_duplicate_labels,
                "blocks": _block_count(value)}
    if isinstance(value, pd.Series) and type(value) is pd.Series:
        if value.attrs:
            raise Unreusable("series with .attrs are not stored")
        return {"t": "series", "index": _encode_index(value.index, out),
                "cols": [_encode_column(value, out, allow_pickle)],
                "dtypes": [str(value.dtype)], "name": _label(value.name), "dup": value.flags.allows_duplicate_labels}
    if isinstance(value, pd.Index):
        return {"t": "index", "index": _encode_index(value, out)}
    return _encode_pickle(value, out, allow_pickle)


def _decode_pandas(node: dict, get_blob: Callable[[str], bytes], allow_pickle: bool) -> Any:
    import pandas as pd

    if node["t"] == "index":
        return _decode_index(node["index"], get_blob)
    index = _decode_index(node["index"], get_blob)
    entries, dtypes = node["cols"], node["dtypes"]
    if type(entries) is not list or type(dtypes) is not list or len(entries) != len(dtypes) \
            or type(node["dup"]) is not bool:
        raise CorruptArtifact("a stored frame's columns and dtypes do not match")
    cols = [_decode_column(k, dt, get_blob, allow_pickle) for k, dt in zip(entries, dtypes)]
    if any(len(col) != len(index) for col in cols):
        raise CorruptArtifact("a stored column is not as long as its index")
    if node["t"] == "series":
        if len(cols) != 1:
            raise CorruptArtifact("a stored series has other than one column")
        series = pd.Series(cols[0].array, index=index, name=_unlabel(node["name"]), dtype=cols[0].dtype, copy=False)
        return series.set_flags(allows_duplicate_labels=node["dup"])
    columns = _decode_index(node["columns"], get_blob)
    if len(columns) != len(cols):
        raise CorruptArtifact("a stored frame has other than one column per label")
    frame = pd.concat(cols, axis=1, ignore_index=True) if cols else pd.DataFrame(index=range(len(index)))
    blocks = node.get("blocks")
    if type(blocks) is int:
        frame = _as_fragmented(frame, blocks)
    frame.index = index
    frame.columns = columns
    return frame.set_flags(allows_duplicate_labels=node["dup"])


_FRAGMENTED = 100  # pandas warns PerformanceWarning on an insert into a frame of more blocks than this


def _as_fragmented(frame: Any, blocks: int) -> Any:
    """The rebuilt frame, its blocks on the same side of pandas' fragmentation threshold as the frame
    stored had them (``df[c] = ...`` then warns exactly when it did): consolidated (``copy``) when it
    has more blocks than the stored one, or a block per column when the stored one was fragmented
    (pandas 2.2's concat consolidates what pandas 3's keeps apart)."""
    import warnings

    import pandas as pd

    have = _block_count(frame)
    if have > blocks:
        return frame.copy()
    if blocks > _FRAGMENTED >= have:
        out = pd.DataFrame(index=frame.index)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", pd.errors.PerformanceWarning)
            for i in range(frame.shape[1]):
                out[i] = frame.iloc[:, i]
        return out
    return frame


def _block_count(frame: Any) -> int:
    """How many blocks hold a frame's columns (one per column when rebuilt; the frame stored may have had
    them consolidated): ``df[c] = ...`` on a frame of over 100 blocks warns ``PerformanceWarning``, which a
    reused frame must do exactly when the computed one does."""
    manager = getattr(frame, "_mgr", None)
    return int(getattr(manager, "nblocks", 0)) if manager is not None else 0


# -- library objects and pickle ----------------------------------------------------------------

def _encode_library_object(value: Any, out: Encoded, allow_pickle: bool) -> dict:
    """A scikit-learn or LightGBM object by its reduced state; one that doesn't fit the state
    format goes to pickle, if allowed."""
    scratch = Encoded(manifest={})  # a failed attempt leaves no blobs behind
    try:
        node = state.encode_object(value, scratch, {id(value): (0, value)}, 0)
    except Unreusable as exc:
        if not allow_pickle:
            raise Unreusable(f"a {type(value).__name__} has no data-only form ({exc}); pickle is not allowed here") \
                from None
        return _encode_pickle(value, out, allow_pickle)
    out.blobs.update(scratch.blobs)
    return {**node, "id": 0}


def _encode_pickle(value: Any, out: Encoded, allow_pickle: bool) -> dict:
    if not allow_pickle:
        raise Unreusable(f"a {type(value).__name__} needs pickle, which this store does not allow")
    import pickle

    try:
        data = pickle.dumps(value, protocol=5)
    except Exception as exc:  # locks, generators, open files, lambdas...
        raise Unreusable(f"a {type(value).__name__} can't be serialized: {exc}") from None
    return {"t": "pickle", "key": out.add_blob(data)}


def _load_pickle(data: bytes | memoryview, allow_pickle: bool) -> Any:
    if not allow_pickle:
        raise CorruptArtifact("pickled data in a store not trusted for pickle: never loaded")
    import pickle

    return pickle.loads(data)
