#!/usr/bin/env bash
# Installs the Debian packages branchgate's tests and lab need (strongSwan with kernel-libipsec
# as the peer, BIRD 2, keepalived, iperf3, nftables, iproute2, ping, tcpdump, dnsmasq as the lab's
# DNS server, podman with runc, debootstrap and iptables (podman networks) for the container
# tests, lintian/promtool for the package tests) when any is missing, without letting the packages
# start their system services, and leaves those services disabled so that none of them holds
# UDP 500/4500, BGP or VRRP after a reboot. Used by .ci/run and scripts/try-lab.sh.
# Root only (apt-get). Prints what it installs; does nothing when all is there.
set -euo pipefail

if [ "$(id -u)" != 0 ]; then
  echo "install-deps: must run as root (apt-get install); try: sudo $0" >&2
  exit 1
fi

PKGS=(systemd strongswan-swanctl charon-systemd libcharon-extra-plugins libstrongswan-extra-plugins
  libstrongswan-standard-plugins iproute2 iputils-ping iperf3 tcpdump bird2 nftables keepalived
  dnsmasq-base podman runc catatonit debootstrap iptables lintian prometheus fakeroot conntrack)

# Services the packages above ship; the tests run their own instances in namespaces.
SERVICES=(strongswan.service strongswan-starter.service bird.service keepalived.service prometheus.service
  prometheus-node-exporter.service podman.service podman.socket podman-auto-update.timer podman-restart.service)

disable_services() {
  command -v systemctl >/dev/null 2>&1 || return 0
  for s in "${SERVICES[@]}"; do
    # is-enabled prints 'enabled'/'disabled'/...; only act on units that exist and are enabled.
    if [ "$(systemctl is-enabled "$s" 2>/dev/null || true)" = enabled ]; then
      systemctl disable "$s" >/dev/null 2>&1 && echo "install-deps: disabled $s"
    fi
  done
}

missing=()
for p in "${PKGS[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done
if [ "${#missing[@]}" -eq 0 ]; then
  echo "install-deps: all packages already installed"
  disable_services
  exit 0
fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update
# policy-rc.d 101: package scripts must not start strongswan/bird services on this box
if [ ! -e /usr/sbin/policy-rc.d ]; then
  printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
  chmod +x /usr/sbin/policy-rc.d
  trap 'rm -f /usr/sbin/policy-rc.d' EXIT
fi
apt-get install -y --no-install-recommends "${PKGS[@]}"
disable_services
