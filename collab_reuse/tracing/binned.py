"""LightGBM training reuses the binned matrices of an earlier training on the same data.

Before LightGBM trains, its ``Dataset`` bins every feature of the training matrix (at the demo's
scale 60, 2.6 s of a 20 s fit), and each validation matrix with the training matrix's bin bounds.
The binned matrix depends on the matrix and on LightGBM's *dataset* parameters only (and, for a
validation matrix, on the training matrix it was binned against); LightGBM itself lets a constructed
Dataset be trained with any other training parameters and checks that the dataset parameters did
not change (``LGBM_DatasetUpdateParamChecking``). So when a model is retrained with, say, another
learning rate, the stored binned matrices (LightGBM's binary Dataset files) are loaded in place of
binning. The trained model is the same model, byte for byte (the tests compare LightGBM's model
files and evaluation results).

The hook replaces the one C call that bins a 2-D numpy matrix (``Dataset.__init_from_np2d``; pandas
input reaches it too); everything else LightGBM does around it (labels, weights, feature names,
categorical columns) runs as written. It acts only while a traced LightGBM training call runs (the
tracer's ``handler``), and only when LightGBM logs nothing (verbosity < 0): loading a binary file
logs other lines than binning does, and the output must stay that of a plain run.
"""

from __future__ import annotations

import contextlib
import ctypes
import inspect
import logging
import os
import tempfile
import threading
import time
import weakref
from typing import Any, Callable, Iterator

import numpy as np

from ..fingerprint.digest import digest_parts
from ..fingerprint.functions import package_version
from .steps import ComputedValue

log = logging.getLogger("collab_reuse")

# LightGBM parameters (and their aliases) that only steer training, never how the matrix is binned:
# a change of these keeps the key. (LightGBM's own check at load stays the arbiter.)
TRAINING_ONLY = frozenset({
    "learning_rate", "shrinkage_rate", "eta",
    "num_iterations", "num_iteration", "n_iter", "num_tree", "num_trees", "num_round", "num_rounds",
    "nrounds", "num_boost_round", "n_estimators", "max_iter",
    "num_leaves", "num_leaf", "max_leaves", "max_leaf", "max_leaf_nodes", "max_depth",
    "min_split_gain", "min_gain_to_split", "min_child_weight", "min_sum_hessian_in_leaf",
    "min_sum_hessian_per_leaf", "min_sum_hessian", "min_hessian",
    "subsample", "bagging_fraction", "sub_row", "bagging", "subsample_freq", "bagging_freq",
    "colsample_bytree", "feature_fraction", "sub_feature",
    "reg_alpha", "lambda_l1", "l1_regularization", "reg_lambda", "lambda_l2", "lambda", "l2_regularization",
    "metric", "metrics", "metric_types",
    "early_stopping_round", "early_stopping_rounds", "early_stopping", "n_iter_no_change",
})
_VERBOSITY = ("verbosity", "verbose")
BINARY_TOKEN = b"______LightGBM_Binary_File_Token______\n"  # how LightGBM's binary Dataset files begin
TRAINING_CALLS = frozenset({"fit", "train", "cv"})

Handler = Callable[[Any, Any, str, Any], None]  # (dataset, matrix, parameters, reference Dataset or None)
_original: Any = None
_signature: Any = None
_handlers: list[tuple[int, Handler]] = []  # (thread, handler) while traced training calls run


def is_training_call(module: str, name: str) -> bool:
    return module.split(".", 1)[0] == "lightgbm" and name in TRAINING_CALLS


def install() -> bool:
    """Put the hook in place (once); False when this LightGBM bins matrices some other way."""
    global _original, _signature
    if _original is not None:
        return True
    try:
        from lightgbm import basic
    except Exception:
        return False
    original = getattr(basic.Dataset, "_Dataset__init_from_np2d", None)
    needed = ("LGBM_DatasetSaveBinary", "LGBM_DatasetCreateFromFile", "LGBM_DatasetUpdateParamChecking")
    try:
        signature = inspect.signature(original)
        if not {"mat", "params_str", "ref_dataset"} <= signature.parameters.keys() \
                or "_handle" not in basic.Dataset.__init__.__code__.co_names \
                or not hasattr(basic, "_c_str") or not all(hasattr(basic._LIB, f) for f in needed):
            return False
    except (TypeError, ValueError, AttributeError):
        return False
    _original, _signature = original, signature
    basic.Dataset._Dataset__init_from_np2d = _hooked
    return True


def uninstall() -> None:
    global _original
    if _original is None:
        return
    from lightgbm import basic

    basic.Dataset._Dataset__init_from_np2d = _original
    _original = None


@contextlib.contextmanager
def handling(handler: Handler) -> Iterator[None]:
    """While the block runs in this thread, the matrices LightGBM bins here go to ``handler``."""
    entry = (threading.get_ident(), handler)
    _handlers.append(entry)
    try:
        yield
    finally:
        _handlers.remove(entry)


def _hooked(self: Any, *args: Any, **kwargs: Any) -> Any:
    handler = _handlers[-1][1] if _handlers and _handlers[-1][0] == threading.get_ident() else None
    if handler is None:
        return _original(self, *args, **kwargs)
    try:
        call = _signature.bind(self, *args, **kwargs).arguments
        mat, params_str, ref_dataset = call["mat"], call["params_str"], call["ref_dataset"]
    except (TypeError, KeyError):
        return _original(self, *args, **kwargs)
    reference = None
    if ref_dataset is not None:  # a validation matrix, binned with its training matrix's bin bounds
        reference = getattr(self, "reference", None)
        if getattr(reference, "_handle", None) is not ref_dataset:
            return _original(self, *args, **kwargs)
    if getattr(mat, "ndim", 0) != 2 or not silent(params_str):
        return _original(self, *args, **kwargs)
    handler(self, mat, params_str, reference)
    return self


def bin_matrix(dataset: Any, mat: Any, params_str: str, reference: Any = None) -> Any:
    """LightGBM's own binning (what a plain run does)."""
    return _original(dataset, mat=mat, params_str=params_str,
                     ref_dataset=None if reference is None else reference._handle)


def silent(params_str: str) -> bool:
    """LightGBM logs nothing with these parameters: verbosity < 0 (its default is 1) under each of its
    names, whichever of them LightGBM heeds."""
    levels = [value for name, value in _pairs(params_str) if name in _VERBOSITY]
    try:
        return bool(levels) and all(int(level) < 0 for level in levels)
    except ValueError:
        return False


def key_parameters(params_str: str) -> tuple[str, ...]:
    """The parameters that may shape the binned matrix (all but the training-only ones), in order."""
    return tuple(sorted(f"{n}={v}" for n, v in _pairs(params_str) if n not in TRAINING_ONLY))


def _pairs(params_str: str) -> Iterator[tuple[str, str]]:
    for token in params_str.split():
        name, _, value = token.partition("=")
        yield name, value


def binary_of(dataset: Any, params_str: str) -> tuple[str, Any]:
    """What to store of a binned matrix: the parameters and LightGBM's binary Dataset file (labels
    and weights are not in it yet: they are set afterwards, as in a plain run)."""
    from lightgbm import basic

    with _scratch_path() as path:
        basic._safe_call(basic._LIB.LGBM_DatasetSaveBinary(dataset._handle, basic._c_str(path)))
        with open(path, "rb") as f:
            data = f.read()
    if not data:
        raise ValueError("LightGBM wrote no binary Dataset file")
    return params_str, np.frombuffer(data, dtype=np.uint8)


def load_binned(dataset: Any, stored: Any, params_str: str, reference: Any = None) -> bool:
    """Give ``dataset`` the stored binned matrix (binned against ``reference``, if given); False
    (nothing changed) when the stored value is no binary Dataset file (LightGBM would parse any
    other file as text data), when LightGBM says the dataset parameters differ, or when it can't
    read the file."""
    from lightgbm import basic

    try:
        stored_params, data = stored
        data = memoryview(data).cast("B")
    except (TypeError, ValueError):
        return False
    if bytes(data[:len(BINARY_TOKEN)]) != BINARY_TOKEN:
        return False
    handle = ctypes.c_void_p()
    with _scratch_path() as path:
        with open(path, "wb") as f:
            f.write(data)
        with _native_errors_dropped():
            if basic._LIB.LGBM_DatasetUpdateParamChecking(basic._c_str(stored_params), basic._c_str(params_str)) \
                    or basic._LIB.LGBM_DatasetCreateFromFile(basic._c_str(path), basic._c_str(params_str),
                                                             None if reference is None else reference._handle,
                                                             ctypes.byref(handle)):
                return False
    dataset._handle = handle
    return True


@contextlib.contextmanager
def _scratch_path() -> Iterator[str]:
    """A path no file has yet (LightGBM won't overwrite a file), removed with its directory after."""
    with tempfile.TemporaryDirectory(prefix="collab_reuse-lgbm-") as scratch:
        yield os.path.join(scratch, "binned.bin")


@contextlib.contextmanager
def _native_errors_dropped() -> Iterator[None]:
    """LightGBM writes a refusal ("[LightGBM] [Fatal] Cannot change max_bin ...") straight to file
    descriptor 2, which Jupyter shows in the cell: the user's cell did not ask for this check, so its
    message goes to /dev/null while the check and the file load run (milliseconds; the return codes
    say it all)."""
    saved = os.dup(2)
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(devnull, 2)
        finally:
            os.close(devnull)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


LABEL = "lightgbm.Dataset (binned training matrix)"
VALIDATION_LABEL = "lightgbm.Dataset (binned validation matrix)"


class BinnedMatrices:
    """The acceleration (``accelerations.py``): while a traced LightGBM training computes, each matrix
    it bins is loaded in binned form when stored under the same key, else binned and offered."""

    def __init__(self, tracer: Any):
        self.tracer = tracer
        self._keys: Any = weakref.WeakKeyDictionary()  # LightGBM Dataset -> the key of its binned matrix

    def applies(self, call: Any) -> bool:
        return is_training_call(call.op.module, call.op.name) and install()

    def around(self, call: Any) -> Any:
        return handling(self.bin)

    def bin(self, dataset: Any, mat: Any, params_str: str, reference: Any) -> None:
        """A matrix LightGBM is about to bin: the stored binned form of the same matrix under the same
        dataset parameters (and, for a validation matrix, the same training matrix) is loaded instead;
        else it is binned as written and the binned form offered to the store."""
        __tracebackhide__ = True
        tracer, producer = self.tracer, self.tracer.producer
        inputs: list[str] = []
        label = LABEL if reference is None else VALIDATION_LABEL
        try:
            against = () if reference is None else (self._keys[reference],)
            key = digest_parts("lightgbm-binned", package_version("lightgbm"), key_parameters(params_str),
                               mat.dtype.str, mat.shape, bool(mat.flags.f_contiguous),
                               tracer.identity.resolve(mat, inputs), *against)
        except Exception:  # (also a reference Dataset this tracer did not bin)
            log.debug("binned LightGBM matrix not identified, binning it", exc_info=True)
            bin_matrix(dataset, mat, params_str, reference)
            return
        loaded = producer.stored(label, key)
        if loaded is not None:
            start = time.perf_counter()
            try:
                ok = load_binned(dataset, loaded.value, params_str, reference)
            except Exception:
                log.warning("loading LightGBM's binned matrix failed, binning it", exc_info=True)
                ok = False
            if ok:
                seconds = loaded.seconds + time.perf_counter() - start
                self._keys[dataset] = key
                tracer.lineage.note(key, loaded.info.compute_seconds, inputs)
                producer.reused(key, label, "other", seconds, loaded.info.compute_seconds, loaded.nbytes, inputs)
                return
        _, seconds = producer.run(lambda: bin_matrix(dataset, mat, params_str, reference))
        self._keys[dataset] = key
        lineage = tracer.lineage.note(key, seconds, inputs)
        candidate = None
        if seconds >= tracer.backend.min_saving:
            try:
                candidate = ComputedValue(key, binary_of(dataset, params_str), "other", seconds, {"log": []},
                                      recreate_seconds=lineage)
            except Exception:
                log.warning("keeping LightGBM's binned matrix failed", exc_info=True)
        producer.computed(key, label, "other", seconds, inputs, candidate)
