#!/usr/bin/env bash
# Build the local base image the Dockerfile's NODE_IMAGE build arg names, without a container
# registry: Debian 12 (debootstrap --variant=minbase from the apt mirror this host uses) plus the
# Node.js this host runs (its binary, its C headers for node-gyp, npm), plus this host's CA bundle
# wired as NODE_EXTRA_CA_CERTS (so npm works behind a TLS-intercepting proxy as it does on the
# host). docs/container.md explains when to use it instead of node:20-bookworm-slim.
#
#   scripts/build-base-image.sh [--force] [IMAGE]
#     IMAGE    default localhost/branchgate-base:bookworm-node<major>
#     --force  rebuild even if IMAGE exists (otherwise an existing image is reused: reruns are fast)
#   MIRROR=URL    Debian mirror (default: the first bookworm mirror in /etc/apt/sources.list*,
#                 else http://deb.debian.org/debian)
#   PODMAN=...    the container CLI (default podman; docker works too)
#
# Needs root (debootstrap), debootstrap, podman (or docker) and node >= 20. Prints the image name
# on its last line. Leaves nothing behind but the image: the root tree is built under a temp dir
# that is removed on every exit path.
set -euo pipefail

die() { echo "build-base-image.sh: $*" >&2; exit 1; }

FORCE=0
[ "${1:-}" = "--force" ] && { FORCE=1; shift; }
case "${1:-}" in -h|--help) sed -n '2,17p' "$0"; exit 0 ;; -*) die "unknown option $1" ;; esac
PODMAN=${PODMAN:-podman}
command -v node >/dev/null || die "node is not installed (Node.js 20 or newer is copied into the image)"
MAJOR=$(node -p 'process.versions.node.split(".")[0]')
[ "$MAJOR" -ge 20 ] || die "node $(node --version) is too old: Node.js 20 or newer is required"
IMAGE=${1:-localhost/branchgate-base:bookworm-node$MAJOR}

if [ "$FORCE" = 0 ] && "$PODMAN" image exists "$IMAGE" 2>/dev/null; then
  echo "build-base-image.sh: $IMAGE exists (--force rebuilds it)" >&2
  echo "$IMAGE"
  exit 0
fi
[ "$(id -u)" = 0 ] || die "run as root (debootstrap needs it)"
command -v debootstrap >/dev/null || die "debootstrap is not installed (apt-get install debootstrap)"
command -v "$PODMAN" >/dev/null || die "$PODMAN is not installed"

# Where the running Node keeps its headers and npm: process.config's node_prefix, else the
# directory above the binary (distribution packages often build with another prefix).
NODE_BIN=$(node -p 'require("fs").realpathSync(process.execPath)')
PREFIX=$(node -p '
  const fs = require("fs"), path = require("path");
  const cands = [process.config.variables.node_prefix, path.dirname(path.dirname(process.execPath))];
  cands.find((p) => p && fs.existsSync(path.join(p, "include", "node", "node_api.h"))) ?? ""')
[ -n "$PREFIX" ] || die "cannot find Node's C headers (include/node/node_api.h) next to $NODE_BIN"
NPM_DIR=$PREFIX/lib/node_modules/npm
[ -f "$NPM_DIR/bin/npm-cli.js" ] || die "cannot find npm at $NPM_DIR"
CA=${NODE_EXTRA_CA_CERTS:-/etc/ssl/certs/ca-certificates.crt}
[ -f "$CA" ] || die "no CA bundle at $CA (set NODE_EXTRA_CA_CERTS to the bundle npm should trust)"

if [ -z "${MIRROR:-}" ]; then
  MIRROR=$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources 2>/dev/null |
    grep -oE 'https?://[^ ]+/debian/?( |$)' | grep -v security | head -n1 | tr -d ' ' || true)
  MIRROR=${MIRROR:-http://deb.debian.org/debian}
fi

WORK=$(mktemp -d "${TMPDIR:-/var/tmp}/branchgate-base.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
ROOT=$WORK/root
echo "build-base-image.sh: debootstrap bookworm (minbase) from $MIRROR" >&2
debootstrap --variant=minbase bookworm "$ROOT" "$MIRROR" >"$WORK/debootstrap.log" 2>&1 ||
  { tail -n 30 "$WORK/debootstrap.log" >&2; die "debootstrap failed"; }
# Containers get apt sources for the same mirror; no lists, docs or caches in the image.
printf 'deb %s bookworm main\ndeb %s bookworm-updates main\n' "$MIRROR" "$MIRROR" >"$ROOT/etc/apt/sources.list"
rm -rf "$ROOT"/var/lib/apt/lists/* "$ROOT"/var/cache/apt/* "$ROOT"/usr/share/doc/* "$ROOT"/usr/share/man/* \
  "$ROOT"/usr/share/info/* "$ROOT"/usr/share/locale/* "$ROOT"/var/log/*.log "$ROOT"/var/cache/debconf/*-old
# Keep the image lean for every later apt-get in the Dockerfile, like Docker's Debian images.
printf 'path-exclude /usr/share/doc/*\npath-exclude /usr/share/man/*\npath-exclude /usr/share/info/*\npath-exclude /usr/share/locale/*\n' \
  >"$ROOT/etc/dpkg/dpkg.cfg.d/01-branchgate-nodoc"
printf 'APT::Install-Recommends "false";\nAPT::Install-Suggests "false";\n' >"$ROOT/etc/apt/apt.conf.d/01-branchgate-norecommends"

# Node: the binary, its headers (node-gyp builds the native addon against them), npm and npx.
install -D -m 0755 "$NODE_BIN" "$ROOT/usr/local/bin/node"
mkdir -p "$ROOT/usr/local/include" "$ROOT/usr/local/lib/node_modules"
cp -a "$PREFIX/include/node" "$ROOT/usr/local/include/node"
cp -a "$NPM_DIR" "$ROOT/usr/local/lib/node_modules/npm"
ln -s ../lib/node_modules/npm/bin/npm-cli.js "$ROOT/usr/local/bin/npm"
ln -s ../lib/node_modules/npm/bin/npx-cli.js "$ROOT/usr/local/bin/npx"
install -D -m 0644 "$CA" "$ROOT/usr/local/share/branchgate-base/ca-bundle.crt"
chroot "$ROOT" /usr/local/bin/node --version >/dev/null || die "the copied node does not run in the Debian 12 tree"

rm -rf "${ROOT:?}"/dev/* "$ROOT"/proc/* "$ROOT"/sys/* "$ROOT"/run/* "$ROOT"/tmp/*
echo "build-base-image.sh: importing $IMAGE" >&2
tar -C "$ROOT" --numeric-owner --xattrs -c . | "$PODMAN" import \
  --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  --change 'ENV NODE_EXTRA_CA_CERTS=/usr/local/share/branchgate-base/ca-bundle.crt' \
  --change 'ENV npm_config_nodedir=/usr/local' \
  --change 'CMD ["node"]' - "$IMAGE" >/dev/null
echo "$IMAGE"
