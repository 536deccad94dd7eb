#!/usr/bin/env bash
# Make a fresh Debian machine ready: system packages, uv, and the project's venv (.venv).
# Idempotent: it installs only what is missing. Sourced by demo.sh and test.sh.
# The venv holds exactly the hash-checked pins of requirements.lock (scripts/lock.sh makes
# it), plus the host and the SDK from this checkout, editable.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

need_apt=()
command -v tesseract >/dev/null 2>&1 || need_apt+=(tesseract-ocr)
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need_apt+=(postgresql)
command -v git >/dev/null 2>&1 || need_apt+=(git)
command -v redis-server >/dev/null 2>&1 || need_apt+=(redis-server)  # the Redis connector's tests
[ -x /usr/sbin/mariadbd ] || command -v mariadbd >/dev/null 2>&1 || need_apt+=(mariadb-server-core)  # the MySQL connector's tests
command -v my_print_defaults >/dev/null 2>&1 || need_apt+=(mariadb-client-core)  # mariadb-install-db needs it
[ -x /usr/sbin/dovecot ] || need_apt+=(dovecot-imapd)  # the email connector's IMAP tests
command -v bwrap >/dev/null 2>&1 || need_apt+=(bubblewrap)  # the code-bwrap sandbox
command -v runsc >/dev/null 2>&1 || need_apt+=(runsc)  # the code-gvisor sandbox
command -v node >/dev/null 2>&1 || need_apt+=(nodejs)  # JavaScript in the code sandboxes; the web app's build
command -v npm >/dev/null 2>&1 || need_apt+=(npm)  # the web app's dependencies
[ -x /usr/bin/chromium ] || need_apt+=(chromium)  # the web app's end-to-end tests
if [ "${#need_apt[@]}" -gt 0 ]; then
  if [ "$(id -u)" -eq 0 ]; then
    echo "bootstrap: installing system packages: ${need_apt[*]}" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
  elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    echo "bootstrap: installing system packages with sudo: ${need_apt[*]}" >&2
    sudo DEBIAN_FRONTEND=noninteractive apt-get update -qq
    sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
  else
    echo "bootstrap: please install these Debian packages (needs root): ${need_apt[*]}" >&2
    exit 1
  fi
fi

PYTHON="${SYNTHRAL_PYTHON:-$(command -v python3.11 || command -v python3)}"
if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
  echo "bootstrap: SynthralOS needs Python >= 3.11; $PYTHON is $("$PYTHON" --version)" >&2
  exit 1
fi

if ! command -v uv >/dev/null 2>&1; then
  if [ ! -x "$HOME/.local/bin/uv" ]; then
    echo "bootstrap: installing uv" >&2
    "$PYTHON" -m pip install --quiet --user uv 2>/dev/null || "$PYTHON" -m pip install --quiet uv
  fi
  export PATH="$HOME/.local/bin:$PATH"
  command -v uv >/dev/null 2>&1 || PATH="$("$PYTHON" -c 'import sysconfig; print(sysconfig.get_path("scripts"))'):$PATH"
fi

export UV_PYTHON="$PYTHON"
export UV_PYTHON_DOWNLOADS=never

source "$ROOT/scripts/locked-venv.sh"
locked_venv "$ROOT/.venv" "$ROOT/requirements.lock" "$ROOT/sdk" "$ROOT"
export PATH="$ROOT/.venv/bin:$PATH"

# The web app's toolchain (Vite needs Node >= 20.19) and its locked dependencies, installed
# again only when package-lock.json changed.
if ! node -e 'const [a, b] = process.versions.node.split(".").map(Number); process.exit(a > 20 || (a === 20 && b >= 19) ? 0 : 1)'; then
  echo "bootstrap: the web app needs Node.js >= 20.19; this machine has $(node --version). Install a newer nodejs package" >&2
  exit 1
fi
lock_sum="$(sha256sum web/package-lock.json | cut -d' ' -f1)"
if [ "$(cat web/node_modules/.lock-sha256 2>/dev/null)" != "$lock_sum" ]; then
  (cd web && npm ci --no-audit --no-fund --loglevel=error && echo "$lock_sum" > node_modules/.lock-sha256)
fi
