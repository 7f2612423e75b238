/**
 * What `branchgate lab up` needs on the host (Debian 12 package names), checked before anything
 * is created, so a missing piece is one clear message with the exact `apt-get install` line.
 */
import { existsSync } from 'node:fs';
import type { LabOptions } from './plan.js';
import { CHARON_CANDIDATES } from './strongswan.js';
import { bin } from './sys.js';

export interface Missing {
  what: string;
  /** Debian package that provides it (undefined: not a package). */
  pkg?: string;
}

const PLUGINS = '/usr/lib/ipsec/plugins/libstrongswan-';

export function missingPrereqs(opts: Pick<LabOptions, 'endpoint'> & Pick<Partial<LabOptions>, 'profile'>, probe = { uid: process.getuid?.(), exists: existsSync, bin }): Missing[] {
  const m: Missing[] = [];
  if (probe.uid !== 0) m.push({ what: 'root privileges (network namespaces, TUN devices, UDP 500): run it with sudo' });
  if (!probe.exists('/dev/net/tun')) m.push({ what: '/dev/net/tun (kernel TUN support; in a container pass --device /dev/net/tun)' });
  const need: [string, string][] = [['ip', 'iproute2'], ['unshare', 'util-linux'], ['nft', 'nftables'], ['bird', 'bird2'], ['birdc', 'bird2'],
    ['ping', 'iputils-ping'], ['iperf3', 'iperf3'], ['sysctl', 'procps']];
  for (const [b, pkg] of need) if (!probe.bin(b)) m.push({ what: `\`${b}\``, pkg });
  if (opts.profile === 'internet' && !probe.bin('dnsmasq')) m.push({ what: '`dnsmasq` (the ISP\'s DNS for the bypass host name)', pkg: 'dnsmasq-base' });
  if (opts.endpoint === 'strongswan') {
    if (!CHARON_CANDIDATES.some((c) => probe.exists(c))) m.push({ what: 'charon (/usr/lib/ipsec/charon or /usr/sbin/charon-systemd)', pkg: 'charon-systemd' });
    if (!probe.bin('swanctl')) m.push({ what: '`swanctl`', pkg: 'strongswan-swanctl' });
    if (!probe.exists(`${PLUGINS}kernel-libipsec.so`)) m.push({ what: 'the strongSwan kernel-libipsec plugin', pkg: 'libcharon-extra-plugins' });
    for (const p of ['openssl', 'gcm']) if (!probe.exists(`${PLUGINS}${p}.so`)) m.push({ what: `the strongSwan ${p} plugin`, pkg: 'libstrongswan-standard-plugins' });
    if (!probe.exists(`${PLUGINS}vici.so`)) m.push({ what: 'the strongSwan vici plugin', pkg: 'strongswan-swanctl' });
  }
  return m;
}

export function describeMissing(m: readonly Missing[]): string {
  const pkgs = [...new Set(m.flatMap((x) => (x.pkg ? [x.pkg] : [])))];
  return [
    'cannot build the lab, missing:',
    ...m.map((x) => `  - ${x.what}${x.pkg ? ` (package ${x.pkg})` : ''}`),
    ...(pkgs.length ? ['', `Install with:  apt-get install -y ${pkgs.join(' ')}`] : []),
    '',
  ].join('\n');
}
