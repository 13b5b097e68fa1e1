#!/usr/bin/env bash
# Install MegaRouter and every first-party provider plugin from this clone
# into the current Python (use a virtualenv if you prefer one).
#
#   scripts/install.sh          the server, CLI and plugins
#   scripts/install.sh --dev    plus the test, lint and codegen tools
set -euo pipefail
cd "$(dirname "$0")/.."

project="."
[[ "${1:-}" == "--dev" ]] && project=".[dev]"

# One pip command for everything, so plugins that depend on each other
# resolve to these folders and never to a package index.
args=(-e "$project")
for plugin in plugins/*/; do
    [[ -f "$plugin/pyproject.toml" ]] && args+=(-e "$plugin")
done
python3 -m pip install --quiet --disable-pip-version-check "${args[@]}"
