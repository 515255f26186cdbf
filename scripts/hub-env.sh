#!/usr/bin/env bash
# Builds what the JupyterHub tests (tests/hub) run: the single-user environment every hub user's
# server and kernels run in, and configurable-http-proxy. Prints the environment's directory on its
# last line of stdout (progress goes to stderr).
#
# The environment is what an administrator installs on a hub: a venv of Debian's /usr/bin/python3
# (a venv of a Python under /root, e.g. pyenv's, cannot be read by the hub's users and fails to
# spawn), world-readable, with jupyterhub, JupyterLab, the data-science libraries and a wheel of
# collab_reuse (the real install: server extension, panel, no source tree on the path); the
# extension is loaded in every kernel by the environment's etc/ipython/ipython_kernel_config.py.
#
# Cached under $COLLAB_REUSE_HUB_ENV (default /opt/collab-reuse-hub-env as root, else
# ~/.cache/collab-reuse-hub-env) by a key hashing the package's sources, this script and the base
# Python: a second run with the same sources prints the same directory at once. A venv cannot be
# moved (its scripts name their interpreter by absolute path), so it is built in place and marked
# complete last; an unmarked one is a build that was interrupted and is built again.
#
# Usage: scripts/hub-env.sh [REPO]      (REPO: the collab_reuse source tree, default this script's)
set -euo pipefail

REPO="$(cd "${1:-$(dirname "$0")/..}" && pwd)"
BASE_PYTHON="${HUB_BASE_PYTHON:-/usr/bin/python3}"
PROXY_VERSION="5"
KEEP=3  # environments kept (others' checkouts may be using an older one right now)
if [ "$(id -u)" = "0" ]; then default_root=/opt/collab-reuse-hub-env; else default_root="$HOME/.cache/collab-reuse-hub-env"; fi
ROOT="${COLLAB_REUSE_HUB_ENV:-$default_root}"

log() { echo "hub-env: $*" >&2; }

[ -x "$BASE_PYTHON" ] || { log "no $BASE_PYTHON (the hub's users need a Python they can read; set HUB_BASE_PYTHON)"; exit 1; }
if ! "$BASE_PYTHON" -c "import ensurepip, venv" 2>/dev/null; then
    # Debian ships venv's pip bootstrap separately
    if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null; then
        log "installing python3-venv"
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null
    else
        log "$BASE_PYTHON cannot make a venv (install Debian's python3-venv)"; exit 1
    fi
fi
command -v npm >/dev/null || { log "npm is not installed (configurable-http-proxy comes from npm)"; exit 1; }

mkdir -p "$ROOT"
chmod 755 "$ROOT"

sources_hash() {
    # Every file a wheel is built from: tracked and untracked-but-not-ignored ones, as they are on disk.
    cd "$REPO"
    local files
    if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
        files=$(git ls-files --cached --others --exclude-standard -- pyproject.toml README.md collab_reuse labextension jupyter-config)
    else
        files=$(find pyproject.toml README.md collab_reuse labextension jupyter-config -type f \
                -not -path '*/__pycache__/*' -not -path '*/node_modules/*' -not -path 'collab_reuse/labextension/*' \
                -not -path 'labextension/lib/*' -not -path 'labextension/.yarn/*')
    fi
    {
        echo "$files" | LC_ALL=C sort | while IFS= read -r f; do [ -f "$f" ] && sha256sum "$f"; done
        sha256sum "$REPO/scripts/hub-env.sh" | cut -d' ' -f1
        "$BASE_PYTHON" -c 'import sys; print(sys.version)'
    } | sha256sum | cut -c1-16
}

KEY=$(sources_hash)
ENV_DIR="$ROOT/env-$KEY"
PROXY_DIR="$ROOT/proxy-$PROXY_VERSION"

# One build at a time per machine: two checkouts testing at once wait for each other here.
exec 9>"$ROOT/.lock"
flock 9

if [ ! -x "$PROXY_DIR/node_modules/.bin/configurable-http-proxy" ]; then
    log "installing configurable-http-proxy@$PROXY_VERSION into $PROXY_DIR"
    rm -rf "$PROXY_DIR"
    mkdir -p "$PROXY_DIR"
    npm install --prefix "$PROXY_DIR" --no-save --no-package-lock --loglevel=error \
        "configurable-http-proxy@$PROXY_VERSION" >&2
    chmod -R a+rX "$PROXY_DIR"
fi

if [ -f "$ENV_DIR/.complete" ]; then
    touch "$ENV_DIR"  # most recently used: pruned last
    log "cached: $ENV_DIR"
else
    started=$(date +%s)
    rm -rf "$ENV_DIR"
    log "building $ENV_DIR from $REPO with $BASE_PYTHON"
    "$BASE_PYTHON" -m venv "$ENV_DIR"
    PIP=("$ENV_DIR/bin/python" -m pip --quiet --disable-pip-version-check)
    "${PIP[@]}" install --upgrade pip >&2
    WHEELS="$ENV_DIR/.wheel"
    mkdir -p "$WHEELS"
    # Built in the source tree (pip builds local directories in place): the JupyterLab panel is
    # rebuilt with node only when its sources are newer than the panel built there before.
    log "building the collab_reuse wheel"
    "${PIP[@]}" wheel --no-deps --wheel-dir "$WHEELS" "$REPO" >&2
    wheel=$(ls "$WHEELS"/collab_reuse-*.whl)
    log "installing $(basename "$wheel") and the hub's packages"
    # nbclient: the tests run the plain reference of a notebook in this environment (same library
    # versions as the users' kernels) with collab_reuse.demo.runner.
    "${PIP[@]}" install "$wheel" "jupyterhub>=5" jupyter_server jupyterlab ipykernel \
        pandas scikit-learn matplotlib lightgbm nbclient nbformat >&2
    mkdir -p "$ENV_DIR/etc/ipython"
    cat > "$ENV_DIR/etc/ipython/ipython_kernel_config.py" <<'EOF'
# Every kernel of this environment loads collab_reuse (no %load_ext): written by scripts/hub-env.sh.
c.InteractiveShellApp.extensions = ["collab_reuse"]
EOF
    chmod -R a+rX,go-w "$ENV_DIR"
    touch "$ENV_DIR/.complete"
    log "built in $(( $(date +%s) - started )) s"
fi

# Keep the $KEEP most recently used environments.
ls -1dt "$ROOT"/env-*/ 2>/dev/null | tail -n +$((KEEP + 1)) | while IFS= read -r old; do
    log "removing the old environment $old"
    rm -rf "$old"
done

echo "$ENV_DIR"
