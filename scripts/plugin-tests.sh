#!/usr/bin/env bash
# Run one first-party plugin's tests in its own venv (plugins/NAME/.venv, built from its
# requirements.lock with the checkout's SDK): bash scripts/plugin-tests.sh plugins/NAME [pytest args]
# The output is held back and printed in one piece when the suite ends, so suites run in
# parallel (scripts/test.sh) do not interleave, and kept in $SYNTHRAL_TEST_LOGS/NAME.log
# (default test-logs/ at the root) with a line "NAME<TAB>verdict<TAB>seconds" appended to
# summary.tsv there. Exit status: the suite's.
set -uo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
plugin="${1%/}"
shift
cd "$ROOT"
export PATH="$ROOT/.venv/bin:$HOME/.local/bin:$PATH"
PYTHON="${SYNTHRAL_PYTHON:-$(command -v python3.11 || command -v python3)}"
export UV_PYTHON="$PYTHON" UV_PYTHON_DOWNLOADS=never
source "$ROOT/scripts/locked-venv.sh"

logs="${SYNTHRAL_TEST_LOGS:-$ROOT/test-logs}"
mkdir -p "$logs"
log="$logs/$(basename "$plugin").log"
started=$SECONDS
{
  if [ ! -f "$plugin/requirements.lock" ]; then
    echo "$plugin has no requirements.lock; make it with: bash scripts/lock.sh $plugin"
    false
  else
    locked_venv "$ROOT/$plugin/.venv" "$ROOT/$plugin/requirements.lock" "$ROOT/sdk" "$ROOT/$plugin" &&
      (cd "$plugin" && .venv/bin/python -m pytest -q "$@")
  fi
} >"$log" 2>&1
status=$?
verdict=$([ "$status" -eq 0 ] && echo passed || echo "FAILED (exit $status)")
{
  flock 9
  echo "== plugin $plugin (own venv): $verdict in $((SECONDS - started)) s (log: $log)" >&2
  cat "$log" >&2
  printf '%s\t%s\t%s\n' "$(basename "$plugin")" "$verdict" "$((SECONDS - started))" >>"$logs/summary.tsv"
} 9>>"$logs/.output.lock"
exit "$status"
