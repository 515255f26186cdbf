"""Content digests of data values that traced code did not produce.

pandas objects hash through ``pandas.util.hash_pandas_object`` (vectorized,
one uint64 per row); arrays through their raw bytes; estimators by class and
parameters. Anything else raises ``Unreusable`` so that the operation using it
runs plainly rather than being identified wrongly.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np
import xxhash

from ..errors import Unreusable
from .digest import Encoder, digest_parts


def content_digest(value: Any, resolve: Callable[[Any], str] | None = None) -> str:
    """A digest that changes whenever the value's content, dtype or labels change. ``resolve`` names
    what an estimator's parameters hold besides data (notebook functions and classes, lineage ids);
    without it, they are content-digested or refused."""
    module = type(value).__module__.split(".", 1)[0]
    if module == "pandas":
        return _pandas_digest(value)
    if module == "numpy":
        return _numpy_digest(value)
    if is_estimator(value):
        return estimator_digest(value, resolve or content_digest)
    raise Unreusable(f"no content digest for {type(value).__module__}.{type(value).__qualname__}")


def _numpy_digest(value: Any) -> str:
    if isinstance(value, np.ndarray):
        if value.dtype.hasobject:
            return digest_parts("ndarray-object", value.shape, value.tolist(), resolve=content_digest)
        h = xxhash.xxh3_128()
        h.update(f"ndarray:{value.dtype.str}:{value.shape}".encode())
        h.update(np.ascontiguousarray(value).view(np.uint8).reshape(-1).data if value.size else b"")
        return h.hexdigest()
    if isinstance(value, np.random.RandomState):
        state = value.get_state(legacy=False)
        return digest_parts("RandomState", state["bit_generator"], state["state"]["key"].tobytes(), state["state"]["pos"],
                            state["has_gauss"], state["gauss"])
    if isinstance(value, np.random.Generator):
        return digest_parts("Generator", repr(value.bit_generator.state))
    raise Unreusable(f"no content digest for numpy {type(value).__qualname__}")


def _pandas_digest(value: Any) -> str:
    import pandas as pd

    try:
        if isinstance(value, pd.DataFrame):
            h = xxhash.xxh3_128()
            h.update(b"DataFrame")
            h.update(_index_digest(value.columns).encode())
            h.update(_index_digest(value.index).encode())
            for i in range(value.shape[1]):
                col = value.iloc[:, i]
                h.update(str(col.dtype).encode())
                h.update(_values_hash(col))
            h.update(repr(value.attrs).encode())
            return h.hexdigest()
        if isinstance(value, pd.Series):
            return digest_parts("Series", str(value.dtype), _index_digest(value.index), value.name,
                                xxhash.xxh3_128_hexdigest(_values_hash(value)), resolve=content_digest)
        if isinstance(value, pd.Index):
            return _index_digest(value)
    except (TypeError, ValueError) as exc:  # unhashable cells, e.g. lists inside an object column
        raise Unreusable(f"can't hash the content of a {type(value).__name__}: {exc}") from None
    raise Unreusable(f"no content digest for pandas {type(value).__qualname__}")


def _values_hash(series: Any) -> bytes:
    import pandas as pd

    hashed = pd.util.hash_pandas_object(series, index=False, categorize=False)
    return hashed.to_numpy().tobytes()


def _index_digest(index: Any) -> str:
    import pandas as pd

    if isinstance(index, pd.RangeIndex):
        return digest_parts("RangeIndex", index.start, index.stop, index.step, index.name)
    hashed = pd.util.hash_pandas_object(index, categorize=False).to_numpy().tobytes()
    names = tuple(index.names)
    return digest_parts("Index", type(index).__name__, str(index.dtype), names, xxhash.xxh3_128_hexdigest(hashed),
                        resolve=content_digest)


def is_estimator(value: Any) -> bool:
    """scikit-learn's estimator protocol (LightGBM and XGBoost follow it)."""
    return hasattr(value, "get_params") and hasattr(value, "fit")


def estimator_digest(value: Any, resolve: Callable[[Any], str], fitted_ok: bool = False) -> str:
    """An unfitted estimator by class and parameters; a fitted one we didn't trace can't be named.

    ``fitted_ok``: the estimator is about to be cloned (``cross_val_score``, a search's ``fit``), and a
    clone is made from the class and ``get_params`` alone, so its fitted state doesn't matter."""
    if not fitted_ok and is_fitted(value):
        raise Unreusable(f"{type(value).__name__} was fitted outside traced code")
    enc = Encoder(resolve)
    enc.raw(b"estimator", b"")
    enc.add(type(value))
    enc.add(value.get_params(deep=False))
    return enc.hexdigest()


def is_fitted(value: Any) -> bool:
    """scikit-learn's convention: fitting sets public attributes ending in an underscore."""
    try:
        return any(k.endswith("_") and not k.startswith("_") for k in vars(value))
    except TypeError:
        return False
