#!/usr/bin/env bash
# One entry point for set-up and the project's jobs. On a fresh machine with Python 3.11
# and apt, the first call installs everything it needs into .venv (and the system packages
# for PDF reports), later calls reuse it.
#
#   ./dev.sh reports [ARGS]   the main job: the demo's raw exports -> build -> every scheduled report
#   ./dev.sh test [ARGS]      the test suite
#   ./dev.sh bench [NAME]     benchmarks (print figures, never fail on timings)
#   ./dev.sh lab              JupyterLab on notebooks/ with the project kernel
#   ./dev.sh setup            only install
set -euo pipefail
cd "$(dirname "$0")"

PYTHON=${PYTHON:-python3.11}
command -v "$PYTHON" >/dev/null 2>&1 || PYTHON=python3

install_python_env() {
  local stamp=.venv/.installed
  if [ -x .venv/bin/python ] && [ -f "$stamp" ] && [ "$stamp" -nt pyproject.toml ]; then
    return
  fi
  echo "[setup] installing Python packages into .venv (first run only)" >&2
  [ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
  .venv/bin/python -m pip install --quiet --upgrade pip
  .venv/bin/python -m pip install --quiet -e '.[test]'
  .venv/bin/python -m ipykernel install --sys-prefix --name cityanalytics \
    --display-name "Python (cityanalytics)" >/dev/null
  touch "$stamp"
}

cmd=${1:-help}
[ $# -gt 0 ] && shift
case "$cmd" in
  setup)
    install_python_env
    bash scripts/install-system-deps.sh
    ;;
  reports)
    # The demo takes the road a bureau's data takes: raw exports -> recipe -> build -> reports.
    install_python_env
    bash scripts/install-system-deps.sh
    ws=${CITYANALYTICS_WORKSPACE:-data/demo-workspace}
    # The demo is rewritten when its generator changed since it was written (a stamp of the
    # generator's source), so an old checkout's demo never meets new reports; a user's own
    # workspace (no stamp, not the default path) is never touched.
    stamp=$(cat cityanalytics/demo/*.py | sha256sum | cut -c1-16)
    if [ ! -f "$ws/sources.yaml" ] || { { [ -f "$ws/.demo-stamp" ] || [ "$ws" = data/demo-workspace ]; } \
         && [ "$(cat "$ws/.demo-stamp" 2>/dev/null)" != "$stamp" ]; }; then
      .venv/bin/cityanalytics demo --out data/demo --workspace "$ws"
      echo "$stamp" > "$ws/.demo-stamp"
    fi
    # exit 1 (some rows rejected, listed in the load report) goes on; 2 (unusable) stops
    .venv/bin/cityanalytics build "$ws" --max-rejected 1% || [ $? -eq 1 ]
    exec .venv/bin/cityanalytics reports --workspace "$ws" --outputs outputs "$@"
    ;;
  test)
    install_python_env
    bash scripts/install-system-deps.sh
    exec .venv/bin/python -m pytest -n 2 --dist loadfile --timeout 900 "$@"
    ;;
  bench)
    install_python_env
    exec .venv/bin/python -m bench "$@"
    ;;
  lab)
    install_python_env
    exec .venv/bin/cityanalytics lab "$@"
    ;;
  *)
    sed -n '2,12p' "$0"
    ;;
esac
