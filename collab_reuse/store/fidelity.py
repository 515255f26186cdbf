"""Proof that a stored value comes back as it went in: the store keeps only faithful encodings.

Every encoding is decoded and compared with the original before it is stored
(``verify_roundtrip``), with the same decoders and checks a later reader uses: a value that
would come back different, or that the readers' checks would refuse, is not stored.
Numeric arrays and frames of numeric columns are copied byte for byte and need no check
(``faithful_by_construction``).
"""

from __future__ import annotations

import io
import math
import pickle
from typing import Any, Iterator

import numpy as np

from ..errors import Unreusable
from . import state
from .formats import kind_of


#: How deep the comparison follows a value. Each object is three levels (the object, its reduced tuple,
#: its state dict), so this is about 20 objects deep: a search over a pipeline of a column transformer of
#: pipelines is 12 (the encoder's own limit counts objects, not levels).
_MAX_DEPTH = 64


def faithful_by_construction(value: Any) -> bool:
    """Values whose encoding copies bytes and nothing else: numeric arrays, and frames/series of numeric
    numpy columns under a RangeIndex with plain string or integer labels. No need to decode them to check."""
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


def verify_roundtrip(original: Any, decoded: Any, pickled: bool = False) -> None:
    """Raise ``Unreusable`` unless ``decoded`` is indistinguishable from ``original``, down to the bytes
    ``joblib.dump`` writes for a model in it. ``pickled``: the value was stored (in part) by pickle, in a
    private store that trusts it; what comes back is then as faithful as pickle itself (which does not keep
    the sharing of numpy's dtypes, so a model may dump to other bytes, as one loaded by ``joblib.load`` does)."""
    if not _same(original, decoded, 0, {}):
        raise Unreusable(f"a {type(original).__name__} does not come back identical from storage")
    if pickled:
        return
    for a, b in _library_objects(original, decoded, 0):
        if not _pickles_alike(a, b):
            raise Unreusable(f"a {type(a).__name__} would not pickle as before from storage (joblib.dump would "
                             "write another file): it shares its parts differently")


def _library_objects(a: Any, b: Any, depth: int) -> Iterator[tuple[Any, Any]]:
    """The outermost scikit-learn/LightGBM objects of a value (itself, or in its tuples, lists and dicts),
    paired with their decoded twins (``_same`` has matched the two structures)."""
    if state.is_library_object(a):
        yield a, b
    elif type(a) in (tuple, list) and depth < 4:
        for x, y in zip(a, b):
            yield from _library_objects(x, y, depth + 1)
    elif type(a) is dict and depth < 4:
        for key in a:
            yield from _library_objects(a[key], b[key], depth + 1)


def _pickles_alike(original: Any, decoded: Any) -> bool:
    """Does pickle (``joblib.dump``, ``pickle.dump``) write the decoded object as it writes the original?
    Besides equal values that takes the same sharing: pickle writes a part met twice (a list of column
    names, a string, an array) once and then refers to it. Arrays are compared apart, by their bytes
    in the order pickle writes them (not whether they are views)."""
    try:
        stream_a, arrays_a = _ArrayAsidePickler.dumps(original)
    except Exception:
        return True  # it can't be pickled at all: no file holds it, and the decoded one needn't pickle either
    try:
        stream_b, arrays_b = _ArrayAsidePickler.dumps(decoded)
    except Exception:
        return False
    return stream_a == stream_b and all(_same_bytes(a, b) for a, b in zip(arrays_a, arrays_b))


def _array_aside(dtype: Any, shape: tuple, layout: str, number: int) -> None:
    """What ``_ArrayAsidePickler`` writes for an array (never called: its streams are only compared)."""


class _ArrayAsidePickler(pickle.Pickler):
    """Pickle as protocol 4 would, but numeric arrays set aside: in the stream only their dtype, shape,
    layout and number, so that no array is copied into the stream."""

    def __init__(self, file: Any) -> None:
        super().__init__(file, protocol=4)
        self.arrays: list = []

    def reducer_override(self, obj: Any) -> Any:
        if type(obj) is np.ndarray and not obj.dtype.hasobject:
            self.arrays.append(obj)
            # (protocol 4 and joblib write an array in C or in Fortran order; protocol 5 a contiguous one as a
            # buffer, another in-line)
            layout = "C" if obj.flags.c_contiguous else "F" if obj.flags.f_contiguous else "strided"
            return _array_aside, (obj.dtype, obj.shape, layout, len(self.arrays) - 1)
        return NotImplemented

    @classmethod
    def dumps(cls, value: Any) -> tuple[bytes, list]:
        out = io.BytesIO()
        pickler = cls(out)
        pickler.dump(value)
        return out.getvalue(), pickler.arrays


def _same_bytes(a: Any, b: Any) -> bool:
    """The same bytes as pickle writes them (a record array's padding too: the store keeps it)."""
    if a.dtype != b.dtype or a.shape != b.shape:
        return False
    fortran = a.flags.f_contiguous and not a.flags.c_contiguous
    if a.size == 0:
        return True
    raw_a, raw_b = _raw(a.T if fortran else a), _raw(b.T if fortran else b)
    words = len(raw_a) // 8 * 8  # (compared eight bytes at a time: four times faster than byte by byte)
    return (np.array_equal(raw_a[:words].view(np.uint64), raw_b[:words].view(np.uint64))
            and np.array_equal(raw_a[words:], raw_b[words:]))


def _raw(array: Any) -> Any:
    """An array's bytes in C order (as uint8), not copied where they lie so already (any dtype: dates too,
    which a memoryview refuses)."""
    return np.ascontiguousarray(array).reshape(-1).view(np.uint8)


def _same(a: Any, b: Any, depth: int, seen: dict[tuple[int, int], tuple]) -> bool:
    """Deep equality as storage must keep it: same types all the way down. ``seen``: pairs being
    compared already (a structure that contains itself is the same if nothing else differs),
    holding them so that no temporary's id (a reduced state) is reused while comparing."""
    if type(a) is not type(b) or depth > _MAX_DEPTH:
        return False
    if isinstance(a, type):
        return a is b
    t = type(a)
    if t in (tuple, list, dict) or state.is_library_object(a):
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
    if state.name_of(t) == state.XGBOOST_BOOSTER:  # (stored as its model text: the same text, the same model)
        return bytes(a.save_raw(raw_format="json")) == bytes(b.save_raw(raw_format="json"))
    if module == "pandas":
        return _same_pandas(a, b)
    if state.is_frozen_distribution(a):
        return (a.dist.name == b.dist.name and _same(list(a.args), list(b.args), depth + 1, seen)
                and _same(dict(a.kwds), dict(b.kwds), depth + 1, seen) and a.random_state is b.random_state)
    if module == "numpy":
        same = _same_numpy(a, b, depth, seen)
        if same is not None:
            return same
    if module == "numpy" or state.is_library_object(a):
        reduced = state.reduce(a), state.reduce(b)
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
