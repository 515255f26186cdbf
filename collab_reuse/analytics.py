"""The reuse report: one self-contained HTML page (figures embedded as PNG) of what a store saved and
holds, from its Experiment Graph: time saved per day, per user and per kernel session, who saved time by
whose artifacts, the hit rate over time, the store's composition against its budget, the most valuable
artifacts and who used them.

``collab-reuse report`` writes it; the server extension serves it (``/collab-reuse/report``) and the
panel links to it. Figures are matplotlib's (its Agg backend: no display). What it shows of a team is
what the team store shares anyway: operation names, sizes, users and time saved; no code, no paths.
The figures by day, session, notebook and hit rate come from the cell reports of the journals its reader may
open (``graph/journal.py``): a member's report shows their own sessions, root's everyone's; the
per-user time saved, by whose artifacts, is the team's (the graph's ``reuse`` rows).
"""
from __future__ import annotations

import base64
import html
import io
import time
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from .config import format_size
from .graph import MATERIALIZED, ExperimentGraph
from .graph.attribution import UserFigures

DAY = 86400.0
TOP = 15  # artifacts in the "most valuable" table


@dataclass
class Usage:
    """What the graph says, gathered once: per day, user and kernel session, and the stored artifacts."""

    saved_by_day: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    hits_by_day: dict[str, list[int]] = field(default_factory=lambda: defaultdict(lambda: [0, 0]))  # reused, computed
    saved_by_user: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    saved_by_notebook: dict[str, float] = field(default_factory=lambda: defaultdict(float))  # "?": not known
    sessions: dict[str, dict[str, Any]] = field(default_factory=dict)  # kernel id -> user, first, cells, saved
    bytes_by_kind: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    valuable: list[dict[str, Any]] = field(default_factory=list)
    per_user: list[UserFigures] = field(default_factory=list)  # who saved time by whose artifacts
    used_bytes: int = 0
    budget_bytes: int = 0
    cells: int = 0


def gather(graph: ExperimentGraph) -> Usage:
    usage = Usage(used_bytes=graph.used_bytes(), budget_bytes=graph.budget(), per_user=graph.per_user())
    for when, user, kernel_id, notebook, totals in sorted(graph.readable_totals(), key=lambda t: t[0]):
        try:
            saved, reused, computed = (float(totals.get("saved_seconds") or 0), int(totals.get("reused") or 0),
                                       int(totals.get("computed") or 0))
            day = time.strftime("%Y-%m-%d", time.localtime(when))
        except (TypeError, ValueError, AttributeError, OverflowError, OSError):
            continue  # a malformed report (gc removes it)
        usage.cells += 1
        usage.saved_by_day[day] += saved
        usage.hits_by_day[day][0] += reused
        usage.hits_by_day[day][1] += computed
        usage.saved_by_user[user] += saved
        usage.saved_by_notebook[notebook] += saved
        session = usage.sessions.setdefault(kernel_id, {"user": user, "first": when, "cells": 0, "saved": 0.0})
        session["cells"] += 1
        session["saved"] += saved
    for aid, op, kind, size, frequency, seconds in graph.query(
            "SELECT id, op, kind, size, frequency, compute_seconds FROM artifacts WHERE state=?", (MATERIALIZED,)):
        size = size if type(size) is int else 0
        usage.bytes_by_kind[str(kind)] += size
        usage.valuable.append({"id": str(aid), "op": str(op), "kind": str(kind), "size": size,
                               "frequency": frequency if type(frequency) is int else 0,
                               "compute_seconds": float(seconds) if isinstance(seconds, (int, float)) else 0.0})
    usage.valuable.sort(key=lambda a: -a["compute_seconds"] * a["frequency"])
    del usage.valuable[TOP:]
    for item in usage.valuable:
        item["users"] = [u for (u,) in graph.query(
            "SELECT user FROM usage WHERE artifact_id=? ORDER BY count DESC LIMIT 5", (item["id"],)) if type(u) is str]
    return usage


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.1f} s"
    if seconds < 7200:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


def _png(figure: Any) -> str:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=90, bbox_inches="tight")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def figures(usage: Usage) -> dict[str, str]:
    """The report's figures as data URIs (none when there is nothing to plot)."""
    from matplotlib.figure import Figure  # (no pyplot: no global state, no display backend)

    out = {}
    days = sorted(usage.saved_by_day)
    if days:
        fig = Figure(figsize=(7, 2.6))
        ax = fig.subplots()
        ax.bar(days, [usage.saved_by_day[d] / 60 for d in days], color="#2e7d32")
        ax.set_ylabel("minutes saved")
        ax.set_title("Time saved per day")
        ax.tick_params(axis="x", labelrotation=45)
        out["per_day"] = _png(fig)
        fig = Figure(figsize=(7, 2.6))
        ax = fig.subplots()
        rates = [100 * h[0] / max(h[0] + h[1], 1) for h in (usage.hits_by_day[d] for d in days)]
        ax.plot(days, rates, marker="o", color="#1565c0")
        ax.set_ylim(0, 100)
        ax.set_ylabel("% of steps reused")
        ax.set_title("Hit rate over time")
        ax.tick_params(axis="x", labelrotation=45)
        out["hit_rate"] = _png(fig)
    if usage.saved_by_user:
        users = sorted(usage.saved_by_user, key=usage.saved_by_user.get)
        fig = Figure(figsize=(7, 0.6 + 0.35 * len(users)))
        ax = fig.subplots()
        ax.barh(users, [usage.saved_by_user[u] / 60 for u in users], color="#6a1b9a")
        ax.set_xlabel("minutes saved")
        ax.set_title("Time saved per user")
        out["per_user"] = _png(fig)
    notebooks = sorted(usage.saved_by_notebook, key=usage.saved_by_notebook.get)[-TOP:]
    if notebooks:
        fig = Figure(figsize=(7, 0.6 + 0.35 * len(notebooks)))
        ax = fig.subplots()
        ax.barh([_short(n) for n in notebooks], [usage.saved_by_notebook[n] / 60 for n in notebooks], color="#00838f")
        ax.set_xlabel("minutes saved")
        ax.set_title("Time saved per notebook" + (" (the most)" if len(usage.saved_by_notebook) > TOP else ""))
        out["per_notebook"] = _png(fig)
    if usage.bytes_by_kind:
        kinds = sorted(usage.bytes_by_kind, key=usage.bytes_by_kind.get)
        fig = Figure(figsize=(7, 0.8 + 0.35 * len(kinds)))
        ax = fig.subplots()
        ax.barh(kinds, [usage.bytes_by_kind[k] / 2**20 for k in kinds], color="#ef6c00")
        ax.set_xlabel("MB stored")
        ax.set_title(f"Store composition: {format_size(usage.used_bytes)} of a {format_size(usage.budget_bytes)} "
                     "budget")
        out["composition"] = _png(fig)
    return out


def _short(notebook: str, width: int = 40) -> str:
    """A notebook's path as a figure's label: its end, which names it."""
    return notebook if len(notebook) <= width else "…" + notebook[-(width - 1):]


def _saved_by(user: UserFigures) -> str:
    """"30.1 s by alice's, 11.1 s by own" (or "–")."""
    return ", ".join(f"{s.saved_seconds:.1f} s by " + ("own" if s.writer == user.user else f"{s.writer}'s")
                     for s in user.saved_by if s.saved_seconds > 0 or s.loads) or "–"


def render(usage: Usage, store_label: str, now: float | None = None) -> str:
    """The report as one HTML page."""
    now = time.time() if now is None else now
    esc = html.escape
    images = figures(usage)
    saved = sum(usage.saved_by_user.values())

    def image(key: str, alt: str) -> str:
        return f'<img alt="{esc(alt)}" src="{images[key]}">' if key in images else ""

    sessions = sorted(usage.sessions.items(), key=lambda kv: -kv[1]["saved"])[:20]
    session_rows = "".join(
        f"<tr><td>{esc(kid[:12])}</td><td>{esc(s['user'])}</td>"
        f"<td>{esc(time.strftime('%Y-%m-%d %H:%M', time.localtime(s['first'])))}</td>"
        f"<td>{s['cells']}</td><td>{s['saved']:.1f} s</td></tr>" for kid, s in sessions)
    artifact_rows = "".join(
        f"<tr><td>{esc(a['op'])}</td><td>{esc(a['kind'])}</td><td>{esc(format_size(a['size']))}</td>"
        f"<td>{a['frequency']}</td><td>{a['compute_seconds']:.2f} s</td><td>{esc(', '.join(a['users']))}</td></tr>"
        for a in usage.valuable)
    user_rows = "".join(
        f"<tr><td>{esc(u.user)}</td><td>{u.saved_seconds:.1f} s</td><td>{esc(_saved_by(u))}</td>"
        f"<td>{u.saved_others_seconds:.1f} s</td><td>{u.artifacts_stored} ({esc(format_size(u.bytes_stored))})</td>"
        "</tr>" for u in usage.per_user)
    headline = (f"<b>{_duration(saved)}</b> saved over {usage.cells} traced cells in {len(usage.sessions)} kernel "
                f"sessions by {len(usage.saved_by_user)} users; {format_size(usage.used_bytes)} stored of a "
                f"{format_size(usage.budget_bytes)} budget.")
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>collab_reuse report</title>
<style>body{{font-family:sans-serif;max-width:60em;margin:2em auto;color:#222}}
table{{border-collapse:collapse;margin:1em 0}}td,th{{border-bottom:1px solid #ddd;padding:.3em .8em;text-align:left}}
img{{display:block;margin:1em 0;max-width:100%}}.muted{{color:#777}}</style></head><body>
<h1>What reuse saved</h1>
<p class="muted">Store {esc(store_label)}; report of {esc(time.strftime('%Y-%m-%d %H:%M', time.localtime(now)))}.</p>
<p>{headline}</p>
{image("per_day", "time saved per day")}{image("per_user", "time saved per user")}
{image("per_notebook", "time saved per notebook")}
{image("hit_rate", "hit rate over time")}{image("composition", "store composition")}
<h2>Who saved time by whose artifacts</h2>
<table><tr><th>user</th><th>saved</th><th>by whose artifacts</th><th>their artifacts saved others</th>
<th>stored</th></tr>
{user_rows or '<tr><td colspan="5" class="muted">no load recorded yet</td></tr>'}</table>
<h2>Most valuable stored artifacts</h2>
<table><tr><th>operation</th><th>kind</th><th>size</th><th>used</th><th>compute time</th><th>used by</th></tr>
{artifact_rows or '<tr><td colspan="6" class="muted">nothing stored yet</td></tr>'}</table>
<h2>Kernel sessions that saved most</h2>
<table><tr><th>kernel</th><th>user</th><th>first cell</th><th>cells</th><th>saved</th></tr>
{session_rows or '<tr><td colspan="5" class="muted">no traced cell yet</td></tr>'}</table>
</body></html>
"""


def report_html(graph: ExperimentGraph, store_label: str) -> str:
    return render(gather(graph), store_label)
