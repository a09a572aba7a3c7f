#!/usr/bin/env bash
# Create or refresh .venv with everything flarelib, its book and its tests need.
# Idempotent: a second run only checks. Installs Debian's OpenJPEG (>= 2.4) and
# Chromium when missing and we are root; otherwise prints the command to run.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}

need_apt=()
if ! ldconfig -p 2>/dev/null | grep -q 'libopenjp2.so.7'; then need_apt+=(libopenjp2-7); fi
if [ "${FLARELIB_NO_CHROMIUM:-0}" != 1 ] && ! command -v chromium >/dev/null 2>&1; then need_apt+=(chromium); fi
if [ ${#need_apt[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "setup: installing ${need_apt[*]} (Debian packages)"
    apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}" >/dev/null
  else
    echo "setup: missing system packages: ${need_apt[*]}" >&2
    echo "setup: run:  sudo apt-get install -y ${need_apt[*]}" >&2
    [[ " ${need_apt[*]} " == *" libopenjp2-7 "* ]] && exit 1
  fi
fi

if [ ! -x .venv/bin/python ]; then
  echo "setup: creating .venv"
  "$PY" -m venv .venv
fi
stamp=.venv/.flarelib-installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  echo "setup: installing flarelib and its dependencies into .venv"
  # torch first, pinned, so that no resolver pulls another build
  quiet() { grep -v "is ignored: it is neither a file nor a directory" || true; }  # this machine's pip config is noisy
  .venv/bin/pip install -q "torch==2.14.1" "torchvision==0.29.1" 2>&1 | quiet
  .venv/bin/pip install -q -e ".[book,test]" 2>&1 | quiet
  touch "$stamp"
fi
.venv/bin/python - <<'PYCHECK'
import glymur
v = tuple(int(x) for x in glymur.version.openjpeg_version.split(".")[:2])
if v < (2, 4):
    raise SystemExit(f"setup: glymur finds OpenJPEG {glymur.version.openjpeg_version}; need >= 2.4 (apt-get install libopenjp2-7)")
PYCHECK
.venv/bin/python -m ipykernel install --sys-prefix --name python3 >/dev/null 2>&1 || true
