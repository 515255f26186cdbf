"""Recording what a cell shows, and showing it again instead of running the cell.

The judgement of which cells may be replayed is ``tracing/cells.py``'s; this module is the
Jupyter side. While a candidate cell runs, its display messages (the figures the inline backend
shows when the cell ends among them) are recorded through ipykernel's display-publisher hook, and
what it prints through a tee of the streams, in one ordered list; the value it displays as its
result is formatted as IPython formats it. A replay writes the same text, publishes the same
display data (the PNG bytes as they were) and shows a stand-in whose mime bundle is the recorded
result, so the notebook receives what a plain run sends.
"""

from __future__ import annotations

import ast
import copy
import logging
import re
import sys
import time
import types
from typing import Any

import numpy as np

from ..fingerprint.digest import digest_parts
from ..tracing import cells, fd_output, randomness, settings, warning_registry
from ..tracing.registry import snapshot
from ..tracing.storing import weak_or_self
from ..tracing.rewrite import HOOK, rewrite
from ..tracing.steps import COMPUTED, REUSED, ComputedValue, Step
from . import figure_names

log = logging.getLogger("collab_reuse")

#: Arrays a replayable cell binds up to this size are copied when it ends (larger ones are checked).
ISOLATED_ARRAY_BYTES = 64 << 20


class _Tee:
    """A stream that writes through and appends ``[name, text]`` to the recording."""

    def __init__(self, stream: Any, name: str, entries: list):
        self._stream, self._name, self._entries = stream, name, entries

    def write(self, text: str) -> int:
        self._entries.append(["stream", self._name, text])
        return self._stream.write(text)

    def __getattr__(self, attr: str) -> Any:
        return getattr(self._stream, attr)


class OutputRecorder:
    """Records a cell's outputs between ``start`` and ``stop``; ``entries`` is the ordered list."""

    def __init__(self, shell: Any):
        self.shell = shell
        self.entries: list[list] = []
        self.unreplayable: str | None = None
        self.result: tuple[dict, dict] | None = None  # the cell's displayed result, as IPython sent it
        self._streams: tuple | None = None
        self._stop_listening: Any = None

    @staticmethod
    def available(shell: Any) -> bool:
        """Only a Jupyter kernel's display publisher lets us see what is displayed."""
        return hasattr(getattr(shell, "display_pub", None), "register_hook")

    def start(self) -> None:
        self.shell.display_pub.register_hook(self._display)
        hook = getattr(self.shell, "displayhook", None)
        if hook is not None and hasattr(hook, "write_format_data"):
            original = hook.write_format_data

            def tee(format_dict: dict, md_dict: dict | None = None) -> Any:
                # (formatted when shown: a figure's Text label moves once the inline backend draws)
                self.result = (dict(format_dict), dict(md_dict or {}))
                return original(format_dict, md_dict)

            hook.write_format_data = tee  # (an instance attribute: ``stop`` removes it)
        self._streams = (sys.stdout, sys.stderr)
        sys.stdout = _Tee(sys.stdout, "stdout", self.entries)  # type: ignore[assignment]
        sys.stderr = _Tee(sys.stderr, "stderr", self.entries)  # type: ignore[assignment]
        self._stop_listening = fd_output.listening(self._written_to_descriptor)

    def _written_to_descriptor(self, stream: str, text: str) -> None:
        self.unreplayable = "C code wrote to the process's " + stream  # (a replay shows stored text and displays)

    def body_ended(self) -> None:
        """The cell's code has run (IPython's ``post_execute``): what comes now (the figures the inline
        backend shows) comes after the cell's displayed result."""
        self.entries.append(["body_end"])

    def stop(self) -> list[list]:
        try:
            self.shell.display_pub.unregister_hook(self._display)
        except (ValueError, AttributeError):
            pass
        hook = getattr(self.shell, "displayhook", None)
        if hook is not None and "write_format_data" in vars(hook):
            del hook.write_format_data
        if self._stop_listening is not None:
            self._stop_listening()
            self._stop_listening = None
        if self._streams is not None:
            if isinstance(sys.stdout, _Tee):
                sys.stdout = self._streams[0]
            if isinstance(sys.stderr, _Tee):
                sys.stderr = self._streams[1]
            self._streams = None
        return self.entries

    def _display(self, msg: dict) -> dict:
        content = msg.get("content", {})
        if msg.get("header", {}).get("msg_type") != "display_data" or content.get("transient"):
            self.unreplayable = "it updates a display in place"  # (display ids: progress bars, widgets)
        else:
            self.entries.append(["display", content.get("data", {}), content.get("metadata", {})])
        return msg


class ReplayedResult:
    """Stands in for the value a replayed cell displayed: IPython shows its recorded bundle."""

    __slots__ = ("_bundle",)

    def __init__(self, bundle: tuple[dict, dict]):
        self._bundle = bundle

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> tuple[dict, dict]:
        return self._bundle

    def __repr__(self) -> str:
        return str(self._bundle[0].get("text/plain", ""))


def split_at_body_end(entries: list[list]) -> tuple[list[list], list[list]]:
    """(what the cell's code showed, what was shown after it: the inline backend's figures)."""
    for i, entry in enumerate(entries):
        if entry[0] == "body_end":
            return entries[:i], entries[i + 1:]
    return entries, []


def show(entries: list[list]) -> None:
    """Write the recorded text and publish the recorded display data, in order."""
    from IPython.display import publish_display_data

    for entry in entries:
        if entry[0] == "stream":
            getattr(sys, entry[1]).write(entry[2])
        elif entry[0] == "display":
            for stream in (sys.stdout, sys.stderr):
                stream.flush()
            publish_display_data(data=entry[1], metadata=entry[2])


def replay_statements(shows_result: bool) -> list[ast.stmt]:
    """What a replayed cell runs after its imports and definitions: ``__cr__.replay_cell()``, and its
    result as the displayed expression (located by ``_after_imports``)."""
    body: list[ast.stmt] = [ast.Expr(_hook_call("replay_cell"))]
    if shows_result:
        body.append(ast.Expr(_hook_call("replayed_result")))
    return body


def _after_imports(tree: ast.Module, imports: int, body: list[ast.stmt]) -> ast.Module:
    """The cell's first ``imports`` statements, then ``body``: the cell's own statements where they were
    written (a function defined again is the same code at the same lines), new ones at its first line."""
    module = ast.Module(body=[*tree.body[:imports], *body], type_ignores=[])
    first = tree.body[0]
    for stmt in body:
        if not hasattr(stmt, "lineno"):
            for node in ast.walk(stmt):
                ast.copy_location(node, first)
    return ast.fix_missing_locations(module)


def _hook_call(name: str) -> ast.Call:
    return ast.Call(func=ast.Attribute(value=ast.Name(HOOK, ast.Load()), attr=name, ctx=ast.Load()),
                    args=[], keywords=[])


class CellReplays:
    """Per kernel: judge each cell before it runs, record a candidate's outputs while it runs, offer
    them to the store after, or replay stored ones instead of running the cell."""

    LABEL = "cell (its displayed outputs)"

    def __init__(self, shell: Any, session: Any):
        self.shell, self.session = shell, session
        self._fresh = False               # the next AST transformed is the cell's own (not a magic's)
        self._recording: _Recording | None = None
        self._pending: tuple | None = None  # (id, value, extra, info, seconds, nbytes) of the replay to show
        self._rebuild: figure_names.CellToRebuild | None = None  # the replayed cell's figure names, to rebuild
        self._shown_after = False
        self._to_record: tuple | None = None  # (cell id, base id, input ids, generators' state, names defined)

    def cell_started(self) -> None:
        self._fresh = True
        self._recording = None
        self._to_record = None
        self._pending = None
        self._rebuild = None
        self._shown_after = False

    def before_run(self, tree: ast.Module) -> ast.Module | None:
        """The cell that replays ``tree``'s stored outputs, or the cell to run instead of rewriting ``tree``
        (its leading imports, then its recording starts), or None to run it as rewritten (recording it if
        it may be replayed next time)."""
        if not self._fresh:
            return None
        self._fresh = False
        figure_names.rebuild_read_names(tree, self.shell.user_ns)
        session, tracer = self.session, self.session.tracer
        # run by a replay too: the leading imports and the functions the cell defines; the rest is replayed
        imports, definitions = cells.leading_imports(tree), cells.rerunnable_definitions(tree)
        nothing_else = len(tree.body) == imports + len(definitions)  # (definitions follow the imports)
        if not session.active or nothing_else or not OutputRecorder.available(self.shell) \
                or cells.cell_impurity(cells.replay_judged(tree, imports, definitions)) is not None \
                or cells.open_figures():
            return None
        inputs = cells.cell_inputs(tree)
        input_ids: list[str] = []
        # a notebook function the cell only calls may draw: its drawing is what the replay shows again
        drawers = {id(self.shell.user_ns[name]) for name in cells.only_called(tree) & set(inputs)
                   if name in self.shell.user_ns and isinstance(self.shell.user_ns[name], types.FunctionType)}

        def resolve(value: Any) -> str:
            if id(value) in drawers and tracer.registry.get(value) is None:
                return tracer.identity.callable_identity(value, drawing=True)
            return tracer.identity.resolve(value, input_ids)

        try:
            base_id = cells.cell_identity(tree, self.shell.user_ns, resolve, inputs)
        except Exception as exc:  # (Unreusable, or an input whose digest failed): the cell just runs
            log.debug("cell not identified for replay: %s", exc)
            return None
        rng = randomness.snapshot()
        # a cell seen drawing from numpy's global generator is named by its state, as operations are
        parts = session.random_parts(base_id)
        cell_id = _with_rng(base_id, rng, parts) if parts else base_id
        loaded = self._load(cell_id)
        if loaded is not None and loaded[1].get("figure_names"):
            kept = figure_names.kept_inputs(self.shell.user_ns, inputs, tracer.identity.resolve)
            self._rebuild = None if kept is None else figure_names.CellToRebuild(
                tree, kept, loaded[1]["figure_names"], settings.snapshot(), randomness.full_state_json(),
                self.shell.user_ns)
            loaded = loaded if self._rebuild is not None else None
        if loaded is not None:
            self._pending = loaded
            # (the functions rewritten as a run rewrites them: the same traced code as the recorded run's)
            defined = rewrite(ast.Module(body=definitions, type_ignores=[])).body
            return _after_imports(tree, imports, [*defined, *replay_statements(loaded[1].get("result") is not None)])
        self._to_record = (cell_id, base_id, input_ids, rng, frozenset(d.name for d in definitions))
        if not imports:
            self.record()
            return None
        # recorded from after the imports: what importing prints is the imports' own, shown again when a
        # replay runs them, and the names they bind are theirs, not the cell's (traced as any cell is)
        return rewrite(_after_imports(tree, imports, [ast.Expr(_hook_call("record_cell")), *tree.body[imports:]]))

    def record(self) -> None:
        """Start recording the cell judged in ``before_run`` (after its leading imports, if any)."""
        if self._to_record is None:
            return
        (cell_id, base_id, input_ids, rng, defined), self._to_record = self._to_record, None
        recorder = OutputRecorder(self.shell)
        recorder.start()
        self._recording = _Recording(cell_id, base_id, input_ids, recorder, dict(self.shell.user_ns),
                                     self.session.tracer.begin_cell(), rng, settings.snapshot(),
                                     warning_registry.entries(self.shell.user_ns), defined)

    def _load(self, cell_id: str) -> tuple | None:
        session = self.session
        info = session.lookup(cell_id)
        if info is None or not session.should_load(info):
            return None
        try:
            value, extra, nbytes, seconds = session.load(cell_id)
        except Exception as exc:
            log.info("stored outputs of a cell unusable, running it: %s", exc)
            return None
        if not isinstance(value, dict) or not isinstance(value.get("outputs"), list) \
                or not isinstance(value.get("names"), dict) \
                or not all(isinstance(n, str) and n.isidentifier() for n in value.get("figure_names", [])) \
                or not warning_registry.can_leave(value.get("warnings")) \
                or not settings.can_apply(value.get("settings")):
            return None
        return cell_id, value, extra, info, seconds, nbytes

    def post_execute(self) -> None:
        """After the cell's code: mark the recording, or show what a replayed cell showed after its
        code (the figures the inline backend displays at this point)."""
        if self._recording is not None:
            self._recording.recorder.body_ended()
        elif self._pending is not None and not self._shown_after:
            self._shown_after = True  # (a silent execution later, the panel's, runs post_execute too)
            show(split_at_body_end(self._pending[1]["outputs"])[1])

    def replay(self) -> None:
        """Show the stored outputs, bind the names the cell bound, leave the generators as it did."""
        if self._pending is None:
            return
        cell_id, value, extra, info, seconds, nbytes = self._pending
        settings.apply(value.get("settings"))
        warning_registry.leave(self.shell.user_ns, value.get("warnings"))
        show(split_at_body_end(value["outputs"])[0])
        self.shell.user_ns.update(value["names"])
        self._restore_lineage(value["names"], value.get("name_ids"))
        if self._rebuild is not None:
            self.shell.user_ns.update(self._rebuild.stand_ins())
        if "rng_after" in extra:
            randomness.restore(extra["rng_after"])
        self.session.add_step(Step(cell_id, self.LABEL, REUSED, "other", seconds=seconds,
                                   saved_seconds=max(info.compute_seconds - seconds, 0.0), bytes_read=nbytes),
                              None)

    def _restore_lineage(self, names: dict, ids: Any) -> None:
        """Give the values the replay bound the lineage ids the cell's own run gave them (determined by the
        cell's identity), so that later operations on them are named, and reused, as after a plain run."""
        if not isinstance(ids, dict):
            return
        registry = self.session.tracer.registry
        for name, lineage_id in ids.items():
            if name in names and isinstance(lineage_id, str) and _LINEAGE_ID.fullmatch(lineage_id):
                registry.set(names[name], lineage_id)

    def replayed_result(self) -> Any:
        if self._pending is None or self._pending[1].get("result") is None:
            return None
        data, metadata = self._pending[1]["result"]
        return ReplayedResult((data, metadata))

    def after_run(self, result: Any) -> None:
        """A recorded cell finished: offer its outputs to the store if it is replayable."""
        recording, self._recording = self._recording, None
        if recording is None:
            return
        entries = recording.recorder.stop()
        why = self.session.tracer.end_cell(recording.frame)
        if why is None:
            why = recording.recorder.unreplayable or self._unreplayable(result, entries)
        bound = None if why else self._bound_names(recording)
        if isinstance(bound, str):
            why, bound = bound, None
        names, figures = bound if bound is not None else (None, [])
        changed = None if why else settings.changes(recording.settings, settings.snapshot())
        if isinstance(changed, str):
            why = changed
        shown = None if why else warning_registry.left_by_cell(recording.warnings,
                                                                warning_registry.entries(self.shell.user_ns))
        if isinstance(shown, str):
            why = shown
        if why is not None:
            log.debug("cell not replayable: %s", why)
            return
        seconds = time.perf_counter() - recording.started
        extra: dict[str, Any] = {"log": [], "cell": True}
        cell_id = recording.cell_id
        moved = randomness.moved(recording.rng, randomness.snapshot())
        if moved:
            extra["rng_after"] = randomness.full_state_json()
            if cell_id == recording.base_id:  # first seen drawing: from now on named by the state it drew from
                self.session.mark_random(cell_id, moved)
                cell_id = _with_rng(cell_id, recording.rng, moved)
        registry = self.session.tracer.registry
        # the names' values as the cell left them: the store encodes later, after other cells may have
        # changed them in place (a frame bound here and log-transformed two cells later)
        lineage = {name: registry.get(v) for name, v in names.items()}
        isolated = {name: _isolated(v) for name, v in names.items()}
        live = tuple((weak_or_self(v), lineage[name]) for name, v in names.items()
                     if isolated[name] is v and lineage[name] is not None)  # (what could not be copied)
        names = isolated
        value = {"outputs": entries, "names": names, "result": recording.recorder.result}
        if changed:
            value["settings"] = changed
        if figures:
            value["figure_names"] = figures
        if shown is not None:
            value["warnings"] = shown
        if any(lineage.values()):
            value["name_ids"] = {name: i for name, i in lineage.items() if i is not None}
        step = Step(cell_id, self.LABEL, COMPUTED, "other", seconds=seconds,
                    inputs=list(dict.fromkeys(recording.input_ids)))
        self.session.add_step(step, ComputedValue(cell_id, value, "other", seconds, extra, live=live))

    @staticmethod
    def _unreplayable(result: Any, entries: list[list]) -> str | None:
        if getattr(result, "error_in_exec", None) is not None or getattr(result, "error_before_exec", None) is not None:
            return "it raised an error"
        if cells.open_figures():
            return "it leaves figures open"
        if not any(e[0] == "display" and any(k.startswith("image/") for k in e[1]) for e in entries):
            return "it shows no figure"
        return None

    def _bound_names(self, recording: "_Recording") -> tuple[dict[str, Any], list[str]] | str:
        """The names the cell bound or rebound, with their values, and those bound to its figures (a
        replay rebuilds them when read: ``figure_names``); why not replayable otherwise."""
        before, now = recording.namespace, self.shell.user_ns
        if any(name not in now for name in before if not cells.is_history_name(name)):
            return "it deletes names"
        bound, figures = {}, []
        for name, value in now.items():
            if cells.is_history_name(name) or (name in before and before[name] is value) or name in recording.defined:
                continue  # (a function the cell defined: a replay defines it again)
            if figure_names.is_figure_value(value):
                figures.append(name)
            elif not _plain_value(value):
                return f"it binds {name} to a {type(value).__name__}, which a replay can't rebuild"
            else:
                bound[name] = value
        return bound, figures


def _plain_value(value: Any, depth: int = 0) -> bool:
    """Values the store keeps faithfully and a replay can bind: scalars, text, data, containers of them."""
    if depth > 10:
        return False
    if isinstance(value, (type(None), bool, int, float, complex, str, bytes)):
        return True
    if type(value) in (list, tuple):
        return all(_plain_value(v, depth + 1) for v in value)
    if type(value) is dict:
        return all(isinstance(k, (str, int)) and _plain_value(v, depth + 1) for k, v in value.items())
    module = type(value).__module__.split(".", 1)[0]
    return module in ("numpy", "pandas") and type(value).__name__ in (
        "ndarray", "DataFrame", "Series", "Index", "RangeIndex") or (module == "numpy" and not hasattr(value, "__dict__"))


_LINEAGE_ID = re.compile(r"[0-9a-f]{16,64}")


def _isolated(value: Any) -> Any:
    """A bound value isolated from later in-place changes: frames by a copy-on-write copy, containers
    of plain values and small arrays by a copy; a large array as it is (``live`` has it checked
    unchanged before it is encoded)."""
    if type(value) is np.ndarray:
        return value.copy() if value.nbytes <= ISOLATED_ARRAY_BYTES else value
    if type(value) in (list, tuple, dict):
        return copy.deepcopy(value)
    return snapshot(value)


def _with_rng(cell_id: str, rng: tuple, parts: str) -> str:
    return digest_parts(cell_id, "rng", randomness.digest(rng, parts))


class _Recording:
    __slots__ = ("cell_id", "base_id", "input_ids", "recorder", "namespace", "frame", "rng", "settings", "warnings",
                 "defined", "started")

    def __init__(self, cell_id: str, base_id: str, input_ids: list[str], recorder: OutputRecorder, namespace: dict,
                 frame: Any, rng: tuple, settings_before: dict | None, warnings_before: frozenset | None,
                 defined: frozenset):
        self.cell_id, self.base_id, self.recorder, self.namespace, self.frame, self.rng = \
            cell_id, base_id, recorder, namespace, frame, rng
        self.settings, self.warnings = settings_before, warnings_before
        self.input_ids, self.defined = input_ids, defined
        self.started = time.perf_counter()
