#!/usr/bin/env bash
# Builds the benchmarks' server image offline (there is no registry): swarmctl-test/static:v1,
# nginx from Debian's nginx-light with its shared libraries (ldd), one process (no master, one
# worker loop), HTTP/1.1 keep-alive, answering every request with a fixed 3-byte body from memory.
# bench:mesh uses it instead of the test images' busybox httpd, which forks per connection and
# closes each one: its throughput swung tenfold between rounds. Idempotent: the image is left
# alone when its label swarmctl.test.hash matches the recipe's hash. Quiet on success.
#   scripts/build-bench-images.sh          build into the engine at $DOCKER_HOST (or default)
#   scripts/build-bench-images.sh --list   print the image names
set -euo pipefail

NAME=swarmctl-test/static:v1
HASH_LABEL=swarmctl.test.hash
NGINX=/usr/sbin/nginx
# Bump when the recipe changes in a way the hashed inputs below do not capture.
RECIPE=1

fail() {
  echo "build-bench-images: $*" >&2
  exit 1
}

if [[ "${1:-}" == --list ]]; then
  echo "$NAME"
  exit 0
fi

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
# Without nginx installed, take the binary out of Debian's package without installing it: an
# installed nginx package would start a host-wide server on port 80 where no policy-rc.d stops it.
if [[ ! -x "$NGINX" || -n "${SWARMCTL_BENCH_NGINX_FROM_DEB:-}" ]]; then
  (cd "$work" && apt-get download -q nginx >/dev/null 2>&1) ||
    fail "apt-get download nginx failed (is Debian's package index reachable? apt-get update)"
  dpkg-deb -x "$work"/nginx_*.deb "$work/deb" || fail "dpkg-deb could not unpack the nginx package"
  NGINX="$work/deb/usr/sbin/nginx"
  [[ -x "$NGINX" ]] || fail "the nginx package holds no usr/sbin/nginx"
fi
if ldd "$NGINX" | grep -q 'not found'; then
  fail "libraries nginx needs are missing: $(ldd "$NGINX" | grep 'not found' | tr -s ' \t' ' ') (scripts/install-world.sh installs them)"
fi
command -v docker >/dev/null || fail "docker is not installed (run scripts/install-world.sh)"
docker info >/dev/null 2>&1 || fail "no Docker engine answers (run scripts/ensure-docker.sh)"

rootfs="$work/rootfs"
mkdir -p "$rootfs"/{etc/nginx,tmp,proc,sys,dev,usr/sbin}
chmod 1777 "$rootfs/tmp"
cp "$NGINX" "$rootfs/usr/sbin/nginx"
# The loader and every library nginx links, at the paths ldd names.
for lib in $(ldd "$NGINX" | grep -o '/[^ ]*'); do
  mkdir -p "$rootfs$(dirname "$lib")"
  cp -L "$lib" "$rootfs$lib"
done
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' >"$rootfs/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' >"$rootfs/etc/group"
# One process (master_process off) so the server is one scheduling entity the bench can pin;
# keep-alive for as long as the client wants, no logs, no files read per request.
cat >"$rootfs/etc/nginx/nginx.conf" <<'CONF'
daemon off;
master_process off;
worker_processes 1;
pid /tmp/nginx.pid;
error_log stderr warn;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path /tmp/body;
  proxy_temp_path /tmp/proxy;
  fastcgi_temp_path /tmp/fastcgi;
  uwsgi_temp_path /tmp/uwsgi;
  scgi_temp_path /tmp/scgi;
  keepalive_requests 1000000;
  keepalive_timeout 75s;
  server {
    listen 80 reuseport;
    default_type text/plain;
    location / { return 200 "ok\n"; }
  }
}
CONF
# Docker bind-mounts these over the image's; empty files keep the rootfs usable without it too.
touch "$rootfs/etc/hosts" "$rootfs/etc/resolv.conf" "$rootfs/etc/hostname"
tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -C "$rootfs" -cf "$work/rootfs.tar" .
hash="$(printf '%s\n' "recipe=$RECIPE" "$(sha256sum "$work/rootfs.tar" | cut -c1-64)" | sha256sum | cut -c1-16)"
current="$(docker image inspect --format "{{ index .Config.Labels \"$HASH_LABEL\" }}" "$NAME" 2>/dev/null || true)"
[[ "$current" == "$hash" ]] && exit 0
docker import --change "LABEL $HASH_LABEL=$hash" --change 'EXPOSE 80' \
  --change 'CMD ["/usr/sbin/nginx", "-e", "stderr", "-c", "/etc/nginx/nginx.conf", "-p", "/tmp/"]' \
  "$work/rootfs.tar" "$NAME" >/dev/null || fail "docker import of $NAME failed"
