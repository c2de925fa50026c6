#!/usr/bin/env bash
# Quick start on a fresh machine: installs what is missing, builds the single executable and runs
# the main job as far as it goes today: a one-node cluster (manager with Raft, CA and mTLS), its
# nodes and its join tokens. Services arrive with the services issue. State stays in .quickstart/;
# `bash scripts/quickstart.sh down` stops the node and removes it.
set -euo pipefail
cd "$(dirname "$0")/.."

QS="$PWD/.quickstart"
SWARMCTL="$PWD/dist/swarmctl"
export SWARMCTL_HOST="unix://$QS/swarmctl.sock"

if [[ "${1:-}" == down ]]; then
  [[ -S "$QS/swarmctl.sock" ]] && "$SWARMCTL" leave --force || true
  rm -rf "$QS"
  exit 0
fi

bash scripts/install-world.sh
npm run --silent build
"$SWARMCTL" version
mkdir -p "$QS"
if [[ -S "$QS/swarmctl.sock" ]] && "$SWARMCTL" info >/dev/null 2>&1; then
  echo "A quick-start node is already running (bash scripts/quickstart.sh down to remove it)."
else
  rm -rf "$QS/state"
  "$SWARMCTL" init --state-dir "$QS/state" --control-socket "$QS/swarmctl.sock" \
    --listen-addr 127.0.0.1:2377 --advertise-addr 127.0.0.1:2377
fi
"$SWARMCTL" node ls
"$SWARMCTL" info
echo
echo "The node runs in the background (log: $QS/state/daemon.log)."
echo "Try: SWARMCTL_HOST=$SWARMCTL_HOST $SWARMCTL join-token manager"
echo "Stop and remove it: bash scripts/quickstart.sh down"
