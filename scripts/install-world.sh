#!/usr/bin/env bash
# Installs everything swarmctl's build and tests need, for people and CI alike. Idempotent:
# each step is skipped when already done. Quiet on success; on failure it names the step and
# prints the end of that step's output.
#   Debian packages -> npm dependencies -> a running Docker engine -> the offline test images
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

# docker.io brings dockerd, containerd, runc and docker-init; the rest serve the lab
# (namespaces, bridge, netfilter, nsenter, fuser) and the test images (busybox-static);
# the libraries of Debian's nginx serve bench:mesh's server (scripts/build-bench-images.sh copies
# the binary out of the package without installing it, so no host-wide nginx is started);
# python3 (netlink, exact) or conntrack (conntrack-tools) is what a node uses to purge a stopping
# mesh backend's conntrack entries.
PACKAGES=(docker.io iptables nftables conntrack python3 busybox-static iproute2 util-linux psmisc procps
  libcrypt1 libpcre2-8-0 libssl3 zlib1g
  etcd-server etcd-client openssl wrk curl ca-certificates)

step_log="$(mktemp)"
trap 'rm -f "$step_log"' EXIT

# Runs a step with its output captured; shows it only when the step fails.
step() {
  local what="$1"
  shift
  if ! "$@" >"$step_log" 2>&1; then
    echo "install-world: $what failed:" >&2
    tail -n 40 "$step_log" >&2
    exit 1
  fi
}

missing=()
for pkg in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
done
if ((${#missing[@]} > 0)); then
  if [[ "$(id -u)" != 0 ]]; then
    echo "install-world: missing Debian packages (${missing[*]}); run as root or install them" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  step "apt-get update" apt-get update -q
  step "apt-get install ${missing[*]}" apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

command -v node >/dev/null || { echo "install-world: node (>= 20) is not installed" >&2; exit 1; }
node_major="$(node -p 'process.versions.node.split(".")[0]')"
((node_major >= 20)) || { echo "install-world: node >= 20 needed, found $(node --version)" >&2; exit 1; }

# node_modules is stale when package-lock.json changed since the last install.
stamp=node_modules/.swarmctl-lock-sha256
lock_hash="$(sha256sum package-lock.json | cut -c1-64)"
if [[ ! -d node_modules || "$(cat "$stamp" 2>/dev/null || true)" != "$lock_hash" ]]; then
  step "npm install" npm install --no-audit --no-fund --loglevel=error
  # Hashed again: npm install may have rewritten the lock file.
  sha256sum package-lock.json | cut -c1-64 >"$stamp"
fi

step "starting the Docker engine (scripts/ensure-docker.sh)" "$ROOT/scripts/ensure-docker.sh"
step "building the test images (scripts/build-images.sh)" "$ROOT/scripts/build-images.sh"
