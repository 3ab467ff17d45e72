#!/bin/sh
# The quality report (docs/quality.md): runs scripts/quality.py, which drives the septet CLI.
# Usage: scripts/quality.sh [--septet build/septet] [--shared ../shared] [--wiki-chunks N] ...
set -eu
exec python3 "$(dirname "$0")/quality.py" "$@"
