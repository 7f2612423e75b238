#!/usr/bin/env bash
# Regenerates test/fixtures/bird/: runs two BIRD 2 daemons in two throw-away network namespaces,
# ours configured by branchgate's own generator (dist/bgp/bird-config.js, so run `npm run build`
# first) and a "GSA-like" peer (ASN 65476) advertising Microsoft 365 prefixes plus a few it must
# not be believed about, then stores the raw, unedited control-socket replies (reply codes
# included, exactly as BIRD writes them to the socket) in these states:
#   greeting.txt               the connection greeting
#   protocols-established.txt  `show protocols all`: one neighbor Established, one unreachable
#   routes-established.txt     `show route protocol bgp_100_64_0_2`
#   configure.txt              `configure "FILE"`
#   disable.txt, enable.txt    `disable bgp_100_64_0_2`, `enable ...`
#   protocols-disabled.txt     `show protocols all "bgp_100_64_0_2"` after disable
#   protocols-limit.txt        `show protocols all "bgp_100_64_0_2"` after the import limit tripped
#   error.txt                  a parse error (`show route protocol nosuch_proto`)
# Needs root, bird2 (bird), iproute2, node. Usage: sudo bash scripts/capture-bird-fixture.sh
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT=$ROOT/test/fixtures/bird
[ "$(id -u)" = 0 ] || { echo "must run as root" >&2; exit 1; }
command -v bird >/dev/null || { echo "no bird: apt-get install -y bird2" >&2; exit 1; }
[ -f "$ROOT/dist/bgp/bird-config.js" ] || { echo "dist/ is missing: run npm run build first" >&2; exit 1; }

NS_C=bgt$$fc
NS_G=bgt$$fg
WORK=$(mktemp -d "${TMPDIR:-/tmp}/bgt$$-birdfix-XXXXXX")
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  sleep 0.3
  for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null || true; done
  ip netns del "$NS_C" 2>/dev/null || true
  ip netns del "$NS_G" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

ip netns add "$NS_C"
ip netns add "$NS_G"
ip -n "$NS_C" link set lo up
ip -n "$NS_G" link set lo up
# The "tunnel": a veth named like a branchgate TUN on our side.
ip link add gsa0 netns "$NS_C" type veth peer name cpe0 netns "$NS_G"
ip -n "$NS_C" link set gsa0 up
ip -n "$NS_G" link set cpe0 up
ip -n "$NS_C" addr add 100.64.0.1/32 dev lo      # CPE BGP address
ip -n "$NS_G" addr add 100.64.0.2/32 dev lo      # GSA BGP address
ip -n "$NS_G" route add 100.64.0.1/32 dev cpe0

# Ours, through the generator: neighbor 100.64.0.2 on tunnel t1 (gsa0) and 100.64.0.3 on t2
# (gsa1, which does not exist: that session stays in Active/Connect).
node --input-type=module -e "
  import { renderBirdConfig } from '$ROOT/dist/bgp/bird-config.js';
  import { writeFileSync } from 'node:fs';
  const bgp = { asn: 65010, address: '100.64.0.1', advertise: ['192.0.2.0/24'], maxPrefixes: 40, holdTime: 30,
    neighbors: [{ address: '100.64.0.2', asn: 65476, tunnel: 't1' }, { address: '100.64.0.3', asn: 65476, tunnel: 't2' }] };
  const tunnels = [{ name: 't1', interface: 'gsa0', remoteAddress: '198.51.100.10' }, { name: 't2', interface: 'gsa1', remoteAddress: '198.51.100.11' }];
  writeFileSync('$WORK/cpe.conf', renderBirdConfig({ bgp, tunnels }));
"

M365="13.107.6.152/31 13.107.18.10/31 13.107.128.0/22 13.107.136.0/22 20.20.32.0/19 20.190.128.0/18 20.231.128.0/19 \
23.103.160.0/20 40.92.0.0/15 40.96.0.0/13 40.104.0.0/15 40.107.0.0/16 40.108.128.0/17 40.126.0.0/18 52.96.0.0/14 \
52.100.0.0/14 52.104.0.0/14 52.238.78.88/32 104.47.0.0/17 104.146.128.0/17 131.253.33.215/32 132.245.0.0/16 \
150.171.32.0/22 150.171.40.0/22 204.79.197.215/32"
{
  echo 'router id 100.64.0.2;'
  echo 'protocol device { }'
  echo 'protocol static m365 { ipv4;'
  for p in $M365; do echo "  route $p blackhole;"; done
  echo '  route 198.51.100.0/24 blackhole;   # covers our tunnel endpoint: must be refused'
  echo '  route 192.0.2.128/25 blackhole;    # inside our LAN: must be refused'
  echo '  route 100.64.0.2/32 blackhole;     # the BGP address itself: must be refused'
  echo '}'
  echo 'protocol static flood { disabled; ipv4;'
  for i in $(seq 0 29); do echo "  route 100.96.$i.0/24 blackhole;"; done
  echo '}'
  echo 'protocol bgp cpe { local as 65476; source address 100.64.0.2; neighbor 100.64.0.1 as 65010; multihop 255;'
  echo '  ipv4 { import all; export where proto = "m365" || proto = "flood"; }; }'
} > "$WORK/gsa.conf"

ip netns exec "$NS_C" bird -f -c "$WORK/cpe.conf" -s "$WORK/cpe.ctl" 2>"$WORK/cpe.log" & PIDS+=($!)
ip netns exec "$NS_G" bird -f -c "$WORK/gsa.conf" -s "$WORK/gsa.ctl" 2>"$WORK/gsa.log" & PIDS+=($!)

# Raw socket replies: the whole byte stream after the command, up to the reply's last line.
raw() { # SOCKET OUTFILE COMMAND (OUTFILE "-" prints)
  node --input-type=module -e "
    import { createConnection } from 'node:net';
    import { writeFileSync } from 'node:fs';
    const [sock, out, cmd] = process.argv.slice(1);
    const s = createConnection(sock); let buf = ''; let sent = false;
    const done = (t) => /(^|\n)\d{4}( [^\n]*)?\n\$/.test(t);
    s.setEncoding('utf8');
    s.on('data', (d) => { buf += d;
      if (!sent && done(buf)) { if (cmd === '') { finish(buf); return; } sent = true; buf = ''; s.write(cmd + '\n'); return; }
      if (sent && done(buf)) finish(buf); });
    function finish(t) { if (out === '-') process.stdout.write(t, () => process.exit(0)); else { writeFileSync(out, t); process.exit(0); } }
    setTimeout(() => { console.error('timeout: ' + cmd); process.exit(1); }, 10000);
  " "$1" "$2" "$3"
}

for _ in $(seq 1 100); do
  [ -S "$WORK/cpe.ctl" ] && raw "$WORK/cpe.ctl" - 'show protocols "bgp_100_64_0_2"' 2>/dev/null | grep -q Established && break
  sleep 0.3
done
sleep 1  # let the routes settle
mkdir -p "$OUT"
raw "$WORK/cpe.ctl" "$OUT/greeting.txt" ''
raw "$WORK/cpe.ctl" "$OUT/protocols-established.txt" 'show protocols all'
raw "$WORK/cpe.ctl" "$OUT/routes-established.txt" 'show route protocol bgp_100_64_0_2'
raw "$WORK/cpe.ctl" "$OUT/configure.txt" "configure \"$WORK/cpe.conf\""
raw "$WORK/cpe.ctl" "$OUT/error.txt" 'show route protocol nosuch_proto'
raw "$WORK/cpe.ctl" "$OUT/disable.txt" 'disable bgp_100_64_0_2'
raw "$WORK/cpe.ctl" "$OUT/protocols-disabled.txt" 'show protocols all "bgp_100_64_0_2"'
raw "$WORK/cpe.ctl" "$OUT/enable.txt" 'enable bgp_100_64_0_2'
for _ in $(seq 1 100); do
  raw "$WORK/cpe.ctl" - 'show protocols "bgp_100_64_0_2"' | grep -q Established && break
  sleep 0.3
done
raw "$WORK/gsa.ctl" - 'enable flood' >/dev/null
for _ in $(seq 1 100); do
  raw "$WORK/cpe.ctl" - 'show protocols all "bgp_100_64_0_2"' | grep -q 'HIT' && break
  sleep 0.3
done
raw "$WORK/cpe.ctl" "$OUT/protocols-limit.txt" 'show protocols all "bgp_100_64_0_2"'
# The temporary path in configure.txt is not a fixture property.
sed -i "s#$WORK#/tmp/WORK#g" "$OUT/configure.txt"
bird --version 2>&1 | head -1 > "$OUT/VERSION"
echo "captured into $OUT:"; ls -l "$OUT"
