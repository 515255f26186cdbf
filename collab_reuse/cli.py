"""``collab-reuse``: the store from the command line (statistics, garbage collection, materialization, benchmarks)."""

from __future__ import annotations

import argparse
import json
import sys

from .config import DEFAULT_BUDGET, format_size, parse_size, resolve_store_dir
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
    return 0


def cmd_gc(args: argparse.Namespace) -> int:
    """Repair and shrink the store (safe while kernels use it): undo writes whose writer is gone (a
    killed kernel, a full disk), remove malformed graph rows, prune what no reuse decision needs,
    delete blobs no artifact references, and evict what is over the budget."""
    from .graph import upkeep
    from .kernel import store_writes

    _, graph, store = _open(args)
    repaired = upkeep.repair(graph, parse_size(DEFAULT_BUDGET))
    pruned = upkeep.prune(graph)
    listed = list(store.blobs.keys())  # before the references: a blob written from now on is not listed
    live = graph.stored_blob_keys()
    dead = set(repaired["orphans"]) | {k for k in listed if k not in live}
    deleted = 0
    for key in sorted(dead):
        if not graph.query("SELECT 1 FROM artifact_blobs WHERE key=? LIMIT 1", (key,)):  # (claimed since?)
            store.blobs.delete(key)
            deleted += 1
    fixed = store.blobs.check()  # (files of writes cut short: outside every account otherwise)
    evicted = 0
    if graph.used_bytes() > graph.budget():
        evicted = store_writes.materialize(graph, store, [], "storage_aware", 0.0)["evicted"]
    print(f"undid {repaired['abandoned_writes']} abandoned writes, removed {repaired['malformed_rows']} malformed "
          f"rows; pruned {pruned['events']} events, {pruned['vertices']} vertices, {pruned['files']} file digests; "
          f"deleted {deleted} unreferenced blobs; fixed {len(fixed)} blob store inconsistencies; "
          f"evicted {evicted} artifacts over the budget; "
          f"{format_size(graph.used_bytes())} used of {format_size(graph.budget())}")
    return 0


def cmd_materialize(args: argparse.Namespace) -> int:
    """Re-run the selection under the current (or a new) budget and evict what falls out."""
    from .kernel import store_writes

    from .team import is_admin

    store_dir, graph, store = _open(args)
    if args.budget:
        if not is_admin(store_dir):
            raise StoreError(f"only the admins of the store at {store_dir} may set its budget (its owner and those "
                             "named in its 'admins' file); nothing changed")
        graph.set_budget(parse_size(args.budget))
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


def cmd_bench(args: argparse.Namespace) -> int:
    from .bench import main as bench_main

    return bench_main(args.rest)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="collab-reuse", description=__doc__)
    ap.add_argument("--store", help="store directory (default: $COLLAB_REUSE_STORE or the per-server default)")
    sub = ap.add_subparsers(dest="command", required=True)
    p = sub.add_parser("stats", help="store size, budget, hit rate, most valuable artifacts")
    p.add_argument("--top", type=int, default=10)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_stats)
    sub.add_parser("gc", help="repair and shrink the store: undo abandoned writes, remove malformed rows, prune, "
                   "delete unreferenced blobs, evict what is over the budget").set_defaults(func=cmd_gc)
    p = sub.add_parser("materialize", help="re-select what to keep under the budget, evict the rest")
    p.add_argument("--budget", help="new budget, e.g. 2GB")
    p.add_argument("--algorithm", choices=["heuristic", "storage_aware"], default="storage_aware")
    p.set_defaults(func=cmd_materialize)
    p = sub.add_parser("team-store", help="(as root) make --store a team store of a Unix group: setgid, "
                       "group-writable, per-user namespaces; --admin names who may change its settings")
    p.add_argument("--group", required=True)
    p.add_argument("--admin", action="append", default=[], help="a user who may change store-wide settings")
    p.set_defaults(func=cmd_team_store)
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
