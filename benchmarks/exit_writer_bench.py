"""Exit writer benchmark: memory and time of the processes that finish a closed kernel's store writes.

Runs each demo notebook once with collab_reuse into a fresh store, cells back to back (nothing is
encoded while cells run), so every result worth storing is still pending when the kernel exits and
is written by the exit writer process(es). From the start of the run (so that a short-lived one is
seen too), the processes that leave ``<store>/writers/<pid>`` are sampled every 10 ms
(``/proc/<pid>/smaps_rollup``); printed per notebook:

* peak Rss, Pss and private memory (Private_Clean + Private_Dirty) of each writer process, and of
  all writer processes together at one sample; how long each was seen alive;
* the kernel's shutdown time (the kernel may encode a small backlog itself first) and how long the
  writes went on after the runner saw the kernel gone (``writes_after_exit_seconds``);
* what the store then holds (artifacts, bytes).

    python benchmarks/exit_writer_bench.py --scale 1
    python benchmarks/exit_writer_bench.py --scale 1 --notebooks 01_introduction
    python benchmarks/exit_writer_bench.py --extra path/to/other.ipynb   # any notebook, after the demo ones

Private memory is what the system gets back when the process ends; for a copy-on-write child of
the kernel it becomes the whole kernel image the moment the kernel exits.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

_FIELDS = ("Rss", "Pss", "Private_Clean", "Private_Dirty")


def rollup(pid: int) -> dict[str, int] | None:
    """The memory fields of ``/proc/<pid>/smaps_rollup`` in bytes (None once the process is gone)."""
    try:
        text = Path(f"/proc/{pid}/smaps_rollup").read_text()
    except OSError:
        return None
    values = {}
    for line in text.splitlines():
        name, _, rest = line.partition(":")
        if name in _FIELDS:
            values[name] = int(rest.split()[0]) * 1024
    if not values:
        return None
    values["Private"] = values.get("Private_Clean", 0) + values.get("Private_Dirty", 0)
    return values


def watch_writers(store: Path, done: "threading.Event", timeout: float = 3600.0) -> dict:
    """Sample every writer process of ``store`` until ``done`` is set and none is left."""
    markers = store / "writers"
    peaks: dict[int, dict[str, int]] = {}
    seen: dict[int, list[float]] = {}
    together = {"Rss": 0, "Pss": 0, "Private": 0}
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pids = []
        for marker in markers.glob("*") if markers.is_dir() else ():
            if marker.name.isdigit():
                pids.append(int(marker.name))
        alive = {}
        for pid in pids:
            sample = rollup(pid)
            if sample is not None and _state(pid) != "Z":
                alive[pid] = sample
        if done.is_set() and not alive and not _any_marker_alive(pids):
            break
        now = time.perf_counter()
        for pid, sample in alive.items():
            peak = peaks.setdefault(pid, {})
            for key, value in sample.items():
                peak[key] = max(peak.get(key, 0), value)
            seen.setdefault(pid, [now, now])[1] = now
        for key in together:
            together[key] = max(together[key], sum(s[key] for s in alive.values()))
        time.sleep(0.01)
    return {"processes": {pid: {**peaks[pid], "lived_seconds": seen[pid][1] - seen[pid][0]} for pid in peaks},
            "together": together}


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return "?"


def _any_marker_alive(pids: list[int]) -> bool:
    return any(_state(pid) not in ("?", "Z") for pid in pids)


def _mb(n: float) -> str:
    return f"{n / 1e6:.1f} MB"


def main(argv: list[str] | None = None) -> int:
    from collab_reuse.demo.__main__ import DEMO_NOTEBOOKS, NOTEBOOKS_DIR, demo_data
    from collab_reuse.demo.runner import run_notebook
    from collab_reuse.graph import ExperimentGraph

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scale", type=float, default=1.0)
    ap.add_argument("--notebooks", default=",".join(Path(n).stem for n in DEMO_NOTEBOOKS))
    ap.add_argument("--data", help="demo data directory (generated if missing)")
    ap.add_argument("--extra", action="append", default=[], help="another notebook to run (repeatable)")
    ap.add_argument("--json", action="store_true", help="print the figures as JSON too")
    args = ap.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="exit-writer-bench-"))
    data = demo_data(Path(args.data) if args.data else work / "data", args.scale)
    results = {}
    try:
        paths = [NOTEBOOKS_DIR / f"{stem}.ipynb" for stem in args.notebooks.split(",") if stem]
        for path in paths + [Path(p) for p in args.extra]:
            stem = path.stem
            store = work / f"{stem}-store"
            done = threading.Event()
            with ThreadPoolExecutor(1) as pool:
                watching = pool.submit(watch_writers, store, done)
                try:
                    run = run_notebook(path, work / f"{stem}-run", store_dir=store,
                                       env={"HOME_CREDIT_DATA": str(data)}, timeout=1800,
                                       kernel_args=["--CollabReuse.idle_seconds=3600"])
                finally:
                    done.set()
                watched = watching.result()
            graph = ExperimentGraph(store)
            summary = graph.summary(top=0)
            graph.close()
            results[stem] = {"cells_seconds": run.seconds, "shutdown_seconds": run.shutdown_seconds,
                             "writes_after_exit_seconds": run.writes_after_exit_seconds, **watched,
                             "stored": summary["materialized"], "stored_bytes": summary["used_bytes"]}
            print(f"{stem} (scale {args.scale}): cells {run.seconds:.1f} s; kernel shutdown {run.shutdown_seconds:.2f} s; "
                  f"writes went on {run.writes_after_exit_seconds:.1f} s after; stored {summary['materialized']} "
                  f"artifacts, {_mb(summary['used_bytes'])}")
            for pid, peak in sorted(watched["processes"].items()):
                print(f"  process {pid}: peak Rss {_mb(peak['Rss'])}, Pss {_mb(peak['Pss'])}, "
                      f"private {_mb(peak['Private'])}; lived {peak['lived_seconds']:.1f} s")
            t = watched["together"]
            print(f"  all writers at once: peak Rss {_mb(t['Rss'])}, Pss {_mb(t['Pss'])}, "
                  f"private {_mb(t['Private'])}")
            sys.stdout.flush()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if args.json:
        print(json.dumps(results, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
