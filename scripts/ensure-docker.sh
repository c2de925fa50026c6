#!/usr/bin/env bash
# Makes sure a Docker engine answers on the default socket: starts dockerd in the background
# when none does, then waits (with a deadline) until it answers. Idempotent; quiet on success.
set -euo pipefail

SOCK="${SWARMCTL_DOCKER_SOCK:-/var/run/docker.sock}"
LOG="${SWARMCTL_DOCKERD_LOG:-/var/log/swarmctl-dockerd.log}"
PIDFILE="${SWARMCTL_DOCKERD_PIDFILE:-/var/run/docker.pid}"
TIMEOUT_S="${SWARMCTL_DOCKERD_TIMEOUT:-60}"

answers() { docker -H "unix://$SOCK" info >/dev/null 2>&1; }

fail() {
  echo "ensure-docker: $*" >&2
  if [[ -f "$LOG" ]]; then
    echo "--- last lines of $LOG ---" >&2
    tail -n 30 "$LOG" >&2
  fi
  exit 1
}

answers && exit 0

command -v dockerd >/dev/null || fail "dockerd is not installed (run scripts/install-world.sh)"

# A stale pidfile from a crashed engine makes dockerd refuse to start.
if [[ -f "$PIDFILE" ]]; then
  old="$(cat "$PIDFILE" 2>/dev/null || true)"
  if [[ -n "$old" ]] && kill -0 "$old" 2>/dev/null; then
    : # an engine is starting or hung: wait for it below instead of starting a second one
  else
    rm -f "$PIDFILE"
  fi
fi

if [[ ! -f "$PIDFILE" ]]; then
  mkdir -p "$(dirname "$LOG")"
  # setsid: the engine outlives this script and the terminal or CI step that ran it.
  setsid dockerd -H "unix://$SOCK" --pidfile "$PIDFILE" >>"$LOG" 2>&1 </dev/null &
fi

deadline=$((SECONDS + TIMEOUT_S))
until answers; do
  ((SECONDS < deadline)) || fail "dockerd did not answer on $SOCK within ${TIMEOUT_S}s"
  sleep 0.2
done
