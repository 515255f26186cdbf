"""The IPython AST transformer: route data operations in a cell through the tracer.

What is rewritten (``H`` is the tracer, reached as the builtin ``__cr__``):

    f(a, k=b)        ->  H.wrap(f)(a, k=b)       # untraced callables come back as themselves,
                                                  # so they still run in the user's frame
    x.m(a)           ->  H.method(x, "m")(a)     # a lazy x stays lazy when m is a traced method
    e.m(inplace=True)->  H.chained_method(e, "m")()  # e (not a name) as written: pandas counts references
    x.shape          ->  H.attr(x, "shape")      # data attributes of frames (DATA_ATTRIBUTES)
    x.loc[k]         ->  H.index(x, "loc", k)
    x[k]             ->  H.getitem(x, k)
    a + b, a < b, -a ->  H.binop("Add", a, b), H.compare("Lt", a, b), H.unary("USub", a)
    x[k] = v         ->  H.setitem(v, x, k)       # Python's order: value, then target
    x.a = v          ->  H.setattr(v, x, "a")
    x[k] += v        ->  H.setitem_aug("Add", x, k, v)
    n += v           ->  n = H.inplace("Add", n, v)
    del x[k]         ->  H.delitem(x, k)

Targets too complex to rewrite faithfully (tuple unpacking into subscripts,
for-loop targets) run as written, followed by ``H.touched(base)`` so the tracer
forgets what it knew about the mutated object. Line and column numbers are
copied from the original nodes, so tracebacks point at the user's code.
Names that read the caller's frame (``super``, ``locals``, ``eval``...) are
never wrapped. The cell's last expression, the one IPython displays, becomes
``H.shown(expr)``: what is displayed and kept in ``Out`` is never a lazy.
"""

from __future__ import annotations

import ast

from ..fingerprint.functions import HOOK_NAME

HOOK = HOOK_NAME
_FRAME_READERS = frozenset({"super", "locals", "globals", "vars", "eval", "exec", "dir", "__import__", "breakpoint"})
_INDEXERS = frozenset({"loc", "iloc", "at", "iat"})
DATA_ATTRIBUTES = frozenset({"shape", "columns", "index", "dtypes", "dtype", "size", "ndim", "empty"})
_TRACED_COMPARE = {ast.Eq: "Eq", ast.NotEq: "NotEq", ast.Lt: "Lt", ast.LtE: "LtE", ast.Gt: "Gt", ast.GtE: "GtE"}


def _hook(attr: str, node: ast.AST) -> ast.Attribute:
    return ast.copy_location(ast.Attribute(value=ast.copy_location(ast.Name(HOOK, ast.Load()), node),
                                           attr=attr, ctx=ast.Load()), node)


def _call(attr: str, args: list[ast.expr], node: ast.AST) -> ast.Call:
    return ast.copy_location(ast.Call(func=_hook(attr, node), args=args, keywords=[]), node)


def _const(value: object, node: ast.AST) -> ast.Constant:
    return ast.copy_location(ast.Constant(value), node)


def _as_expr(node: ast.expr) -> ast.expr:
    """A subscript's slice as an ordinary expression (``1:2`` -> ``slice(1, 2, None)``)."""
    if isinstance(node, ast.Slice):
        parts = [p if p is not None else _const(None, node) for p in (node.lower, node.upper, node.step)]
        return _call("slice", parts, node)
    if isinstance(node, ast.Tuple) and any(isinstance(e, ast.Slice) for e in node.elts):
        return ast.copy_location(ast.Tuple([_as_expr(e) for e in node.elts], ast.Load()), node)
    return node


def _load(node: ast.expr) -> ast.expr:
    """A copy of a simple target expression in load context (for ``touched``)."""
    copy = ast.parse(ast.unparse(node), mode="eval").body
    for sub in ast.walk(copy):
        if hasattr(sub, "ctx"):
            sub.ctx = ast.Load()
    return ast.fix_missing_locations(ast.copy_location(copy, node))


def _is_chained(node: ast.expr) -> bool:
    """The target's container is itself computed by a subscript or call (``df['a'][0] = v``)."""
    while isinstance(node, ast.Attribute):
        node = node.value
    return isinstance(node, (ast.Subscript, ast.Call))


def _is_simple(node: ast.expr) -> bool:
    """Re-evaluating it has no side effects: names, attributes of names, constant subscripts."""
    if isinstance(node, ast.Name):
        return True
    if isinstance(node, ast.Attribute):
        return _is_simple(node.value)
    if isinstance(node, ast.Subscript):
        return _is_simple(node.value) and isinstance(node.slice, ast.Constant)
    return False


class CellRewriter(ast.NodeTransformer):
    """The transformer IPython runs on every cell (registered in ``shell.ast_transformers``)."""

    # -- expressions ------------------------------------------------------------------------

    def visit_Call(self, node: ast.Call) -> ast.AST:
        func = node.func
        if isinstance(func, ast.Attribute) and _in_place_on_temporary(node):
            # df['a'].fillna(v, inplace=True): pandas warns of a chained in-place call by counting the
            # receiver's references, so the receiver is evaluated exactly as written and only a bound
            # method reaches the call (H.chained_method forgets what the call may change)
            node.args = [self.visit(a) for a in node.args]
            node.keywords = [self.visit(k) for k in node.keywords]
            node.func = _call("chained_method", [func.value, _const(func.attr, func)], func)
            return node
        if isinstance(func, ast.Attribute) and not _is_hook(func.value) and not _is_private(func.attr):
            func.value = self.visit(func.value)
            node.args = [self.visit(a) for a in node.args]
            node.keywords = [self.visit(k) for k in node.keywords]
            node.func = _call("method", [func.value, _const(func.attr, func)], func)
            return node
        self.generic_visit(node)
        if isinstance(node.func, ast.Name) and node.func.id in _FRAME_READERS | {HOOK}:
            return node
        if isinstance(node.func, ast.Attribute) and isinstance(node.func.value, ast.Name) and node.func.value.id == HOOK:
            return node
        node.func = _call("wrap", [node.func], node.func)
        return node

    def visit_Subscript(self, node: ast.Subscript) -> ast.AST:
        value = node.value
        if isinstance(node.ctx, ast.Load) and isinstance(value, ast.Attribute) and value.attr in _INDEXERS:
            key = self.visit(_as_expr(node.slice))
            return _call("index", [self.visit(value.value), _const(value.attr, value), key], node)
        self.generic_visit(node)
        if isinstance(node.ctx, ast.Load):
            return _call("getitem", [node.value, _as_expr(node.slice)], node)
        return node

    def visit_Attribute(self, node: ast.Attribute) -> ast.AST:
        self.generic_visit(node)
        if isinstance(node.ctx, ast.Load) and node.attr in DATA_ATTRIBUTES and not _is_hook(node.value):
            return _call("attr", [node.value, _const(node.attr, node)], node)
        return node

    def visit_BinOp(self, node: ast.BinOp) -> ast.AST:
        self.generic_visit(node)
        return _call("binop", [_const(type(node.op).__name__, node), node.left, node.right], node)

    def visit_UnaryOp(self, node: ast.UnaryOp) -> ast.AST:
        self.generic_visit(node)
        if isinstance(node.op, ast.Not):
            return node
        return _call("unary", [_const(type(node.op).__name__, node), node.operand], node)

    def visit_Compare(self, node: ast.Compare) -> ast.AST:
        self.generic_visit(node)
        if len(node.ops) != 1 or type(node.ops[0]) not in _TRACED_COMPARE:
            return node
        return _call("compare", [_const(_TRACED_COMPARE[type(node.ops[0])], node), node.left, node.comparators[0]], node)

    # annotations are not data work; leave them exactly as written
    def visit_arg(self, node: ast.arg) -> ast.AST:
        return node

    def visit_FunctionDef(self, node: ast.FunctionDef) -> ast.AST:
        returns, node.returns = node.returns, None
        self.generic_visit(node)
        node.returns = returns
        return node

    visit_AsyncFunctionDef = visit_FunctionDef  # type: ignore[assignment]

    def visit_JoinedStr(self, node: ast.JoinedStr) -> ast.AST:
        self.generic_visit(node)
        return node

    # -- statements that mutate --------------------------------------------------------------

    def visit_Assign(self, node: ast.Assign) -> ast.AST | list[ast.stmt]:
        node.value = self.visit(node.value)
        if len(node.targets) == 1:
            target = node.targets[0]
            if isinstance(target, ast.Subscript) and _is_chained(target.value):
                # df['a'][0] = v: pandas detects chained assignment by reference counts, so the target
                # is evaluated and stored in the user's frame exactly as written (a lazy df produces its
                # value on df['a']); afterwards forget what may be stale
                return [node, ast.copy_location(ast.Expr(_call("touched_unknown", [], node)), node)]
            if isinstance(target, ast.Subscript):
                obj, key = self.visit(target.value), self.visit(_as_expr(target.slice))
                return ast.copy_location(ast.Expr(_call("setitem", [node.value, obj, key], node)), node)
            if isinstance(target, ast.Attribute):
                obj = self.visit(target.value)
                return ast.copy_location(ast.Expr(_call("setattr", [node.value, obj, _const(target.attr, node)], node)),
                                         node)
        return self._with_touches(node, node.targets)

    def visit_AnnAssign(self, node: ast.AnnAssign) -> ast.AST | list[ast.stmt]:
        if node.value is not None:
            node.value = self.visit(node.value)
        return self._with_touches(node, [node.target])

    def visit_AugAssign(self, node: ast.AugAssign) -> ast.AST | list[ast.stmt]:
        node.value = self.visit(node.value)
        op = _const(type(node.op).__name__, node)
        target = node.target
        if isinstance(target, ast.Name):
            load = ast.copy_location(ast.Name(target.id, ast.Load()), target)
            return ast.copy_location(ast.Assign(targets=[target], value=_call("inplace", [op, load, node.value], node)),
                                     node)
        if isinstance(target, ast.Subscript):
            obj, key = self.visit(target.value), self.visit(_as_expr(target.slice))
            return ast.copy_location(ast.Expr(_call("setitem_aug", [op, obj, key, node.value], node)), node)
        if isinstance(target, ast.Attribute):
            obj = self.visit(target.value)
            return ast.copy_location(
                ast.Expr(_call("setattr_aug", [op, obj, _const(target.attr, node), node.value], node)), node)
        return node

    def visit_Delete(self, node: ast.Delete) -> ast.AST | list[ast.stmt]:
        out: list[ast.stmt] = []
        names: list[ast.expr] = []
        for target in node.targets:
            if isinstance(target, ast.Subscript):
                call = _call("delitem", [self.visit(target.value), self.visit(_as_expr(target.slice))], target)
            elif isinstance(target, ast.Attribute):
                call = _call("delattr", [self.visit(target.value), _const(target.attr, target)], target)
            else:
                names.append(target)
                continue
            if names:
                out.append(ast.copy_location(ast.Delete(targets=names), node))
                names = []
            out.append(ast.copy_location(ast.Expr(call), target))
        if names:
            out.append(ast.copy_location(ast.Delete(targets=names), node))
        return out

    def visit_For(self, node: ast.For) -> ast.AST | list[ast.stmt]:
        self.generic_visit(node)
        return self._with_touches(node, [node.target])

    visit_AsyncFor = visit_For  # type: ignore[assignment]

    def _with_touches(self, node: ast.stmt, targets: list[ast.expr]) -> ast.AST | list[ast.stmt]:
        """Run a statement as written, then tell the tracer which objects it may have mutated."""
        bases = [t.value for tgt in targets for t in ast.walk(tgt) if isinstance(t, (ast.Subscript, ast.Attribute))]
        if not bases:
            return node
        touches = [_load(b) if _is_simple(b) else None for b in bases]
        args = [t for t in touches if t is not None]
        unknown = len(args) < len(touches)
        tail = _call("touched_unknown" if unknown else "touched", [] if unknown else args, node)
        return [node, ast.copy_location(ast.Expr(tail), node)]


#: Methods that change their receiver in place whatever their arguments (pandas' ``update``).
_ALWAYS_IN_PLACE = frozenset({"update"})


def _in_place_on_temporary(node: ast.Call) -> bool:
    """A method call that may change its receiver in place, on a receiver computed in the expression
    (``df['a'].fillna(0, inplace=True)``, ``df.a.update(s)``), not one held by a name."""
    func = node.func
    assert isinstance(func, ast.Attribute)
    if isinstance(func.value, ast.Name) or _is_hook(func.value) or _is_private(func.attr):
        return False
    if func.attr in _ALWAYS_IN_PLACE:
        return True
    return any(k.arg == "inplace" and not (isinstance(k.value, ast.Constant) and k.value.value is False)
               for k in node.keywords)


def _is_hook(node: ast.expr) -> bool:
    return isinstance(node, ast.Name) and node.id == HOOK


def _is_private(attr: str) -> bool:
    """``self.__x``: Python mangles the name where it is written, so it must stay written as an attribute."""
    return attr.startswith("__") and not attr.endswith("__")


def rewrite(tree: ast.Module) -> ast.Module:
    """Rewrite a parsed cell; the input tree is modified and returned."""
    tree = CellRewriter().visit(tree)
    if tree.body and isinstance(tree.body[-1], ast.Expr) and not isinstance(tree.body[-1].value, ast.Constant):
        last = tree.body[-1]
        last.value = _call("shown", [last.value], last.value)
    return ast.fix_missing_locations(tree)
