"""Helpers of the store-fault tests: notebooks of a few cells, the plain-run oracle with the one
allowed warning taken out, another Unix user, a small full filesystem."""
from __future__ import annotations

import copy
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import nbformat
import pytest

from collab_reuse.demo.runner import RunResult, compare, run_notebook

REPO = Path(__file__).resolve().parents[2]
#: the one warning a store fault may add to a notebook's outputs (``session.WARNING``)
WARNING_LINE = re.compile(r"collab_reuse stopped reusing: .*?\. Cells run as without collab_reuse\.\n")

#: cells that compute something worth storing: a frame read from a file, aggregates of it
SETUP = ("import os, shutil, time\nimport numpy as np, pandas as pd\n"
         "n = np.arange(400_000)\n"
         "pd.DataFrame({'k': n % 97, 'v': n * 0.5, 'w': (n * 7) % 13}).to_csv('data.csv', index=False)")
#: Python's CSV parser: 0.8 s for this 10 MB frame, so storing it always pays (the C parser reads it in 0.02 s
#: on a quiet machine, faster than a load is estimated to take: then it is rightly not stored, and the
#: store never meets the fault these tests make)
READ = "df = pd.read_csv('data.csv', engine='python')\nprint(df.shape)"
AGG = ("agg = df.groupby('k').agg(['mean', 'std', 'median', 'max'])\n"
       "print(round(float(agg.sum().sum()), 3))")
AGG2 = ("agg2 = df.groupby('w').agg(['mean', 'min', 'median'])\n"
        "print(round(float(agg2.sum().sum()), 3))")


def write_notebook(path: Path, cells: list[str]) -> Path:
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells]), path)
    return path


def without_warning(run: RunResult) -> tuple[RunResult, list[int]]:
    """The run with every occurrence of the one warning removed from its outputs, and the cells
    (notebook indexes) where it was."""
    cleaned = copy.copy(run)
    cleaned.outputs = copy.deepcopy(run.outputs)
    found = []
    for cell in cleaned.outputs:
        kept = []
        for output in cell["outputs"]:
            if output["output_type"] == "stream" and output["name"] == "stderr":
                text, count = WARNING_LINE.subn("", output["text"] or "")
                found.extend([cell["cell"]] * count)
                if not text:
                    continue
                output["text"] = text
            kept.append(output)
        cell["outputs"] = kept
    return cleaned, found


def assert_plain_but_one_warning(plain: RunResult, other: RunResult, warnings: int = 1) -> list[int]:
    """``other`` shows exactly what ``plain`` shows, plus the one warning ``warnings`` times (0 or 1);
    returns the cells where the warning was."""
    cleaned, found = without_warning(other)
    diffs = compare(plain, cleaned)
    assert not diffs, "\n".join(diffs)
    assert len(found) == warnings, f"the warning appeared in cells {found}: {other.outputs}"
    return found


def fault_run(notebook: Path, workdir: Path, store: Path | None, fault_dir: Path, **kwargs) -> RunResult:
    """A run whose cells find the directory to damage in ``$FAULT_DIR`` (the store in the run with
    collab_reuse, a directory of no importance in the plain one)."""
    env = {"FAULT_DIR": str(fault_dir), **kwargs.pop("env", {})}
    return run_notebook(notebook, workdir, store_dir=store, env=env, timeout=300, **kwargs)


# -- another user ---------------------------------------------------------------------------------

#: a Python that another user can run (the venv's lives under /root, mode 700), given the venv's packages
USER_PYTHON = "/usr/bin/python3"
SITE_PACKAGES = Path(sys.prefix) / "lib" / f"python{sys.version_info[0]}.{sys.version_info[1]}" / "site-packages"


@pytest.fixture
def other_user():
    """A real Unix user (root's permission override hides what others see) and a directory it can
    reach (pytest's own is mode 700), both removed afterwards. Yields (name, directory)."""
    if os.geteuid() != 0 or shutil.which("useradd") is None:
        pytest.skip("needs root and useradd to act as another user")
    if not Path(USER_PYTHON).exists():
        pytest.skip(f"needs {USER_PYTHON}")
    name = f"crt{uuid.uuid4().hex[:8]}"
    base = Path(tempfile.mkdtemp(prefix=f"{name}-"))
    base.chmod(0o755)
    home = base / "home"
    subprocess.run(["useradd", "--no-create-home", "--home-dir", str(home), "--shell", "/bin/sh", name], check=True)
    try:
        home.mkdir()
        shutil.chown(home, name, name)
        yield name, base
    finally:
        for _ in range(50):  # (its kernels and exit writers end on their own; userdel refuses meanwhile)
            if subprocess.run(["userdel", name], capture_output=True).returncode == 0:
                break
            time.sleep(0.2)
        shutil.rmtree(base, ignore_errors=True)


def run_as(user: tuple[str, Path], script: str, *args: str, timeout: float = 600) -> dict:
    """Run ``script`` (Python source) as ``user``; it prints one JSON line last, which is returned."""
    name, base = user
    home = base / "home"
    path = home / f"script-{uuid.uuid4().hex[:6]}.py"
    path.write_text(script)
    shutil.chown(path, name, name)
    env = {"HOME": str(home), "PATH": "/usr/bin:/bin", "PYTHONPATH": f"{REPO}{os.pathsep}{SITE_PACKAGES}",
           "JUPYTER_RUNTIME_DIR": str(home / "runtime"), "JUPYTER_DATA_DIR": str(home / "data"),
           "IPYTHONDIR": str(home / "ipython"), "MPLBACKEND": "Agg", "PYDEVD_DISABLE_FILE_VALIDATION": "1"}
    done = subprocess.run(["runuser", "-u", name, "--", "env", "-i", *(f"{k}={v}" for k, v in env.items()),
                           USER_PYTHON, str(path), *args], capture_output=True, text=True, timeout=timeout,
                          cwd=str(home))
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


# -- a small filesystem ---------------------------------------------------------------------------

@pytest.fixture
def small_filesystem(tmp_path):
    """``make(size)``: a tmpfs of that size mounted in the test's directory (a real full disk: writes
    fail with ENOSPC), unmounted afterwards."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    mounted = []

    def make(size: str) -> Path:
        point = tmp_path / f"fs{len(mounted)}"
        point.mkdir()
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(point)],
                              capture_output=True, text=True)
        if done.returncode != 0:
            pytest.skip(f"can't mount a tmpfs here: {done.stderr.strip()}")
        mounted.append(point)
        return point

    yield make
    for point in mounted:
        subprocess.run(["umount", "-l", str(point)], check=False)
