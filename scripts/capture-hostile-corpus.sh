#!/usr/bin/env bash
# Regenerates test/fixtures/captured/*.txt: real IKE and ESP-in-UDP datagrams, captured with
# tcpdump on the veth between two throw-away network namespaces, that seed the property tests
# (test/unit/fuzz/) and the hostile-traffic harness (test/interop/hostile-traffic.test.ts).
#
#   strongswan-gcm.txt   strongSwan ↔ strongSwan, IKE AES-GCM-16-256, ESP AES-GCM-16-256.
#                        The initiator offers ecp256 first and the responder only takes modp2048
#                        (INVALID_KE_PAYLOAD, RFC 7296 §1.2); the responder has cookie_threshold = 1
#                        and one half-open SA already, so it asks for a COOKIE first (§2.6, §2.6.1);
#                        the initiator's fragment_size = 200 fragments its IKE_AUTH and IKE rekey
#                        requests (RFC 7383); DPD, a Child rekey, an IKE rekey, Delete (Child, IKE).
#   strongswan-cbc.txt   strongSwan ↔ strongSwan, IKE AES-CBC-256 + HMAC-SHA2-256-128, ESP the same
#                        with PFS (ecp256 KE in the Child rekey), Child rekey, Delete.
#   branchgate-gcm.txt   branchgate (initiator, dist/, profile gsa-default) ↔ strongSwan responder
#                        (modp2048 only: INVALID_KE for our group-24 KE), ESP AES-GCM-16-256,
#                        strongSwan's DPD, our Child rekey and IKE rekey (`branchgate rekey`), `down`.
#
# Each file: header comments (how, which versions), the keys both sides used (from strongSwan's
# log at `ike = 4`, `chd = 4`; each key is matched to its SPI by checking the ICV of a captured
# datagram with node:crypto), then one datagram per line. Pings (198.51.100.1 → 203.0.113.1, on
# `lo` in each namespace) make the ESP. Only 192.0.2.0/24, 198.51.100.0/24 and 203.0.113.0/24 are
# used, inside the namespaces; everything is removed afterwards.
#
# Needs root, strongSwan 5.9.8 (charon or charon-systemd, swanctl, kernel-libipsec), tcpdump,
# iproute2, nftables, and `npm run build` (dist/) for the branchgate run.
# Usage: sudo bash scripts/capture-hostile-corpus.sh
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT=$ROOT/test/fixtures/captured
CHARON=""
for c in /usr/lib/ipsec/charon /usr/sbin/charon-systemd; do [ -x "$c" ] && { CHARON=$c; break; }; done
[ "$(id -u)" = 0 ] || { echo "must run as root" >&2; exit 1; }
[ -n "$CHARON" ] || { echo "no charon: apt-get install -y charon-systemd libcharon-extra-plugins libstrongswan-standard-plugins" >&2; exit 1; }
command -v swanctl >/dev/null || { echo "no swanctl: apt-get install -y strongswan-swanctl" >&2; exit 1; }
command -v tcpdump >/dev/null || { echo "no tcpdump: apt-get install -y tcpdump" >&2; exit 1; }
command -v nft >/dev/null || { echo "no nft: apt-get install -y nftables" >&2; exit 1; }
[ -f "$ROOT/dist/cli.js" ] || { echo "no dist/: run npm run build first" >&2; exit 1; }

NS_I=bgt$$hi
NS_R=bgt$$hr
WORK=$(mktemp -d "${TMPDIR:-/tmp}/bgt$$-corpus-XXXXXX")
PIDS=()
PSK='hostile-corpus-psk-0123456789'
SS_VERSION=$(dpkg-query -W -f='${Version}' libstrongswan 2>/dev/null || echo unknown)
TCPDUMP_VERSION=$(tcpdump --version 2>&1 | head -1)
BG_VERSION=$(node -e "process.stdout.write(require('$ROOT/package.json').version)")
BG_COMMIT=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)

cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  sleep 0.3
  for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null || true; done
  ip netns del "$NS_I" 2>/dev/null || true
  ip netns del "$NS_R" 2>/dev/null || true
  [ -n "${KEEP:-}" ] && echo "kept $WORK" || rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

ip netns add "$NS_I"
ip netns add "$NS_R"
ip -n "$NS_I" link set lo up
ip -n "$NS_R" link set lo up
ip link add veth0 netns "$NS_I" type veth peer name veth0 netns "$NS_R"
ip -n "$NS_I" addr add 192.0.2.1/24 dev veth0
ip -n "$NS_I" addr add 192.0.2.3/24 dev veth0
ip -n "$NS_R" addr add 192.0.2.2/24 dev veth0
ip -n "$NS_I" link set veth0 up
ip -n "$NS_R" link set veth0 up
ip -n "$NS_I" addr add 198.51.100.1/32 dev lo
ip -n "$NS_R" addr add 203.0.113.1/32 dev lo

# $1 dir, $2 extra charon options (one per line)
write_strongswan_conf() {
  cat >"$1/strongswan.conf" <<CONF
charon {
  load = random nonce openssl aes sha2 hmac gcm curve25519 kdf pem pkcs1 x509 pubkey socket-default kernel-libipsec kernel-netlink vici updown
$2
  filelog {
    corpus {
      path = $1/charon.log
      flush_line = yes
      default = 1
      ike = 4
      chd = 4
    }
  }
  plugins {
    vici {
      socket = unix://$1/charon.vici
    }
  }
}
CONF
}

# $1 conn name, $2 local, $3 remote, $4 local_ts, $5 remote_ts, $6 ike proposals, $7 esp proposals, $8 extra conn lines
conn() {
  cat <<CONF
  $1 {
    version = 2
    local_addrs = $2
    remote_addrs = $3
    proposals = $6
    mobike = no
    encap = yes
    fragmentation = yes
$8
    local {
      auth = psk
      id = $2
    }
    remote {
      auth = psk
      id = $3
    }
    children {
      net-$1 {
        local_ts = $4
        remote_ts = $5
        esp_proposals = $7
        start_action = none
        rekey_time = 0
      }
    }
  }
CONF
}

# $1 dir, then conn blocks on stdin; secrets for every address pair used here
write_swanctl_conf() {
  mkdir -p "$1/swanctl"
  { echo 'connections {'; cat; echo '}'; echo 'secrets {'
    local n=0
    for a in 192.0.2.1 192.0.2.3; do
      echo "  ike-$n {"; echo "    id-1 = $a"; echo "    id-2 = 192.0.2.2"; echo "    secret = \"$PSK\""; echo '  }'
      n=$((n + 1))
    done
    echo '}'; } >"$1/swanctl/swanctl.conf"
}

# $1 ns, $2 dir
start_charon() {
  ip netns exec "$1" unshare -m --propagation private sh -c \
    'mount -t tmpfs none /run && mount --bind "$1/strongswan.conf" /etc/strongswan.conf &&
     mount --bind "$1/swanctl" /etc/swanctl && exec "$2"' sh "$2" "$CHARON" >"$2/charon.out" 2>&1 &
  PIDS+=($!)
  for _ in $(seq 1 100); do
    swanctl --stats --uri "unix://$2/charon.vici" >/dev/null 2>&1 && break
    sleep 0.1
  done
  swanctl --stats --uri "unix://$2/charon.vici" >/dev/null 2>&1 || { echo "charon in $1 did not start" >&2; cat "$2/charon.out" >&2; exit 1; }
  swanctl --load-all --noprompt --file "$2/swanctl/swanctl.conf" --uri "unix://$2/charon.vici" >"$2/load.out" 2>&1 ||
    { cat "$2/load.out" >&2; exit 1; }
}

sw() { local d=$1; shift; swanctl "$@" --uri "unix://$d/charon.vici"; }

# $1 pcap: tcpdump in the responder's namespace, every UDP 500/4500 datagram on the veth
start_tcpdump() {
  ip netns exec "$NS_R" tcpdump -i veth0 -U -n -s 0 -w "$1" 'udp port 500 or udp port 4500' 2>"$1.err" &
  PIDS+=($!)
  for _ in $(seq 1 50); do grep -q 'listening on' "$1.err" 2>/dev/null && return 0; sleep 0.1; done
  echo "tcpdump did not start" >&2; cat "$1.err" >&2; exit 1
}

stop_all() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do while kill -0 "$p" 2>/dev/null; do sleep 0.1; done; done
  PIDS=()
}

pings() { ip netns exec "$NS_I" ping -n -q -c "$1" -i 0.2 -W 2 -I 198.51.100.1 203.0.113.1 >/dev/null; }

# ---------------------------------------------------------------------------------------------
capture_strongswan_gcm() {
  local di=$WORK/gcm-i dr=$WORK/gcm-r pcap=$WORK/gcm.pcap
  mkdir -p "$di" "$dr"
  write_strongswan_conf "$di" '  fragment_size = 200'
  write_strongswan_conf "$dr" '  cookie_threshold = 1'
  { conn gw 192.0.2.1 192.0.2.2 198.51.100.1/32 203.0.113.1/32 \
      'aes256gcm16-prfsha256-ecp256, aes256gcm16-prfsha256-modp2048' aes256gcm16 '    dpd_delay = 2s'
    conn half 192.0.2.3 192.0.2.2 192.0.2.3/32 203.0.113.1/32 'aes256gcm16-prfsha256-modp2048' aes256gcm16 ''
  } | write_swanctl_conf "$di"
  { conn gw 192.0.2.2 192.0.2.1 203.0.113.1/32 198.51.100.1/32 'aes256gcm16-prfsha256-modp2048' aes256gcm16 ''
    conn half 192.0.2.2 192.0.2.3 203.0.113.1/32 192.0.2.3/32 'aes256gcm16-prfsha256-modp2048' aes256gcm16 ''
  } | write_swanctl_conf "$dr"
  start_charon "$NS_R" "$dr"
  start_charon "$NS_I" "$di"
  start_tcpdump "$pcap"
  # One half-open SA on the responder: its IKE_AUTH (UDP 4500 from 192.0.2.3) never leaves.
  ip netns exec "$NS_I" nft add table ip corpus
  ip netns exec "$NS_I" nft add chain ip corpus out '{ type filter hook output priority 0 ; }'
  ip netns exec "$NS_I" nft add rule ip corpus out ip saddr 192.0.2.3 udp dport 4500 drop
  sw "$di" --initiate --child net-half --ike half --timeout 2 >/dev/null 2>&1 || true
  # COOKIE, then INVALID_KE_PAYLOAD, then the tunnel (RFC 7296 §2.6.1)
  sw "$di" --initiate --child net-gw --ike gw --timeout 15 >/dev/null
  pings 4
  sleep 3.5 # idle > dpd_delay: the initiator sends an empty INFORMATIONAL
  sw "$di" --rekey --child net-gw >/dev/null
  sleep 1; pings 2
  sw "$di" --rekey --ike gw >/dev/null
  sleep 1; pings 2
  sw "$di" --terminate --child net-gw --timeout 5 >/dev/null
  sw "$di" --terminate --ike gw --timeout 5 >/dev/null
  sleep 0.5
  ip netns exec "$NS_I" nft delete table ip corpus
  stop_all
  extract strongswan-gcm "$pcap" "$di/charon.log" "$dr/charon.log" <<TXT
strongSwan $SS_VERSION ↔ strongSwan $SS_VERSION (charon, kernel-libipsec), PSK.
Initiator 192.0.2.1: proposals aes256gcm16-prfsha256-ecp256, aes256gcm16-prfsha256-modp2048 (KE ecp256
first), esp aes256gcm16, charon.fragment_size = 200 (its IKE_AUTH and IKE rekey requests go as SKF
fragments, RFC 7383), dpd_delay = 2s, encap = yes.
Responder 192.0.2.2: aes256gcm16-prfsha256-modp2048 only, charon.cookie_threshold = 1, with one
half-open SA already (192.0.2.3, whose IKE_AUTH was dropped before it left): so the tunnel's first
IKE_SA_INIT is answered with N(COOKIE), the second with N(INVALID_KE_PAYLOAD), the third completes
(RFC 7296 §2.6.1). Then: 4 pings, DPD, swanctl --rekey --child, 2 pings, --rekey --ike, 2 pings,
--terminate --child (Delete ESP), --terminate --ike (Delete IKE). The half-open SA's IKE_SA_INITs
(INVALID_KE, then a response) are in the capture too.
TXT
}

capture_strongswan_cbc() {
  local di=$WORK/cbc-i dr=$WORK/cbc-r pcap=$WORK/cbc.pcap
  mkdir -p "$di" "$dr"
  write_strongswan_conf "$di" ''
  write_strongswan_conf "$dr" ''
  conn gw 192.0.2.1 192.0.2.2 198.51.100.1/32 203.0.113.1/32 aes256-sha256-ecp256 aes256-sha256-ecp256 '' | write_swanctl_conf "$di"
  conn gw 192.0.2.2 192.0.2.1 203.0.113.1/32 198.51.100.1/32 aes256-sha256-ecp256 aes256-sha256-ecp256 '' | write_swanctl_conf "$dr"
  start_charon "$NS_R" "$dr"
  start_charon "$NS_I" "$di"
  start_tcpdump "$pcap"
  sw "$di" --initiate --child net-gw --ike gw --timeout 15 >/dev/null
  pings 4
  sw "$di" --rekey --child net-gw >/dev/null
  sleep 1; pings 2
  sw "$di" --terminate --ike gw --timeout 5 >/dev/null
  sleep 0.5
  stop_all
  extract strongswan-cbc "$pcap" "$di/charon.log" "$dr/charon.log" <<TXT
strongSwan $SS_VERSION ↔ strongSwan $SS_VERSION (charon, kernel-libipsec), PSK, encap = yes.
Both: proposals aes256-sha256-ecp256 (AES-CBC-256, HMAC-SHA2-256-128, PRF-HMAC-SHA2-256, ECP-256),
esp_proposals aes256-sha256-ecp256 (PFS: the Child rekey carries a KE). 4 pings, swanctl --rekey
--child, 2 pings, --terminate --ike (Delete IKE).
TXT
}

capture_branchgate_gcm() {
  local dg=$WORK/bg dr=$WORK/bg-r pcap=$WORK/bg.pcap
  mkdir -p "$dg" "$dr"
  write_strongswan_conf "$dr" ''
  conn gw 192.0.2.2 192.0.2.1 203.0.113.1/32 198.51.100.1/32 aes256gcm16-prfsha384-modp2048 aes256gcm16 '    dpd_delay = 2s' | write_swanctl_conf "$dr"
  cat >"$dg/branchgate.yaml" <<YAML
log: { level: info }
control: { socket: $dg/control.sock }
tunnels:
  - name: gw
    localAddress: 192.0.2.1
    remoteAddress: 192.0.2.2
    psk: "$PSK"
    profile: gsa-default
    dpd: 0
    localTs: [198.51.100.1/32]
    remoteTs: [203.0.113.1/32]
    routes: [203.0.113.1/32]
    interface: bgcorp0
routing: { pinUnderlay: false }
YAML
  start_charon "$NS_R" "$dr"
  start_tcpdump "$pcap"
  ip netns exec "$NS_I" node "$ROOT/bin/branchgate.js" run --config "$dg/branchgate.yaml" >"$dg/daemon.log" 2>&1 &
  PIDS+=($!)
  local bg="node $ROOT/bin/branchgate.js"
  for _ in $(seq 1 100); do
    $bg list-sas --json --socket "$dg/control.sock" 2>/dev/null | grep -q '"established"' && break
    sleep 0.2
  done
  $bg list-sas --json --socket "$dg/control.sock" | grep -q '"established"' || { echo "branchgate did not establish" >&2; tail -30 "$dg/daemon.log" >&2; exit 1; }
  sleep 0.5; pings 4
  sleep 3.5 # strongSwan's DPD (dpd_delay = 2s) reaches our responder side
  $bg rekey gw --wait --socket "$dg/control.sock" >/dev/null
  sleep 0.5; pings 2
  $bg rekey gw --ike --wait --socket "$dg/control.sock" >/dev/null
  sleep 0.5; pings 2
  $bg down gw --socket "$dg/control.sock" >/dev/null
  sleep 1
  stop_all
  extract branchgate-gcm "$pcap" "$dr/charon.log" <<TXT
branchgate $BG_VERSION (commit $BG_COMMIT, dist/, Node $(node --version)) ↔ strongSwan $SS_VERSION (charon, kernel-libipsec), PSK.
branchgate 192.0.2.1 initiates with profile gsa-default (eight IKE proposals, KE group 24 first);
strongSwan 192.0.2.2 takes aes256gcm16-prfsha384-modp2048 only: N(INVALID_KE_PAYLOAD), then
branchgate retries with group 14. ESP aes256gcm16. 4 pings, strongSwan's DPD (dpd_delay = 2s),
\`branchgate rekey gw --wait\`, 2 pings, \`rekey gw --ike --wait\`, 2 pings, \`branchgate down gw\` (Delete IKE).
TXT
}

# ---------------------------------------------------------------------------------------------
# extract NAME PCAP LOG... (description on stdin): pcap → one datagram per line, keys from the logs
extract() {
  local name=$1 pcap=$2
  shift 2
  cat >"$WORK/about.txt"
  node "$WORK/extract.mjs" "$pcap" "$OUT/$name.txt" "$WORK/about.txt" "$TCPDUMP_VERSION" "$@"
}

cat >"$WORK/extract.mjs" <<'JS'
// pcap (Ethernet, IPv4, UDP) → fixture lines; strongSwan `ike = 4`, `chd = 4` logs → key lines.
// Every key is matched to its SPI by checking a captured datagram's ICV (node:crypto), so the
// fixture only carries keys proven against real bytes.
import { readFileSync, writeFileSync } from 'node:fs';
import { createDecipheriv, createHmac } from 'node:crypto';
const [pcapPath, outPath, aboutPath, tcpdumpVersion, ...logs] = process.argv.slice(2);

function* pcapRecords(buf) {
  const magic = buf.readUInt32LE(0);
  if (magic !== 0xa1b2c3d4 && magic !== 0xa1b23c4d) throw new Error('not a little-endian pcap');
  if (buf.readUInt32LE(20) !== 1) throw new Error('pcap link type is not Ethernet');
  for (let o = 24; o + 16 <= buf.length;) {
    const len = buf.readUInt32LE(o + 8);
    yield buf.subarray(o + 16, o + 16 + len);
    o += 16 + len;
  }
}
const ip4 = (b, o) => `${b[o]}.${b[o + 1]}.${b[o + 2]}.${b[o + 3]}`;
const datagrams = [];
for (const f of pcapRecords(readFileSync(pcapPath))) {
  if (f.readUInt16BE(12) !== 0x0800) continue;
  const ihl = (f[14] & 15) * 4;
  if (f[23] !== 17) continue;
  if ((f.readUInt16BE(20) & 0x3fff) !== 0) throw new Error('IP fragment in the capture: lower fragment_size');
  const u = 14 + ihl;
  const payload = f.subarray(u + 8, u + f.readUInt16BE(u + 4));
  datagrams.push({ src: `${ip4(f, 26)}:${f.readUInt16BE(u)}`, dst: `${ip4(f, 30)}:${f.readUInt16BE(u + 2)}`, payload: Buffer.from(payload) });
}

// --- keys from the logs: hex dumps after "<name> => N bytes @ ..." lines
function dumps(text) {
  const out = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const m = /\] (.+?) => (\d+) bytes @/.exec(lines[i]);
    if (!m) continue;
    const hex = [];
    for (let j = i + 1; j < lines.length; j++) {
      const d = /\]\s+\d+: ((?:[0-9A-F]{2} ){1,16})/.exec(lines[j]);
      if (!d) break;
      hex.push(d[1].trim().split(' ').join(''));
    }
    const value = Buffer.from(hex.join(''), 'hex');
    if (value.length !== Number(m[2])) continue;
    out.push({ label: m[1], value, line: i });
  }
  return out;
}
const ikeSets = [];
const childSets = [];
for (const log of logs) {
  const text = readFileSync(log, 'utf8');
  const lines = text.split('\n');
  let ike = null;
  let child = null;
  for (const d of dumps(text)) {
    const sk = /^Sk_(d|ai|ar|ei|er|pi|pr) secret$/.exec(d.label);
    if (sk) {
      if (sk[1] === 'd') ikeSets.push((ike = {}));
      if (ike) ike[sk[1]] = d.value;
      continue;
    }
    const ck = /^(encryption|integrity) (initiator|responder) key$/.exec(d.label);
    if (ck) {
      if (ck[1] === 'encryption' && ck[2] === 'initiator') childSets.push((child = { line: d.line, log: lines }));
      if (child) child[`${ck[1]}_${ck[2]}`] = d.value;
    }
  }
}
for (const c of childSets) {
  // the "using X for encryption/integrity" lines just before this Child SA's keys
  let e = null, g = null;
  for (let i = c.line; i >= 0 && i > c.line - 40; i--) {
    const u = /\[CHD\]\s+using (\S+) for (encryption|integrity)/.exec(c.log[i]);
    if (u && u[2] === 'encryption' && !e) e = u[1];
    if (u && u[2] === 'integrity' && !g) g = u[1];
    if (/state change: CREATED => INSTALLING|state change: REKEYING/.test(c.log[i]) && e) break;
  }
  c.encr = e; c.integ = g; delete c.log;
}

const ENCR = { AES_GCM_16: 20, AES_CBC: 12 };
const INTEG = { HMAC_SHA2_256_128: [12, 16, 'sha256'], HMAC_SHA2_384_192: [13, 24, 'sha384'], HMAC_SHA2_512_256: [14, 32, 'sha512'] };

function gcmOk(key, iv, aad, ct, tag) {
  try {
    const d = createDecipheriv(`aes-${(key.length - 4) * 8}-gcm`, key.subarray(0, -4), Buffer.concat([key.subarray(-4), iv]));
    d.setAAD(aad); d.setAuthTag(tag); d.update(ct); d.final();
    return true;
  } catch { return false; }
}
function hmacOk(alg, len, key, data, icv) {
  return createHmac(alg, key).update(data).digest().subarray(0, len).equals(icv);
}

// --- ESP: which logged key opens which SPI
const espKeys = new Map();
function matchEsp(p) {
  const spi = p.readUInt32BE(0);
  if (espKeys.has(spi)) return;
  for (const c of childSets) {
    for (const dir of ['initiator', 'responder']) {
      const ek = c[`encryption_${dir}`], ik = c[`integrity_${dir}`];
      if (c.encr === 'AES_GCM_16') {
        if (gcmOk(ek, p.subarray(8, 16), p.subarray(0, 8), p.subarray(16, -16), p.subarray(-16))) {
          espKeys.set(spi, `key esp ${spi.toString(16).padStart(8, '0')} encr=20 keybits=${(ek.length - 4) * 8} integ=0 encr_key=${ek.toString('hex')} integ_key=`);
          return;
        }
      } else if (c.encr === 'AES_CBC' && INTEG[c.integ]) {
        const [id, len, alg] = INTEG[c.integ];
        if (hmacOk(alg, len, ik, p.subarray(0, -len), p.subarray(-len))) {
          espKeys.set(spi, `key esp ${spi.toString(16).padStart(8, '0')} encr=12 keybits=${ek.length * 8} integ=${id} encr_key=${ek.toString('hex')} integ_key=${ik.toString('hex')}`);
          return;
        }
      }
    }
  }
  throw new Error(`no logged Child SA key opens ESP SPI ${spi.toString(16)}`);
}

// --- IKE: which logged SK_* set protects which IKE SA (SPIi, SPIr)
const ikeKeys = new Map();
function skOffset(m) {
  let next = m[16], o = 28;
  while (next !== 0 && o + 4 <= m.length) {
    if (next === 46 || next === 53) return { type: next, o };
    next = m[o];
    o += m.readUInt16BE(o + 2);
  }
  return null;
}
function matchIke(m) {
  const sk = skOffset(m);
  if (!sk) return;
  const spis = `${m.subarray(0, 8).toString('hex')} ${m.subarray(8, 16).toString('hex')}`;
  if (ikeKeys.has(spis)) return;
  const init = (m[19] & 0x08) !== 0;
  const hdr = sk.type === 53 ? 8 : 4;
  for (const k of ikeSets) {
    const ek = init ? k.ei : k.er, ak = init ? k.ai : k.ar;
    let ok = false, encr = 0, integ = 0;
    if (!ak || ak.length === 0) {
      const body = m.subarray(sk.o + hdr);
      ok = gcmOk(ek, body.subarray(0, 8), m.subarray(0, sk.o + hdr), body.subarray(8, -16), body.subarray(-16));
      encr = 20;
    } else {
      const i = Object.values(INTEG).find(([, , alg]) => createHmac(alg, ak).digest().length === ak.length);
      ok = hmacOk(i[2], i[1], ak, m.subarray(0, -i[1]), m.subarray(-i[1]));
      encr = 12; integ = i[0];
    }
    if (ok) {
      const bits = (encr === 20 ? ek.length - 4 : ek.length) * 8;
      const hx = (b) => (b ? b.toString('hex') : '');
      ikeKeys.set(spis, `key ike ${spis} encr=${encr} keybits=${bits} integ=${integ} sk_ei=${hx(k.ei)} sk_er=${hx(k.er)} sk_ai=${hx(k.ai)} sk_ar=${hx(k.ar)}`);
      return;
    }
  }
  throw new Error(`no logged SK_* set verifies the IKE message for SPIs ${spis}`);
}

const EXCH = { 34: 'IKE_SA_INIT', 35: 'IKE_AUTH', 36: 'CREATE_CHILD_SA', 37: 'INFORMATIONAL' };
function label(d) {
  const p = d.payload;
  const natT = d.src.endsWith(':4500') || d.dst.endsWith(':4500');
  if (natT && p.length === 1 && p[0] === 0xff) return 'keepalive';
  if (natT && !(p.length >= 4 && p.readUInt32BE(0) === 0)) { matchEsp(p); return 'esp'; }
  const m = natT ? p.subarray(4) : p;
  matchIke(m);
  const x = EXCH[m[18]] ?? `exchange-${m[18]}`;
  const sk = skOffset(m);
  let tag = `${x}-${(m[19] & 0x20) ? 'response' : 'request'}`;
  if (sk?.type === 53) tag += '-fragment';
  if (m[18] === 34) {
    // plaintext notifies worth naming: COOKIE (16390), INVALID_KE_PAYLOAD (17)
    let next = m[16], o = 28;
    while (next !== 0 && o + 8 <= m.length) {
      if (next === 41) {
        const t = m.readUInt16BE(o + 6);
        if (t === 16390) tag += '-cookie';
        if (t === 17) tag += '-invalid-ke';
      }
      next = m[o];
      o += m.readUInt16BE(o + 2);
    }
  }
  return tag;
}

const body = datagrams.map((d) => `${label(d)} ${d.src} ${d.dst} ${d.payload.toString('hex')}`);
const about = readFileSync(aboutPath, 'utf8').trim().split('\n');
const out = [
  `# ${outPath.split('/').pop()}: real IKE and ESP-in-UDP datagrams for branchgate's property tests and hostile-traffic harness.`,
  `# Captured ${new Date().toISOString().slice(0, 10)} by scripts/capture-hostile-corpus.sh with ${tcpdumpVersion} on the veth`,
  '# between two network namespaces (192.0.2.1 initiator, 192.0.2.2 responder; every UDP 500/4500 datagram both ways).',
  ...about.map((l) => `# ${l}`),
  '#',
  '# Keys (strongSwan log, ike = 4 / chd = 4; each matched to its SPI by a captured datagram\'s ICV with node:crypto):',
  '#   key ike SPIi SPIr encr=ID keybits=N integ=ID sk_ei=HEX sk_er=HEX sk_ai=HEX sk_ar=HEX   (IKEv2 transform IDs, RFC 7296 §3.3.2;',
  '#   GCM keys end in their 4-octet salt, RFC 5282 §7.1)',
  '#   key esp SPI encr=ID keybits=N integ=ID encr_key=HEX integ_key=HEX                      (RFC 4106 §8.1 salt likewise)',
  '# Datagrams, in capture order: LABEL SRC:PORT DST:PORT HEX (the UDP payload; on port 4500 IKE keeps its',
  '# four-zero-octet non-ESP marker, RFC 3948 §2.2). LABEL is exchange-request|response[-fragment][-cookie|-invalid-ke] or esp.',
  ...ikeKeys.values(),
  ...espKeys.values(),
  ...body,
  '',
];
writeFileSync(outPath, out.join('\n'));
const counts = {};
for (const l of body) { const k = l.split(' ')[0]; counts[k] = (counts[k] ?? 0) + 1; }
console.log(`wrote ${outPath}: ${body.length} datagrams, ${ikeKeys.size} IKE SAs, ${espKeys.size} ESP SAs`, counts);
JS

mkdir -p "$OUT"
capture_strongswan_gcm
capture_strongswan_cbc
capture_branchgate_gcm
du -ch "$OUT"/*.txt | tail -1
