#!/usr/bin/env bash
# Install everything a fresh machine lacks, then run the demo on the embedded default.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/bootstrap.sh"
exec synthral demo "$@"
