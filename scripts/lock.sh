#!/usr/bin/env bash
# Regenerate the dependency locks: requirements.lock at the root (host, SDK and their dev
# tools), deploy/requirements.lock (the same pins without the dev tools, for the image) and
# plugins/<name>/requirements.lock for each first-party plugin (its dependencies and dev
# group; the SDK itself is installed from the checkout, so it is left out).
#
# Every pin carries its hashes (installs run with --require-hashes) and holds for every
# platform and Python the project supports (--universal). uv writes no index URL into the
# files, and this script refuses to leave one that names a host or a download URL.
#
# Usage:
#   bash scripts/lock.sh                         # every lock; existing pins are kept
#   bash scripts/lock.sh plugins/http            # only these (the root is "."); a new plugin too
#   bash scripts/lock.sh --upgrade               # newest versions allowed, everywhere
#   bash scripts/lock.sh --upgrade-package httpx plugins/http
# Other arguments go to `uv pip compile` as they are.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
export PATH="$ROOT/.venv/bin:$HOME/.local/bin:$PATH"
command -v uv >/dev/null 2>&1 || { echo "lock: uv is missing; run scripts/bootstrap.sh first" >&2; exit 1; }
PYTHON="${SYNTHRAL_PYTHON:-$(command -v python3.11 || command -v python3)}"
source "$ROOT/scripts/locked-venv.sh"  # UV_FIND_LINKS from pip's configuration (the CPU torch build)

targets=()
options=()
for arg in "$@"; do
  if [[ "$arg" == "." || "$arg" == plugins/* ]]; then targets+=("${arg%/}"); else options+=("$arg"); fi
done
if [ "${#targets[@]}" -eq 0 ]; then
  targets=(.)
  for plugin in plugins/*/; do
    [ -f "$plugin/pyproject.toml" ] && targets+=("${plugin%/}")
  done
fi

status=0
for target in "${targets[@]}"; do
  if [ ! -f "$target/pyproject.toml" ]; then
    echo "lock: $target has no pyproject.toml" >&2
    exit 2
  fi
  echo "lock: $target/requirements.lock" >&2
  (
    cd "$target"
    uv pip compile pyproject.toml --group dev --generate-hashes --universal \
      --no-emit-package synthral-sdk --quiet ${options[@]+"${options[@]}"} --output-file requirements.lock
  )
  locks=("$target/requirements.lock")
  if [ "$target" = "." ]; then
    echo "lock: deploy/requirements.lock (no dev tools, the root's pins)" >&2
    uv pip compile pyproject.toml --generate-hashes --universal --no-emit-package synthral-sdk --quiet \
      --constraint requirements.lock --output-file deploy/requirements.lock
    locks+=(deploy/requirements.lock)
  fi
  for lock in "${locks[@]}"; do
    if grep -nE '(https?|file)://|--(extra-)?index-url|--find-links' "$lock" >&2; then
      echo "lock: $lock names an index or a download URL (above); it must not" >&2
      status=1
    fi
  done
done
exit "$status"
