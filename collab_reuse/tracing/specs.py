"""What the tracer knows about libraries, as data.

Each table answers one question about a callable, by its library and name:
is it data work worth tracing, does it mutate an argument, does it write or
show something, does it read a file, is its result different at every call.
Extending the tracer to a new library is adding rows here.
"""

from __future__ import annotations

#: Top-level packages whose callables are traced as operations.
TRACED_PACKAGES = frozenset({"pandas", "numpy", "sklearn", "lightgbm", "xgboost", "scipy", "catboost"})

#: Packages that read the caller's frame (formula strings, numexpr); their calls never get a wrapper frame.
FRAME_READING_PACKAGES = frozenset({"statsmodels", "patsy", "numexpr", "IPython", "ipykernel", "matplotlib_inline"})

#: Builtins and stdlib helpers that can't mutate a data value passed to them.
PURE_BUILTINS = frozenset({
    "print", "len", "repr", "str", "int", "float", "bool", "isinstance", "issubclass", "type", "id", "hash",
    "range", "enumerate", "zip", "sorted", "reversed", "min", "max", "sum", "abs", "round", "any", "all",
    "list", "tuple", "dict", "set", "frozenset", "map", "filter", "iter", "next", "format", "getattr",
    "hasattr", "callable", "divmod", "pow", "chr", "ord", "bin", "hex", "oct", "slice", "object", "display",
})

#: Traced packages with functions that reseed numpy's global generator before drawing (``xgboost.cv``
#: calls ``np.random.seed(seed)``): only their calls (and notebook functions) watch for reseeding,
#: which costs microseconds that the many cheap pandas and numpy calls are spared.
RESEEDING_PACKAGES = frozenset({"xgboost"})


def may_reseed(module: str | None) -> bool:
    return package_of(module) in RESEEDING_PACKAGES


#: Functions of libraries the tracer doesn't trace that read their arguments and change none of them
#: (serializers): a call keeps what the tracer knows of its arguments (a model saved with joblib.dump).
READ_ONLY_CALLS = frozenset({("joblib", "dump"), ("joblib", "hash"), ("cloudpickle", "dump"),
                             ("cloudpickle", "dumps"), ("dill", "dump"), ("dill", "dumps"), ("skops", "dump"),
                             ("skops", "dumps")})


def reads_only(module: str, name: str) -> bool:
    return (package_of(module), name) in READ_ONLY_CALLS


#: Methods that change their receiver in place (estimators, ndarrays, frames).
MUTATING_METHODS = frozenset({
    "fit", "partial_fit", "fit_transform", "fit_predict", "fit_resample", "set_params", "set_output",
    "sort", "fill", "resize", "put", "itemset", "setfield", "partition", "setflags",
    "insert", "pop", "update", "__setitem__", "__delitem__", "__iadd__", "__isub__", "__imul__", "__itruediv__",
    "set_axis_inplace",
})

#: Mutating methods that return something other than the receiver.
RETURNS_NEW_VALUE = frozenset({"fit_transform", "fit_predict", "fit_resample", "pop"})

#: numpy functions that write into their first argument.
MUTATING_FIRST_ARG = frozenset({"shuffle", "copyto", "put", "place", "putmask", "fill_diagonal", "put_along_axis",
                                "at"})

#: Names that write, show or export: they always run and are never replaced.
EFFECT_PREFIXES = ("to_", "save", "dump", "write", "export", "plot", "hist", "boxplot", "show", "savefig",
                   "savetxt", "savez", "tofile", "print")
EFFECT_NAMES = frozenset({"info", "display", "style", "close", "flush", "seed", "set_option", "reset_option",
                          "set_printoptions", "set_state", "register_matplotlib_converters"})

#: ``to_*`` conversions that return a value and write nothing (unless given a path/buffer).
PURE_TO = frozenset({"to_numpy", "to_frame", "to_dict", "to_list", "to_records", "to_datetime", "to_numeric",
                     "to_timedelta", "to_period", "to_timestamp", "to_series", "to_flat_index", "to_dense",
                     "to_offset", "to_pydatetime", "to_pytimedelta", "to_coo", "to_string", "to_csv", "to_json",
                     "to_markdown", "to_html", "to_latex"})
#: of PURE_TO, those that write when their first argument is not None
WRITES_WHEN_GIVEN_PATH = frozenset({"to_string", "to_csv", "to_json", "to_markdown", "to_html", "to_latex"})

#: Results that differ at every call (time, entropy): never reused, never identified.
NONDETERMINISTIC_NAMES = frozenset({"now", "today", "utcnow", "default_rng", "RandomState", "SeedSequence",
                                    "Generator", "PCG64", "MT19937", "Philox", "SFC64", "random_state"})

#: Readers whose first argument (or one of these keywords) names the file they read.
SOURCE_PREFIXES = ("read_",)
SOURCE_NAMES = frozenset({"load", "loadtxt", "genfromtxt", "fromfile", "ExcelFile", "Booster", "Dataset"})
SOURCE_PATH_KEYWORDS = ("filepath_or_buffer", "path", "path_or_buf", "io", "fname", "file", "model_file",
                        "data")


#: Every attribute (see ``CALL_SCRATCH``).
ALL: frozenset[str] = frozenset({"*"})

#: Library objects that calls change for their own use: attributes reset at the start of every
#: training (so they say nothing about the next one), by ``module.qualname`` of the class. They are
#: neither part of the object's identity nor effects a reuse must replay (``tracing/effects.py``);
#: every other attribute is. ``record_evaluation``'s callback is not here: it fills the user's dict.
CALL_SCRATCH: dict[str, frozenset[str]] = {
    "lightgbm.callback._EarlyStoppingCallback": frozenset({"best_score", "best_iter", "best_score_list", "cmp_op",
                                                            "first_metric"}),
    "lightgbm.callback._LogEvaluationCallback": frozenset(),
    "lightgbm.callback._ResetParameterCallback": frozenset(),
    # a Dataset is binned ("constructed") on first use by training; its lineage identifies it
    "lightgbm.basic.Dataset": ALL,
    "lightgbm.basic.Booster": ALL,
}


#: Library objects whose use by a call writes files or talks to the world: a call given one is never
#: reused (by ``module.qualname`` of the class).
EFFECTFUL_OBJECTS: dict[str, str] = {
    "xgboost.callback.TrainingCheckPoint": "writes a model file at its checkpoints",
}


def package_of(module: str | None) -> str:
    return (module or "").split(".", 1)[0]


def is_effect(name: str, args: tuple, kwargs: dict) -> bool:
    """Does calling ``name`` write, show or change global settings?"""
    if name in PURE_TO:
        if name in WRITES_WHEN_GIVEN_PATH:
            first = args[0] if args else next((kwargs[k] for k in ("path_or_buf", "buf") if k in kwargs), None)
            return first is not None
        return False
    return name in EFFECT_NAMES or name.startswith(EFFECT_PREFIXES)


#: Packages whose objects (pyplot itself, a Figure, an Axes) are drawn on when given to a call.
DRAWING_PACKAGES = frozenset({"matplotlib", "seaborn", "mpl_toolkits"})


def draws_on(args: tuple, kwargs: dict) -> bool:
    """Is the call given something to draw on (``scipy.stats.probplot(x, plot=plt)``, ``ax=ax``)? Then
    its drawing is an effect: it runs, never replaced by a stored result."""
    for value in (*args, *kwargs.values()):
        module = value.__name__ if type(value).__name__ == "module" else type(value).__module__
        if package_of(module) in DRAWING_PACKAGES:
            return True
    return False


def is_source(name: str) -> bool:
    return name.startswith(SOURCE_PREFIXES) or name in SOURCE_NAMES


def mutated_receiver(name: str, kwargs: dict) -> bool:
    """Does a method call change its receiver?"""
    return kwargs.get("inplace") is True or name in MUTATING_METHODS


def mutated_first_arg(module: str, name: str) -> bool:
    return package_of(module) == "numpy" and name in MUTATING_FIRST_ARG

#: Metrics whose value tells the quality of the model that made the predictions they score.
METRIC_NAMES = frozenset({"roc_auc_score", "accuracy_score", "f1_score", "r2_score", "average_precision_score",
                          "balanced_accuracy_score", "score"})
