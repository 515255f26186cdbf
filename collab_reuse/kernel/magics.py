"""``%reuse`` and ``%%noreuse``: status, on/off, budget, explain, plan, graph, clear.

Wrong arguments raise IPython's ``UsageError`` with the usage line, the way
built-in magics do; so does a store that fails while a magic uses it (the
session then stops reusing, as after any store fault). Nothing here changes a
cell's output except what the user asked to see.
"""

from __future__ import annotations

import ast
from typing import Any, Callable

from IPython.core.error import UsageError
from IPython.core.magic import Magics, cell_magic, line_cell_magic, magics_class

from ..config import format_size, parse_quota, parse_size
from ..planner import why
from ..team import ADMINS_FILE
from . import handoff, planning
from .session import STORE_FAULTS

USAGE = """\
%reuse status                  store size vs budget, artifacts, this session's hits and misses
%reuse on | off                reuse (and trace) from now on, or run plainly
%reuse budget SIZE             set the store's budget, e.g. %reuse budget 2GB
%reuse materializer NAME       heuristic | storage_aware
%reuse quota fair|SHARE|SIZE   each writer's quota inside the budget, e.g. %reuse quota 40%
%reuse explain                 what the last cell reused, computed, and why (what changed)
%%reuse plan                   (cell magic) what the cell below would load and compute, and the estimated
                               time with and without reuse; the cell is not run
%reuse graph [N]               the last cell's operations as a DAG (N: most recent artifacts of the store)
%reuse clear --yes             empty the store (every artifact, for every user of this store)
%%noreuse                      (cell magic) run this cell plainly, without tracing"""


@magics_class
class ReuseMagics(Magics):
    def __init__(self, shell: Any, installation: Any):
        super().__init__(shell)
        self.installation = installation

    @property
    def session(self) -> Any:
        return self.installation.session

    @line_cell_magic
    def reuse(self, line: str, cell: str | None = None) -> None:
        """Control and inspect collab_reuse. `%reuse help` lists the commands."""
        words = line.split()
        if cell is not None:
            if words != ["plan"]:
                raise UsageError(f"as a cell magic: %%reuse plan\n{USAGE}")
            self._plan(cell)
            return
        if not words or words[0] in ("help", "-h", "--help"):
            print(USAGE)
            return
        command, args = words[0], words[1:]
        handler = getattr(self, f"_cmd_{command}", None)
        if handler is None:
            raise UsageError(f"unknown %reuse command {command!r}\n{USAGE}")
        self.session.check_store()  # (a store deleted since the last cell must not be written again)
        try:
            handler(args)
        except STORE_FAULTS as exc:
            if not self.session.store_fault(exc, f"in %reuse {command}"):
                raise  # (a damaged artifact: not a store fault)
            raise UsageError(f"%reuse {command}: {self.session.failure}") from None

    # -- commands ----------------------------------------------------------------------------

    def _cmd_status(self, args: list[str]) -> None:
        _no_args("status", args)
        s = self.session
        state = "on" if s.active else ("off" if s.failure is None else f"stopped: {s.failure}")
        print(f"collab_reuse is {state}; store: {s.store_dir}")
        if s.graph is None or s.failure:
            return
        s.flush(5)
        summary = s.graph.summary(top=0)
        print(f"store: {format_size(summary['used_bytes'])} used of {format_size(summary['budget_bytes'])} budget, "
              f"{summary['materialized']} artifacts stored of {summary['artifacts']} known, "
              f"users: {', '.join(summary['users']) or '-'}")
        print(f"this session: {s.hits} reused, {s.misses} computed, {s.saved_seconds:.2f} s saved")
        writers = handoff.pending_writers(s.store_dir)
        if writers:
            print(f"{len(writers)} exited kernel(s) still writing their last results (processes "
                  f"{', '.join(map(str, writers))})")
        print(f"materializer: {s.config.materializer}; each writer's quota: {_describe_quota(s.graph.quota())}")

    def _cmd_on(self, args: list[str]) -> None:
        _no_args("on", args)
        if self.session.failure:
            raise UsageError(f"can't turn reuse on: {self.session.failure}")
        self.session.tracer.enabled = True
        print("collab_reuse: on")

    def _cmd_off(self, args: list[str]) -> None:
        _no_args("off", args)
        self.session.tracer.deferral.force_all()  # plain cells must see values, not lazies
        self.session.tracer.enabled = False
        self.session.tracer.registry.forget_all()  # what we knew may go stale while untraced
        print("collab_reuse: off (cells run plainly)")

    def _store_setting(self, args: list[str], usage: str, parse: Callable[[str], Any], what: str) -> Any:
        """The one argument of a store-wide setting, parsed, once the store is there and the user is
        one of its admins (``UsageError`` otherwise: nothing changes)."""
        if len(args) != 1:
            raise UsageError(usage)
        try:
            value = parse(args[0])
        except ValueError as exc:
            raise UsageError(str(exc)) from None
        if self.session.graph is None or self.session.failure:
            raise UsageError(f"no store: {self.session.failure}")
        _admins_only(self.session, what)
        return value

    def _cmd_budget(self, args: list[str]) -> None:
        nbytes = self._store_setting(args, "usage: %reuse budget SIZE   (for example %reuse budget 2GB)",
                                     parse_size, "set the budget")
        self.session.graph.set_budget(nbytes)
        print(f"collab_reuse: budget {format_size(nbytes)} for the store at {self.session.store_dir}")

    def _cmd_quota(self, args: list[str]) -> None:
        quota = self._store_setting(args, "usage: %reuse quota fair|SHARE|SIZE   (for example %reuse quota 40%: "
                                    "no writer's results keep more than 40% of the budget while others' need it)",
                                    parse_quota, "set the writers' quota")
        self.session.graph.set_quota(quota)
        print(f"collab_reuse: each writer's quota is {_describe_quota(quota)} of the store at {self.session.store_dir}")

    def _cmd_materializer(self, args: list[str]) -> None:
        if len(args) != 1 or args[0] not in ("heuristic", "storage_aware"):
            raise UsageError("usage: %reuse materializer heuristic|storage_aware")
        _admins_only(self.session, "choose the materializer")
        self.session.config.materializer = args[0]
        print(f"collab_reuse: materializer {args[0]}")

    def _cmd_explain(self, args: list[str]) -> None:
        _no_args("explain", args)
        self.session.flush(5)  # (the reasons are filled in as the writer records the cell)
        print(explain(self.session.last_report))

    def _cmd_plan(self, args: list[str]) -> None:
        raise UsageError("%reuse plan previews a cell: write %%reuse plan as the first line of a cell holding "
                         "the code to preview (it is not run)")

    def _plan(self, cell: str) -> None:
        """Preview what ``cell`` would load and compute, without running it (``planning``)."""
        s = self.session
        if not s.active or s.graph is None:
            raise UsageError(f"%%reuse plan: collab_reuse is not reusing ({s.failure or 'off'})")
        code = self.shell.transform_cell(cell)
        try:
            steps = planning.plan_cell(code, self.shell.user_ns, s)
        except SyntaxError as exc:
            raise UsageError(f"%%reuse plan: the cell does not parse: {exc}") from None
        except STORE_FAULTS as exc:
            if not s.store_fault(exc, "in %%reuse plan"):
                raise
            raise UsageError(f"%%reuse plan: {s.failure}") from None
        s.planned(cell, [step.to_json() for step in steps], planning.totals(steps))
        print(planning.plan_text(steps))

    def _cmd_graph(self, args: list[str]) -> None:
        if len(args) > 1 or (args and not (args[0].isascii() and args[0].isdigit() and len(args[0]) <= 9)):
            raise UsageError("usage: %reuse graph [N]   (N: a count, at most 999999999)")
        report = self.session.last_report
        if args:
            self.session.flush(5)
            g = self.session.graph.networkx_view() if self.session.graph and not self.session.failure else None
            print(store_graph_text(g, int(args[0])))
        else:
            print(cell_graph_text(report))

    def _cmd_clear(self, args: list[str]) -> None:
        if args != ["--yes"]:
            raise UsageError("%reuse clear deletes every stored artifact of this store, for every user.\n"
                             "Run `%reuse clear --yes` to confirm.")
        s = self.session
        if s.graph is None or s.store is None or s.failure:
            raise UsageError(f"no store: {s.failure}")
        _admins_only(s, "clear the store")
        s.flush(30)
        s.graph.clear()
        s.store.blobs.clear()
        s.forget_stored()
        s.tracer.registry.forget_all()
        print(f"collab_reuse: cleared the store at {s.store_dir}")

    @cell_magic
    def noreuse(self, line: str, cell: str) -> Any:
        """Run this cell plainly: no tracing, no reuse. Its last expression's value is the cell's result."""
        if line.strip():
            raise UsageError("%%noreuse takes no arguments")
        tracer = self.session.tracer
        tracer.deferral.force_all()  # the plain cell must see values, not lazies
        was = tracer.enabled
        tracer.enabled = False
        try:
            tree = ast.parse(self.shell.transform_cell(cell))
            last = tree.body.pop() if tree.body and isinstance(tree.body[-1], ast.Expr) else None
            ns = self.shell.user_ns
            exec(compile(tree, "<noreuse>", "exec"), ns)  # noqa: S102 - the user's own cell
            if last is not None:
                return eval(compile(ast.Expression(last.value), "<noreuse>", "eval"), ns)  # noqa: S307
            return None
        finally:
            tracer.enabled = was
            if was:
                tracer.registry.forget_all()  # the plain cell may have changed anything we tracked


def _admins_only(session: Any, what: str) -> None:
    """Store-wide settings are the store's admins' (``team.is_admin``); anyone else is told so and
    nothing changes."""
    if not session.admin:
        raise UsageError(f"only the admins of the store at {session.store_dir} may {what} (its owner and "
                         f"those named in its '{ADMINS_FILE}' file); {session.user} is not one. Nothing changed.")


def _no_args(command: str, args: list[str]) -> None:
    if args:
        raise UsageError(f"%reuse {command} takes no arguments (got {' '.join(args)!r})")


def explain(report: dict | None) -> str:
    """A plain-text account of a cell report: one line per step."""
    if not report:
        return "collab_reuse: no traced cell yet"
    t = report["totals"]
    lines = [f"cell {report.get('execution_count')}: {t['reused']} reused, {t['computed']} computed, "
             f"{t.get('deferred', 0)} deferred, {t.get('warm_started', 0)} warm-started, "
             f"{t['not_reusable']} not reusable; {t['saved_seconds']:.3f} s saved"]
    line = why.summary_line(report.get("why"))
    if line:
        lines.append(f"  {line}")
    plan = report.get("plan")
    if isinstance(plan, dict):
        lines.append(f"  planned: {planning.totals_text(plan)}; took {t['seconds']:.3f} s")
    for step in report["steps"]:
        if step.get("mutation"):
            continue
        detail = f"{step['seconds'] * 1000:8.1f} ms"
        if step["status"] == "reused":
            detail += f"  saved {step['saved_seconds'] * 1000:.1f} ms, read {step['bytes_read']} B"
        if step.get("reason"):
            detail += f"  ({step['reason']})"
        lines.append(f"  {step['status']:<13} {step['op']:<40} {detail}")
        lines.extend(f"      why: {why.text(item, item.get('cell'))}" for item in why.visible(step.get("why")) or ())
    if report.get("truncated"):
        lines.append("  ... (more steps not shown: the quickest computed ones)")
    return "\n".join(lines)


def cell_graph_text(report: dict | None) -> str:
    """The last cell's operations with their inputs, as an indented list."""
    if not report:
        return "collab_reuse: no traced cell yet"
    names = {s["id"]: f"{s['op']}#{i}" for i, s in enumerate(report["steps"]) if s.get("id")}
    lines = []
    for i, step in enumerate(report["steps"]):
        ins = [names.get(x, x[:8]) for x in step.get("inputs", [])]
        lines.append(f"{step['op']}#{i} [{step['status']}] <- {', '.join(ins) or 'sources'}")
    return "\n".join(lines)


def store_graph_text(graph: Any, n: int) -> str:
    if graph is None:
        return "collab_reuse: no store"
    nodes = list(graph.nodes(data=True))[-n:]
    lines = [f"{len(graph)} artifacts, {graph.number_of_edges()} edges; last {len(nodes)}:"]
    for node, data in nodes:
        mark = "stored" if data.get("materialized") else "-"
        lines.append(f"  {node[:12]} {data.get('op', '?'):<36} {mark:<6} used {data.get('frequency', 0)}x "
                     f"<- {', '.join(p[:8] for p in graph.predecessors(node)) or 'sources'}")
    return "\n".join(lines)


def _describe_quota(quota: str) -> str:
    if quota == "fair":
        return "fair (the budget shared evenly by the writers whose results compete)"
    return quota if quota.endswith("%") else format_size(int(quota))
