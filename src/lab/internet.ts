/**
 * The lab's Internet Access profile (`branchgate lab up --profile internet`, docs/lab.md): the
 * emulated GSA endpoint announces the whole internet in the form asked for, the underlay
 * namespace (bglab-wan) plays the ISP with a direct-internet host, a DNS server for the bypass
 * host name and an IPv6 host, and the branch host gets an IPv6 address so a leak is visible.
 *
 *   bglab-branch 100.64.10.2, 2001:db8:10::2 ── bglab-cpe ── bglab-wan ("ISP")
 *                                                            lo 203.0.113.10  "the internet" (both ways)
 *                                                               198.18.0.10   direct host (bypass prefix)
 *                                                               198.18.0.20   direct.example.test (bypass name)
 *                                                               198.18.0.53   DNS (dnsmasq)
 *                                                               2001:db8:ff::10  IPv6 host
 *
 * Traffic GSA carries leaves the endpoint masqueraded to its public address (as GSA's egress
 * does), so "the internet" answers it over the underlay. Documentation ranges only.
 */
import { mkdirSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import type { LabPlan } from './plan.js';
import { nsRun } from './sys.js';

export const INTERNET_LAB = {
  directHost: '198.18.0.10',
  hostname: 'direct.example.test',
  hostnameAddr: '198.18.0.20',
  dns: '198.18.0.53',
  branch6: '2001:db8:10::2',
  cpeLan6: '2001:db8:10::1',
  lan6: '2001:db8:10::/64',
  cpeWan6: '2001:db8:99::1',
  isp6: '2001:db8:99::254',
  host6: '2001:db8:ff::10',
} as const;

const L = INTERNET_LAB;

/** The CPE config keys the profile adds (merged into lab.ts cpeConfig). */
export function internetCpeKeys(p: LabPlan): Record<string, unknown> {
  if (p.options.profile !== 'internet') return {};
  return {
    gsa: { profiles: ['microsoft', 'internet'] },
    routing: { failMode: 'open', pinUnderlay: true, defaultRoute: 'security' },
    bypass: [`${L.directHost}/32`, L.hostname],
    ipv6: { policy: 'block', branchPrefixes: [L.lan6] },
  };
}

const v6 = (ns: string, ...args: string[]) => nsRun(ns, ['ip', '-6', ...args]);

/** After buildTopology: the ISP's hosts, IPv6, the endpoints' egress NAT. */
export async function buildInternetTopology(p: LabPlan): Promise<void> {
  if (p.options.profile !== 'internet') return;
  const { branch, cpe, wan } = p.ns;
  for (const a of [L.directHost, L.hostnameAddr, L.dns]) await nsRun(wan, ['ip', 'addr', 'add', `${a}/32`, 'dev', 'lo']);
  await v6(branch, 'addr', 'add', `${L.branch6}/64`, 'dev', 'lan0', 'nodad');
  await v6(branch, 'route', 'add', 'default', 'via', L.cpeLan6);
  await v6(cpe, 'addr', 'add', `${L.cpeLan6}/64`, 'dev', 'lan0', 'nodad');
  await v6(cpe, 'addr', 'add', `${L.cpeWan6}/64`, 'dev', 'wan0', 'nodad');
  await v6(cpe, 'route', 'add', 'default', 'via', L.isp6);
  await nsRun(cpe, ['sysctl', '-q', '-w', 'net.ipv6.conf.all.forwarding=1']);
  await v6(wan, 'addr', 'add', `${L.isp6}/64`, 'dev', 'wan0', 'nodad');
  await v6(wan, 'addr', 'add', `${L.host6}/128`, 'dev', 'lo');
  await v6(wan, 'route', 'add', L.lan6, 'via', L.cpeWan6);
  for (const e of p.endpoints) {
    await nsRun(e.ns, ['nft', 'add', 'table', 'ip', 'bglab_egress']);
    await nsRun(e.ns, ['nft', 'add', 'chain', 'ip', 'bglab_egress', 'post', '{', 'type', 'nat', 'hook', 'postrouting', 'priority', '100', ';', '}']);
    await nsRun(e.ns, ['nft', 'add', 'rule', 'ip', 'bglab_egress', 'post', 'oifname', 'up0', 'ip', 'saddr', p.lanPrefix, 'masquerade']);
  }
}

/** /etc/netns/NS/resolv.conf: `ip netns exec` bind-mounts it over the CPE's /etc/resolv.conf. */
export const resolvConfDir = (p: LabPlan): string => `/etc/netns/${p.ns.cpe}`;
const MARK = '.branchgate-lab';

/** dnsmasq argv in the ISP namespace, and the CPE's resolv.conf pointing at it. */
export function internetServices(p: LabPlan, dnsmasq: string): { argv: string[] } | undefined {
  if (p.options.profile !== 'internet') return undefined;
  const dir = resolvConfDir(p);
  mkdirSync(dir, { recursive: true });
  writeFileSync(`${dir}/${MARK}`, 'created by branchgate lab up; removed by branchgate lab down\n');
  writeFileSync(`${dir}/resolv.conf`, `nameserver ${L.dns}\n`);
  return {
    argv: ['ip', 'netns', 'exec', p.ns.wan, dnsmasq, '--no-daemon', '--no-resolv', '--no-hosts', `--listen-address=${L.dns}`, '--bind-interfaces',
      `--host-record=${L.hostname},${L.hostnameAddr}`, '--local-ttl=60'],
  };
}

/** lab down: the resolv.conf directory, only if the lab made it. */
export function removeInternetFiles(p: LabPlan): void {
  const dir = resolvConfDir(p);
  if (existsSync(`${dir}/${MARK}`)) rmSync(dir, { recursive: true, force: true });
}

/** Lines for `lab up`'s "try:" text. */
export function internetTryLines(p: LabPlan): string[] {
  if (p.options.profile !== 'internet') return [];
  const { branch, cpe, wan } = p.ns;
  return [
    `  ip netns exec ${branch} ping -c 3 ${p.internet}         # the internet: through the tunnel (GSA's ${p.options.internetRoutes} routes)`,
    `  ip netns exec ${cpe} ip route show table 249 | head     # GSA's routes; ip rule shows 9000/9001`,
    `  ip netns exec ${branch} ping -c 3 ${L.directHost}        # bypass prefix: direct via the ISP`,
    `  ip netns exec ${branch} ping -c 3 ${L.hostnameAddr}        # bypass host name ${L.hostname} (dnsmasq in ${wan}): direct`,
    `  ip netns exec ${branch} ping -6 -c 3 ${L.host6}    # IPv6: blocked (ipv6: block), counted in branchgate_ipv6_dropped_total`,
    `  ip netns exec ${wan} tcpdump -ni wan0 'not udp port 4500 and not udp port 500'   # what leaks to the ISP`,
  ];
}
