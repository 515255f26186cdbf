"""Run a notebook through a real Jupyter kernel, plain or with collab_reuse, and compare runs.

    result = run_notebook("notebooks/01_introduction.ipynb", workdir)               # plain
    reused = run_notebook("notebooks/01_introduction.ipynb", workdir2, store_dir=s)  # with reuse
    assert compare(result, reused) == []

Each call starts a fresh kernel with the current interpreter (``sys.executable``),
working directory ``workdir``, and executes every cell with nbclient, errors
allowed (a cell that raises is recorded and the next cell runs).

With ``store_dir`` the kernel is started with ``--ext=collab_reuse`` (IPython's
alias for ``InteractiveShellApp.extra_extensions``), which loads the extension
when the kernel starts *without* adding a cell, so execution counts stay those
of the plain run; ``COLLAB_REUSE_STORE`` names the store.  Extension load
failures are re-raised (the kernel then fails to start) rather than silently
giving a plain run.

Safe to call from several threads at once: each call runs its own event loop.
"""
from __future__ import annotations

import asyncio
import copy
import difflib
import hashlib
import os
import re
import statistics
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping

import nbformat

from ..kernel.handoff import wait_for_writers

#: the repository root, put on the kernel's PYTHONPATH so ``collab_reuse`` imports
#: even when the package is not installed into the interpreter.
REPO_ROOT = Path(__file__).resolve().parents[2]

_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
#: where ipykernel compiles a cell: its directory names the kernel's process, which differs between
#: any two runs (a warning issued by cell code names the file), so it is compared without the number
_CELL_FILE = re.compile(r"(/ipykernel_)\d+/")
#: an object's default repr names its address (``<matplotlib.legend.Legend at 0x7f3b5dd0c350>``), which
#: differs between any two runs; in HTML the ``>`` is escaped, and scikit-learn's fitted-attributes table
#: shortens a repr to its ends (``&lt;sklearn.tree...x7f2530d81df0&gt;``)
_ADDRESS = re.compile(r"( at 0x|\.\.\.x)[0-9a-f]{6,}(>|&gt;)")
_OUTPUT_FIELDS = ("output_type", "name", "text", "data", "ename", "evalue", "traceback")


@dataclass
class RunResult:
    """What one execution of a notebook produced."""

    path: str
    #: wall time of executing the cells, kernel start excluded
    seconds: float
    #: wall time of starting the kernel (and, with a store, loading the extension)
    kernel_start_seconds: float
    #: the executed notebook (nbformat NotebookNode)
    notebook: Any
    #: per code cell: {"cell": index, "execution_count": n, "outputs": [normalised outputs]}
    outputs: list[dict]
    #: {path relative to workdir: sha256 hex} of every file in workdir after the run
    files: dict[str, str]
    kernel_id: str
    workdir: str
    store_dir: str | None = None
    #: with a store: whether the kernel reported collab_reuse as loaded
    extension_loaded: bool | None = None
    #: per code cell wall time (seconds), same order as ``outputs``
    cell_seconds: list[float] = field(default_factory=list)
    #: wall time of shutting the kernel down (the extension may flush store writes then)
    shutdown_seconds: float = 0.0
    #: seconds the store writes handed to a child process at exit ran on after the kernel was gone
    #: (``wait_for_writes``); nobody waits for them in real use
    writes_after_exit_seconds: float = 0.0

    @property
    def errors(self) -> list[tuple[int, str, str]]:
        """(cell index, ename, evalue) of every error output."""
        return [(c["cell"], o["ename"], o["evalue"]) for c in self.outputs for o in c["outputs"]
                if o["output_type"] == "error"]

    def text(self, cell: int) -> str:
        """All stream text and text/plain data of code cell number ``cell`` (notebook index)."""
        for c in self.outputs:
            if c["cell"] == cell:
                parts = []
                for o in c["outputs"]:
                    if o.get("text"):
                        parts.append(o["text"])
                    elif o.get("data") and "text/plain" in o["data"]:
                        parts.append(o["data"]["text/plain"])
                return "".join(parts)
        raise IndexError(f"no code cell {cell}")


def _text(value: Any) -> Any:
    """nbformat allows multi-line strings as lists of lines; join them."""
    if isinstance(value, list):
        return "".join(value)
    return value


def normalize_output(output: Mapping) -> dict:
    """One output reduced to the fields that define what the user sees."""
    norm = {}
    for key in _OUTPUT_FIELDS:
        value = output.get(key)
        if key == "data" and value is not None:
            value = {mime: _ADDRESS.sub(r"\1…\2", _text(v)) if mime in ("text/plain", "text/html") else _text(v)
                     for mime, v in sorted(value.items())}
        elif key == "traceback" and value is not None:
            value = [_CELL_FILE.sub(r"\1<pid>/", _ANSI.sub("", line)) for line in value]
        elif key == "text":
            value = _CELL_FILE.sub(r"\1<pid>/", _text(value) or "") if value is not None else None
        norm[key] = copy.deepcopy(value)
    return norm


def normalize_cell_outputs(outputs: Iterable[Mapping]) -> list[dict]:
    """Normalised outputs, consecutive stream outputs of one stream merged.

    How a kernel splits printed text into stream messages depends on timing, not
    on what was printed, so two runs are compared on the merged text.
    """
    merged: list[dict] = []
    for output in outputs:
        norm = normalize_output(output)
        if (norm["output_type"] == "stream" and merged and merged[-1]["output_type"] == "stream"
                and merged[-1]["name"] == norm["name"]):
            merged[-1]["text"] = (merged[-1]["text"] or "") + (norm["text"] or "")
        else:
            merged.append(norm)
    return merged


def hash_files(workdir: str | os.PathLike, exclude: Iterable[str | os.PathLike] = ()) -> dict[str, str]:
    """{relative posix path: sha256} of every regular file under ``workdir``.

    Paths in ``exclude`` (files or directories) are skipped.
    """
    root = Path(workdir).resolve()
    excluded = [Path(p).resolve() for p in exclude]
    files = {}
    for dirpath, dirnames, filenames in os.walk(root):
        here = Path(dirpath)
        dirnames[:] = sorted(d for d in dirnames if (here / d).resolve() not in excluded)
        for name in sorted(filenames):
            path = here / name
            if path.resolve() in excluded or not path.is_file():
                continue
            digest = hashlib.sha256()
            with open(path, "rb") as fh:
                for chunk in iter(lambda: fh.read(1 << 20), b""):
                    digest.update(chunk)
            files[path.relative_to(root).as_posix()] = digest.hexdigest()
    return files


def kernel_env(store_dir: str | os.PathLike | None = None, env: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment a kernel is started with: ours, plus ``env``, plus the store."""
    full = dict(os.environ)
    full.pop("COLLAB_REUSE_STORE", None)
    # a kernel started by a test forwards descriptors 1 and 2 as any kernel does (ipykernel leaves them
    # alone when it sees this, for pytest's own capture): what C code writes is part of the outputs compared
    full.pop("PYTEST_CURRENT_TEST", None)
    full["PYTHONPATH"] = os.pathsep.join(p for p in [str(REPO_ROOT), full.get("PYTHONPATH", "")] if p)
    # figures as Jupyter shows them (PNG display data, closed at the end of each cell), whatever
    # the machine's default backend is
    full.setdefault("MPLBACKEND", "module://matplotlib_inline.backend_inline")
    full["PYDEVD_DISABLE_FILE_VALIDATION"] = "1"
    if env:
        full.update(env)
    if store_dir is not None:
        full["COLLAB_REUSE_STORE"] = str(store_dir)
    return full


async def _run(nb, workdir: Path, store_dir, timeout: float, env: dict[str, str], kernel_id: str,
               shutdown_wait: float, kernel_args: list[str], pause: float = 0.0):
    from jupyter_core.paths import jupyter_runtime_dir
    from nbclient import NotebookClient

    extra = []
    if store_dir is not None:
        extra = ["--ext=collab_reuse", "--InteractiveShellApp.reraise_ipython_extension_failures=True"]
    extra = extra + list(kernel_args)
    client = NotebookClient(
        nb, timeout=timeout, allow_errors=True, kernel_name="python3",
        resources={"metadata": {"path": str(workdir)}}, extra_arguments=extra,
        startup_timeout=120,
    )
    client.km = client.create_kernel_manager()
    client.km.kernel_id = kernel_id
    client.km.shutdown_wait_time = shutdown_wait
    runtime = Path(jupyter_runtime_dir())
    runtime.mkdir(parents=True, exist_ok=True)
    client.km.connection_file = str(runtime / f"kernel-{kernel_id}.json")
    # IPC sockets named after the kernel id: kernels started at once can't race for the same TCP port
    # (seen in CI: "Address already in use", "Kernel died before replying to kernel_info")
    client.km.transport = "ipc"
    client.km.ip = str(runtime / f"kernel-{kernel_id}-ipc")
    client.reset_execution_trackers()

    cell_seconds: list[float] = []
    loaded = None
    t0 = time.perf_counter()
    async with client.async_setup_kernel(env=env):
        # Wait for the kernel to answer before timing cells (as nbclient.execute does).
        msg_id = client.kc.kernel_info()
        info = await client.async_wait_for_reply(msg_id)
        if info is not None and "language_info" in info["content"]:
            nb.metadata["language_info"] = info["content"]["language_info"]
        t1 = time.perf_counter()
        paused = 0.0
        for index, cell in enumerate(nb.cells):
            c0 = time.perf_counter()
            await client.async_execute_cell(cell, index, execution_count=client.code_cells_executed + 1)
            if cell.cell_type == "code":
                cell_seconds.append(time.perf_counter() - c0)
                if pause:
                    await asyncio.sleep(pause)
                    paused += pause
        t2 = time.perf_counter()
        if store_dir is not None:
            loaded = await _extension_loaded(client)
        t3 = time.perf_counter()
    return t1 - t0, t2 - t1 - paused, cell_seconds, loaded, time.perf_counter() - t3


async def _extension_loaded(client) -> bool | None:
    """Ask the kernel, silently (no execution count, no history), whether collab_reuse is loaded."""
    expr = "'collab_reuse' in get_ipython().extension_manager.loaded"
    msg_id = client.kc.execute("", silent=True, store_history=False, user_expressions={"x": expr})
    reply = await client.async_wait_for_reply(msg_id)
    try:
        value = reply["content"]["user_expressions"]["x"]
        return value["data"]["text/plain"] == "True"
    except (KeyError, TypeError):
        return None


def run_notebook(path: str | os.PathLike, workdir: str | os.PathLike, *, store_dir: str | os.PathLike | None = None,
                 timeout: float = 600, env: Mapping[str, str] | None = None,
                 shutdown_wait: float = 5.0, kernel_args: Iterable[str] = (),
                 wait_for_writes: bool = True, pause: float = 0.0) -> RunResult:
    """Execute the notebook at ``path`` in a fresh kernel whose working directory is ``workdir``.

    ``store_dir`` set: the kernel loads collab_reuse at start and uses that store.
    ``env``: extra environment variables for the kernel.  ``timeout``: per cell, seconds.
    ``shutdown_wait``: seconds a kernel gets to exit after the shutdown request before
    jupyter_client interrupts (at half that time) and kills it -- 5.0, Jupyter's default,
    is what a kernel on a Jupyter server gets.
    ``kernel_args``: extra kernel command-line arguments, e.g. traitlets configuration
    such as ``--CollabReuse.min_saving=0``.
    ``wait_for_writes``: with a store, return only once the store writes the exiting kernel
    handed to a child process are done, so that a next run sees them.
    ``pause``: seconds to wait after each code cell, as a person reading its output would (the
    kernel is idle meanwhile: store writes happen then); not counted in ``seconds``.
    The notebook file itself is not modified and is not copied into ``workdir``;
    ``files`` lists what the notebook left in ``workdir`` (a store inside it excluded).
    """
    path = Path(path)
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:  # start from a clean notebook whatever was saved in it
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
    kernel_id = str(uuid.uuid4())
    start, seconds, cell_seconds, loaded, shutdown = asyncio.run(
        _run(nb, workdir, store_dir, timeout, kernel_env(store_dir, {"JPY_SESSION_NAME": path.name, **(env or {})}),
             kernel_id, shutdown_wait,
             list(kernel_args), pause))
    outputs = [
        {"cell": i, "execution_count": cell.execution_count, "outputs": normalize_cell_outputs(cell.outputs)}
        for i, cell in enumerate(nb.cells) if cell.cell_type == "code"
    ]
    writes = 0.0
    if store_dir is not None and wait_for_writes:
        waited_from = time.perf_counter()
        wait_for_writers(Path(store_dir))
        os.sync()  # on disk, as a store written long before a next run would be
        writes = time.perf_counter() - waited_from
    exclude = [store_dir] if store_dir is not None else []
    return RunResult(
        path=str(path), seconds=seconds, kernel_start_seconds=start, notebook=nb, outputs=outputs,
        files=hash_files(workdir, exclude), kernel_id=kernel_id, workdir=str(workdir),
        store_dir=None if store_dir is None else str(store_dir), extension_loaded=loaded,
        cell_seconds=cell_seconds, shutdown_seconds=shutdown, writes_after_exit_seconds=writes,
    )


def first_run_pairs(notebook: Path, work: Path, timeout: float, pairs: int,
                    env: Mapping[str, str] | None = None) -> list[tuple[float, float]]:
    """More (plain, first run) pairs of one notebook, each first run into a new empty store: the
    first-run overhead is a few percent, about the run-to-run noise of one pair."""
    out = []
    for i in range(pairs):
        print(f"{notebook.name}: overhead pair {i + 2}: plain, then first run ...", flush=True)
        plain = run_notebook(notebook, work / f"{notebook.stem}-plain-{i}", env=env, timeout=timeout)
        first = run_notebook(notebook, work / f"{notebook.stem}-first-{i}", store_dir=work / f"{notebook.stem}-store-{i}",
                             env=env, timeout=timeout)
        out.append((plain.seconds, first.seconds))
    return out


def format_pairs(name: str, pairs: list[tuple[float, float]]) -> str:
    """Each pair's overhead, their median, and the overhead of all pairs' time together."""
    plain, first = sum(p for p, _ in pairs), sum(f for _, f in pairs)
    median = statistics.median(100 * (f - p) / p for p, f in pairs)
    listed = ", ".join(f"{p:.1f}/{f:.1f} s ({100 * (f - p) / p:+.1f}%)" for p, f in pairs)
    return (f"{name}: first-run overhead over {len(pairs)} pairs (plain/first): {listed}; median {median:+.1f}%; "
            f"all pairs: plain {plain:.1f} s, first {first:.1f} s, {100 * (first - plain) / plain:+.1f}%")


def _show(value: Any, limit: int = 300) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _tail(text: str, limit: int = 2500) -> str:
    text = text if len(text) <= limit else "..." + text[-limit:]
    return text.replace("\n", "\n      ")


def _diff_text(a: str, b: str, limit: int = 12) -> str:
    lines = list(difflib.unified_diff(a.splitlines(), b.splitlines(), "plain", "other", lineterm="", n=1))
    if len(lines) > limit:
        lines = lines[:limit] + [f"... ({len(lines) - limit} more diff lines)"]
    return "\n      ".join(lines)


def _compare_value(where: str, a: Any, b: Any) -> list[str]:
    if a == b:
        return []
    if isinstance(a, str) and isinstance(b, str):
        return [f"{where} differs:\n      {_diff_text(a, b)}"]
    if isinstance(a, dict) and isinstance(b, dict):
        diffs = []
        for key in sorted(set(a) | set(b)):
            if key not in a:
                diffs.append(f"{where}[{key!r}] only in other run: {_show(b[key])}")
            elif key not in b:
                diffs.append(f"{where}[{key!r}] missing in other run (plain: {_show(a[key])})")
            else:
                diffs.extend(_compare_value(f"{where}[{key!r}]", a[key], b[key]))
        return diffs
    if isinstance(a, list) and isinstance(b, list) and all(isinstance(x, str) for x in a + b):
        return _compare_value(where, "\n".join(a), "\n".join(b))
    return [f"{where}: plain {_show(a)} != other {_show(b)}"]


def mask_volatile(outputs: list[dict], volatile: Iterable[str]) -> list[dict]:
    """Normalised outputs with every match of a ``volatile`` regular expression in *stream text*
    replaced by ``<volatile>``: printed wall-clock timings (a notebook's ``- done in 3s``) differ
    between any two plain runs; nothing else is touched (not displayed data, not errors)."""
    patterns = [re.compile(p) for p in volatile]
    if not patterns:
        return outputs
    masked = copy.deepcopy(outputs)
    for output in masked:
        if output.get("output_type") == "stream" and output.get("text"):
            for pattern in patterns:
                output["text"] = pattern.sub("<volatile>", output["text"])
    return masked


def regroup_streams(outputs: list[dict]) -> list[dict]:
    """Outputs with each run of consecutive stream outputs regrouped as all its stdout, then all its
    stderr: how a kernel interleaves the two pipes' chunks (a warning on stderr between two prints)
    depends on when each was flushed, not on what was printed. Text, and every display or error
    between the runs, stay as they were."""
    out: list[dict] = []
    run: list[dict] = []

    def flush() -> None:
        for name in ("stdout", "stderr"):
            parts = [o for o in run if o.get("name") == name]
            if parts:
                merged = copy.deepcopy(parts[0])
                merged["text"] = "".join(o.get("text") or "" for o in parts)
                out.append(merged)
        out.extend(o for o in run if o.get("name") not in ("stdout", "stderr"))
        run.clear()

    for output in outputs:
        if output.get("output_type") == "stream":
            run.append(output)
        else:
            flush()
            out.append(output)
    flush()
    return out


def compare(plain: RunResult, other: RunResult, *, ignore_files: Iterable[str] = (),
            volatile: Iterable[str] = (), streams_unordered: bool = False) -> list[str]:
    """Human-readable differences between two runs' outputs and written files; [] when identical.

    Compared per code cell: execution count and every output's type, stream name,
    text, data (all mime types), ename, evalue and traceback (ANSI colours removed,
    consecutive stream chunks merged).  Files: same set of paths, same contents,
    except the relative paths in ``ignore_files``.  ``volatile``: regular expressions of
    printed text that differs between two plain runs (timings), masked in stream text only
    (:func:`mask_volatile`).  ``streams_unordered``: stdout and stderr chunks between two other
    outputs are compared as two texts, whatever their interleaving (:func:`regroup_streams`).
    """
    volatile = list(volatile)
    diffs: list[str] = []
    name = Path(plain.path).name
    if len(plain.outputs) != len(other.outputs):
        diffs.append(f"{name}: {len(plain.outputs)} code cells in plain run, {len(other.outputs)} in other")
    for pc, oc in zip(plain.outputs, other.outputs):
        where = f"{name} cell {pc['cell']}"
        if pc["cell"] != oc["cell"]:
            diffs.append(f"{where}: compared with cell {oc['cell']} (cell lists differ)")
        if pc["execution_count"] != oc["execution_count"]:
            diffs.append(f"{where}: execution_count plain {pc['execution_count']} != other {oc['execution_count']}")
        po, oo = mask_volatile(pc["outputs"], volatile), mask_volatile(oc["outputs"], volatile)
        if streams_unordered:
            po, oo = regroup_streams(po), regroup_streams(oo)
        if len(po) != len(oo):
            diffs.append(f"{where}: {len(po)} outputs in plain run, {len(oo)} in other: "
                         f"plain types {[o['output_type'] for o in po]}, other {[o['output_type'] for o in oo]}")
        for k, (a, b) in enumerate(zip(po, oo)):
            for key in _OUTPUT_FIELDS:
                diffs.extend(_compare_value(f"{where} output {k} {key}", a.get(key), b.get(key)))
            if b.get("output_type") == "error" and a.get("traceback") != b.get("traceback"):
                diffs.append(f"{where} output {k}: the other run's traceback ends:\n      "
                             + _tail("\n".join(b.get("traceback") or [])))
        for k in range(len(po), len(oo)):
            diffs.append(f"{where} output {k} only in other run: {_show(oo[k])}")
        for k in range(len(oo), len(po)):
            diffs.append(f"{where} output {k} missing in other run (plain: {_show(po[k])})")
    ignored = set(ignore_files)
    for rel in sorted((set(plain.files) | set(other.files)) - ignored):
        if rel not in other.files:
            diffs.append(f"file {rel}: written by plain run, missing in other")
        elif rel not in plain.files:
            diffs.append(f"file {rel}: written only by other run")
        elif plain.files[rel] != other.files[rel]:
            diffs.append(f"file {rel}: contents differ")
    return diffs


def run_parallel(*calls):
    """Call each zero-argument callable in its own thread; return their results in order.

    Used to start independent kernels at once (each ``run_notebook`` call has its own
    event loop and kernel).  An exception in any call is re-raised after all finished.
    """
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        futures = [pool.submit(call) for call in calls]
        return [f.result() for f in futures]


def reuse_events(store_dir: str | os.PathLike, kernel_id: str) -> list[dict[str, Any]]:
    """The Experiment Graph's cell reports of one kernel, in order. Raises whatever the graph raises
    when the store can't be read."""
    from collab_reuse.graph import ExperimentGraph

    return ExperimentGraph(store_dir, create=False).events(kernel_id=kernel_id, limit=100000)


def reuse_totals(store_dir: str | os.PathLike, kernel_id: str) -> dict[str, float]:
    """The Experiment Graph's per-cell ``totals`` of one kernel, summed (``reused``, ``computed``, ...)."""
    totals: dict[str, float] = {}
    for event in reuse_events(store_dir, kernel_id):
        for key, value in event.get("totals", {}).items():
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                totals[key] = totals.get(key, 0) + value
    return totals
