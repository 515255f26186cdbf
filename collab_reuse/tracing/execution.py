"""Running one traced call: defer it, load its stored result, or compute it, and report which.

``run_call`` is the path of every traced library call: the call is named (``identity``) before
anything runs; a call with effects that always run (writing, showing, drawing, drawing randomness
afresh) runs plainly; a call whose result may be deferred gets a lazy (``deferral``); a stored result
cheaper to load than to compute is loaded, with what the call changed among its arguments written
back (``effects``), a fitted estimator adopted into the user's (``fitted``), the random generator left
where the call left it and its output replayed; anything else computes, watched for what it changes,
under the library accelerations that apply (``accelerations``), and its result is offered to the
store (``storing``). ``run_function`` does the same for a call of a notebook function as a whole.
Internal failures never reach the user's cell: the call runs plainly and the reason is recorded.
"""

from __future__ import annotations

import logging
import time
from contextlib import nullcontext
from typing import TYPE_CHECKING, Any

from ..errors import Impure, Unreusable
from ..fingerprint.digest import digest_parts
from ..fingerprint.functions import function_identity
from ..store.formats import kind_of
from . import accelerations, cells, effects, fitted, lgb_datasets, plain_twins, randomness, specs, storing, summary
from .calls import Call, Operation, mutated_objects
from .capture import Capture, replay
from .deferral import type_name
from .identity import require_local_source
from .lazy import Lazy
from .producer import Loaded
from .steps import COMPUTED, NOT_REUSABLE, WARM_STARTED, Step

if TYPE_CHECKING:
    from .runtime import Tracer

log = logging.getLogger("collab_reuse")


class Execution:
    """The way from a traced call to its value, for one kernel's tracer."""

    def __init__(self, tracer: "Tracer"):
        self.tracer = tracer
        self.backend = tracer.backend
        self.registry = tracer.registry
        self._impure: set[str] = set()  # ids of notebook calls seen to have effects: they run as written

    # -- a library call -------------------------------------------------------------------------

    def run_call(self, op: Operation, args: tuple, kwargs: dict, frame: Any) -> Any:
        __tracebackhide__ = True
        tracer = self.tracer
        deferral = tracer.deferral
        receiver, name = op.receiver, op.name
        if type(receiver) is Lazy and specs.mutated_receiver(name, kwargs):
            receiver = op.receiver = tracer.produced_target(receiver)  # an in-place method: runs on the value
            op.func = getattr(receiver, op.attr)
        if randomness.reseeds_global(op.module, name, receiver):  # the move of a generator is what the
            func, args, kwargs = self.produced_call(op, args, kwargs)  # calls around it record (``Reseeds``)
            return func(*args, **kwargs)
        if specs.is_effect(name, args, kwargs) or name in specs.NONDETERMINISTIC_NAMES:
            return self.run_plain(op, args, kwargs, frame, forget_result=name in specs.NONDETERMINISTIC_NAMES)
        if specs.draws_on(args, kwargs):  # (scipy.stats.probplot(x, plot=plt): its drawing is an effect)
            return self.run_plain(op, args, kwargs, frame, forget_result=False, draws=True)
        if deferral.unforced:
            deferral.produce_overserved((receiver, args, kwargs))
            if type(receiver) is Lazy and receiver._cr_node.done:
                receiver = op.receiver = receiver._cr_node.value
                op.func = getattr(receiver, op.attr)
        call = Call(op, args, kwargs, frame, mutated=mutated_objects(op, args, kwargs))
        self._name(call)
        if call.op_id is not None:
            call.reason = _reuse_blocker(op, call.mutated)
            if call.reason is None:
                unbinned = not all(call.binned or [True])  # (binned after a reuse, at the call's place)
                if not call.mutated and deferral.enabled and not unbinned and not self.backend.is_random(call.op_id):
                    lazy = deferral.defer(op, call.op_id, args, kwargs, frame, call.inputs)
                    if lazy is not None:
                        return lazy
                value = self._reused(call, (receiver, args, kwargs))
                if value is not _NOT_USED:
                    if unbinned:
                        lgb_datasets.construct_as_plain(*self.produced_call(op, args, kwargs))
                    return value
        asked = call.op_id
        try:
            return self.compute(call)
        finally:
            self._computed(asked)

    def _reused(self, call: Call, operands: tuple) -> Any:
        """The call's stored result (or the one another kernel computing it now stores), reused;
        ``_NOT_USED`` when there is none or it can't be used, and the call must compute."""
        loaded = self._stored(call, operands) or self._single_flight(call, operands)
        if loaded is None:
            return _NOT_USED
        value = self.reuse(call, loaded)
        if value is not _NOT_USED:
            self.backend.release_leases((call.op_id,))
        return value

    def _name(self, call: Call) -> None:
        """The call's id (or why it has none), named as numpy's global generator stands when it draws."""
        op = call.op
        files: dict[str, str] = {}
        try:
            call.op_id = self.tracer.identity.operation_id(op.label, op.module, call.receiver, call.args,
                                                           call.kwargs, call.inputs, files)
            if specs.is_source(op.name):
                require_local_source(call.args, call.kwargs)
            if lgb_datasets.applies(op.module, op.name):
                call.binned = lgb_datasets.state(call.args, call.kwargs)
                if call.binned is not None:  # (what LightGBM logs depends on it: ``lgb_datasets``)
                    call.op_id = digest_parts(call.op_id, "lightgbm datasets binned", call.binned)
            if self.backend.reports_more_steps():  # (summaries are kept for the report's steps only)
                call.summary = _summarized(op, call.args, call.kwargs, files)
        except Unreusable as exc:
            call.op_id, call.reason = None, str(exc)
            if isinstance(exc, Impure):
                self.tracer.scopes.impure(call.reason)
        except Exception as exc:  # identity must never break the cell
            call.op_id, call.reason = None, f"identity failed: {type(exc).__name__}: {exc}"
            log.debug("identity of %s failed", op.label, exc_info=True)
        call.rng_before = randomness.snapshot()
        if call.op_id is not None and (parts := self.backend.random_parts(call.op_id)):
            call.op_id = _salted(call, call.op_id, parts)

    def run_plain(self, op: Operation, args: tuple, kwargs: dict, frame: Any, forget_result: bool,
                  draws: bool = False) -> Any:
        """A call whose effect runs every time (it writes, shows, draws or differs at every call)."""
        __tracebackhide__ = True
        self.tracer.scopes.impure(f"it calls {op.label}, which writes, shows or differs at every call",
                                  replayable=draws or cells.replays_faithfully(op.module, op.name))
        func, args, kwargs = self.produced_call(op, args, kwargs)
        with Capture(tee=False, frame=frame):
            result = func(*args, **kwargs)
        if forget_result and result is not None:
            self.registry.forget(result)
        return result

    def produced_call(self, op: Operation, args: tuple, kwargs: dict) -> tuple[Any, tuple, dict]:
        """The callable and arguments to run now: lazies among them (and a lazy receiver) produced."""
        deferral = self.tracer.deferral
        if op.func is None:  # a method of a lazy receiver
            deferral.force([op.receiver])
            func = getattr(op.receiver._cr_node.value, op.attr)
        else:
            func = op.func
        if deferral.unforced or any(type(a) is Lazy for a in args):
            args, kwargs = deferral.produce_args(args, kwargs)
        return func, args, kwargs

    # -- loading --------------------------------------------------------------------------------

    def _single_flight(self, call: Call, operands: tuple) -> Loaded | None:
        """Take the result's lease before computing it; when another kernel holds it (computing this
        very result now), wait for that kernel, bounded, and load what it stored (kernel/leases.py)."""
        assert call.op_id is not None
        if self.backend.lease(call.op_id, operands):
            # (another kernel may have stored it since this cell began, which the cell's lookups miss)
            return self._stored(call, operands) if self.backend.stored_meanwhile(call.op_id, operands) else None
        self.backend.wait_for_lease(call.op_id, call.op.label)
        return self._stored(call, operands)

    def _computed(self, leased: str | None) -> None:
        """A lease is held until the result is stored, when it was offered to the store (the cell's
        store job lets go); else it is let go now."""
        if leased is not None and not self.backend.offered(leased):
            self.backend.release_leases((leased,))

    def _stored(self, call: Call, operands: tuple) -> Loaded | None:
        """The stored result if loading it beats computing it, counting what computing would first
        have to produce (the lazies among ``operands``)."""
        deferral = self.tracer.deferral
        assert call.op_id is not None
        pending = deferral.cost_to_produce(operands) if deferral.unforced else 0.0
        loaded = self.tracer.producer.stored(call.op.label, call.op_id, pending)
        if loaded is not None and pending:
            deferral.served(operands, loaded.seconds)
        return loaded

    def reuse(self, call: Call, loaded: Loaded) -> Any:
        """The loaded result in place of computing: what the call changed among its arguments written
        back, a fitted estimator adopted into the user's, the random generator and the output as the
        call left them. ``_NOT_USED`` when it doesn't fit the live objects (the call computes)."""
        __tracebackhide__ = True
        op, receiver, extra, value = call.op, call.receiver, loaded.extra, loaded.value
        assert call.op_id is not None
        paths, states = extra.get("effects"), []
        if paths is not None:
            value, states = value
            if not effects.replayable(paths, states, call.args, call.kwargs):
                log.info("stored result of %s not used: what it changed can't be written back here", op.label)
                return _NOT_USED
        in_place = extra.get("nested_fitted", [])
        if extra.get("fitted_self"):
            stored_model, value = value
            if not fitted.adoptable(receiver, stored_model, in_place):
                return _NOT_USED
        lineage = self.tracer.lineage
        if paths is not None:
            effects.replay(paths, states, call.args, call.kwargs)
            lineage.name_effects(call.op_id, [effects.follow(path, call.args, call.kwargs) for path in paths])
            self.tracer.scopes.impure(
                f"it calls {op.label}, which changes {effects.describe(tuple(map(tuple, paths[0])))}")
        if extra.get("fitted_self"):
            nested_live = fitted.nested_estimators(receiver)
            fitted.adopt(receiver, stored_model, in_place)
            if extra.get("result_is_self"):
                value = receiver
        lineage.note(call.op_id, loaded.info.compute_seconds, call.inputs)
        if extra.get("fitted_self"):
            lineage.name_changed(receiver, call.op_id, value, nested_followed=True)
            lineage.name_fitted_in_place(call.op_id, {key: nested_live[key] for key in in_place})
        if value is not receiver:
            lineage.name_result(value, call.op_id)
        if "rng_after" in extra:
            randomness.restore(extra["rng_after"])
        replay(extra.get("log", []), call.frame)
        self.tracer.producer.reused(call.op_id, op.label, kind_of(value if value is not None else receiver),
                                    loaded.seconds, loaded.info.compute_seconds, loaded.nbytes, call.inputs,
                                    call.summary)
        return value

    # -- computing ------------------------------------------------------------------------------

    def compute(self, call: Call) -> Any:
        """Run the call (lazies among its inputs produced), watched for what it changes, under the
        accelerations that apply; then record it."""
        __tracebackhide__ = True
        tracer = self.tracer
        func, args, kwargs = self.produced_call(call.op, call.args, call.kwargs)
        call.args, call.kwargs = args, kwargs
        watch = nested = None
        if call.op_id is not None:
            try:
                watch = effects.Watch(args, kwargs)
            except effects.Unwatchable as exc:
                call.op_id, call.reason = None, str(exc)
            if call.mutated and kind_of(call.mutated[0]) == "model":
                nested = fitted.Nested(call.mutated[0])
        capture = Capture(tee=True, frame=call.frame)
        try:
            reseeds = randomness.Reseeds(call.rng_before) if specs.may_reseed(call.op.module) else nullcontext()
            with accelerations.around(tracer.accelerations, call), capture, tracer.producer.computing(), \
                    reseeds as call.reseeds:
                run_args, run_kwargs = plain_twins.plain_callbacks(call.op.module, call.receiver, args, kwargs)
                start = time.perf_counter()
                result = func(*run_args, **run_kwargs)
                seconds = time.perf_counter() - start
        except BaseException:
            for obj in call.mutated:
                self.registry.mutated(obj, None)
            raise
        try:
            self.record(call, result, seconds, capture, watch, nested)
        except Exception:  # bookkeeping must never fail the user's cell
            log.warning("recording %s failed", call.op.label, exc_info=True)
            for obj in call.mutated:
                self.registry.mutated(obj, None)
        return result

    def record(self, call: Call, result: Any, seconds: float, capture: Capture,
               watch: effects.Watch | None = None, nested: fitted.Nested | None = None) -> None:
        """A computed call: its result and what it changed named, offered to the store if worth it,
        reported; an unreusable one forgets what it touched."""
        tracer, op = self.tracer, call.op
        scopes, lineage = tracer.scopes, tracer.lineage
        if scopes:
            for obj in call.mutated:
                scopes.changed_in_place(obj)
        extra: dict[str, Any] = {"log": capture.log}
        changed = watch.changed() if watch else []
        effect_states: list | str = watch.after_states(changed) if changed else []
        if changed:
            scopes.impure(f"it calls {op.label}, which changes {effects.describe(changed[0][0])}")
            if isinstance(effect_states, str):  # an effect no reuse could replay: nothing keyed by this id
                call.op_id, call.reason = None, effect_states
        op_id, random_op = call.op_id, None
        rng_after = randomness.snapshot()
        moved = randomness.moved(call.rng_before, rng_after)
        depends = call.reseeds.depends(rng_after) if call.reseeds is not None else moved
        if op_id is not None and (moved or depends):
            if depends and not call.salted:  # first seen drawing: from now on named by the state it drew from
                random_op = op_id
                op_id = _salted(call, op_id, depends)
            extra["rng_after"] = randomness.full_state_json()
        if op_id is None:
            for obj in call.mutated:
                self.registry.mutated(obj, None)
            if result is not None:
                self.registry.forget(result)
            self.backend.add_step(Step(None, op.label, NOT_REUSABLE, kind_of(result), reason=call.reason,
                                       seconds=seconds), None)
            return
        recreate = lineage.note(op_id, seconds, call.inputs)
        for obj in call.mutated:
            lineage.name_changed(obj, op_id, result, nested_followed=nested is not None and obj is call.mutated[0])
        in_place = nested.fitted_in_place() if nested is not None else {}
        lineage.name_fitted_in_place(op_id, in_place)
        if result is not None and not any(result is m for m in call.mutated):
            lineage.name_result(result, op_id, call.made_since)
        lineage.name_effects(op_id, [obj for _, obj in changed])
        candidate = None
        if call.reason is None and storing.worth_storing(seconds, self.backend.min_saving, recreate, result,
                                                         (call.receiver, *call.args, *call.kwargs.values())):
            candidate = storing.candidate(op_id, result, call.mutated, seconds, extra, capture, self.registry)
        if candidate is not None:
            candidate.recreate_seconds = recreate
            if in_place:  # (stale once one of them changes before it is stored)
                candidate.extra = {**candidate.extra, "nested_fitted": sorted(in_place)}
                candidate.live += tuple((obj, self.registry.get(obj)) for obj in in_place.values())
            if changed:  # the result and the new state of what the call changed, replayed together
                candidate.value = (candidate.value, effect_states)
                candidate.extra = {**candidate.extra, "effects": [[list(step) for step in path] for path, _ in changed]}
        if call.reason is None and not call.mutated and not changed and random_op is None \
                and "rng_after" not in extra and not capture.log and op.module != "__main__":
            name = type_name(result)
            if name is not None:
                self.backend.mark_quiet(op_id, name, seconds)
        status = NOT_REUSABLE if call.reason is not None else WARM_STARTED if call.warm_from else COMPUTED
        step = Step(op_id, op.label, status,
                    kind_of(result if result is not None else (call.mutated[0] if call.mutated else None)),
                    reason=call.reason or call.warm_from or capture.unstorable, seconds=seconds,
                    inputs=call.inputs, call=call.summary)
        if op.name in specs.METRIC_NAMES and isinstance(result, float):
            step.score = float(result)
        self.backend.add_step(step, candidate)
        if random_op is not None:
            self.backend.mark_random(random_op, depends)

    # -- a notebook function's call -------------------------------------------------------------

    def run_function(self, func: Any, args: tuple, kwargs: dict, frame: Any) -> Any:
        """A notebook function call as one operation: reused whole when a pure call with the same
        identity (its code, the globals it reads, its arguments) was stored; else run as written,
        its body traced, and judged pure or not by what it did."""
        __tracebackhide__ = True
        tracer = self.tracer
        identity = tracer.identity
        if not any(identity.is_traced_type(type(v)) for v in (*args, *kwargs.values())):
            return func(*args, **kwargs)  # no data value in: not data work (and recursion stays cheap)
        op = Operation(tracer, func, "__main__", func.__name__, f"{func.__qualname__}()", None)
        call = Call(op, args, kwargs, frame)
        try:
            code, call.op_id = identity.function_call_id(func, args, kwargs, call.inputs)
        except Exception:  # arguments we can't identify: the call runs as written, its body still traced
            call.op_id = None
        if call.op_id is None or call.op_id in self._impure:
            return func(*args, **kwargs)
        if self.backend.reports_more_steps():
            call.summary = _summarized(op, args, kwargs, {}, func)
        call.rng_before = randomness.snapshot()
        if parts := self.backend.random_parts(call.op_id):
            call.op_id = _salted(call, call.op_id, parts)
        elif tracer.deferral.enabled:
            lazy = tracer.deferral.defer(op, call.op_id, args, kwargs, frame, call.inputs,
                                         unchanged=lambda: function_identity(func, identity.resolve) == code)
            if lazy is not None:
                return lazy
        value = self._reused(call, (args, kwargs))
        if value is not _NOT_USED:
            return value
        asked = call.op_id
        try:
            return self._run_function_body(call, func, args, kwargs)
        finally:
            self._computed(asked)

    def _run_function_body(self, call: Call, func: Any, args: tuple, kwargs: dict) -> Any:
        """Run a notebook function as written, its body traced; judge it pure or not by what it did."""
        __tracebackhide__ = True
        tracer, op = self.tracer, call.op
        scope = tracer.scopes.enter_call()
        capture = Capture(tee=True, warnings=False)  # warnings are in the captured text already
        start = time.perf_counter()
        try:
            with capture, randomness.Reseeds(call.rng_before) as call.reseeds:
                result = func(*args, **kwargs)
                # a lazy it returns is produced: the call's result is known by the call's id (as when it
                # is loaded), not by the lazy's, nor by an id its value got from a change inside the call
                (result,), _ = tracer.deferral.produce_args((result,), {})
        finally:
            tracer.scopes.leave(scope)
        seconds = time.perf_counter() - start
        if scope.impure is not None:
            self._impure.add(call.op_id)
            self.backend.add_step(Step(None, op.label, NOT_REUSABLE, kind_of(result), reason=scope.impure,
                                       seconds=seconds, inputs=call.inputs), None)
            return result
        call.made_since = scope.clock
        try:
            self.record(call, result, seconds, capture)
        except Exception:
            log.warning("recording %s failed", op.label, exc_info=True)
        return result


class _NotUsed:
    pass


def _salted(call: Call, op_id: str, parts: str) -> str:
    """The id of a call that draws from a global generator: named by the state of those it draws from."""
    state = randomness.digest(call.rng_before, parts)
    if call.summary is not None:
        call.summary["rng"] = state[:16]
    call.salted = True
    return digest_parts(op_id, "rng", state)


def _summarized(op: Operation, args: tuple, kwargs: dict, files: dict[str, str],
                notebook_function: Any = None) -> dict | None:
    """The call's summary for explaining a later recomputation; None (logged) if it can't be made."""
    try:
        func = op.func
        if func is None and type(op.receiver) is Lazy:  # named as the method the value would have
            func = getattr(op.receiver._cr_node.type, op.attr, None)
        code = None
        if notebook_function is not None:
            text = summary.source(notebook_function)
            code = {notebook_function.__qualname__: text} if text is not None else None
        return summary.summary(func, args, kwargs, files, code)
    except Exception:  # (an explanation is never worth failing the cell for)
        log.debug("summarizing %s failed", op.label, exc_info=True)
        return None


_NOT_USED = _NotUsed()


def _reuse_blocker(op: Operation, mutated: list[Any]) -> str | None:
    """Why this operation must compute even if its result is stored; None if it may be reused."""
    if not mutated:
        return None
    if len(mutated) == 1 and mutated[0] is op.receiver and kind_of(op.receiver) == "model":
        if _holds_generators(op.receiver):
            return "draws from a random generator object it holds, in place"
        return None
    return "changes its input in place"


def _holds_generators(est: Any) -> bool:
    """A ``random_state`` that is a generator object, here or in a nested estimator: a fit advances it
    in place, and a reuse could not."""
    try:
        params = est.get_params(deep=True)
    except Exception:
        return True
    return any(randomness.is_generator(v) for v in params.values())
