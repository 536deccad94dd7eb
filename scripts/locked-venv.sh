# Sourced by bootstrap.sh and plugin-tests.sh (needs uv on PATH and $PYTHON set).
#
# locked_venv DIR LOCK [PROJECT...]: a venv at DIR holding exactly the hash-checked pins of
# LOCK (made by scripts/lock.sh), then each PROJECT from this checkout, editable and without
# its dependencies (they are all in the lock). Cheap to repeat: uv's cache has the wheels.
locked_venv() {
  local dir="$1" lock="$2"
  shift 2
  [ -x "$dir/bin/python" ] || uv venv --quiet --python "$PYTHON" "$dir"
  uv pip sync --quiet --python "$dir/bin/python" --require-hashes "$lock"
  if [ "$#" -gt 0 ]; then
    local editable=()
    for project in "$@"; do editable+=(--editable "$project"); done
    uv pip install --quiet --python "$dir/bin/python" --no-deps "${editable[@]}"
  fi
}
