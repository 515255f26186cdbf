"""``collab-reuse``: the store from the command line (statistics, garbage collection, materialization, benchmarks)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from .config import DEFAULT_BUDGET, format_size, parse_quota, parse_size, resolve_store_dir
from .errors import StoreError


def _open(args: argparse.Namespace):  # type: ignore[no-untyped-def]
    """The store (never made here: a command on a store that isn't there says so); its format is checked."""
    from .graph import ExperimentGraph
    from .graph.storedir import open_store_dir
    from .store import open_artifacts

    store_dir = resolve_store_dir(args.store or "")
    if not (store_dir / "graph.sqlite").exists():
        raise StoreError(f"no store at {store_dir}")
    open_store_dir(store_dir, create=False)
    return store_dir, ExperimentGraph(store_dir, create=False), open_artifacts(store_dir)


def cmd_stats(args: argparse.Namespace) -> int:
    from .graph import attribution

    store_dir, graph, _ = _open(args)
    summary = graph.summary(top=args.top)
    if args.json:
        print(json.dumps(summary, indent=2))
        return 0
    print(f"store {store_dir}")
    print(f"  {format_size(summary['used_bytes'])} used of {format_size(summary['budget_bytes'])}; "
          f"{summary['materialized']} stored of {summary['artifacts']} artifacts; users: {', '.join(summary['users'])}")
    print(f"  hits {summary['hits']}, misses {summary['misses']} (hit rate {summary['hit_rate']:.0%}), "
          f"{summary['saved_seconds']:.1f} s saved")
    for item in summary["top_artifacts"]:
        print(f"  {item['id'][:12]} {item['op']:<36} {format_size(item['size']):>10} used {item['frequency']}x "
              f"compute {item['compute_seconds']:.2f}s")
    if summary["per_user"]:
        print("  per user (time saved by whose artifacts, what each stored):")
    for figures in summary["per_user"]:
        print(f"    {attribution.phrase(attribution.UserFigures.from_json(figures))}")
    return 0


def _describe_unreached(items: list[dict], days: float) -> list[str]:
    import time

    now = time.time()
    return [f"  {item['id'][:12]} {item['op']:<36} {format_size(item['size']):>10}  last used "
            f"{(now - item['last_used']) / 86400:.0f} days ago"
            + (f" by {', '.join(item['users'][:3])}" if item["users"] else "")
            + f"; no workload of the last {days:g} days reaches it" for item in items]


def _not_held(store_dir: Path, unreached: list[dict]) -> tuple[list[dict], list[dict]]:
    """(those a running kernel doesn't hold deferred, those it does: ``Leases.pinned_elsewhere``)."""
    from .kernel.leases import LEASES_FILE, Leases

    if not unreached or not (store_dir / LEASES_FILE).exists():
        return unreached, []
    leases = Leases(store_dir / LEASES_FILE)
    try:
        held = [item for item in unreached if leases.pinned_elsewhere(item["id"])]
    finally:
        leases.release_all()
    return [item for item in unreached if item not in held], held


def cmd_gc(args: argparse.Namespace) -> int:
    """Repair and shrink the store (safe while kernels use it): undo writes whose writer is gone (a
    killed kernel, a full disk), remove malformed graph rows, prune what no reuse decision needs,
    remove stored artifacts no workload of the last ``--unused-days`` reached, delete blobs no artifact
    references, and evict what is over the budget. ``--dry-run``: say what would go, and why."""
    from .graph import upkeep
    from .kernel import store_writes

    store_dir, graph, store = _open(args)
    grace = args.unused_days * 86400.0
    unreached, held = _not_held(store_dir, upkeep.unreached(graph, grace))
    if args.dry_run:
        abandoned = upkeep.abandoned_writes(graph)
        live = graph.stored_blob_keys()
        unreferenced = sum(1 for k in store.blobs.keys() if k not in live)
        print(f"would undo {len(abandoned)} abandoned writes, delete {unreferenced} unreferenced blobs, and remove "
              f"{len(unreached)} stored artifacts ({format_size(sum(i['size'] for i in unreached))}) no workload "
              f"of the last {args.unused_days:g} days reaches:")
        print("\n".join(_describe_unreached(unreached, args.unused_days)) or "  (none)")
        if held:
            print(f"kept: {len(held)} unreached stored artifacts a running kernel holds, to load when used")
        print("(malformed rows and pruning are checked when gc runs; nothing was changed)")
        return 0
    removed = 0
    if unreached:
        graph.delete_unclaimed(graph.unmaterialize([item["id"] for item in unreached]), store.blobs.delete)
        removed = len(unreached)
    repaired = upkeep.repair(graph, parse_size(DEFAULT_BUDGET))
    pruned = upkeep.prune(graph)
    listed = list(store.blobs.keys())  # before the references: a blob written from now on is not listed
    live = graph.stored_blob_keys()
    # (a store written before manifest bodies were claimed with the other blobs: its bodies are live too)
    live |= {key for aid in graph.materialized_ids() if (key := store.body_key(aid)) is not None}
    dead = set(repaired["orphans"]) | {k for k in listed if k not in live}
    deleted = len(graph.delete_unclaimed(sorted(dead), store.blobs.delete))  # (less what was claimed since)
    fixed = store.blobs.check()  # (files of writes cut short: outside every account otherwise)
    evicted = 0
    if graph.used_bytes() > graph.budget():
        evicted = store_writes.materialize(graph, store, [], "storage_aware", 0.0)["evicted"]
    print(f"undid {repaired['abandoned_writes']} abandoned writes, removed {repaired['malformed_rows']} malformed "
          f"rows; pruned {pruned['events']} events, {pruned['vertices']} vertices, {pruned['files']} file digests; "
          f"removed {removed} artifacts no workload of the last {args.unused_days:g} days reaches; "
          f"deleted {deleted} unreferenced blobs; fixed {len(fixed)} blob store inconsistencies; "
          f"evicted {evicted} artifacts over the budget; "
          f"{format_size(graph.used_bytes())} used of {format_size(graph.budget())}")
    return 0


def cmd_materialize(args: argparse.Namespace) -> int:
    """Re-run the selection under the current (or a new) budget and evict what falls out."""
    from .kernel import store_writes

    from .team import is_admin

    budget = parse_size(args.budget) if args.budget else None  # (both checked before anything changes)
    quota = parse_quota(args.quota) if args.quota else None
    store_dir, graph, store = _open(args)
    if (args.budget or args.quota) and not is_admin(store_dir):
        raise StoreError(f"only the admins of the store at {store_dir} may set its budget or quota (its owner and "
                         "those named in its 'admins' file); nothing changed")
    if budget is not None:
        graph.set_budget(budget)
    if quota is not None:
        graph.set_quota(quota)
    result = store_writes.materialize(graph, store, [], args.algorithm, 0.0)
    print(f"kept under {format_size(graph.budget())}: evicted {result['evicted']} artifacts; "
          f"{format_size(graph.used_bytes())} used")
    return 0


def cmd_team_store(args: argparse.Namespace) -> int:
    """An administrator's step: make (or fix) a team store for a Unix group, naming its admins."""
    import os

    from . import team

    path = resolve_store_dir(args.store or "")
    team.make_team_store(path, args.group)
    if args.admin:
        listing = path / team.ADMINS_FILE
        listing.write_text("".join(f"{name}\n" for name in args.admin))
        os.chmod(listing, 0o644)
    print(f"team store {path}: group {args.group}, mode {oct(team.TEAM_STORE_MODE)}; admins: "
          f"{', '.join(sorted(team.admins(path))) or 'root only'}")
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    """Write the reuse report (``analytics.py``): one self-contained HTML page."""
    from pathlib import Path

    from .analytics import report_html

    store_dir, graph, _ = _open(args)
    out = Path(args.out)
    out.write_text(report_html(graph, str(store_dir)))
    print(f"report written to {out}")
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    from .bench import main as bench_main

    return bench_main(args.rest)


def upkeep_days() -> float:
    from .graph.upkeep import UNREACHED_AFTER

    return UNREACHED_AFTER / 86400.0


def _positive_days(text: str) -> float:
    try:
        days = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of days: {text!r}") from None
    if not days > 0 or days == float("inf"):
        raise argparse.ArgumentTypeError(f"days must be a positive number, not {text!r}")
    return days


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="collab-reuse", description=__doc__)
    ap.add_argument("--store", help="store directory (default: $COLLAB_REUSE_STORE or the per-server default)")
    sub = ap.add_subparsers(dest="command", required=True)
    p = sub.add_parser("stats", help="store size, budget, hit rate, most valuable artifacts; per user: time saved "
                       "by whose artifacts, what each stored")
    p.add_argument("--top", type=int, default=10)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_stats)
    p = sub.add_parser("gc", help="repair and shrink the store: undo abandoned writes, remove malformed rows, prune, "
                       "remove what no recent workload reaches, delete unreferenced blobs, evict what is over "
                       "the budget")
    p.add_argument("--dry-run", action="store_true", help="say what would be removed and why; change nothing")
    p.add_argument("--unused-days", type=_positive_days, default=upkeep_days(),
                   help="a stored artifact no workload reached (used it, or an artifact made from it) for this "
                        "many days goes (default %(default)g)")
    p.set_defaults(func=cmd_gc)
    p = sub.add_parser("materialize", help="re-select what to keep under the budget, evict the rest")
    p.add_argument("--budget", help="new budget, e.g. 2GB")
    p.add_argument("--quota", help="each writer's quota inside the budget: fair (the default: the budget shared "
                   "evenly by the writers whose results compete), a share (40%%) or a size (2GB)")
    p.add_argument("--algorithm", choices=["heuristic", "storage_aware"], default="storage_aware")
    p.set_defaults(func=cmd_materialize)
    p = sub.add_parser("team-store", help="(as root) make --store a team store of a Unix group: setgid, "
                       "group-writable, per-user namespaces; --admin names who may change its settings")
    p.add_argument("--group", required=True)
    p.add_argument("--admin", action="append", default=[], help="a user who may change store-wide settings")
    p.set_defaults(func=cmd_team_store)
    p = sub.add_parser("report", help="an HTML report of what reuse saved (per day, user, session), the hit rate, "
                       "the store's composition and its most valuable artifacts")
    p.add_argument("--out", default="collab-reuse-report.html", help="where to write it (default %(default)s)")
    p.set_defaults(func=cmd_report)
    p = sub.add_parser("bench", help="the benchmarks (same as python -m collab_reuse.bench)")
    p.add_argument("rest", nargs=argparse.REMAINDER)
    p.set_defaults(func=cmd_bench)
    args = ap.parse_args(argv)
    try:
        return args.func(args)
    except ValueError as exc:
        print(f"collab-reuse: {exc}", file=sys.stderr)
        return 2
    except StoreError as exc:
        hint = ""
        if "not a database" in str(exc) or "malformed" in str(exc):  # (no row-level repair reaches a broken file)
            hint = "\n  the graph file is damaged beyond repair: move the store directory aside; the next kernel starts afresh"
        print(f"collab-reuse: {exc}{hint}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
