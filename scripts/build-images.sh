#!/usr/bin/env bash
# Builds the test images offline (there is no registry): one busybox-static rootfs, imported once
# per image with its own CMD/ENV/HEALTHCHECK. Idempotent: an image whose label
# swarmctl.test.hash matches the recipe's hash is left alone. Quiet on success.
#   scripts/build-images.sh          build every image into the engine at $DOCKER_HOST (or default)
#   scripts/build-images.sh --list   print the image names
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUSYBOX="${BUSYBOX:-/bin/busybox}"
HASH_LABEL=swarmctl.test.hash
# Bump when the recipe changes in a way the hashed inputs below do not capture.
RECIPE=1

fail() {
  echo "build-images: $*" >&2
  exit 1
}

# name and --change lines of every image, one image per function call below.
define_images() {
  image swarmctl-test/web:v1 'ENV VERSION=v1' 'EXPOSE 80' 'CMD ["/usr/local/bin/web-server"]'
  image swarmctl-test/web:v2 'ENV VERSION=v2' 'EXPOSE 80' 'CMD ["/usr/local/bin/web-server"]'
  image swarmctl-test/fail 'CMD ["/usr/local/bin/fail"]'
  image swarmctl-test/health 'ENV VERSION=health' 'EXPOSE 80' \
    'HEALTHCHECK --interval=1s --timeout=2s --start-period=1s --retries=2 CMD ["test", "-f", "/tmp/healthy"]' \
    'CMD ["/usr/local/bin/web-server"]'
  image swarmctl-test/echo 'EXPOSE 7' 'CMD ["/usr/local/bin/echo-server"]'
}

if [[ "${1:-}" == --list ]]; then
  image() { echo "$1"; }
  define_images
  exit 0
fi

command -v docker >/dev/null || fail "docker is not installed (run scripts/install-world.sh)"
[[ -x "$BUSYBOX" ]] || fail "$BUSYBOX not found (apt-get install busybox-static)"
docker info >/dev/null 2>&1 || fail "no Docker engine answers (run scripts/ensure-docker.sh)"

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
rootfs="$work/rootfs"
mkdir -p "$rootfs"/{bin,sbin,usr/bin,usr/sbin,etc,tmp,proc,sys,dev,root,www,var/run}
chmod 1777 "$rootfs/tmp"
cp "$BUSYBOX" "$rootfs/bin/busybox"
for applet in $("$BUSYBOX" --list-full); do
  [[ -e "$rootfs/$applet" ]] || ln -s /bin/busybox "$rootfs/$applet"
done
cp -R "$ROOT/images/rootfs/." "$rootfs/"
chmod 755 "$rootfs"/usr/local/bin/*
# Docker bind-mounts these over the image's; empty files keep the rootfs usable without it too.
touch "$rootfs/etc/hosts" "$rootfs/etc/resolv.conf" "$rootfs/etc/hostname"
# A byte-stable tarball, so the same inputs give the same hash on every run.
tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -C "$rootfs" -cf "$work/rootfs.tar" .
rootfs_hash="$(sha256sum "$work/rootfs.tar" | cut -c1-64)"

image() {
  local name="$1"
  shift
  local hash current
  hash="$(printf '%s\n' "recipe=$RECIPE" "rootfs=$rootfs_hash" "$name" "$@" | sha256sum | cut -c1-16)"
  current="$(docker image inspect --format "{{ index .Config.Labels \"$HASH_LABEL\" }}" "$name" 2>/dev/null || true)"
  [[ "$current" == "$hash" ]] && return 0
  local args=(--change "LABEL $HASH_LABEL=$hash")
  local change
  for change in "$@"; do args+=(--change "$change"); done
  args+=(--change 'ENV PATH=/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin')
  docker import "${args[@]}" "$work/rootfs.tar" "$name" >/dev/null || fail "docker import of $name failed"
}

define_images
