#!/usr/bin/env bash
# Regenerates test/fixtures/strongswan-kdf/: runs strongSwan ↔ strongSwan (kernel-libipsec) once per
# configuration in two throw-away network namespaces, with the initiator logging at level 4 for
# `ike` and `chd` (DH secret, SKEYSEED, SK_*, PSK AUTH octets, Child SA keys), and stores the raw,
# unedited initiator log lines from "initiating IKE_SA" to the Child SA install, plus the
# initiator's `swanctl --list-sas --raw`. Needs root, strongSwan 5.9.8 (charon or charon-systemd,
# swanctl, kernel-libipsec), iproute2. Usage: sudo bash scripts/capture-kdf-fixture.sh
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT=$ROOT/test/fixtures/strongswan-kdf
CHARON=""
for c in /usr/lib/ipsec/charon /usr/sbin/charon-systemd; do [ -x "$c" ] && { CHARON=$c; break; }; done
[ "$(id -u)" = 0 ] || { echo "must run as root" >&2; exit 1; }
[ -n "$CHARON" ] || { echo "no charon: apt-get install -y charon-systemd libcharon-extra-plugins libstrongswan-standard-plugins" >&2; exit 1; }
command -v swanctl >/dev/null || { echo "no swanctl: apt-get install -y strongswan-swanctl" >&2; exit 1; }

NS_I=bgt$$ki
NS_R=bgt$$kr
WORK=$(mktemp -d "${TMPDIR:-/tmp}/bgt$$-kdf-XXXXXX")
PIDS=()
PSK='kdf-fixture-psk-0123456789'

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
ip -n "$NS_I" addr add 100.64.1.1/32 dev lo
ip -n "$NS_R" addr add 100.64.2.1/32 dev lo

# $1 dir, $2 extra filelog level lines
write_strongswan_conf() {
  cat >"$1/strongswan.conf" <<EOF
charon {
  load = random nonce openssl aes sha2 hmac gcm curve25519 kdf pem pkcs1 x509 pubkey socket-default kernel-libipsec kernel-netlink vici updown
  filelog {
    kdf {
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
EOF
}

# $1 dir, $2 local, $3 remote, $4 local_ts, $5 remote_ts, $6 ike proposal, $7 esp proposal
write_swanctl_conf() {
  mkdir -p "$1/swanctl"
  cat >"$1/swanctl/swanctl.conf" <<EOF
connections {
  kdf {
    version = 2
    local_addrs = $2
    remote_addrs = $3
    proposals = $6
    mobike = no
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
  ike-kdf {
    id-local = $2
    id-remote = $3
    secret = "$PSK"
  }
}
EOF
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
  write_strongswan_conf "$di" "$(printf '      ike = 4\n      chd = 4\n      cfg = 2\n      net = 1\n      enc = 1')"
  write_strongswan_conf "$dr" "      ike = 1"
  write_swanctl_conf "$di" 192.0.2.1 192.0.2.2 100.64.1.1/32 100.64.2.1/32 "$2" "$3"
  write_swanctl_conf "$dr" 192.0.2.2 192.0.2.1 100.64.2.1/32 100.64.1.1/32 "$2" "$3"
  start_charon "$NS_I" "$di"
  start_charon "$NS_R" "$dr"
  swanctl --load-all --noprompt --file "$di/swanctl/swanctl.conf" --uri "unix://$di/charon.vici" >/dev/null 2>&1
  swanctl --load-all --noprompt --file "$dr/swanctl/swanctl.conf" --uri "unix://$dr/charon.vici" >/dev/null 2>&1
  swanctl --initiate --child net --ike kdf --timeout 15 --uri "unix://$di/charon.vici" >/dev/null
  swanctl --list-sas --raw --uri "unix://$di/charon.vici" >"$OUT/$name.list-sas.txt"
  sleep 0.3
  # raw excerpt: first "initiating IKE_SA" line through the Child SA install, nothing edited
  awk '/initiating IKE_SA/ { on = 1 } on { print } on && /state change: INSTALLING => INSTALLED/ { exit }' \
    "$di/charon.log" >"$OUT/$name.initiator.txt"
  grep -q 'INSTALLING => INSTALLED' "$OUT/$name.initiator.txt" || { echo "$name: no complete exchange in log" >&2; exit 1; }
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do while kill -0 "$p" 2>/dev/null; do sleep 0.1; done; done
  PIDS=()
  echo "wrote $OUT/$name.initiator.txt ($(wc -l <"$OUT/$name.initiator.txt") lines), $OUT/$name.list-sas.txt"
}

mkdir -p "$OUT"
capture gcm256-modp2048s256 aes256gcm16-prfsha384-modp2048s256 aes256gcm16
capture cbc128-ecp256 aes128-sha256-ecp256 aes128-sha256
# (never run "$CHARON --version": charon-systemd has no such option and would start a daemon)
dpkg-query -W -f='strongSwan ${Version} (libstrongswan)\n' libstrongswan 2>/dev/null || swanctl --version | head -1
