# Sourced by bootstrap.sh and plugin-tests.sh (needs uv on PATH and $PYTHON set).
#
# locked_venv DIR LOCK [PROJECT...]: a venv at DIR holding exactly the hash-checked pins of
# LOCK (made by scripts/lock.sh), then each PROJECT from this checkout, editable and without
# its dependencies (they are all in the lock). Cheap to repeat: uv's cache has the wheels.
#
# Bytecode is compiled when installing, for the locked packages and for the projects'
# synthral* packages: a process then never compiles what it imports, which matters where
# PYTHONDONTWRITEBYTECODE is set (nothing is cached then) and for every plugin runner,
# worker and test process started from these venvs.

# Wheel folders pip is configured with (an offline or CPU-only wheelhouse: the torch plugins
# pin a CPU build of torch) serve uv too: PIP_FIND_LINKS, else pip's configuration files as
# the system's pip reads them (a venv's python has no pip).
if [ -z "${UV_FIND_LINKS:-}" ]; then
  _links="${PIP_FIND_LINKS:-}"
  for _py in "${PYTHON:-}" /usr/bin/python3 /usr/local/bin/python3; do
    [ -z "$_links" ] || break
    [ -n "$_py" ] || continue
    _links="$("$_py" -m pip config list 2>/dev/null | sed -n "s/^[a-z:]*\.find-links='\(.*\)'$/\1/p" | tail -n 1)"
  done
  [ -z "$_links" ] || export UV_FIND_LINKS="$(echo $_links | tr ' ' ',')"
  unset _py _links
fi

locked_venv() {
  local dir="$1" lock="$2"
  shift 2
  [ -x "$dir/bin/python" ] || uv venv --quiet --python "$PYTHON" "$dir"
  uv pip sync --quiet --python "$dir/bin/python" --require-hashes --compile-bytecode "$lock"
  if [ "$#" -gt 0 ]; then
    local editable=() packages=()
    for project in "$@"; do
      editable+=(--editable "$project")
      for package in "$project"/synthral* "$project"/host/synthral*; do
        [ -f "$package/__init__.py" ] && packages+=("$package")
      done
    done
    uv pip install --quiet --python "$dir/bin/python" --no-deps "${editable[@]}"
    [ "${#packages[@]}" -eq 0 ] || "$dir/bin/python" -m compileall -q -j 0 "${packages[@]}" >/dev/null
  fi
}
