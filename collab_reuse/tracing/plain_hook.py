"""The hook rewritten code calls where no tracer runs: everything as plain Python does it.

Code rewritten while collab_reuse is loaded calls its hooks by the name ``__cr__``. That code can
run where no tracer is behind the name, and must then run as written: in a worker process that got
a notebook function by value (joblib's loky pickles it with the globals it names: a
``GridSearchCV(..., n_jobs=4)`` over a ``FunctionTransformer`` of a notebook function), and in the
kernel after ``%unload_ext``. A tracer pickles as this hook, and unloading leaves it in its place.
"""

from __future__ import annotations

import operator
from typing import Any, Callable

BINOPS: dict[str, Callable[[Any, Any], Any]] = {
    "Add": operator.add, "Sub": operator.sub, "Mult": operator.mul, "Div": operator.truediv,
    "FloorDiv": operator.floordiv, "Mod": operator.mod, "Pow": operator.pow, "MatMult": operator.matmul,
    "BitAnd": operator.and_, "BitOr": operator.or_, "BitXor": operator.xor, "LShift": operator.lshift,
    "RShift": operator.rshift,
    "Eq": operator.eq, "NotEq": operator.ne, "Lt": operator.lt, "LtE": operator.le, "Gt": operator.gt,
    "GtE": operator.ge,
}
INPLACE: dict[str, Callable[[Any, Any], Any]] = {
    "Add": operator.iadd, "Sub": operator.isub, "Mult": operator.imul, "Div": operator.itruediv,
    "FloorDiv": operator.ifloordiv, "Mod": operator.imod, "Pow": operator.ipow, "MatMult": operator.imatmul,
    "BitAnd": operator.iand, "BitOr": operator.ior, "BitXor": operator.ixor, "LShift": operator.ilshift,
    "RShift": operator.irshift,
}
UNARY: dict[str, Callable[[Any], Any]] = {"USub": operator.neg, "UAdd": operator.pos, "Invert": operator.invert}


class PlainHook:
    """Every hook of ``Tracer`` that rewritten code calls, doing what the code it replaced did."""

    slice = slice

    @staticmethod
    def wrap(func: Any) -> Any:
        return func

    @staticmethod
    def method(obj: Any, name: str) -> Any:
        return getattr(obj, name)

    chained_method = attr = method

    @staticmethod
    def shown(value: Any) -> Any:
        return value

    @staticmethod
    def index(obj: Any, indexer: str, key: Any) -> Any:
        return getattr(obj, indexer)[key]

    @staticmethod
    def getitem(obj: Any, key: Any) -> Any:
        return obj[key]

    @staticmethod
    def binop(name: str, left: Any, right: Any) -> Any:
        return BINOPS[name](left, right)

    compare = binop

    @staticmethod
    def unary(name: str, operand: Any) -> Any:
        return UNARY[name](operand)

    @staticmethod
    def inplace(name: str, target: Any, value: Any) -> Any:
        return INPLACE[name](target, value)

    @staticmethod
    def setitem(value: Any, obj: Any, key: Any) -> None:
        obj[key] = value

    @staticmethod
    def setitem_aug(name: str, obj: Any, key: Any, value: Any) -> None:
        obj[key] = INPLACE[name](obj[key], value)

    @staticmethod
    def setattr(value: Any, obj: Any, attr: str) -> None:
        setattr(obj, attr, value)

    @staticmethod
    def setattr_aug(name: str, obj: Any, attr: str, value: Any) -> None:
        setattr(obj, attr, INPLACE[name](getattr(obj, attr), value))

    @staticmethod
    def delitem(obj: Any, key: Any) -> None:
        del obj[key]

    @staticmethod
    def delattr(obj: Any, attr: str) -> None:
        delattr(obj, attr)

    @staticmethod
    def touched(*objs: Any) -> None:
        pass

    @staticmethod
    def touched_unknown() -> None:
        pass

    def __reduce__(self) -> tuple:
        return plain_hook, ()


PLAIN = PlainHook()


def plain_hook() -> PlainHook:
    """What a pickled tracer (or plain hook) becomes where it is unpickled."""
    return PLAIN
