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

import collections
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


#: values pickle writes afresh at every meeting (it memoizes everything else): their identity is no part
#: of what is stored (nor of what a reused fit shares with its live parameters)
NEVER_SHARED = (type(None), bool, int, float)
#: strings longer than this are never marked interned (identifiers and attribute names are short)
_INTERNED_MAX = 256


def encode_part(part: Any, out: "formats.Encoded", memo: Memo, depth: int) -> dict:
    """One part of an object's state: objects of the same libraries by their own state (strictly:
    a part that can't be stored fails the whole object), containers item by item, the rest as any
    value but never pickled. Every part but a number is numbered at its first meeting and stored as
    a reference at the next, as pickle records it: what the object shares (one list of column names
    in two places, one string in many) is shared again when it is read, and pickles the same."""
    if depth > 20:
        raise Unreusable("object state nested too deeply")
    if type(part) in NEVER_SHARED:
        return formats.encode_tree(part, out, False, depth + 1)
    if id(part) in memo:
        return {"t": "ref", "n": memo[id(part)][0]}
    number = len(memo)
    memo[id(part)] = (number, part)
    return {**_encode_first_meeting(part, out, memo, depth), "id": number}


def _encode_first_meeting(part: Any, out: "formats.Encoded", memo: Memo, depth: int) -> dict:
    t = type(part)
    if name_of(t) == XGBOOST_BOOSTER:
        config = part.save_config().encode()
        try:
            xgboost_json.check_config_json(config)
        except CorruptArtifact as exc:
            raise Unreusable(str(exc)) from None
        return {"t": "xgboost", "key": out.add_blob(bytes(part.save_raw(raw_format="json"))),
                "config": out.add_blob(config)}  # (pickle keeps it: what the model was trained with)
    if is_library_object(part):
        return encode_object(part, out, memo, depth + 1)
    if t is np.ndarray:
        if part.dtype.hasobject and formats.is_string_array(part):
            return _encode_strings(part, memo)
        if part.dtype.hasobject:
            return {"t": "objarray", "shape": list(part.shape),
                    "items": [encode_part(x, out, memo, depth + 1) for x in part.flat]}
        node = formats.encode_tree(part, out, False, depth + 1)
        # (a view across another array, as a search's split scores are: pickle's protocol 5 writes such an
        # array in-line, a contiguous one as a buffer)
        return {**node, "strided": True} if not (part.flags.c_contiguous or part.flags.f_contiguous) else node
    if t is str:
        node = formats.encode_tree(part, out, False, depth + 1)
        return {**node, "i": True} if _interned(part) else node
    if t in (list, tuple):
        return {"t": t.__name__, "items": [encode_part(x, out, memo, depth + 1) for x in part]}
    kind = _dict_kind(part)
    if kind is not None:  # (LightGBM's evals_result_ is an OrderedDict in a dict, its best_score_ a defaultdict)
        node = {"t": "sdict", "kind": kind, "items": [[encode_part(k, out, memo, depth + 1),
                                                        encode_part(v, out, memo, depth + 1)] for k, v in part.items()]}
        return {**node, "factory": formats.FACTORIES[part.default_factory]} if kind == "ddict" else node
    if isinstance(part, type):
        if name_of(part) not in allowed_names.TYPES:
            raise Unreusable(f"the type {name_of(part)} is not on the store's allow-list")
        return {"t": "type", "name": name_of(part)}
    if callable(part) and name_of(part) in allowed_names.FUNCTIONS and resolve(name_of(part), "function") is part:
        return {"t": "func", "name": name_of(part)}
    if _top_level_notebook_function(part):  # (a FunctionTransformer of a notebook function)
        from ..fingerprint.functions import function_code_digest

        return {"t": "nbfunc", "name": part.__qualname__, "code": function_code_digest(part)}
    if part is np.random.mtrand._rand:
        # numpy's global generator (what ``random_state=None`` resolves to): the reader's own, as in a plain
        # run, where the model holds it, draws advance it and pickle writes its state of the moment
        return {"t": "global_rng"}
    if isinstance(part, (np.random.RandomState, np.random.Generator)):
        # one generator shared by many objects (a boosting model's trees share the model's) stays one:
        # later uses of it draw in the same sequence, and it is stored and rebuilt once
        return _encode_generator(part, out, depth)
    if is_frozen_distribution(part):  # (a RandomizedSearchCV's param_distributions: randint(1, 200))
        return _encode_frozen(part)
    if t is np.ma.MaskedArray:  # (a search's cv_results_: its data and its mask are what is compared)
        node = {"t": "masked", "data": encode_part(part.data, out, memo, depth + 1),
                "mask": encode_part(np.ma.getmaskarray(part), out, memo, depth + 1)}
        # (its fill value, once anything asked for it: numpy sets it lazily, and pickle writes it)
        return node if part._fill_value is None else {**node, "fill": encode_part(part._fill_value, out, memo,
                                                                                   depth + 1)}
    return formats.encode_tree(part, out, False, depth + 1)


def _dict_kind(part: Any) -> str | None:
    t = type(part)
    if t is collections.defaultdict:
        return "ddict" if part.default_factory in formats.FACTORIES else None
    return {dict: "dict", collections.OrderedDict: "odict"}.get(t)


def _encode_strings(array: Any, memo: Memo) -> dict:
    """An object array of strings (``feature_names_in_``, ``categories_``) as a list, with each string's
    number: the column names a fitted pipeline holds in many arrays are often one set of strings."""
    items = array.ravel().tolist()
    numbers, interned = [], []
    for position, text in enumerate(items):
        met = memo.get(id(text))
        if met is None:
            met = memo[id(text)] = (len(memo), text)
            if _interned(text):
                interned.append(position)
        numbers.append(met[0])
    return {"t": "strarray", "shape": list(array.shape), "items": items, "numbers": numbers, "interned": interned}


def _interned(text: str) -> bool:
    """Is ``text`` the interpreter's interned string (attribute names and identifiers in code are; column
    names read from a file are not)? Pickle's output depends on it where an interned string is shared with
    an object's attribute names. Nothing new is interned: a fresh copy is offered to ``sys.intern``, which
    returns the interned string if there is one (a copy interned instead dies with the copy)."""
    if len(text) > _INTERNED_MAX:
        return False
    if hasattr(sys, "_is_interned"):  # (Python 3.13)
        return sys._is_interned(text)
    copy = text.encode("utf-8", "surrogatepass").decode("utf-8", "surrogatepass")
    return copy is not text and sys.intern(copy) is text


def _encode_generator(rng: Any, out: "formats.Encoded", depth: int) -> dict:
    legacy = isinstance(rng, np.random.RandomState)
    state = rng.get_state(legacy=False) if legacy else rng.bit_generator.state
    if state.get("bit_generator") not in allowed_names.BIT_GENERATORS:
        raise Unreusable(f"a random generator on {state.get('bit_generator')} is not stored")
    bit_generator = rng._bit_generator if legacy else rng.bit_generator
    return {"t": "rng", "legacy": legacy, "state": formats.encode_tree(state, out, False, depth + 1),
            "seed": _encode_seed_sequence(bit_generator.seed_seq)}


def _encode_seed_sequence(seeds: Any) -> dict | None:
    """The seed sequence a generator was made from (pickle keeps it; None for a legacy ``RandomState(5)``)."""
    if seeds is None:
        return None
    entropy, spawn_key = seeds.entropy, seeds.spawn_key
    if type(seeds) is not np.random.SeedSequence or not _seed_numbers(entropy) or not _seed_numbers(list(spawn_key)):
        raise Unreusable("a random generator seeded other than by numbers")
    return {"entropy": entropy if type(entropy) is int else [int(x) for x in entropy], "spawn_key": list(spawn_key),
            "pool_size": seeds.pool_size, "children": seeds.n_children_spawned}


def _seed_numbers(value: Any) -> bool:
    """A seed numpy takes: a non-negative int, or a short list of them."""
    if type(value) is int:
        return value >= 0
    return type(value) in (list, tuple) and len(value) <= 64 and all(type(x) is int and x >= 0 for x in value)


def _decode_seed_sequence(node: Any) -> Any:
    if node is None:
        return None
    if (type(node) is not dict or set(node) != {"entropy", "spawn_key", "pool_size", "children"}
            or not _seed_numbers(node["entropy"]) or type(node["spawn_key"]) is not list
            or not _seed_numbers(node["spawn_key"]) or node["pool_size"] not in (4, 8, 16, 32)
            or type(node["children"]) is not int or not 0 <= node["children"] < 1 << 32):
        raise CorruptArtifact("a stored seed sequence is not numbers numpy takes")
    return np.random.SeedSequence(node["entropy"], spawn_key=tuple(node["spawn_key"]), pool_size=node["pool_size"],
                                  n_children_spawned=node["children"])


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
        # (keyword names interned, as a call's keywords are: pickle writes a name shared with another)
        return getattr(scipy.stats, name)(*args, **{sys.intern(k): v for k, v in kwds.items()})
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
    state = {}
    for key, part in node.get("items", []):
        if type(key) is not str or key in state or (key.startswith("__") and key.endswith("__")):
            raise CorruptArtifact(f"state of {name} has a bad or repeated field {str(key)[:40]!r}")
        # interned, as pickle and setattr make an object's attribute names (pickle writes a name shared)
        state[sys.intern(key) if len(key) <= _INTERNED_MAX else key] = decode_part(part, get_blob, memo)
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
    if t == "list":  # (numbered before its items: a list may hold itself)
        items: list = []
        if "id" in node:
            _remember(memo, node["id"], items)
        items.extend(decode_part(n, get_blob, memo) for n in node["items"])
        return items
    if t == "sdict":
        out = formats.new_mapping(node["kind"], node.get("factory"))
        if "id" in node:
            _remember(memo, node["id"], out)
        for key_node, n in node["items"]:
            key = decode_part(key_node, get_blob, memo)
            if key in out:
                raise CorruptArtifact("a stored dict has a repeated key")
            out[key] = decode_part(n, get_blob, memo)
        return out
    if t == "tuple":
        value = tuple(decode_part(n, get_blob, memo) for n in node["items"])
    elif t == "strarray":
        value = _decode_strings(node, memo)
    elif t == "objarray":
        value = _decode_object_array(node, get_blob, memo)
    elif t == "type":
        value = resolve(node["name"], "type")
    elif t == "nbfunc":
        value = _notebook_function(node.get("name"), node.get("code"))
    elif t == "func":
        value = resolve(node["name"], "function")
    elif t == "rng":
        value = _decode_generator(node, get_blob)
    elif t == "global_rng":
        value = np.random.mtrand._rand
    elif t == "xgboost":
        value = _decode_xgboost(get_blob(node["key"]), get_blob(node["config"]))
    elif t == "masked":
        value = _decode_masked(node, get_blob, memo)
    elif t == "frozen":
        value = _decode_frozen(node)
    elif t == "ndarray" and node.get("strided") is True:
        value = _strided(formats.decode_tree(node, get_blob, False))
    else:
        value = formats.decode_tree(node, get_blob, False)
        if node.get("i") is True and type(value) is str and len(value) <= _INTERNED_MAX:
            value = sys.intern(value)
    if "id" in node:
        _remember(memo, node["id"], value)
    return value


def _decode_strings(node: dict, memo: dict[int, Any]) -> Any:
    """An object array of strings, each string the one its number names (met before, or new here)."""
    items, shape, numbers, interned = node["items"], node["shape"], node["numbers"], node["interned"]
    if (type(items) is not list or not all(type(x) is str for x in items) or type(shape) is not list
            or not all(type(n) is int and n >= 0 for n in shape) or int(np.prod(shape, dtype=np.int64)) != len(items)
            or type(numbers) is not list or len(numbers) != len(items) or not all(type(n) is int for n in numbers)
            or type(interned) is not list or not all(type(p) is int and 0 <= p < len(items) for p in interned)):
        raise CorruptArtifact("a stored string array is not strings of its shape, each numbered")
    for position in interned:
        if len(items[position]) <= _INTERNED_MAX:
            items[position] = sys.intern(items[position])
    strings = np.empty(len(items), dtype=object)
    for position, (text, number) in enumerate(zip(items, numbers)):
        if number in memo:
            text = memo[number]
            if type(text) is not str or text != items[position]:
                raise CorruptArtifact("a stored string array refers to something other than its string")
        else:
            _remember(memo, number, text)
        strings[position] = text
    return strings.reshape(shape)


def _strided(array: Any) -> Any:
    """A copy of ``array`` that is neither C- nor F-contiguous (every other element of a wider array)."""
    if type(array) is not np.ndarray or array.size < 2:
        raise CorruptArtifact("a stored strided array has fewer than two elements")
    wider = np.empty(array.shape + (2,), array.dtype)[..., 0]
    wider[...] = array
    return wider


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
    if node["legacy"] not in (True, False):
        raise CorruptArtifact("a stored random state is neither legacy nor new")
    bit_generator = vars(np.random).get(state["bit_generator"])(0)  # (seeded: no entropy gathered for nothing)
    # as pickle sets it: its seed sequence, then its state (numpy checks the state's fields, types and sizes)
    bit_generator.__setstate__((state, _decode_seed_sequence(node["seed"])))
    if not node["legacy"]:
        return np.random.Generator(bit_generator)
    rng = np.random.RandomState(bit_generator)
    rng.set_state(state)  # (a legacy state holds a Gaussian draw kept for the next call as well)
    return rng


def _decode_xgboost(data: bytes, config: bytes) -> Any:
    """A Booster from its model text and its configuration, both checked first (a reader without XGBoost
    can't have stored one)."""
    data, config = bytes(data), bytes(config)
    xgboost_json.check_model_json(data)
    xgboost_json.check_config_json(config)
    import xgboost

    booster = xgboost.Booster()
    booster.load_model(bytearray(data))
    try:
        booster.load_config(config.decode())
    except xgboost.core.XGBoostError as exc:
        raise CorruptArtifact(f"stored XGBoost configuration refused: {str(exc)[:120]}") from None
    return booster


def _decode_masked(node: dict, get_blob: Callable[[str], bytes], memo: dict[int, Any]) -> Any:
    data, mask = decode_part(node["data"], get_blob, memo), decode_part(node["mask"], get_blob, memo)
    if type(data) is not np.ndarray or type(mask) is not np.ndarray or mask.dtype != bool or mask.shape != data.shape:
        raise CorruptArtifact("a stored masked array's mask does not fit its data")
    masked = np.ma.MaskedArray(data, mask=mask)
    if "fill" in node:
        fill = decode_part(node["fill"], get_blob, memo)
        if type(fill) is not np.ndarray or fill.shape != () or fill.dtype.hasobject:
            raise CorruptArtifact("a stored masked array's fill value is not one plain value")
        masked._fill_value = fill  # (as numpy keeps it: an object array's is text, '?')
    return masked
