#!/usr/bin/env bash
# Build the Debian package: branchgate_<version>_<arch>.deb in OUTDIR (default: the repository).
#
#   npm run package [-- OUTDIR]
#
# Needs `npm ci` done (node_modules with the built native addon) and dpkg-deb; compiles src/ with
# tsc into the package; downloads nothing. The package bundles the Node.js runtime running this script (Node 20;
# Debian 12's nodejs is 18) as /usr/lib/branchgate/node: docs/packaging.md says why and what is where.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
OUTDIR=${1:-$ROOT}
die() { echo "package-deb: $*" >&2; exit 1; }

command -v dpkg-deb >/dev/null || die "dpkg-deb is missing (Debian package dpkg)"
NODE=$(command -v node) || die "node is missing"
NODE=$(readlink -f "$NODE")
MAJOR=$("$NODE" -p 'process.versions.node.split(".")[0]')
[ "$MAJOR" -ge 20 ] || die "node $("$NODE" --version) is too old: the package bundles this runtime, Node.js 20 or newer"
ADDON="$ROOT/native/build/Release/branchgate_native.node"
[ -f "$ADDON" ] || die "$ADDON is missing: run \`npm ci\` (or npm run build:native) first"
[ -d "$ROOT/node_modules/pino" ] || die "node_modules is missing: run \`npm ci\` first"

VERSION=$("$NODE" -p "require('$ROOT/package.json').version")
ARCH=$(dpkg --print-architecture)
DEB="$OUTDIR/branchgate_${VERSION}_${ARCH}.deb"
# Reproducible: file times and the man page date come from the last commit.
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git -C "$ROOT" log -1 --format=%ct 2>/dev/null || date +%s)}

STAGE=$(mktemp -d "${TMPDIR:-/tmp}/branchgate-deb.XXXXXX")
trap 'rm -rf "$STAGE"' EXIT
P="$STAGE/root"
LIB="$P/usr/lib/branchgate"
DOC="$P/usr/share/doc/branchgate"
SHARE="$P/usr/share/branchgate"


install -d "$LIB/bin" "$LIB/native/build/Release" "$LIB/node_modules" "$P/usr/bin" "$P/lib/systemd/system" \
  "$P/etc/branchgate" "$DOC/examples" "$SHARE/prometheus" "$SHARE/grafana" "$P/usr/share/man/man1" \
  "$P/usr/share/bash-completion/completions" "$P/usr/share/zsh/vendor-completions" "$P/DEBIAN"

# The program: compiled JavaScript (no source maps), the launcher, the addon, production modules.
# A fresh tsc output: nothing stale from a developer's dist/.
echo "package-deb: compiling src/ into the package"
(cd "$ROOT" && "$NODE" node_modules/typescript/bin/tsc -p tsconfig.build.json --outDir "$LIB/dist" --sourceMap false)
# Without its "#!/usr/bin/env node" line: it runs only through /usr/bin/branchgate and the bundled node.
grep -v '^#!' "$ROOT/bin/branchgate.js" > "$LIB/bin/branchgate.js"
chmod 0644 "$LIB/bin/branchgate.js"
install -m 0644 "$ROOT/package.json" "$LIB/package.json"
install -m 0644 "$ADDON" "$LIB/native/build/Release/branchgate_native.node"
strip --strip-unneeded "$LIB/native/build/Release/branchgate_native.node"
(cd "$ROOT" && npm ls --omit=dev --all --parseable 2>/dev/null | tail -n +2 | sed "s#^$ROOT/##" | sort -u) | while read -r dir; do
  [ -e "$LIB/$dir" ] && continue
  install -d "$LIB/$(dirname "$dir")"
  cp -a "$ROOT/$dir" "$LIB/$dir"
done
# Nothing a runtime needs: tests, type declarations, source maps, docs, dot files, and the
# modules' own command-line tools (yaml's and pino's bin scripts: nothing here runs them).
find "$LIB/node_modules" \( -name '*.map' -o -name '*.d.ts' -o -name '*.d.cts' -o -name '*.d.mts' -o -name '.*' -o -name '*.md' \
  -o -name '*.html' -o -name '*.sh' -o -name 'test' -o -name 'tests' -o -name 'benchmarks' -o -name 'docs' \) -prune -exec rm -rf {} +
rm -f "$LIB/node_modules/yaml/bin.mjs" "$LIB/node_modules/pino/bin.js"
find "$LIB/node_modules" -type f -perm /111 -exec chmod 0644 {} +
# The runtime, stripped of its debug information (it is the same binary otherwise).
install -m 0755 "$NODE" "$LIB/node"
strip --strip-unneeded "$LIB/node"

install -m 0755 "$ROOT/packaging/branchgate.sh" "$P/usr/bin/branchgate"
install -m 0644 "$ROOT/packaging/branchgate.service" "$P/lib/systemd/system/branchgate.service"
# 0644 here; postinst makes it root:branchgate 0640 once the group exists.
install -m 0644 "$ROOT/packaging/config.yaml" "$P/etc/branchgate/config.yaml"
install -D -m 0644 "$ROOT/packaging/debian/lintian-overrides" "$P/usr/share/lintian/overrides/branchgate"
install -m 0644 "$ROOT/packaging/prometheus/branchgate-alerts.yml" "$SHARE/prometheus/"
install -m 0644 "$ROOT/packaging/grafana/branchgate-dashboard.json" "$SHARE/grafana/"
install -m 0644 "$ROOT"/config/*.yaml "$ROOT"/config/*.json "$DOC/examples/"
install -m 0644 "$ROOT/README.md" "$DOC/README.md"
install -m 0644 "$ROOT/packaging/debian/copyright" "$DOC/copyright"

# Man page and completions, generated from the command table by the program itself.
run() { "$NODE" "$LIB/bin/branchgate.js" "$@"; }
run help --man | gzip -9n > "$P/usr/share/man/man1/branchgate.1.gz"
run completion bash > "$P/usr/share/bash-completion/completions/branchgate"
run completion zsh > "$P/usr/share/zsh/vendor-completions/_branchgate"
chmod 0644 "$P/usr/share/bash-completion/completions/branchgate" "$P/usr/share/zsh/vendor-completions/_branchgate"

DATE=$(date -u -R -d "@$SOURCE_DATE_EPOCH")
printf 'branchgate (%s) unstable; urgency=medium\n\n  * Release %s.\n\n -- branchgate maintainers <branchgate@example.org>  %s\n' \
  "$VERSION" "$VERSION" "$DATE" | gzip -9n > "$DOC/changelog.gz"

for s in postinst prerm postrm; do install -m 0755 "$ROOT/packaging/debian/$s" "$P/DEBIAN/$s"; done
echo /etc/branchgate/config.yaml > "$P/DEBIAN/conffiles"
SIZE=$(du -sk --exclude=DEBIAN "$P" | cut -f1)
sed -e "s/@VERSION@/$VERSION/" -e "s/@ARCH@/$ARCH/" -e "s/@SIZE@/$SIZE/" "$ROOT/packaging/debian/control" > "$P/DEBIAN/control"
(cd "$P" && find . -path ./DEBIAN -prune -o -type f -printf '%P\0' | LC_ALL=C sort -z | xargs -0 md5sum) > "$P/DEBIAN/md5sums"
chmod 0644 "$P/DEBIAN/md5sums" "$P/DEBIAN/conffiles" "$P/DEBIAN/control"

find "$P" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +
mkdir -p "$OUTDIR"
dpkg-deb --root-owner-group -Zxz -z6 --build "$P" "$DEB" >/dev/null
echo "package-deb: $DEB ($(du -h "$DEB" | cut -f1), node $("$NODE" --version) bundled)"
