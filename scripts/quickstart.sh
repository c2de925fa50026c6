#!/usr/bin/env bash
# Quick start on a fresh machine: installs what is missing, builds the single executable and runs
# the main job as far as it goes today: a one-node cluster (manager with Raft, CA and mTLS) on the
# machine's Docker engine, and a 3-replica web service answering on its containers' addresses
# (test image swarmctl-test/web:v1, built locally). State stays in .quickstart/;
# `bash scripts/quickstart.sh down` stops the node and removes it.
set -euo pipefail
cd "$(dirname "$0")/.."

QS="$PWD/.quickstart"
SWARMCTL="$PWD/dist/swarmctl"
export SWARMCTL_HOST="unix://$QS/swarmctl.sock"

if [[ "${1:-}" == down ]]; then
  if [[ -S "$QS/swarmctl.sock" ]]; then
    node_id=$("$SWARMCTL" info --format json 2>/dev/null | sed -n 's/.*"nodeId":"\([^"]*\)".*/\1/p' | head -1)
    "$SWARMCTL" service rm web >/dev/null 2>&1 || true
    # The agent stops and removes the containers; give it a moment, then leave.
    for _ in $(seq 50); do
      [[ -z "$(docker ps -aq --filter label=com.docker.swarm.service.name=web)" ]] && break
      sleep 0.2
    done
    "$SWARMCTL" leave --force || true
    # Whatever the node did not get to remove (it was already down, say).
    if [[ -n "${node_id:-}" ]]; then
      left=$(docker ps -aq --filter "label=com.docker.swarm.node.id=$node_id")
      [[ -n "$left" ]] && docker rm -f $left >/dev/null
    fi
  fi
  rm -rf "$QS"
  exit 0
fi

bash scripts/install-world.sh
npm run --silent build
bash scripts/ensure-docker.sh
bash scripts/build-images.sh
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
if ! "$SWARMCTL" service inspect web >/dev/null 2>&1; then
  "$SWARMCTL" service create --detach=false --replicas 3 --name web swarmctl-test/web:v1
fi
"$SWARMCTL" service ls
"$SWARMCTL" service ps web
for c in $(docker ps -q --filter label=com.docker.swarm.service.name=web); do
  ip=$(docker inspect -f '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}' "$c")
  echo "http://$ip/ answers: $(curl -fsS --max-time 3 "http://$ip/" || wget -qO- -T 3 "http://$ip/")"
done
echo
echo "Scale it: $SWARMCTL service scale web=5   (SWARMCTL_HOST=$SWARMCTL_HOST)"
echo "The node runs in the background (log: $QS/state/daemon.log)."
echo "Try: SWARMCTL_HOST=$SWARMCTL_HOST $SWARMCTL join-token manager"
echo "Stop and remove it: bash scripts/quickstart.sh down"
