#!/usr/bin/env bash
# Quick start on a fresh machine: installs what is missing, builds the single executable and runs
# the main job. The main job grows as capabilities land (see README).
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-world.sh
npm run --silent build
./dist/swarmctl version
./dist/swarmctl --help
