#!/usr/bin/env bash
# Install everything a fresh machine lacks, then run the whole test suite: lint, types,
# the host and SDK tests, and every first-party plugin's own tests in its own venv (two
# suites at a time; SYNTHRAL_PLUGIN_JOBS changes that).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/bootstrap.sh"

echo "== ruff" >&2
ruff format --check --quiet .
ruff check --quiet .
echo "== mypy --strict (host, sdk)" >&2
mypy
echo "== web app: types, lint, component tests, build" >&2
(cd web && npm run --silent typecheck && npm run --silent lint && npx vitest run && npm run --silent build)
workers="${SYNTHRAL_TEST_WORKERS:-auto}"
echo "== host and SDK tests ($workers workers; SYNTHRAL_TEST_WORKERS changes that, 0 runs them in this process)" >&2
# Each worker has its own temp dirs, PostgreSQL server and plugin homes; worksteal evens out
# the slow tests. --durations names the slowest, to keep the suite within its time.
pytest -q -n "$workers" --dist worksteal --durations=30 "$@"
# (UV_FIND_LINKS: see scripts/locked-venv.sh, which bootstrap.sh sourced.)
# Plugin suites, each in its own venv, SYNTHRAL_PLUGIN_JOBS at a time (default 2: one per core
# of a small machine); each suite's output is printed whole when it ends; any failure fails.
jobs="${SYNTHRAL_PLUGIN_JOBS:-2}"
plugins=()
for plugin in plugins/*/; do
  [ -f "$plugin/pyproject.toml" ] && plugins+=("${plugin%/}")
done
export SYNTHRAL_TEST_LOGS="${SYNTHRAL_TEST_LOGS:-$PWD/test-logs}"
rm -f "$SYNTHRAL_TEST_LOGS"/*.log "$SYNTHRAL_TEST_LOGS/summary.tsv"
echo "== ${#plugins[@]} plugin suites, $jobs at a time (each one's output: $SYNTHRAL_TEST_LOGS/NAME.log)" >&2
started=$SECONDS
printf '%s\n' "${plugins[@]}" | xargs -P "$jobs" -I{} bash scripts/plugin-tests.sh {} && suites=0 || suites=1
echo "== plugin suites in $((SECONDS - started)) s, slowest first:" >&2
sort -t "$(printf '\t')" -k3,3nr "$SYNTHRAL_TEST_LOGS/summary.tsv" | column -t -s "$(printf '\t')" >&2 || true
if [ "$suites" -ne 0 ]; then
  echo "== some plugin suites failed (their output is above and in $SYNTHRAL_TEST_LOGS)" >&2
  exit 1
fi
echo "== desktop app (own venv with PySide6, from ui_desktop/requirements.lock; offscreen Qt against real local hosts)" >&2
locked_venv "$PWD/ui_desktop/.venv" ui_desktop/requirements.lock "$PWD/sdk" "$PWD" "$PWD/ui_desktop"
(cd ui_desktop && .venv/bin/mypy && QT_QPA_PLATFORM=offscreen .venv/bin/python -m pytest -q)
echo "== web app end to end (Chromium against synthral serve: SQLite, then PostgreSQL)" >&2
(cd web && npx playwright test && E2E_DB=postgres npx playwright test e2e/builder.spec.ts e2e/flows.spec.ts)
