"""scikit-learn and LightGBM objects as pickle would record them, every part data.

An object is stored as its class, its constructor arguments (only a ``Tree`` has any) and its
state, by the reduce protocol; each part is data (JSON, ``.npy``, strings), another such object,
or a reference to an object or array met before (as pickle keeps a forest's template estimator
one object). A forest's trees are then raw node arrays that load at disk speed (a 300 MB forest
in about a second, where its skops file took 3-5 s).

Reading names nothing but what ``allowed_names.py`` lists exactly (``module:qualname`` strings
derived from what the libraries store): a class is imported from the module named and must be a
class defined there under that name (no attribute paths, which could walk out of the library);
functions (score functions) and types (dtypes given as classes) likewise, random states by their
bit generator's name. The only code that runs is the allowed class's own ``__new__`` (or, for a
``Tree``, its constructor) and ``__setstate__``, each after ``validate.py`` has checked what it
is given, and the object is checked again before it is handed out.

skops is not used: its loader builds the objects itself, so a tree's node arrays would reach
native code before any check of ours could see them, and it trusts types by module prefix.
"""

from __future__ import annotations

import copyreg
import importlib
import sys
from typing import Any, Callable

import numpy as np

from ..errors import CorruptArtifact, Unreusable
from . import allowed_names, formats, validate, xgboost_json

LIBRARIES = ("lightgbm.", "sklearn.", "xgboost.")
#: XGBoost's Booster: stored as its checked JSON model text (``xgboost_json``), never by its state
#: (which is XGBoost's binary serialization, trusted by its native code)
XGBOOST_BOOSTER = "xgboost.core:Booster"
#: id of each object or array met while encoding one object -> (its number, the object itself,
#: kept alive so that no temporary's id is reused), to store a second meeting as a reference.
Memo = dict[int, tuple[int, Any]]


def is_library_object(value: Any) -> bool:
    return type(value).__module__.startswith(LIBRARIES) or is_notebook_estimator(value)


def is_notebook_estimator(value: Any) -> bool:
    """An instance of an estimator class defined in the notebook (``class DataFrameSelector(BaseEstimator,
    TransformerMixin)``, a stacking model): stored by its state like a library's, its class named by the
    notebook's own definition, never by code from the store."""
    return _notebook_estimator_class(type(value))


def _notebook_estimator_class(cls: type) -> bool:
    if cls.__module__ != "__main__" or "." in cls.__qualname__ or "<" in cls.__qualname__:
        return False
    from sklearn.base import BaseEstimator

    return issubclass(cls, BaseEstimator)


def _top_level_notebook_function(value: Any) -> bool:
    from ..fingerprint.functions import is_notebook_function

    return is_notebook_function(value) and value.__module__ == "__main__" and value.__qualname__.isidentifier()


def _from_notebook(kind: str, qualname: Any, code: Any, accepted: Callable[[Any], bool],
                   digest: Callable[[Any], str]) -> Any:
    """The notebook's class or function of that name (one name in ``__main__``, never a path), if it is
    one ``accepted`` takes and the very code a stored value was made with."""
    found = vars(sys.modules["__main__"]).get(qualname) if isinstance(qualname, str) and qualname.isidentifier() \
        else None
    if found is None or not accepted(found) or found.__qualname__ != qualname or type(code) is not str \
            or digest(found) != code:
        raise CorruptArtifact(f"the notebook defines no {kind} {str(qualname)[:60]} with the code it was stored with")
    return found


def _notebook_function(name: Any, code: Any) -> Any:
    from ..fingerprint.functions import function_code_digest

    return _from_notebook("function", name, code, _top_level_notebook_function, function_code_digest)


def _notebook_class(name: Any, code: Any) -> type:
    from ..fingerprint.functions import class_code_digest

    qualname = name.partition(":")[2] if isinstance(name, str) else None
    return _from_notebook("class", qualname, code,
                          lambda found: isinstance(found, type) and _notebook_estimator_class(found), class_code_digest)


def name_of(obj: Any) -> str:
    return f"{obj.__module__}:{getattr(obj, '__qualname__', getattr(obj, '__name__', '?'))}"


# -- encoding ------------------------------------------------------------------------------

def encode_object(value: Any, out: "formats.Encoded", memo: Memo, depth: int) -> dict:
    """What pickle would record (class, constructor arguments, state), every part in a safe form;
    only "construct, then set the state" of an allowed class is accepted."""
    cls = type(value)
    name = name_of(cls)
    notebook = is_notebook_estimator(value)
    if name not in allowed_names.CLASSES and not notebook:
        raise Unreusable(f"{cls.__qualname__} is not on the store's allow-list")
    reduced = reduce(value)
    if reduced is None:
        raise Unreusable(f"{cls.__qualname__} doesn't reduce to a constructor and a state")
    constructor, args, state = reduced
    if notebook and not (constructor is copyreg.__newobj__ and args == (cls,)):
        raise Unreusable(f"{cls.__qualname__} pickles itself in its own way")
    if constructor is copyreg.__newobj__ and args == (cls,):
        node: dict = {"t": "state", "cls": name}
        if notebook:
            from ..fingerprint.functions import class_code_digest

            node["code"] = class_code_digest(cls)
    elif stateless_cython(constructor, args, cls):
        node = {"t": "state", "cls": name, "args": {"t": "list", "items": []}}
    elif constructor is cls:
        node = {"t": "state", "cls": name, "args": encode_part(list(args), out, memo, depth)}
    else:
        raise Unreusable(f"{cls.__qualname__} is rebuilt by {getattr(constructor, '__qualname__', constructor)}")
    if state is not None:
        if not isinstance(state, dict) or not all(type(key) is str for key in state):
            raise Unreusable(f"{cls.__qualname__} has no dict state")
        node["items"] = [[key, encode_part(part, out, memo, depth)] for key, part in state.items()]
    return node


def encode_part(part: Any, out: "formats.Encoded", memo: Memo, depth: int) -> dict:
    """One part of an object's state: objects of the same libraries by their own state (strictly:
    a part that can't be stored fails the whole object), an object or array met before as a
    reference to it, containers item by item, the rest as any value but never pickled."""
    if depth > 20:
        raise Unreusable("object state nested too deeply")
    t = type(part)
    if name_of(t) == XGBOOST_BOOSTER:
        if id(part) in memo:
            return {"t": "ref", "n": memo[id(part)][0]}
        number = len(memo)
        memo[id(part)] = (number, part)
        return {"t": "xgboost", "key": out.add_blob(bytes(part.save_raw(raw_format="json"))), "id": number}
    library_object = is_library_object(part)
    if library_object or t is np.ndarray:
        if id(part) in memo:
            return {"t": "ref", "n": memo[id(part)][0]}
        number = len(memo)
        memo[id(part)] = (number, part)
        if library_object:
            node = encode_object(part, out, memo, depth + 1)
        elif part.dtype.hasobject and not formats.is_string_array(part):
            node = {"t": "objarray", "shape": list(part.shape),
                    "items": [encode_part(x, out, memo, depth + 1) for x in part.flat]}
        else:
            node = formats.encode_tree(part, out, False, depth + 1)
        return {**node, "id": number}
    if t in (list, tuple):
        return {"t": t.__name__, "items": [encode_part(x, out, memo, depth + 1) for x in part]}
    if t is dict and all(type(k) is str for k in part):
        return {"t": "sdict", "items": [[k, encode_part(v, out, memo, depth + 1)] for k, v in part.items()]}
    if isinstance(part, type):
        if name_of(part) not in allowed_names.TYPES:
            raise Unreusable(f"the type {name_of(part)} is not on the store's allow-list")
        return {"t": "type", "name": name_of(part)}
    if callable(part) and name_of(part) in allowed_names.FUNCTIONS and resolve(name_of(part), "function") is part:
        return {"t": "func", "name": name_of(part)}
    if _top_level_notebook_function(part):  # (a FunctionTransformer of a notebook function)
        from ..fingerprint.functions import function_code_digest

        return {"t": "nbfunc", "name": part.__qualname__, "code": function_code_digest(part)}
    if isinstance(part, (np.random.RandomState, np.random.Generator)):
        # one generator shared by many objects (a boosting model's trees share the model's) stays one:
        # later uses of it draw in the same sequence, and it is stored and rebuilt once
        if id(part) in memo:
            return {"t": "ref", "n": memo[id(part)][0]}
        number = len(memo)
        memo[id(part)] = (number, part)
        return {**_encode_generator(part, out, depth), "id": number}
    if is_frozen_distribution(part):  # (a RandomizedSearchCV's param_distributions: randint(1, 200))
        return _encode_frozen(part)
    if t is np.ma.MaskedArray:  # (a search's cv_results_: its data and its mask are what is compared)
        return {"t": "masked", "data": encode_part(part.data, out, memo, depth + 1),
                "mask": encode_part(np.ma.getmaskarray(part), out, memo, depth + 1)}
    return formats.encode_tree(part, out, False, depth + 1)


def _encode_generator(rng: Any, out: "formats.Encoded", depth: int) -> dict:
    legacy = isinstance(rng, np.random.RandomState)
    state = rng.get_state(legacy=False) if legacy else rng.bit_generator.state
    if state.get("bit_generator") not in allowed_names.BIT_GENERATORS:
        raise Unreusable(f"a random generator on {state.get('bit_generator')} is not stored")
    return {"t": "rng", "legacy": legacy, "state": formats.encode_tree(state, out, False, depth + 1)}


_FROZEN = ("rv_continuous_frozen", "rv_discrete_frozen")


def is_frozen_distribution(value: Any) -> bool:
    """A scipy.stats distribution with its parameters fixed (``randint(1, 200)``, ``uniform(0, 1)``)."""
    t = type(value)
    return t.__name__ in _FROZEN and t.__module__ == "scipy.stats._distn_infrastructure"


def _plain_numbers(args: Any, kwds: Any) -> bool:
    return (type(args) in (list, tuple) and all(type(a) in (int, float) for a in args) and type(kwds) is dict
            and all(type(k) is str and type(v) in (int, float) for k, v in kwds.items()))


def _encode_frozen(dist: Any) -> dict:
    """A frozen distribution as scipy.stats' name for it and its parameters (plain numbers only), drawing
    from numpy's global generator as by default; rebuilt by calling that name with them."""
    import scipy.stats

    name = getattr(dist.dist, "name", None)
    if type(name) is not str or type(getattr(scipy.stats, name, None)) is not type(dist.dist):
        raise Unreusable(f"a frozen {type(dist.dist).__name__} is not one of scipy.stats' distributions")
    if dist.random_state is not np.random.mtrand._rand or not _plain_numbers(dist.args, dist.kwds):
        raise Unreusable(f"a frozen {name} with its own random state or parameters other than numbers")
    return {"t": "frozen", "dist": name, "args": list(dist.args), "kwds": dict(dist.kwds)}


def _decode_frozen(node: dict) -> Any:
    import scipy.stats
    from scipy.stats import _continuous_distns, _discrete_distns

    name, args, kwds = node["dist"], node["args"], node["kwds"]
    if name not in (*_continuous_distns._distn_names, *_discrete_distns._distn_names) \
            or not _plain_numbers(args, kwds):
        raise CorruptArtifact(f"a stored distribution is not one of scipy.stats' with numbers: {str(name)[:40]}")
    try:
        return getattr(scipy.stats, name)(*args, **kwds)
    except Exception as exc:  # (parameters the distribution refuses)
        raise CorruptArtifact(f"a stored {name} can't be rebuilt: {type(exc).__name__}") from None


def stateless_cython(constructor: Any, args: tuple, cls: type) -> bool:
    """Cython's own pickling of a class without state (``__pyx_unpickle_X(X, checksum, ())``):
    the same as calling ``X()``."""
    return (getattr(constructor, "__name__", "") == f"__pyx_unpickle_{cls.__name__}" and len(args) == 3
            and args[0] is cls and args[2] == ())


def reduce(value: Any) -> tuple | None:
    """(constructor, arguments, state) of an object rebuilt by "construct, then set the state"."""
    try:
        reduced = value.__reduce_ex__(5)
    except Exception:
        return None
    if not isinstance(reduced, tuple) or len(reduced) < 2 or any(x is not None for x in reduced[3:]):
        return None
    return reduced[0], tuple(reduced[1]), reduced[2] if len(reduced) > 2 else None


# -- decoding ------------------------------------------------------------------------------

def resolve(name: Any, kind: str) -> Any:
    """The class, function or type an allow-list names exactly, imported from the module named;
    ``CorruptArtifact`` for anything else."""
    listed = {"class": allowed_names.CLASSES, "function": allowed_names.FUNCTIONS, "type": allowed_names.TYPES}[kind]
    if not isinstance(name, str) or name not in listed:
        raise CorruptArtifact(f"the store names a {kind} outside the allow-list: {str(name)[:80]}")
    module_name, _, qualname = name.partition(":")
    found = vars(importlib.import_module(module_name)).get(qualname)  # (one name, never a path)
    if found is None or name_of(found) != name or (kind != "function") != isinstance(found, type):
        raise CorruptArtifact(f"{name} is not a {kind} defined under that name")
    return found


def decode_object(node: dict, get_blob: Callable[[str], bytes], memo: dict[int, Any]) -> Any:
    name = node["cls"]
    notebook = isinstance(name, str) and name.startswith("__main__:")
    if notebook and "args" in node:
        raise CorruptArtifact("a notebook class is never rebuilt by a constructor call")
    cls = _notebook_class(name, node.get("code")) if notebook else resolve(name, "class")
    if "args" in node:  # a class that pickles as a constructor call (a tree's node store)
        args = decode_part(node["args"], get_blob, memo)
        if type(args) is not list:
            raise CorruptArtifact("constructor arguments are not a list")
        validate.before_construction(name, args)
        obj = cls(*args)
    else:
        args = []
        obj = cls.__new__(cls)
    if "id" in node:
        _remember(memo, node["id"], obj)
    items = node.get("items", [])
    state = {}
    for key, part in items:
        if type(key) is not str or key in state or (key.startswith("__") and key.endswith("__")):
            raise CorruptArtifact(f"state of {name} has a bad or repeated field {str(key)[:40]!r}")
        state[key] = decode_part(part, get_blob, memo)
    validate.no_shadowing(cls, state)
    validate.before_state(name, args, state)
    if "items" in node:
        if hasattr(obj, "__setstate__"):  # as pickle would: the class rebuilds itself (a Booster from its text)
            obj.__setstate__(state)
        else:
            obj.__dict__.update(state)
    validate.after_state(obj)
    return obj


def _remember(memo: dict[int, Any], number: Any, value: Any) -> None:
    if type(number) is not int or number in memo:
        raise CorruptArtifact(f"object number {str(number)[:20]} is not new")
    memo[number] = value


def decode_part(node: dict, get_blob: Callable[[str], bytes], memo: dict[int, Any]) -> Any:
    t = node["t"]
    if t == "ref":
        if type(node["n"]) is not int or node["n"] not in memo:
            raise CorruptArtifact(f"reference to object {str(node['n'])[:20]}, which comes later or not at all")
        return memo[node["n"]]
    if t == "state":
        return decode_object(node, get_blob, memo)
    if t in ("list", "tuple"):
        items = [decode_part(n, get_blob, memo) for n in node["items"]]
        return tuple(items) if t == "tuple" else items
    if t == "sdict":
        out = {}
        for key, n in node["items"]:
            if type(key) is not str or key in out:
                raise CorruptArtifact("a state dict has a bad or repeated key")
            out[key] = decode_part(n, get_blob, memo)
        return out
    if t == "objarray":
        value = _decode_object_array(node, get_blob, memo)
    elif t == "type":
        return resolve(node["name"], "type")
    elif t == "nbfunc":
        return _notebook_function(node.get("name"), node.get("code"))
    elif t == "func":
        return resolve(node["name"], "function")
    elif t == "rng":
        value = _decode_generator(node, get_blob)
    elif t == "xgboost":
        value = _decode_xgboost(get_blob(node["key"]))
    elif t == "masked":
        return _decode_masked(node, get_blob, memo)
    elif t == "frozen":
        value = _decode_frozen(node)
    else:
        value = formats.decode_tree(node, get_blob, False)
    if "id" in node:
        _remember(memo, node["id"], value)
    return value


def _decode_object_array(node: dict, get_blob: Callable[[str], bytes], memo: dict[int, Any]) -> Any:
    shape, items = node["shape"], node["items"]
    if (type(shape) is not list or not all(type(n) is int and n >= 0 for n in shape)
            or int(np.prod(shape, dtype=np.int64)) != len(items)):
        raise CorruptArtifact("an object array's shape does not match its items")
    array = np.empty(len(items), dtype=object)
    for i, item in enumerate(items):
        array[i] = decode_part(item, get_blob, memo)
    return array.reshape(shape)


def _decode_generator(node: dict, get_blob: Callable[[str], bytes]) -> Any:
    state = formats.decode_tree(node["state"], get_blob, False)
    if type(state) is not dict or state.get("bit_generator") not in allowed_names.BIT_GENERATORS:
        raise CorruptArtifact("a stored random state names an unknown bit generator")
    bit_generator = vars(np.random).get(state["bit_generator"])
    if node["legacy"] is True:
        rng = np.random.RandomState(bit_generator(0))  # (seeded: no entropy gathered for a state replaced at once)
        rng.set_state(state)  # (numpy checks the state's fields, types and sizes)
        return rng
    if node["legacy"] is False:
        generator = np.random.Generator(bit_generator(0))
        generator.bit_generator.state = state
        return generator
    raise CorruptArtifact("a stored random state is neither legacy nor new")


def _decode_xgboost(data: bytes) -> Any:
    """A Booster from its model text, checked first (a reader without XGBoost can't have stored one)."""
    data = bytes(data)
    xgboost_json.check_model_json(data)
    import xgboost

    booster = xgboost.Booster()
    booster.load_model(bytearray(data))
    return booster


def _decode_masked(node: dict, get_blob: Callable[[str], bytes], memo: dict[int, Any]) -> Any:
    data, mask = decode_part(node["data"], get_blob, memo), decode_part(node["mask"], get_blob, memo)
    if type(data) is not np.ndarray or type(mask) is not np.ndarray or mask.dtype != bool or mask.shape != data.shape:
        raise CorruptArtifact("a stored masked array's mask does not fit its data")
    return np.ma.MaskedArray(data, mask=mask)
