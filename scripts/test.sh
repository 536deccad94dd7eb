#!/usr/bin/env bash
# Install everything a fresh machine lacks, then run the whole test suite: lint, types,
# the host and SDK tests, and every first-party plugin's own tests in its own venv.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/bootstrap.sh"

echo "== ruff" >&2
ruff format --check --quiet .
ruff check --quiet .
echo "== mypy --strict (host, sdk)" >&2
mypy
echo "== web app: types, lint, component tests, build" >&2
(cd web && npm run --silent typecheck && npm run --silent lint && npx vitest run && npm run --silent build)
# Wheel folders pip is configured with (an offline or CPU-only wheelhouse) serve uv too: the
# embed-model2vec build hook and the torch plugins take the CPU build of PyTorch from them.
if [ -z "${UV_FIND_LINKS:-}" ] && links="$(python3 -m pip config get global.find-links 2>/dev/null)"; then
  export UV_FIND_LINKS="$links"
fi
echo "== host and SDK tests" >&2
pytest -q "$@"
for plugin in plugins/*/; do
  echo "== plugin ${plugin%/} (own venv)" >&2
  (cd "$plugin" && uv sync --quiet && uv run --quiet pytest -q)
done
echo "== web app end to end (Chromium against synthral serve: SQLite, then PostgreSQL)" >&2
(cd web && npx playwright test && E2E_DB=postgres npx playwright test e2e/builder.spec.ts e2e/flows.spec.ts)
