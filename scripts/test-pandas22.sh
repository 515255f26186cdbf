#!/usr/bin/env bash
# The engine must also be right under pandas 2.2 (no Copy-on-Write by default): run the unit and
# in-process kernel tests again with pandas 2.2 shadowing the venv's pandas 3.
# Usage: scripts/test-pandas22.sh PYTHON [pytest args...]
set -euo pipefail
PY="$1"; shift
TARGET="${PANDAS22_DIR:-.pandas22}"
if ! PYTHONPATH="$TARGET" "$PY" -c "import pandas, sys; sys.exit(pandas.__version__ != '2.2.3')" 2>/dev/null; then
    rm -rf "$TARGET"
    "$PY" -m pip install --quiet --no-deps --target "$TARGET" "pandas==2.2.3" pytz
fi
PYTHONPATH="$TARGET${PYTHONPATH:+:$PYTHONPATH}" "$PY" -c "import pandas; print('pandas', pandas.__version__)"
PYTHONPATH="$TARGET${PYTHONPATH:+:$PYTHONPATH}" "$PY" -m pytest -ra tests/unit tests/kernel -p no:cacheprovider "$@"
