#!/usr/bin/env bash
# Regenerates test/fixtures/strongswan-fragments/: runs strongSwan ↔ strongSwan (kernel-libipsec)
# once per configuration in two throw-away network namespaces with RFC 7383 fragmentation on and
# charon.fragment_size set so small (FRAG_SIZE octets per IP packet) that both IKE_AUTH messages
# are split into several SKF fragments. Both charons log at level 4 for `ike` (SK_* keys, AUTH
# values) and level 3 for `net` (every *received* datagram, hex-dumped: socket-default does not dump
# what it sends, so the request fragments are taken from the responder's log and the response
# fragments from the initiator's). Stored, raw and unedited: the initiator's log lines from
# "initiating IKE_SA" up to "CHILD_SA net{1} established" and the responder's from its first
# received datagram up to its last IKE_AUTH response fragment, plus the initiator's `swanctl --list-sas --raw`.
# Needs root, strongSwan 5.9.8 (charon or charon-systemd, swanctl, kernel-libipsec), iproute2.
# Usage: sudo bash scripts/capture-fragments-fixture.sh   (FRAG_SIZE=… to change the size)
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT=$ROOT/test/fixtures/strongswan-fragments
FRAG_SIZE=${FRAG_SIZE:-160}
CHARON=""
for c in /usr/lib/ipsec/charon /usr/sbin/charon-systemd; do [ -x "$c" ] && { CHARON=$c; break; }; done
[ "$(id -u)" = 0 ] || { echo "must run as root" >&2; exit 1; }
[ -n "$CHARON" ] || { echo "no charon: apt-get install -y charon-systemd libcharon-extra-plugins libstrongswan-standard-plugins" >&2; exit 1; }
command -v swanctl >/dev/null || { echo "no swanctl: apt-get install -y strongswan-swanctl" >&2; exit 1; }

NS_I=bgt$$fi
NS_R=bgt$$fr
WORK=$(mktemp -d "${TMPDIR:-/tmp}/bgt$$-frag-XXXXXX")
PIDS=()
PSK='fragments-fixture-psk-0123456789'

cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  sleep 0.3
  for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null || true; done
  ip netns del "$NS_I" 2>/dev/null || true
  ip netns del "$NS_R" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

ip netns add "$NS_I"
ip netns add "$NS_R"
ip -n "$NS_I" link set lo up
ip -n "$NS_R" link set lo up
ip link add veth0 netns "$NS_I" type veth peer name veth0 netns "$NS_R"
ip -n "$NS_I" addr add 192.0.2.1/24 dev veth0
ip -n "$NS_R" addr add 192.0.2.2/24 dev veth0
ip -n "$NS_I" link set veth0 up
ip -n "$NS_R" link set veth0 up
ip -n "$NS_I" addr add 198.51.100.1/32 dev lo
ip -n "$NS_R" addr add 203.0.113.1/32 dev lo

# $1 dir, $2 extra filelog level lines
write_strongswan_conf() {
  cat >"$1/strongswan.conf" <<CONF
charon {
  load = random nonce openssl aes sha2 hmac gcm curve25519 kdf pem pkcs1 x509 pubkey socket-default kernel-libipsec kernel-netlink vici updown
  # RFC 7383: complete IP packets of at most this many octets (IPv4 20 + UDP 8 + marker 4 + IKE)
  fragment_size = $FRAG_SIZE
  filelog {
    frag {
      path = $1/charon.log
      flush_line = yes
      default = 1
$2
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

# $1 dir, $2 local, $3 remote, $4 local_ts, $5 remote_ts, $6 ike proposal, $7 esp proposal
write_swanctl_conf() {
  mkdir -p "$1/swanctl"
  cat >"$1/swanctl/swanctl.conf" <<CONF
connections {
  frag {
    version = 2
    local_addrs = $2
    remote_addrs = $3
    proposals = $6
    mobike = no
    fragmentation = yes
    local {
      auth = psk
      id = $2
    }
    remote {
      auth = psk
      id = $3
    }
    children {
      net {
        local_ts = $4
        remote_ts = $5
        esp_proposals = $7
        start_action = none
      }
    }
  }
}
secrets {
  ike-frag {
    id-local = $2
    id-remote = $3
    secret = "$PSK"
  }
}
CONF
}

# $1 ns, $2 dir
start_charon() {
  ip netns exec "$1" unshare -m --propagation private sh -c \
    'mount -t tmpfs none /run && mount --bind "$1/strongswan.conf" /etc/strongswan.conf &&
     mount --bind "$1/swanctl" /etc/swanctl && exec "$2"' sh "$2" "$CHARON" >"$2/charon.out" 2>&1 &
  PIDS+=($!)
  for _ in $(seq 1 100); do
    swanctl --stats --uri "unix://$2/charon.vici" >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  echo "charon in $1 did not start" >&2; cat "$2/charon.out" >&2; exit 1
}

capture() { # $1 fixture name, $2 ike proposal, $3 esp proposal
  local name=$1 di=$WORK/$1-i dr=$WORK/$1-r
  mkdir -p "$di" "$dr"
  write_strongswan_conf "$di" "$(printf '      ike = 4\n      net = 3\n      enc = 1\n      cfg = 2')"
  write_strongswan_conf "$dr" "$(printf '      ike = 4\n      net = 3\n      enc = 1\n      cfg = 2')"
  write_swanctl_conf "$di" 192.0.2.1 192.0.2.2 198.51.100.1/32 203.0.113.1/32 "$2" "$3"
  write_swanctl_conf "$dr" 192.0.2.2 192.0.2.1 203.0.113.1/32 198.51.100.1/32 "$2" "$3"
  start_charon "$NS_I" "$di"
  start_charon "$NS_R" "$dr"
  swanctl --load-all --noprompt --file "$di/swanctl/swanctl.conf" --uri "unix://$di/charon.vici" >/dev/null 2>&1
  swanctl --load-all --noprompt --file "$dr/swanctl/swanctl.conf" --uri "unix://$dr/charon.vici" >/dev/null 2>&1
  swanctl --initiate --child net --ike frag --timeout 15 --uri "unix://$di/charon.vici" >/dev/null
  swanctl --list-sas --raw --uri "unix://$di/charon.vici" >"$OUT/$name.list-sas.txt"
  sleep 0.3
  # raw excerpt: first "initiating IKE_SA" line through the Child SA install, nothing edited
  awk '/initiating IKE_SA/ { on = 1 } on { print } on && /CHILD_SA net\{1\} established/ { exit }' \
    "$di/charon.log" >"$OUT/$name.initiator.txt"
  # socket-default dumps only received datagrams, so the request fragments come from the responder
  # and ends with the generation of its last response fragment, "EF(n/n)"
  awk '/received packet =>/ { on = 1 } on { print }
       on && /generating IKE_AUTH response 1 \[ EF\(/ { s = $0; sub(/.*EF\(/, "", s); split(s, a, /[\/)]/); if (a[1] == a[2]) exit }' \
    "$dr/charon.log" >"$OUT/$name.responder.txt"
  grep -q "CHILD_SA net{1} established" "$OUT/$name.responder.txt" || { echo "$name: responder did not finish" >&2; exit 1; }
  grep -q "CHILD_SA net{1} established" "$OUT/$name.initiator.txt" || { echo "$name: no complete exchange in log" >&2; tail -40 "$di/charon.log" >&2; exit 1; }
  for f in initiator responder; do
    grep -q 'splitting IKE message' "$OUT/$name.$f.txt" || { echo "$name: the $f did not fragment" >&2; exit 1; }
  done
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do while kill -0 "$p" 2>/dev/null; do sleep 0.1; done; done
  PIDS=()
  echo "wrote $OUT/$name.{initiator,responder,list-sas}.txt"
}

mkdir -p "$OUT"
capture gcm256 aes256gcm16-prfsha256-x25519 aes256gcm16
capture cbc256-sha256 aes256-sha256-x25519 aes256-sha256
# (never run "$CHARON --version": charon-systemd has no such option and would start a daemon)
dpkg-query -W -f='strongSwan ${Version} (libstrongswan)\n' libstrongswan 2>/dev/null || swanctl --version | head -1
