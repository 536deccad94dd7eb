#!/usr/bin/env bash
# Install everything a fresh machine lacks, run the demo on the embedded default, then serve
# it locally (no sign-in, loopback only) with the demo workflow loaded. --no-serve stops
# after the demo.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/bootstrap.sh"
serve=1
args=()
for arg in "$@"; do
  if [[ "$arg" == "--no-serve" ]]; then serve=0; else args+=("$arg"); fi
done
synthral demo "${args[@]}"
if [[ "$serve" == 1 ]]; then
  exec synthral serve --local --demo
fi
