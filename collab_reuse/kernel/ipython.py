"""The IPython glue: register and unregister everything collab_reuse touches.

``install`` adds the AST transformer, the ``__cr__`` builtin the rewritten code
calls, the cell events, the magics and an exit hook; ``uninstall`` removes
exactly those, so ``%unload_ext collab_reuse`` leaves plain IPython.
"""

from __future__ import annotations

import ast
import atexit
import builtins
import logging
import os
import weakref
from typing import Any

from ..config import CollabReuse
from ..tracing import binned, fd_output
from ..tracing.plain_hook import PLAIN
from ..tracing.rewrite import HOOK, rewrite
from .replay import CellReplays
from .session import Session
from .tracebacks import StrippingFormatter

log = logging.getLogger("collab_reuse")


class ReuseTransformer(ast.NodeTransformer):
    """The object IPython keeps in ``shell.ast_transformers``; it rewrites while the session is active."""

    def __init__(self, session: Session):
        self.session = session

    def visit(self, node: ast.AST) -> ast.AST:
        if not isinstance(node, ast.Module) or not self.session.active or getattr(self, "_skip_next", False):
            return node
        try:
            if self.session.replays is not None:
                replayed = self.session.replays.before_run(node)
                if replayed is not None:
                    return replayed
        except Exception:  # judging a cell for replay must never stop it from running
            log.warning("collab_reuse could not judge a cell for replay; it runs", exc_info=True)
        try:
            return rewrite(node)
        except Exception:  # a cell we can't rewrite runs as written
            log.warning("collab_reuse could not rewrite a cell; it runs plainly", exc_info=True)
            return node


def _plain_hooks_in_child(installation: "Installation") -> Any:
    """A process forked from the kernel (``multiprocessing.Pool`` runs notebook functions in such
    children) runs the rewritten code with the plain hooks: the tracer's store connections belong to
    the kernel and may not be used after a fork (SQLite's rule), and its results would be lost."""
    ref = weakref.ref(installation)

    def after_fork() -> None:
        installed = ref()
        if installed is not None:
            installed._unbind_hooks()

    return after_fork


class Installation:
    """What ``%load_ext collab_reuse`` put in place, so that unloading can take it all back."""

    def __init__(self, shell: Any):
        self.shell = shell
        self.config = CollabReuse(parent=shell)
        self.session = Session(self.config)
        self.transformer = ReuseTransformer(self.session)
        self.replays = CellReplays(shell, self.session)
        self._magics: Any = None

    def _cell_started(self, info: Any) -> None:
        self.replays.cell_started()
        if self.session.active and self.shell.user_ns.get(HOOK) is not self.session.tracer:
            self._bind_hooks()  # (``%reset`` empties the namespace)

    def _bind_hooks(self) -> None:
        # in the namespace (hidden from %who) as well as in builtins: a notebook function pickled by value
        # for a worker process takes the globals it names along, and the tracer pickles as plain hooks
        setattr(builtins, HOOK, self.session.tracer)
        self.shell.user_ns[HOOK] = self.shell.user_ns_hidden[HOOK] = self.session.tracer

    def _unbind_hooks(self) -> None:
        # code rewritten while loaded (the notebook's functions) still calls the hooks: plain ones from now on
        if getattr(builtins, HOOK, None) is self.session.tracer:
            setattr(builtins, HOOK, PLAIN)
        if self.shell.user_ns.get(HOOK) is self.session.tracer:
            self.shell.user_ns[HOOK] = self.shell.user_ns_hidden[HOOK] = PLAIN

    def install(self) -> None:
        from .magics import ReuseMagics

        self._bind_hooks()
        fd_output.install()
        self.session.tracer.deferral.namespace = self.shell.user_ns
        self._formatter = self.shell.InteractiveTB
        self.shell.InteractiveTB = StrippingFormatter(self._formatter)
        self.shell.ast_transformers.append(self.transformer)
        self.session.replays = self.replays
        self.shell.events.register("pre_run_cell", self.session.pre_run_cell)
        self.shell.events.register("pre_run_cell", self._cell_started)
        self.shell.events.register("post_execute", self.replays.post_execute)
        # (before the session's: a replayable cell's outputs join the cell's report and candidates)
        self.shell.events.register("post_run_cell", self.replays.after_run)
        self.shell.events.register("post_run_cell", self.session.post_run_cell)
        self._magics = ReuseMagics(self.shell, self)
        self.shell.register_magics(self._magics)
        atexit.register(self.session.close_at_exit)
        os.register_at_fork(after_in_child=_plain_hooks_in_child(self))
        # (a store that can't be opened is told at the end of this cell when loaded from one, else at the
        # start of the first cell: printed now, at kernel start, it would reach no cell)

    def uninstall(self) -> None:
        try:
            self.session.tracer.deferral.force_all()  # plain IPython from here on: no lazies left behind
        except Exception:
            log.warning("producing deferred values at unload failed", exc_info=True)
        if self.transformer in self.shell.ast_transformers:
            self.shell.ast_transformers.remove(self.transformer)
        for name, callback in (("pre_run_cell", self.session.pre_run_cell), ("pre_run_cell", self._cell_started),
                               ("post_execute", self.replays.post_execute),
                               ("post_run_cell", self.replays.after_run),
                               ("post_run_cell", self.session.post_run_cell)):
            try:
                self.shell.events.unregister(name, callback)
            except ValueError:
                pass
        if isinstance(self.shell.InteractiveTB, StrippingFormatter):
            self.shell.InteractiveTB = self._formatter
        self._unbind_hooks()
        if self._magics is not None:
            for kind in ("line", "cell"):
                for name in self._magics.magics[kind]:
                    self.shell.magics_manager.magics[kind].pop(name, None)
        self.session.replays = None
        atexit.unregister(self.session.close_at_exit)
        binned.uninstall()
        self.session.close()
