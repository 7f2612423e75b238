#!/usr/bin/env bash
# Build a deployable branchgate tree into TARGET: production node_modules, compiled dist/, the
# native TUN addon, bin/ and the example configs. The Dockerfile's builder stage runs exactly this
# script, and CI runs it on the host (test/unit/packaging.test.ts), so the image's build steps are
# tested even where no Docker engine exists.
#
#   scripts/docker/build.sh TARGET     build into TARGET (replaced if it is an earlier build)
#   scripts/docker/build.sh --check    check the toolchain and the inputs; build nothing
#   scripts/docker/build.sh --deps     install the missing compilers (python3 make g++) with apt
#
# The repository is never modified: the build runs in a staging copy (npm ci replaces
# node_modules and `npm prune --omit=dev` would delete the developer's test tools).
# Works offline as long as the npm cache holds the locked packages (--prefer-offline); nothing
# else is downloaded: the addon compiles against the running Node's own headers
# (scripts/build-native.mjs).
set -euo pipefail

SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
MARKER=.branchgate-build
# What the build reads. Keep in sync with the Dockerfile's COPY lines (the packaging test checks).
INPUTS=(package.json package-lock.json tsconfig.json tsconfig.build.json bin src native/binding.gyp
  native/src scripts/build-native.mjs config)

die() { echo "build.sh: $*" >&2; exit 1; }

check() {
  local ok=1 major
  command -v node >/dev/null || { echo "missing: node (Node.js 20)"; ok=0; }
  if command -v node >/dev/null; then
    major=$(node -p 'process.versions.node.split(".")[0]')
    [ "$major" -ge 20 ] || { echo "node $(node --version) is too old: Node.js 20 or newer is required"; ok=0; }
    # node-gyp compiles against these headers; official Node images and Debian's nodejs ship them.
    node -e '
      const fs = require("fs"), path = require("path");
      const dirs = [process.env.npm_config_nodedir, path.dirname(path.dirname(process.execPath))].filter(Boolean);
      if (!dirs.some((d) => fs.existsSync(path.join(d, "include", "node", "node_api.h")))) process.exit(1);
    ' || { echo "missing: Node's C headers (include/node/node_api.h next to the node binary)"; ok=0; }
  fi
  for tool in npm python3 make; do command -v "$tool" >/dev/null || { echo "missing: $tool"; ok=0; }; done
  command -v c++ >/dev/null || command -v g++ >/dev/null || { echo "missing: a C/C++ compiler (g++)"; ok=0; }
  for f in "${INPUTS[@]}"; do [ -e "$SRC/$f" ] || { echo "missing input: $f"; ok=0; }; done
  [ "$ok" = 1 ] && echo "build.sh: toolchain and inputs OK (node $(node --version), source $SRC)"
  [ "$ok" = 1 ]
}

# Debian packages node-gyp needs; Node itself (with its headers) comes from the base image or host.
BUILD_PKGS=(python3 make g++)
install_deps() {
  local missing=() p
  for p in "${BUILD_PKGS[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  [ "${#missing[@]}" = 0 ] && { echo "build.sh: build tools already installed"; return 0; }
  [ "$(id -u)" = 0 ] || die "installing ${missing[*]} needs root"
  DEBIAN_FRONTEND=noninteractive apt-get update
  DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}"
}

case "${1:-}" in
  --check) check; exit $? ;;
  --deps) install_deps; exit $? ;;
  ""|-h|--help|-*) echo "usage: $0 TARGET | --check | --deps" >&2; exit 2 ;;
esac
TARGET=$1
case "$TARGET" in /*) ;; *) TARGET="$PWD/$TARGET" ;; esac
TARGET=${TARGET%/}
[ "$TARGET" != "" ] && [ "$TARGET" != "/" ] || die "refusing to build into /"
# Idempotent, but never clobber something that is not an earlier build of ours.
if [ -e "$TARGET" ] && [ -n "$(ls -A "$TARGET" 2>/dev/null)" ] && [ ! -f "$TARGET/$MARKER" ]; then
  die "$TARGET exists and is not an earlier branchgate build (no $MARKER); choose an empty or new directory"
fi
check >/dev/null || { check || true; die "fix the problems above first"; }

STAGE=$(mktemp -d "${TMPDIR:-/tmp}/branchgate-build.XXXXXX")
cleanup() { rm -rf "$STAGE"; rm -rf "$TARGET.new"; }
trap cleanup EXIT

echo "build.sh: staging in $STAGE"
for f in "${INPUTS[@]}"; do
  mkdir -p "$STAGE/$(dirname "$f")"
  cp -a "$SRC/$f" "$STAGE/$f"
done
rm -rf "$STAGE/native/build"

cd "$STAGE"
# npm ci runs the package's install script, which builds native/ (scripts/build-native.mjs).
npm ci --prefer-offline --no-audit --no-fund --loglevel=warn
[ -f native/build/Release/branchgate_native.node ] || npm run --silent build:native
npm run --silent build
npm prune --omit=dev --no-audit --no-fund --loglevel=warn

rm -rf "$TARGET.new"
mkdir -p "$TARGET.new/native/build/Release"
cp -a package.json package-lock.json bin dist config node_modules "$TARGET.new/"
# src/net/tun.ts looks for the addon at <package>/native/build/Release/branchgate_native.node.
cp -a native/build/Release/branchgate_native.node "$TARGET.new/native/build/Release/"
[ -f "$SRC/README.md" ] && cp -a "$SRC/README.md" "$TARGET.new/"
printf 'branchgate %s built %s with node %s\n' "$(node -p 'require("./package.json").version')" \
  "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$(node --version)" >"$TARGET.new/$MARKER"

# Smoke test: the built tree starts and finds its native addon.
node "$TARGET.new/bin/branchgate.js" version

rm -rf "$TARGET.old"
[ -e "$TARGET" ] && mv "$TARGET" "$TARGET.old"
mv "$TARGET.new" "$TARGET"
rm -rf "$TARGET.old"
echo "build.sh: built $TARGET"
