#!/usr/bin/env bash
# The one test command (README "Tests"): installs what is missing, then checks, builds and runs
# the whole default suite. Needs root (network namespaces, Docker engines).
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-world.sh
npm run --silent check
npm run --silent build
status=0
# Deterministic Raft simulation: 500 seeds per cluster size (a failing seed replays exactly).
npm run --silent sim:raft -- --seeds 500 --seed-start 1 --nodes 3 --jobs 2 || status=$?
npm run --silent sim:raft -- --seeds 500 --seed-start 1 --nodes 5 --jobs 2 || status=$?
node_modules/.bin/vitest run --project unit --project integration --reporter=default --reporter=json --outputFile.json=.test-results.json || status=$?
node scripts/summarize-tests.mjs .test-results.json || status=1
exit "$status"
