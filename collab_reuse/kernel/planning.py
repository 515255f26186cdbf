"""``%%reuse plan``: what running a cell would load and compute, without running it.

The cell is parsed, never executed. A call is previewed when everything it needs is already at
hand without running code: a name the namespace holds (and the cell doesn't assign before), a
literal, a module's attribute, a method looked up without running a property. Its id is then the
one the tracer would compute (``Identity.operation_id``, the same function), and the Experiment
Graph says whether it is stored (loaded, at its measured or estimated load time) or seen (computed,
at its measured compute time). A call of a notebook function on data is one step, named as the
tracer names it (its code and its arguments: ``Identity.function_call_id``), so a cell that calls a
costly ``model(train, test)`` is previewed by that call. Everything else is *unknown*, with the reason: a call on the result
of an earlier step of the cell (its id needs that result), a call that draws from the global random
generator (the generator's state at run time decides), an operation never seen (no measured time).
A guess is never shown as a fact: totals count the known steps only and say how many are unknown.
"""

from __future__ import annotations

import ast
import inspect
import types
from dataclasses import dataclass
from typing import Any

from ..errors import Unreusable
from ..fingerprint.functions import is_notebook_function
from ..tracing import specs
from ..tracing.calls import TRACED, classify
from ..tracing.lazy import Lazy

LOAD, COMPUTE, UNKNOWN = "load", "compute", "unknown"


class _NotStatic(Exception):
    """The expression's value needs running code."""


@dataclass
class PlannedStep:
    op: str
    action: str                          # load | compute | unknown
    seconds: float | None = None         # estimated, with reuse
    plain_seconds: float | None = None   # estimated, without reuse
    note: str = ""
    id: str | None = None

    def to_json(self) -> dict:
        return {"op": self.op, "action": self.action, "seconds": self.seconds, "plain_seconds": self.plain_seconds,
                "note": self.note, "id": self.id}


def plan_cell(code: str, namespace: dict, session: Any) -> list[PlannedStep]:
    """The steps of ``code`` (already IPython-transformed), in the order they would run."""
    tree = ast.parse(code)
    assigned: set[str] = set()
    steps: list[PlannedStep] = []
    for statement in tree.body:
        for call in _calls(statement):
            step = _plan_call(call, namespace, assigned, session)
            if step is not None:
                steps.append(step)
            assigned.update(_changed_in_place(call))
        assigned.update(_targets(statement))
    return steps


def _calls(node: ast.AST) -> list[ast.Call]:
    """Calls in evaluation order (inner ones, arguments, before the call)."""
    found: list[ast.Call] = []

    class Visit(ast.NodeVisitor):
        def visit_Call(self, call: ast.Call) -> None:
            self.generic_visit(call)
            found.append(call)

        def visit_FunctionDef(self, _: ast.AST) -> None:  # (a definition runs nothing)
            return

        visit_AsyncFunctionDef = visit_ClassDef = visit_Lambda = visit_FunctionDef

    Visit().visit(node)
    return found


def _targets(statement: ast.stmt) -> set[str]:
    """Names the statement binds, or changes in place (``x[k] = v``, ``x.a += 1``, ``del x[k]``)."""
    names = {n.id for n in ast.walk(statement) if isinstance(n, ast.Name) and isinstance(n.ctx, (ast.Store, ast.Del))}
    for node in ast.walk(statement):
        if isinstance(node, (ast.Subscript, ast.Attribute)) and isinstance(node.ctx, (ast.Store, ast.Del)):
            names |= {n.id for n in ast.walk(node.value) if isinstance(n, ast.Name)}
    return names


def _changed_in_place(call: ast.Call) -> set[str]:
    """Names a call changes in place (a fit's receiver, ``inplace=True``, numpy's functions that fill
    their first argument): their later uses in the cell see another value (its id needs running the call)."""
    names = set()
    if isinstance(call.func, ast.Attribute) and isinstance(call.func.value, ast.Name):
        kwargs = {k.arg: True for k in call.keywords if k.arg is not None}
        if specs.mutated_receiver(call.func.attr, kwargs) or kwargs.get("inplace"):
            names.add(call.func.value.id)
    if call.args and isinstance(call.args[0], ast.Name) and isinstance(call.func, ast.Attribute) \
            and call.func.attr in specs.MUTATING_FIRST_ARG:  # (np.random.shuffle(x), np.copyto(x, y))
        names.add(call.args[0].id)
    return names


def _plan_call(call: ast.Call, namespace: dict, assigned: set[str], session: Any) -> PlannedStep | None:
    value = _Static(namespace, assigned)
    try:
        func, receiver_lazy = value.callee(call.func)
    except _NotStatic as exc:
        label = _label_of(call.func)
        return PlannedStep(label, UNKNOWN, note=f"needs running code first: {exc}") if label else None
    notebook = type(func) is types.FunctionType and is_notebook_function(func)
    if notebook:
        module, name, label, receiver = "__main__", func.__name__, f"{func.__qualname__}()", None
    elif receiver_lazy is not None:
        node = receiver_lazy._cr_node
        module, name, label, receiver = node.type.__module__, func, f"{node.type.__qualname__}.{func}", receiver_lazy
    else:
        try:
            kind, module, name, label, receiver = classify(func)
        except Exception:
            return None
        if kind != TRACED:
            return None  # plain code (print, len): not a step of the report
    try:
        args = tuple(value.of(a) for a in call.args)
        kwargs = {k.arg: value.of(k.value) for k in call.keywords if k.arg is not None}
        if any(k.arg is None for k in call.keywords) or any(isinstance(a, ast.Starred) for a in call.args):
            raise _NotStatic("unpacked arguments")
    except _NotStatic as exc:
        return PlannedStep(label, UNKNOWN, note=f"its arguments need running code first: {exc}")
    identity = session.tracer.identity
    if notebook:
        if not any(identity.is_traced_type(type(v)) for v in (*args, *kwargs.values())):
            return None  # no data value in: plain code, as the tracer runs it
    elif specs.is_effect(name, args, kwargs) or name in specs.NONDETERMINISTIC_NAMES:
        return PlannedStep(label, COMPUTE, note="runs every time (it writes, shows or differs at every call)")
    try:
        if notebook:  # (one operation, as tracing/execution.py runs it: reused whole, or its body traced)
            _, op_id = identity.function_call_id(func, args, kwargs, [])
        else:
            op_id = identity.operation_id(label, module, receiver, args, kwargs, [])
    except Unreusable as exc:
        return PlannedStep(label, COMPUTE, note=f"not reusable: {exc}")
    except Exception as exc:  # (a preview never fails the cell: that step is unknown)
        return PlannedStep(label, UNKNOWN, note=f"its identity can't be computed here: {type(exc).__name__}")
    if session.is_random(op_id):
        return PlannedStep(label, UNKNOWN, id=op_id,
                           note="draws from the global random generator: its state when it runs decides")
    return _estimate(label, op_id, session)


def _estimate(label: str, op_id: str, session: Any) -> PlannedStep:
    info = session.graph.artifact(op_id) if session.graph is not None else None
    if info is None:
        return PlannedStep(label, UNKNOWN, id=op_id, note="never run with these inputs: no measured time")
    plain = info.compute_seconds
    if session.loadable(info):
        load = session.load_cost(info)
        if load < plain:
            return PlannedStep(label, LOAD, load, plain, "stored", op_id)
        return PlannedStep(label, COMPUTE, plain, plain, "stored, but computing is estimated faster", op_id)
    return PlannedStep(label, COMPUTE, plain, plain, "seen before, not stored", op_id)


def _label_of(node: ast.expr) -> str:
    try:
        return ast.unparse(node)
    except Exception:
        return ""


class _Static:
    """Values of expressions that need no code to run: names, literals, attributes that are not
    properties."""

    def __init__(self, namespace: dict, assigned: set[str]):
        self.namespace, self.assigned = namespace, assigned

    def of(self, node: ast.expr) -> Any:
        if isinstance(node, ast.Constant):
            return node.value
        if isinstance(node, ast.Name):
            if node.id in self.assigned:
                raise _NotStatic(f"{node.id} is assigned or changed earlier in the cell")
            if node.id in self.namespace:
                return self.namespace[node.id]
            import builtins
            if hasattr(builtins, node.id):
                return getattr(builtins, node.id)
            raise _NotStatic(f"{node.id} is not defined yet")
        if isinstance(node, (ast.List, ast.Tuple, ast.Set)):
            items = [self.of(e) for e in node.elts]
            return {ast.List: list, ast.Tuple: tuple, ast.Set: set}[type(node)](items)
        if isinstance(node, ast.Dict) and None not in node.keys:
            return {self.of(k): self.of(v) for k, v in zip(node.keys, node.values)}  # type: ignore[arg-type]
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub) and isinstance(node.operand, ast.Constant):
            return -node.operand.value
        if isinstance(node, ast.Attribute):
            base = self.of(node.value)
            if isinstance(base, (types.ModuleType, type)):
                return getattr(base, node.attr)
            raise _NotStatic(f"{_label_of(node)} may run code (a property)")
        raise _NotStatic(f"{_label_of(node)} is computed in the cell")

    def callee(self, node: ast.expr) -> tuple[Any, Lazy | None]:
        """(the callable, None), or (a method's name, its lazy receiver) for a value still deferred."""
        if isinstance(node, ast.Attribute):
            base = self.of(node.value)
            if type(base) is Lazy and not base._cr_node.done:
                if not inspect.isfunction(getattr(base._cr_node.type, node.attr, None)):
                    raise _NotStatic(f"{_label_of(node)} is not a plain method")
                return node.attr, base
            if type(base) is Lazy:
                base = base._cr_node.value
            if isinstance(base, (types.ModuleType, type)):
                return getattr(base, node.attr), None
            found = inspect.getattr_static(base, node.attr, None)
            if not isinstance(found, (types.FunctionType, types.BuiltinFunctionType, types.MethodDescriptorType,
                                      types.WrapperDescriptorType)):
                raise _NotStatic(f"{_label_of(node)} is not a plain method")
            return getattr(base, node.attr), None
        return self.of(node), None


def plan_text(steps: list[PlannedStep]) -> str:
    """The preview as ``%%reuse plan`` prints it."""
    if not steps:
        return "collab_reuse plan: no traced operation in this cell"
    lines = ["collab_reuse plan (nothing was run):"]
    for s in steps:
        est = f"{s.seconds * 1000:9.1f} ms" if s.seconds is not None else f"{'?':>12}"
        plain = f"  (without reuse {s.plain_seconds * 1000:.1f} ms)" if s.plain_seconds is not None \
            and s.action == LOAD else ""
        lines.append(f"  {s.action:<8} {s.op:<40} {est}{plain}  {s.note}".rstrip())
    lines.append(totals_text(totals(steps)))
    return "\n".join(lines)


def totals(steps: list[PlannedStep]) -> dict:
    known = [s for s in steps if s.seconds is not None]
    return {"seconds": sum(s.seconds for s in known),  # type: ignore[misc]
            "plain_seconds": sum(s.plain_seconds or 0.0 for s in known),
            "known": len(known), "unknown": len(steps) - len(known)}


def totals_text(t: dict) -> str:
    text = (f"estimated: {t['seconds']:.3f} s with reuse, {t['plain_seconds']:.3f} s without "
            f"({t['known']} steps with a measured time")
    return text + (f"; {t['unknown']} unknown, not counted)" if t["unknown"] else ")")
