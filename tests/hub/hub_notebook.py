"""The notebook the hub tests run in users' kernels, and what they record about the store."""

from __future__ import annotations

import grp
import json
import re
import pwd
import stat
import time
from dataclasses import dataclass
from pathlib import Path

from collab_reuse.demo.runner import normalize_cell_outputs
from hub_driver import Hub
from hub_session import TIMINGS

#: run after the notebook's cells in the same kernel: who the kernel runs as, whether collab_reuse is
#: loaded in it (a session exists only once the extension loaded) and why it stopped reusing, if it did
CHECK = ("import json as _j, os as _o, pwd as _p, collab_reuse as _c\n"
         "_s = _c.session_of(get_ipython())\n"
         "print(_j.dumps({'user': _p.getpwuid(_o.getuid()).pw_name, 'loaded': _s is not None,\n"
         "                'failure': None if _s is None else _s.failure}))\n"
         "del _j, _o, _p, _c, _s")


@dataclass
class KernelCheck:
    """What CHECK found in a kernel."""

    user: str
    loaded: bool
    failure: str | None

    @property
    def active(self) -> bool:
        return self.loaded and self.failure is None


EXCEPTION_LINE = re.compile(r"^[A-Za-z_][\w.]*(Error|Exception|Warning)\b.*")


def notebook_cells(csv: Path) -> list[str]:
    """A small analysis: read a file, aggregate, fit a model, print."""
    return [
        f"import pandas as pd\nsales = pd.read_csv({str(csv)!r})\nsales.head()",
        "by_region = sales.groupby('region').agg(units=('units', 'sum'), mean_price=('price', 'mean'))\nby_region",
        "from sklearn.linear_model import LogisticRegression\n"
        "X = sales[['units', 'price']]\ny = sales['returned']\n"
        "model = LogisticRegression(max_iter=500).fit(X, y)\n"
        "print('accuracy', round(model.score(X, y), 6))",
        "print(by_region.round(3).to_string())\nprint(len(sales), 'rows')",
    ]


def run_as(hub: Hub, user: str, cells: list[str], label: str | None = None) -> tuple[list[dict], KernelCheck]:
    """Run ``cells``, then CHECK, in one new kernel of ``user``: (per cell {"execution_count", "outputs"}
    with outputs normalised as collab_reuse.demo.runner compares them, what CHECK found)."""
    started = time.monotonic()
    runs = hub.run_cells(user, cells + [CHECK])
    TIMINGS[f"cells_seconds_{label or user}"] = time.monotonic() - started
    *work, check = runs
    if check.status != "ok":
        raise AssertionError(f"the CHECK cell failed in {user}'s kernel: {check.outputs}")
    normalised = [{"execution_count": r.execution_count, "outputs": normalize_cell_outputs(r.outputs)} for r in work]
    return normalised, KernelCheck(**json.loads("".join(o.get("text", "") for o in check.outputs)))


def reuse_status(hub: Hub, user: str) -> str:
    """What ``%reuse status`` prints in a new kernel of ``user`` (or the error when the magic is missing)."""
    run = hub.run_cells(user, ["%reuse status"])[0]
    return "".join(o.get("text") or o.get("evalue", "") for o in run.outputs)


def store_listing(store: Path) -> str:
    """Every file of the store with its mode, owner and group, as root sees them."""
    lines = []
    for path in sorted(store.rglob("*")):
        st = path.lstat()
        lines.append(f"{stat.filemode(st.st_mode)} {_user(st.st_uid):>9} {_group(st.st_gid):>9} {path.relative_to(store)}")
    return "\n".join(lines)


def _user(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


def _group(gid: int) -> str:
    try:
        return grp.getgrgid(gid).gr_name
    except KeyError:
        return str(gid)


def extension_load_failures(log: Path) -> list[str]:
    """Why collab_reuse did not load, as only an administrator sees it: for each "Error in loading
    extension" of IPython in a hub's log (the kernels' stderr goes there), whose profile directory
    it names (in the user's home) and the exceptions of its traceback, first to last."""
    lines = log.read_text(errors="replace").splitlines()
    failures = []
    for i, line in enumerate(lines):
        if "Error in loading extension: collab_reuse" not in line:
            continue
        raised, where = [], "?"
        for later in lines[i + 1:]:
            if later.startswith("["):  # the next log record
                break
            if later.startswith("Check your config files in "):
                where = later.split(" in ", 1)[1]
            elif EXCEPTION_LINE.match(later):
                raised.append(later)
        failures.append(f"{where}: {' -> '.join(raised)}")
    return failures
