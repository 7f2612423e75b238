#!/usr/bin/env bash
# One command from a fresh Debian 12 clone (with Node 20) to traffic through a tunnel:
# installs the Debian packages (scripts/install-deps.sh), `npm ci` (builds the native addon),
# builds dist/, brings up the namespace lab (`branchgate lab up`, docs/lab.md), then pings a
# service host from the branch host through the tunnel and prints `branchgate status`.
# Extra arguments go to `lab up` (e.g. --endpoints 2 --nat). `npx branchgate lab down` undoes it.
# BRANCHGATE_LAB_DIR: the lab's state directory (default /var/lib/branchgate-lab).
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" != 0 ]; then
  echo "try-lab: must run as root (network namespaces, TUN, apt-get); try: sudo $0 $*" >&2
  exit 1
fi
bash scripts/install-deps.sh
[ -d node_modules ] && [ -e native/build/Release/branchgate_native.node ] || npm ci
# Build dist/ unless it is newer than every source file (a running test suite may be using it).
if [ ! -e dist/cli.js ] || [ -n "$(find src -newer dist/cli.js -print -quit)" ]; then npm run --silent build; fi
DIR=${BRANCHGATE_LAB_DIR:-/var/lib/branchgate-lab}
node bin/branchgate.js lab up --dir "$DIR" "$@"
echo
echo "== ping from the branch host (bglab-branch) to the service host 100.64.21.2, through the tunnel"
ip netns exec bglab-branch ping -c 3 -W 2 100.64.21.2
echo
echo "== branchgate status (the CPE's daemon, socket in the lab dir)"
node bin/branchgate.js status --socket "$DIR/cpe.sock"
echo
echo "the lab stays up; remove it with: sudo npx branchgate lab down --dir $DIR"
