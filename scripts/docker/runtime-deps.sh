#!/usr/bin/env bash
# What a machine or image needs to *run* a built branchgate tree (scripts/docker/build.sh):
# Debian's bird2 (BGP, supervised by the daemon) and iproute2 (`ip`, used for routes), the
# unprivileged system user `branchgate`, and its directories. The Dockerfile's runtime stage runs
# this script; on a host it prepares what packaging/branchgate.service expects. Idempotent:
# installed packages, the existing user and directories are left as they are.
#
#   scripts/docker/runtime-deps.sh [--check] [APP_DIR]
#     --check      report what is missing and exit 1 if anything is; change nothing (no root needed)
#     APP_DIR      a built tree (default /opt/branchgate): checked to start (`branchgate version`)
#   BRANCHGATE_CONTAINER=1 also installs tini (PID 1 that reaps BIRD) and libcap2-bin, for:
#   scripts/docker/runtime-deps.sh --node-caps   (containers only, as the image's last step)
#     gives the node binary the file capabilities CAP_NET_ADMIN + CAP_NET_BIND_SERVICE: a
#     container's non-root user gets no ambient capabilities from `docker run --cap-add`, only
#     the bounding set. File capabilities do not pass to the programs node starts, so the daemon
#     raises them as ambient at start (src/privileges/) for `ip` and BIRD; docs/privileges.md.
#     The alternative needs no file capabilities: start as root, `branchgate run --user branchgate`.
#     From then on node starts only where NET_ADMIN is in the bounding set
#     (`docker run --cap-add NET_ADMIN`), so this comes after every build step that runs node.
#     Refused unless BRANCHGATE_CONTAINER=1: on a host it would empower every node program.
set -euo pipefail

PKGS=(bird2 iproute2)
USER_NAME=branchgate
CHECK=0
if [ "${1:-}" = "--node-caps" ]; then
  # Only on explicit request (the Dockerfile sets it): /.dockerenv also exists in CI sandboxes.
  [ "${BRANCHGATE_CONTAINER:-0}" = 1 ] || { echo "runtime-deps.sh: --node-caps is for container images only (BRANCHGATE_CONTAINER=1)" >&2; exit 1; }
  node_bin=$(readlink -f "$(command -v node)")
  setcap cap_net_admin,cap_net_bind_service+ep "$node_bin"
  getcap "$node_bin"
  exit 0
fi
[ "${1:-}" = "--check" ] && { CHECK=1; shift; }
APP_DIR=${1:-/opt/branchgate}
CONTAINER=${BRANCHGATE_CONTAINER:-0}
[ "$CONTAINER" = 1 ] && PKGS+=(tini libcap2-bin)

installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'; }

missing=()
for p in "${PKGS[@]}"; do installed "$p" || missing+=("$p"); done

if [ "$CHECK" = 1 ]; then
  problems=0
  for p in "${missing[@]}"; do echo "missing package: $p (apt-get install $p)"; problems=1; done
  getent passwd "$USER_NAME" >/dev/null || { echo "missing user: $USER_NAME"; problems=1; }
  if [ -d "$APP_DIR" ]; then
    node "$APP_DIR/bin/branchgate.js" version >/dev/null 2>&1 || { echo "$APP_DIR does not start: node $APP_DIR/bin/branchgate.js version failed"; problems=1; }
  else
    echo "note: no built tree at $APP_DIR (scripts/docker/build.sh $APP_DIR)"
  fi
  [ "$problems" = 0 ] && echo "runtime-deps: nothing missing"
  exit "$problems"
fi

[ "$(id -u)" = 0 ] || { echo "runtime-deps.sh: run as root (or use --check)" >&2; exit 1; }

if [ "${#missing[@]}" -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update
  # Package scripts must not start a system-wide bird: the daemon runs its own (policy-rc.d 101).
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
    trap 'rm -f /usr/sbin/policy-rc.d' EXIT
  fi
  apt-get install -y --no-install-recommends "${missing[@]}"
fi

if ! getent passwd "$USER_NAME" >/dev/null; then
  getent group "$USER_NAME" >/dev/null || groupadd --system "$USER_NAME"
  useradd --system --gid "$USER_NAME" --home-dir /var/lib/branchgate --no-create-home \
    --shell /usr/sbin/nologin --comment "branchgate IPsec CPE" "$USER_NAME"
fi
# /etc: readable by the daemon, writable by root only. /run and /var/lib: the daemon's own
# (systemd recreates /run/branchgate as RuntimeDirectory; a container keeps this one).
install -d -m 0750 -o root -g "$USER_NAME" /etc/branchgate
install -d -m 0750 -o "$USER_NAME" -g "$USER_NAME" /run/branchgate /var/lib/branchgate

if [ -d "$APP_DIR" ]; then
  node "$APP_DIR/bin/branchgate.js" version
fi
echo "runtime-deps: done"
